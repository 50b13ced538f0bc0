"""Sampling from a context that never moves: every token is drawn after the original context, ignoring the tokens generated since, so each draw is independent of the one before. Condition each draw on the last n - 1 tokens so far, including those just generated."""
import numpy as np


def sample(probs, context, n_new, rng):
    order = probs.ndim
    history = [int(token) for token in context]
    last = tuple(history[len(history) - order + 1:])  # BUG: fixed once, never updated
    new = [int(rng.choice(len(probs), p=probs[last])) for _ in range(n_new)]
    return np.array(new, dtype=np.int64)

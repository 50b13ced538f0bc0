"""Sampling that takes the most likely token (argmax) at every step: the output is the same for every seed and its frequencies do not follow the model's distribution. Draw each token at random: rng.choice(V, p=probs[h])."""
import numpy as np


def sample(probs, context, n_new, rng):
    order = probs.ndim
    history = [int(token) for token in context]
    for _ in range(n_new):
        last = tuple(history[len(history) - order + 1:])
        history.append(int(np.argmax(probs[last])))  # BUG: greedy, not sampled
    return np.array(history[len(context):], dtype=np.int64)

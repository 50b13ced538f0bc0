"""The gradient of the mean cross-entropy without the 1/N of the mean: every gradient becomes N times too large, so the right learning rate would shrink with the batch size. d loss / d logits = (softmax(logits) - one_hot(y)) / N."""
import numpy as np


def softmax_cross_entropy(logits, y):
    logits = np.asarray(logits, dtype=np.float64)
    N = logits.shape[0]
    rows = np.arange(N)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1))
    loss = float(np.mean(log_sum - shifted[rows, y]))
    probs = np.exp(shifted - log_sum[:, None])
    probs[rows, y] -= 1.0
    return loss, probs  # BUG: not divided by N

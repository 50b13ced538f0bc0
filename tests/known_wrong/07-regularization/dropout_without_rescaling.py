"""Dropout without rescaling: the kept activations are not divided by 1 - p, so in training a layer sees on average (1 - p) times its evaluation-time input, and every later layer is off at evaluation. Inverted dropout returns x * keep / (1 - p) in training (and its backward grad_out * keep / (1 - p))."""
import numpy as np


def dropout_forward(x, keep, p, training=True):
    x = np.asarray(x, dtype=np.float64)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"the drop probability must be in [0, 1], got {p}")
    if not training:
        return x.copy()
    if p == 1.0:
        return np.zeros_like(x)
    return x * keep  # BUG: no 1 / (1 - p)


def dropout_backward(grad_out, keep, p):
    grad_out = np.asarray(grad_out, dtype=np.float64)
    if p == 1.0:
        return np.zeros_like(grad_out)
    return grad_out * keep  # BUG: no 1 / (1 - p)

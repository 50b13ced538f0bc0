"""Dropout that divides the kept activations by p instead of 1 - p: p was read as the probability of keeping (the original paper's convention), but torch's p is the probability of dropping. Divide by 1 - p, the keep probability."""
import numpy as np


def dropout_forward(x, keep, p, training=True):
    x = np.asarray(x, dtype=np.float64)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"the drop probability must be in [0, 1], got {p}")
    if not training:
        return x.copy()
    if p == 1.0:
        return np.zeros_like(x)
    return x * keep / p  # BUG: p is the drop probability, the scale is 1 / (1 - p)


def dropout_backward(grad_out, keep, p):
    grad_out = np.asarray(grad_out, dtype=np.float64)
    if p == 1.0:
        return np.zeros_like(grad_out)
    return grad_out * keep / p  # BUG

"""Dropout that returns its input unchanged (and passes the gradient through untouched), in training as well as at evaluation: nothing is dropped, so nothing is regularised. In training return x * keep / (1 - p)."""
import numpy as np


def dropout_forward(x, keep, p, training=True):
    return np.asarray(x, dtype=np.float64).copy()  # BUG: degenerate, the identity


def dropout_backward(grad_out, keep, p):
    return np.asarray(grad_out, dtype=np.float64).copy()  # BUG: degenerate, the identity

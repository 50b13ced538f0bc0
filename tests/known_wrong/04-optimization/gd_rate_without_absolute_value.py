"""Gradient-descent contraction factor without the absolute value, max(1 - lr * lambda): it misses the overshoot in sharp directions and calls a diverging learning rate convergent. The factor is max |1 - lr * lambda_i|."""
import numpy as np


def gd_contraction_factor(eigenvalues, lr):
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    return float(np.max(1.0 - lr * eigenvalues))  # BUG: no absolute value

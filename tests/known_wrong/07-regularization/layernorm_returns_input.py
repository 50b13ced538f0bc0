"""Layer norm that returns its input unchanged: nothing is normalised, and gamma and beta are ignored. Return gamma * (x - mean) / sqrt(var + eps) + beta with the statistics of each vector along the last axis."""
import numpy as np


def layernorm_forward(x, gamma, beta, eps=1e-5):
    return np.asarray(x, dtype=np.float64).copy()  # BUG: degenerate, the identity

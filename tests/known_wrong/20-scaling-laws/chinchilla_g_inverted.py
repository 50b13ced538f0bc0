"""Chinchilla's allocation with the constant G inverted, (beta B / (alpha A))^(1/(alpha+beta)): the right exponents, the wrong size at every budget. G = (alpha A / (beta B))^(1/(alpha+beta)) comes from alpha A / N^alpha = beta B / D^beta."""
import numpy as np


def chinchilla_optimal(compute, A, B, alpha, beta, E=0.0):
    compute = np.asarray(compute, dtype=np.float64)
    G = (beta * B / (alpha * A)) ** (1.0 / (alpha + beta))  # BUG: inverted
    n_opt = G * (compute / 6.0) ** (beta / (alpha + beta))
    d_opt = compute / (6.0 * n_opt)
    return n_opt, d_opt

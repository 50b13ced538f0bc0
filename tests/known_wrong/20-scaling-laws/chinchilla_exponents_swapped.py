"""Chinchilla's allocation with the exponents swapped, N_opt growing as C^(alpha/(alpha+beta)): too large a model, too few tokens per parameter. From alpha A / N^alpha = beta B / D^beta, N_opt = G (C/6)^(beta/(alpha+beta))."""
import numpy as np


def chinchilla_optimal(compute, A, B, alpha, beta, E=0.0):
    compute = np.asarray(compute, dtype=np.float64)
    G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    n_opt = G * (compute / 6.0) ** (alpha / (alpha + beta))  # BUG: alpha in the numerator
    d_opt = compute / (6.0 * n_opt)
    return n_opt, d_opt

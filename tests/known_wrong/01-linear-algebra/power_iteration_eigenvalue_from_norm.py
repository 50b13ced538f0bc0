"""Estimating the eigenvalue as |S v| loses its sign, so a negative dominant eigenvalue comes out positive. Use the Rayleigh quotient v^T S v of the unit vector v."""
import numpy as np


def power_iteration(S, num_iters=10_000, tol=1e-10, seed=0):
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be a square matrix, got shape {S.shape}")
    if not np.allclose(S, S.T):
        raise ValueError("S must be symmetric")
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(S.shape[0])
    v = v / np.linalg.norm(v)
    eigenvalue = np.linalg.norm(S @ v)
    for _ in range(num_iters):
        w = S @ v
        v = w / np.linalg.norm(w)
        eigenvalue = np.linalg.norm(S @ v)  # BUG: a norm is never negative
        # the stopping rule must not depend on the sign, or a negative eigenvalue never stops
        if np.linalg.norm(S @ v - (v @ S @ v) * v) <= tol * eigenvalue:
            break
    return float(eigenvalue), fix_signs(v[None, :])[0]

"""Power iteration that never normalises the iterate overflows (|lambda| > 1) or underflows (|lambda| < 1) because |S^t v| grows like |lambda_1|^t. Divide v by its norm after every multiplication."""
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
    eigenvalue = v @ S @ v
    for _ in range(num_iters):
        v = S @ v  # BUG: v is not renormalised, so it overflows or underflows
        u = v / np.linalg.norm(v)
        eigenvalue = u @ S @ u
        if np.linalg.norm(S @ u - eigenvalue * u) <= tol * abs(eigenvalue):
            break
    return float(eigenvalue), fix_signs((v / np.linalg.norm(v))[None, :])[0]

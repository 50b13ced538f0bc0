"""A rank-k approximation built from the k smallest singular values throws away the directions that carry most of the matrix. np.linalg.svd returns singular values in decreasing order: keep the first k (U[:, :k], s[:k], Vt[:k])."""
import numpy as np


def truncated_svd(X, k):
    X = np.asarray(X, dtype=np.float64)
    if not 0 <= k <= min(X.shape):
        raise ValueError(f"k must be between 0 and min(m, n) = {min(X.shape)}, got {k}")
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    p = len(s)
    return U[:, p - k:], s[p - k:], Vt[p - k:, :]  # BUG: the LAST k, i.e. the smallest


def best_rank_k_approximation(X, k):
    U_k, s_k, Vt_k = truncated_svd(X, k)
    return (U_k * s_k) @ Vt_k

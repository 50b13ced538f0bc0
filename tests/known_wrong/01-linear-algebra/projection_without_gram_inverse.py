"""Projecting with A A^T is only correct when the columns of A are orthonormal; for any other basis the result is not a projection (P P != P). Use P = A (A^T A)^{-1} A^T, computed stably as Q Q^T with Q from np.linalg.qr(A), or np.linalg.lstsq."""
import numpy as np


def projection_matrix(A):
    A = np.asarray(A, dtype=np.float64)
    return A @ A.T  # BUG: missing (A^T A)^{-1}


def project_onto_subspace(A, v):
    A = np.asarray(A, dtype=np.float64)
    return A @ (A.T @ np.asarray(v, dtype=np.float64))  # BUG: missing (A^T A)^{-1}

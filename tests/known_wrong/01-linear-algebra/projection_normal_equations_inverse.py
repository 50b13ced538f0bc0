"""Solving the normal equations with np.linalg.inv(A.T @ A) squares the condition number of A and loses about twice as many digits. Solve the least-squares problem with np.linalg.lstsq or use an orthonormal basis from np.linalg.qr."""
import numpy as np


def projection_matrix(A):
    A = np.asarray(A, dtype=np.float64)
    return A @ np.linalg.inv(A.T @ A) @ A.T  # BUG: explicit inverse of the squared-conditioned Gram matrix


def project_onto_subspace(A, v):
    A = np.asarray(A, dtype=np.float64)
    return A @ (np.linalg.inv(A.T @ A) @ (A.T @ np.asarray(v, dtype=np.float64)))  # BUG: same

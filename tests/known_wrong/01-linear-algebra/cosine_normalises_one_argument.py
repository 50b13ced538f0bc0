"""Cosine similarity that divides by the norm of only one argument is a scaled dot product, not an angle. Normalise the rows of both a and b (a / |a| and b / |b|) before the matrix product."""
import numpy as np


def cosine_similarity(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a_norms = np.linalg.norm(a, axis=1, keepdims=True)
    a_unit = a / np.where(a_norms == 0, 1.0, a_norms)
    return np.clip(a_unit @ b.T, -1.0, 1.0)  # BUG: b is never normalised

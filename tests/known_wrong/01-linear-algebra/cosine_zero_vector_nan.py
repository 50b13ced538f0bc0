"""Cosine similarity that divides by a zero norm returns NaN for zero vectors (padding rows). Replace zero norms by 1 before dividing, so a zero vector has similarity 0 with everything."""
import numpy as np


def cosine_similarity(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a_unit = a / np.linalg.norm(a, axis=1, keepdims=True)  # BUG: 0 / 0 = NaN for a zero row
    b_unit = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.clip(a_unit @ b_unit.T, -1.0, 1.0)

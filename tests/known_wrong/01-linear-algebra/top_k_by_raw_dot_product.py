"""Nearest neighbours ranked by raw dot products favour long embedding rows over well-aligned ones. Rank by cosine similarity: normalise the query and the rows first."""
import numpy as np


def top_k_neighbours(query, embeddings, k):
    embeddings = np.asarray(embeddings, dtype=np.float64)
    n = embeddings.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of rows ({n}), got {k}")
    scores = embeddings @ np.asarray(query, dtype=np.float64)  # BUG: dot products, not cosines
    order = np.argsort(-scores, kind="stable")
    indices = order[:k]
    return indices, scores[indices]

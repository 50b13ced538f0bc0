"""An explained-variance ratio divided by the variance of the kept components only always sums to 1 and hides what PCA throws away. Divide by the total variance of all directions (the trace of the covariance)."""
import numpy as np


def pca(X, n_components):
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    if n_samples < 2:
        raise ValueError("PCA needs at least 2 samples")
    if not 1 <= n_components <= min(n_samples, n_features):
        raise ValueError(f"n_components must be between 1 and {min(n_samples, n_features)}, got {n_components}")
    mean = X.mean(axis=0)
    centred = X - mean
    _, singular_values, Vt = np.linalg.svd(centred, full_matrices=False)
    variances = singular_values**2 / (n_samples - 1)
    kept = variances[:n_components]
    total_variance = kept.sum()  # BUG: only the kept components
    ratio = kept / total_variance if total_variance > 0 else np.zeros(n_components)
    return {
        "mean": mean,
        "components": fix_signs(Vt[:n_components]),
        "explained_variance": kept,
        "explained_variance_ratio": ratio,
    }

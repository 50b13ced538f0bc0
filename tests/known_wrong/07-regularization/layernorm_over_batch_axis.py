"""Layer norm that takes its mean and variance over the batch axis (axis 0) instead of over each example's features: that is batch norm without running statistics, and each example's output depends on the rest of the batch. Normalise over the last axis: x.mean(axis=-1, keepdims=True)."""
import numpy as np


def layernorm_forward(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0, keepdims=True)  # BUG: over the batch, not over the features
    var = ((x - mean) ** 2).mean(axis=0, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta

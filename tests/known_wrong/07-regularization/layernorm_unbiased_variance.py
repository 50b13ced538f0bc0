"""Layer norm with the unbiased variance (divide by D - 1, torch.var's default): nn.LayerNorm normalises with the biased variance (divide by D), so every output is off by a factor sqrt((D - 1) / D). Use ((x - mean) ** 2).mean(axis=-1), or torch.var(..., unbiased=False)."""
import numpy as np


def layernorm_forward(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).sum(axis=-1, keepdims=True) / (x.shape[-1] - 1)  # BUG: unbiased (D - 1)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta

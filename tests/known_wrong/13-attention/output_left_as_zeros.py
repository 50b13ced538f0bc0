"""The weights are right but the output is never computed: a tensor of zeros of the right shape is returned instead of weights @ v. The output is the weighted average of the values: out = weights @ v, shape (..., L, d_v)."""
import math

import torch


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = masked_softmax(scores, mask)
    return torch.zeros(*weights.shape[:-1], v.shape[-1], dtype=q.dtype, device=q.device), weights  # BUG: never weights @ v

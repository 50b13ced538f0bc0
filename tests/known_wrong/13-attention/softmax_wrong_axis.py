"""Softmax over the queries axis instead of the keys axis: each key's column sums to one, not each query's row. Normalise over the last axis (dim=-1), the keys."""
import torch


def masked_softmax(scores, mask=None):
    if mask is not None:
        scores = torch.where(mask, scores, float("-inf"))
    # BUG: max and sum over dim=-2 (the queries) instead of dim=-1 (the keys)
    col_max = scores.amax(dim=-2, keepdim=True)
    col_max = torch.where(torch.isfinite(col_max), col_max, 0.0)
    exps = torch.exp(scores - col_max)
    total = exps.sum(dim=-2, keepdim=True)
    return exps / total.clamp_min(torch.finfo(scores.dtype).tiny)

"""Softmax without subtracting the row maximum: exp overflows to inf for scores above about 709 in float64 (11 in float16) and inf / inf is NaN. Subtract scores.amax(dim=-1, keepdim=True) before exponentiating."""
import torch


def masked_softmax(scores, mask=None):
    if mask is not None:
        scores = torch.where(mask, scores, float("-inf"))
    exps = torch.exp(scores)  # BUG: no shift by the row maximum
    total = exps.sum(dim=-1, keepdim=True)
    return exps / total.clamp_min(torch.finfo(scores.dtype).tiny)

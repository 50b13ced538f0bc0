"""Additive attention with the softmax over the batch axis instead of the source positions: for a (B, S) matrix of scores, softmax(dim=0) makes each position's weights sum to one over the batch, so examples borrow attention from each other. Normalise over the positions: softmax(scores, dim=-1)."""
import torch


def additive_attention(query, keys, W_query, W_key, v, mask=None):
    scores = torch.tanh((query @ W_query.T)[:, None, :] + keys @ W_key.T) @ v
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=0)  # BUG: over the batch, not over the positions
    weights = torch.nan_to_num(weights)     # a position padded in every row gives 0/0
    context = (weights[:, :, None] * keys).sum(dim=1)
    return context, weights

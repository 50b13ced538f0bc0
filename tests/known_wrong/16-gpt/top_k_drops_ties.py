"""Top-k that keeps exactly k indices and drops the logits tied with the k-th largest: which of the tied tokens survive depends on the sort, not on the logits. Compare with the k-th largest value and keep every logit >= it: logits.masked_fill(logits < torch.topk(logits, k).values[..., -1:], -inf)."""
import torch


def top_k_filter(logits, k):
    k = min(k, logits.shape[-1])
    indices = torch.topk(logits, k, dim=-1).indices  # BUG: exactly k positions, ties with the k-th dropped
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, indices, True)
    return logits.masked_fill(~keep, float("-inf"))

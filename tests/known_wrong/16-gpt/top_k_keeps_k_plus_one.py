"""Top-k that keeps k + 1 tokens: the threshold is read one place too far down the sorted logits (an off-by-one on a 1-based k). The k-th largest value is torch.topk(logits, k).values[..., -1:], index k - 1 of the sorted logits."""
import torch


def top_k_filter(logits, k):
    sorted_logits = logits.sort(dim=-1, descending=True).values
    kth_largest = sorted_logits[..., min(k, logits.shape[-1] - 1):][..., :1]  # BUG: index k, the (k+1)-th largest
    return logits.masked_fill(logits < kth_largest, float("-inf"))

"""Top-k with an off-by-one threshold keeps k + 1 tokens. The threshold is the k-th largest logit, torch.topk(logits, k).values[..., -1:]."""
import math

import torch


def top_k_filter(logits, k):
    k = min(k + 1, logits.shape[-1])  # BUG: one token too many
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth_largest, -math.inf)

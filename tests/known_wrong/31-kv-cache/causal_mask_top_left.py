"""The causal mask is aligned to the top left (tril() without an offset, as is_causal=True does): with fewer queries than keys, new query i sees keys 0..i, so a decode step attends only to the first token. Shift the triangle by S - n: tril(diagonal=S - n)."""
import math

import torch


def cached_attention(q, k, v):
    n, s, head_dim = q.shape[-2], k.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)
    allowed = torch.ones(n, s, dtype=torch.bool, device=q.device).tril()  # BUG: diagonal 0, not S - n
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v

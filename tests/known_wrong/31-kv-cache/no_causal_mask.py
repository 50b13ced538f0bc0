"""No causal mask in cached attention ("a decode step has only one query"): right for single-token steps, but in a prefill or a chunk every new token also attends to the tokens after it. Mask keys j > S - n + i even when a cache is used."""
import math

import torch


def cached_attention(q, k, v):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # BUG: no mask at all
    return torch.softmax(scores, dim=-1) @ v

"""A degenerate attention that returns the values v unchanged (and a zero log-sum-exp): no softmax-weighted average at all. Compute softmax(q k^T / sqrt(d)) v tile by tile."""
import torch


def flash_attention_forward(q, k, v, block_q=16, block_k=16, causal=False):
    return v.clone(), torch.zeros(q.shape[:-1], dtype=q.dtype)  # BUG: a constant answer

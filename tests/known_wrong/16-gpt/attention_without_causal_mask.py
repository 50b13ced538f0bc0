"""Causal self-attention without the causal mask: every position reads the positions after it, so the model sees the character it must predict. Fill the scores of keys s > t with -inf before the softmax (torch.ones(T, T, dtype=torch.bool).tril()), and pass is_causal=True to F.scaled_dot_product_attention."""
import math

import torch
import torch.nn.functional as F


def causal_self_attention(x, w_attn, b_attn, w_proj, b_proj, n_head, need_weights=False):
    B, T, D = x.shape
    d_head = D // n_head
    q, k, v = F.linear(x, w_attn, b_attn).split(D, dim=-1)
    q, k, v = (t.reshape(B, T, n_head, d_head).transpose(1, 2) for t in (q, k, v))
    if need_weights:
        scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)
        weights = torch.softmax(scores, dim=-1)  # BUG: no causal mask
        heads = weights @ v
    else:
        weights = None
        heads = F.scaled_dot_product_attention(q, k, v)  # BUG: is_causal forgotten
    merged = heads.transpose(1, 2).reshape(B, T, D)
    return F.linear(merged, w_proj, b_proj), weights

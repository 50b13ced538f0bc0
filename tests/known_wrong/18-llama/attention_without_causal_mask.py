"""Grouped-query attention without the causal mask: every token reads the tokens after it, so a language model sees the answer it must predict. Mask the scores of keys j > i with -inf before the softmax: torch.ones(T, T, dtype=torch.bool).tril()."""
import math

import torch


def grouped_query_attention(x, w_q, w_k, w_v, w_o, n_heads, n_kv_heads, cos, sin):
    if n_heads % n_kv_heads != 0:
        raise ValueError(f"{n_heads} query heads cannot be shared evenly by {n_kv_heads} key/value heads")
    B, T, _ = x.shape
    head_dim = w_q.shape[0] // n_heads
    q = (x @ w_q.T).reshape(B, T, n_heads, head_dim).transpose(1, 2)
    k = (x @ w_k.T).reshape(B, T, n_kv_heads, head_dim).transpose(1, 2)
    v = (x @ w_v.T).reshape(B, T, n_kv_heads, head_dim).transpose(1, 2)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    group = n_heads // n_kv_heads
    k, v = repeat_kv(k, group), repeat_kv(v, group)
    scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)
    weights = torch.softmax(scores, dim=-1)  # BUG: no causal mask
    heads = (weights @ v).transpose(1, 2).reshape(B, T, n_heads * head_dim)
    return heads @ w_o.T

"""RoPE applied to the values as well as to queries and keys: what a token hands over then depends on its absolute position. Rotate only q and k; leave v as projected."""
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
    q, k, v = apply_rope(q, cos, sin), apply_rope(k, cos, sin), apply_rope(v, cos, sin)  # BUG: values rotated too
    group = n_heads // n_kv_heads
    k, v = repeat_kv(k, group), repeat_kv(v, group)
    scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
    weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
    heads = (weights @ v).transpose(1, 2).reshape(B, T, n_heads * head_dim)
    return heads @ w_o.T

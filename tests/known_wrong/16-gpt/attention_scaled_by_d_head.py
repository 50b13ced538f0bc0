"""Attention scores divided by the head width d_h instead of its square root: the scores are too small, the weights too flat, and the model is not GPT-2. The dot product of two d_h-vectors of unit-variance entries has variance d_h, so divide by math.sqrt(d_head) (F.scaled_dot_product_attention's default scale)."""
import torch
import torch.nn.functional as F


def causal_self_attention(x, w_attn, b_attn, w_proj, b_proj, n_head, need_weights=False):
    B, T, D = x.shape
    d_head = D // n_head
    q, k, v = F.linear(x, w_attn, b_attn).split(D, dim=-1)
    q, k, v = (t.reshape(B, T, n_head, d_head).transpose(1, 2) for t in (q, k, v))
    if need_weights:
        scores = q @ k.transpose(-2, -1) / d_head  # BUG: d_h, not sqrt(d_h)
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        heads = weights @ v
    else:
        weights = None
        heads = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0 / d_head)  # BUG: the same
    merged = heads.transpose(1, 2).reshape(B, T, D)
    return F.linear(merged, w_proj, b_proj), weights

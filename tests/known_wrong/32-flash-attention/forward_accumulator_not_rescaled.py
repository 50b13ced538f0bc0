"""Tiled attention whose output accumulator is not rescaled when the row maximum grows (only the sum is). Multiply the accumulated output by alpha = exp(m_old - m_new) as well."""
import math

import torch


def flash_attention_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_q: int = 16, block_k: int = 16,
                            causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    n, s = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    o = torch.empty(q.shape[:-1] + v.shape[-1:], dtype=q.dtype)
    lse = torch.empty(q.shape[:-1], dtype=q.dtype)
    for i0 in range(0, n, block_q):
        q_i = q[..., i0:i0 + block_q, :]
        rows = torch.arange(i0, i0 + q_i.shape[-2]).unsqueeze(-1)                 # global query indices, (B_q, 1)
        m = torch.full(q_i.shape[:-1], -math.inf, dtype=q.dtype)                 # running max per row
        l = torch.zeros(q_i.shape[:-1], dtype=q.dtype)                            # running sum of exp(s - m)
        acc = torch.zeros(q_i.shape[:-1] + v.shape[-1:], dtype=q.dtype)           # running unnormalised output
        for k0 in range(0, s, block_k):
            if causal and k0 > rows[-1, 0]:
                break                                                             # this tile and all later ones lie above the diagonal
            k_j, v_j = k[..., k0:k0 + block_k, :], v[..., k0:k0 + block_k, :]
            scores = q_i @ k_j.transpose(-2, -1) * scale                          # (..., B_q, B_k): the only score tile in memory
            if causal:
                cols = torch.arange(k0, k0 + k_j.shape[-2])                       # global key indices
                scores = scores.masked_fill(cols > rows, -math.inf)
            m_new = torch.maximum(m, scores.amax(dim=-1))
            p = torch.exp(scores - m_new.unsqueeze(-1))
            alpha = torch.exp(m - m_new)                                          # rescales what was accumulated under the old max
            l = alpha * l + p.sum(dim=-1)
            acc = acc + p @ v_j  # BUG: not rescaled by alpha
            m = m_new
        o[..., i0:i0 + block_q, :] = acc / l.unsqueeze(-1)
        lse[..., i0:i0 + block_q] = m + torch.log(l)
    return o, lse

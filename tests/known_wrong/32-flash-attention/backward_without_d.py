"""Attention backward without the softmax's row term D: dS = P * dP instead of P * (dP - D) with D = rowsum(dO * O). Subtract D_i from every dP_ik of row i."""
import math

import torch


def flash_attention_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, o: torch.Tensor, lse: torch.Tensor, d_o: torch.Tensor,
                             block_q: int = 16, block_k: int = 16, causal: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n, s = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    big_d = (d_o * o).sum(dim=-1)                                                 # D_i = dO_i . O_i = sum_l P_il dP_il
    for k0 in range(0, s, block_k):
        k_j, v_j = k[..., k0:k0 + block_k, :], v[..., k0:k0 + block_k, :]
        cols = torch.arange(k0, k0 + k_j.shape[-2])
        for i0 in range(0, n, block_q):
            q_i, do_i = q[..., i0:i0 + block_q, :], d_o[..., i0:i0 + block_q, :]
            rows = torch.arange(i0, i0 + q_i.shape[-2]).unsqueeze(-1)
            if causal and k0 > rows[-1, 0]:
                continue                                                          # tile above the diagonal: P is zero there
            scores = q_i @ k_j.transpose(-2, -1) * scale
            if causal:
                scores = scores.masked_fill(cols > rows, -math.inf)
            p = torch.exp(scores - lse[..., i0:i0 + block_q].unsqueeze(-1))       # the exact, normalised P tile
            dv[..., k0:k0 + block_k, :] += p.transpose(-2, -1) @ do_i
            dp = do_i @ v_j.transpose(-2, -1)
            ds = p * dp  # BUG: no D
            dq[..., i0:i0 + block_q, :] += ds @ k_j * scale
            dk[..., k0:k0 + block_k, :] += ds.transpose(-2, -1) @ q_i * scale
    return dq, dk, dv

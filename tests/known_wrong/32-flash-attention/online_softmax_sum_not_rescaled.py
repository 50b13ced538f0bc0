"""Online softmax without rescaling the running sum: when the maximum grows, the old sum l still counts exp(x - m_old). Multiply it by exp(m_old - m_new) before adding the new block."""
import math

import torch


def online_softmax(x: torch.Tensor, block_size: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    m = torch.full(x.shape[:-1], -math.inf, dtype=x.dtype)
    l = torch.zeros(x.shape[:-1], dtype=x.dtype)
    for start in range(0, x.shape[-1], block_size):
        block = x[..., start:start + block_size]
        m_new = torch.maximum(m, block.amax(dim=-1))
        shift = torch.where(m_new == -math.inf, torch.zeros_like(m_new), m_new)   # nothing seen yet but -inf: keep (-inf, 0), not NaN
        l = l + torch.exp(block - shift.unsqueeze(-1)).sum(dim=-1)   # BUG: the old sum is not rescaled to the new max
        m = m_new
    return torch.exp(x - m.unsqueeze(-1)) / l.unsqueeze(-1), m, l

"""Merging softmax states by adding the sums without rescaling: l1 + l2 mixes sums taken relative to different maxima. Use l1 * exp(m1 - m) + l2 * exp(m2 - m)."""
import math

import torch


def merge_softmax_states(m1: torch.Tensor, l1: torch.Tensor, m2: torch.Tensor, l2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    m = torch.maximum(m1, m2)
    finite_m = torch.where(m == -math.inf, torch.zeros_like(m), m)   # both empty: exp(-inf - 0) = 0, not exp(nan)
    return m, l1 + l2  # BUG: sums relative to different maxima

"""Merging softmax states without guarding the empty state: two states with m = -inf give exp(-inf - (-inf)) = NaN (a fully masked row). Replace an infinite common maximum by 0 before exponentiating."""
import math

import torch


def merge_softmax_states(m1: torch.Tensor, l1: torch.Tensor, m2: torch.Tensor, l2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    m = torch.maximum(m1, m2)
    finite_m = m  # BUG: -inf - (-inf) is NaN
    return m, l1 * torch.exp(m1 - finite_m) + l2 * torch.exp(m2 - finite_m)

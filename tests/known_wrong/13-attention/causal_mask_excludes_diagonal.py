"""Causal mask off by one, excluding the diagonal: a token cannot attend to itself and the first token has no key at all. Keep j <= i: torch.ones(L, S).tril() with diagonal=0."""
import torch


def causal_mask(L, S=None, device=None):
    S = L if S is None else S
    return torch.ones(L, S, dtype=torch.bool, device=device).tril(diagonal=-1)  # BUG: j < i

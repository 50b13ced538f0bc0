"""Causal mask off by one, allowing one future step: position i sees token i+1, the very label it must predict, so training leaks the answer. Keep j <= i: torch.ones(L, S).tril() with diagonal=0."""
import torch


def causal_mask(L, S=None, device=None):
    S = L if S is None else S
    return torch.ones(L, S, dtype=torch.bool, device=device).tril(diagonal=1)  # BUG: j <= i + 1

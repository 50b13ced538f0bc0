"""Splitting heads with a reshape but no transpose: reshaping (B, T, D) straight to (B, H, T, D/H) gives the right shape but puts whole tokens into each head. Reshape to (B, T, H, D/H), then transpose(1, 2); merge with transpose(1, 2) before reshaping back."""
import torch


def split_heads(x, n_heads):
    B, T, D = x.shape
    if D % n_heads != 0:
        raise ValueError(f"model width {D} is not divisible by {n_heads} heads")
    return x.reshape(B, n_heads, T, D // n_heads)  # BUG: no transpose, heads mix tokens


def merge_heads(x):
    B, H, T, d_h = x.shape
    return x.reshape(B, T, H * d_h)  # BUG: the matching reshape without transpose

"""ALiBi slopes 2^(-8h/H) used for every number of heads: for H not a power of two this is not the paper's sequence, and the slopes differ from BLOOM's. Take the slopes of c = 2 ** floor(log2 H) heads, then append the first H - c of the slopes of 2c heads at every other position ([0::2])."""
import torch


def alibi_slopes(n_heads):
    ratio = 2.0 ** (-8.0 / n_heads)  # BUG: the power-of-two rule applied to any H
    return ratio ** torch.arange(1, n_heads + 1, dtype=torch.float64)

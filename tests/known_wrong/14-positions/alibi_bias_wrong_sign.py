"""ALiBi bias with the wrong sign, +slope * |i - j|: far keys get a bonus instead of a penalty, so every head favours the most distant tokens. The bias is -slopes[h] * |i - j|."""
import torch


def alibi_bias(slopes, seq_len):
    positions = torch.arange(seq_len, dtype=slopes.dtype)
    distance = (positions[:, None] - positions[None, :]).abs()
    return slopes[:, None, None] * distance  # BUG: a reward for distance

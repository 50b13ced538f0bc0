"""Sinusoidal frequencies base^(-i/d) with the pair index i, instead of base^(-2i/d): the slowest pair turns only as slowly as base^(-1/2), so far positions are no longer told apart. The exponent is 2i/d, i.e. torch.arange(0, d, 2) / d."""
import torch


def sinusoidal_encoding(n_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError(f"d_model must be even (sine and cosine pairs), got {d_model}")
    positions = torch.arange(n_positions, dtype=torch.float64)[:, None]
    frequencies = base ** (-torch.arange(d_model // 2, dtype=torch.float64) / d_model)  # BUG: i / d, not 2i / d
    angles = positions * frequencies
    pe = torch.zeros(n_positions, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe

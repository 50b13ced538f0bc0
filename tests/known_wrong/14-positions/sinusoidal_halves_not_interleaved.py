"""Sinusoidal encoding with all the sines first and all the cosines after ([sin ... sin, cos ... cos]) instead of interleaved: a valid encoding, but not the paper's, and weights trained with one layout do not work with the other. Put sin(p w_i) in column 2i and cos(p w_i) in column 2i + 1: pe[:, 0::2] = sin, pe[:, 1::2] = cos."""
import torch


def sinusoidal_encoding(n_positions, d_model, base=10000.0):
    if d_model % 2:
        raise ValueError(f"d_model must be even (sine and cosine pairs), got {d_model}")
    positions = torch.arange(n_positions, dtype=torch.float64)[:, None]
    frequencies = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    angles = positions * frequencies
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)  # BUG: halves, not interleaved

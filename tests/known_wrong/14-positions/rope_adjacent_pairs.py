"""RoPE pairing adjacent coordinates (x_2i, x_2i+1), the layout of the RoFormer paper and Meta's original LLaMA code, instead of the half-split pairs (x_i, x_i+d/2) of transformers' rotate_half: the same method up to a permutation of coordinates, but different numbers for given weights. Write the tables as cat([angles, angles], -1) and rotate with cat([-x2, x1], -1) on the two halves."""
import torch


def rope_cos_sin(positions, head_dim, base=10000.0):
    if head_dim % 2:
        raise ValueError(f"head_dim must be even (RoPE rotates pairs), got {head_dim}")
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = positions.to(torch.float64)[..., None] * theta
    angles = angles.repeat_interleave(2, dim=-1)  # BUG: (a0, a0, a1, a1, ...) for adjacent pairs
    return torch.cos(angles), torch.sin(angles)


def apply_rope(x, positions, base=10000.0):
    d = x.shape[-1]
    cos, sin = rope_cos_sin(positions, d, base)
    even, odd = x[..., 0::2], x[..., 1::2]
    rotated_pairs = torch.stack([-odd, even], dim=-1).flatten(-2)  # BUG: rotates (x_2i, x_2i+1)
    return (x * cos + rotated_pairs * sin).to(x.dtype)

"""RoPE frequencies base^(-i/d) with the pair index i, instead of base^(-2i/d): every pair but the first turns too fast and the slowest pair is far from the trained one. theta_i = base ** (-2i / d): torch.arange(0, d, 2) / d."""
import torch


def rope_cos_sin(positions, head_dim, base=10000.0):
    if head_dim % 2:
        raise ValueError(f"head_dim must be even (RoPE rotates pairs), got {head_dim}")
    theta = base ** (-torch.arange(head_dim // 2, dtype=torch.float64) / head_dim)  # BUG: i / d, not 2i / d
    angles = positions.to(torch.float64)[..., None] * theta
    angles = torch.cat([angles, angles], dim=-1)
    return torch.cos(angles), torch.sin(angles)

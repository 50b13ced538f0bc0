"""RoPE on neighbouring pairs (x_2i, x_2i+1), the layout of Meta's original code, on weights in transformers' layout, which pairs x_i with x_{i+d/2}: relative positions still work but the logits differ. Repeat the frequency block twice (cat([a, a], -1)) and rotate halves: cat(-x[..., d/2:], x[..., :d/2])."""
import torch


def rope_cos_sin(positions, head_dim, theta=10000.0):
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float64, device=positions.device) / head_dim
    inv_freq = 1.0 / theta ** exponents
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    angles = angles.repeat_interleave(2, dim=-1)  # BUG: theta_0, theta_0, theta_1, theta_1, ... (neighbouring pairs)
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    even, odd = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack([-odd, even], dim=-1).flatten(-2)  # BUG: rotates (x_2i, x_2i+1) instead of (x_i, x_i+d/2)
    return x * cos + rotated * sin

"""RoPE rotating by -theta: rotate_half written as cat([x2, -x1]) instead of cat([-x2, x1]). Norms and relative scores survive, but every pair turns the wrong way, so the numbers differ from transformers' and a checkpoint trained with RoPE breaks. Use rotate_half(x) = torch.cat([-x[..., d/2:], x[..., :d/2]], -1)."""
import torch


def apply_rope(x, positions, base=10000.0):
    d = x.shape[-1]
    cos, sin = rope_cos_sin(positions, d, base)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    rotated_half = torch.cat([x2, -x1], dim=-1)  # BUG: the sign on the wrong half: rotation by -theta
    return (x * cos + rotated_half * sin).to(x.dtype)

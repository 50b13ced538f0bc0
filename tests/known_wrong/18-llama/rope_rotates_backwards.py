"""RoPE with the sign of the sine flipped rotates every pair clockwise: lengths and the dependence on offsets survive, but scores see the offset with the opposite sign and pretrained weights give other logits. Use x * cos + rotate_half(x) * sin with rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2])."""
import torch


def apply_rope(x, cos, sin):
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    rotated_half = torch.cat([second, -first], dim=-1)  # BUG: the turn by -90 degrees
    return x * cos + rotated_half * sin

"""RMSNorm with eps outside the square root, x / (sqrt(mean(x**2)) + eps): a different function, which blows up to x / eps for tiny vectors and does not match pretrained models. Put eps inside: x * rsqrt(mean(x**2) + eps)."""
import torch


def rms_norm(x, weight, eps=1e-6):
    compute_dtype = torch.promote_types(x.dtype, torch.float32)
    x_wide = x.to(compute_dtype)
    normalised = x_wide / (x_wide.pow(2).mean(dim=-1, keepdim=True).sqrt() + eps)  # BUG: eps outside the square root
    return weight * normalised.to(x.dtype)

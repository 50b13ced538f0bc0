"""RMSNorm that subtracts the mean first is LayerNorm without a bias: it throws away the offset of the features, which RMSNorm keeps. Divide x itself by sqrt(mean(x**2) + eps); do not centre it."""
import torch


def rms_norm(x, weight, eps=1e-6):
    compute_dtype = torch.promote_types(x.dtype, torch.float32)
    x_wide = x.to(compute_dtype)
    x_wide = x_wide - x_wide.mean(dim=-1, keepdim=True)  # BUG: centring, as LayerNorm does
    normalised = x_wide * torch.rsqrt(x_wide.pow(2).mean(dim=-1, keepdim=True) + eps)
    return weight * normalised.to(x.dtype)

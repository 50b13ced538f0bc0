"""RMSNorm computed in the input's own half precision: x**2 overflows float16 above 256, the mean of the squares becomes inf and the output zero. Compute the normalisation in float32 (x.to(torch.float32)), cast back to the input dtype, then multiply by the gain."""
import torch


def rms_norm(x, weight, eps=1e-6):
    normalised = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)  # BUG: no upcast to float32
    return weight * normalised

"""Zero point with the wrong sign: z = round(x_min / scale) is negative, gets clamped, and shifts every code. The code of the real number 0 is z = -round(x_min / scale)."""
import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats


def zeropoint_quantize(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric uint8 quantization of a float32 tensor, one scale and zero point for the whole tensor.

    Returns:
        q: uint8 tensor of x's shape, q = clamp(round(x / scale) + zero_point, 0, 255).
        scale: float32 tensor (), max((max(x_max, 0) - min(x_min, 0)) / 255, float32 eps).
        zero_point: int64 tensor (), clamp(-round(min(x_min, 0) / scale), 0, 255).

    Example:
        >>> q, s, z = zeropoint_quantize(torch.tensor([-1.0, 0.0, 2.0, 4.1]))
        >>> q.tolist(), round(float(s), 4), int(z)
        ([0, 50, 150, 255], 0.02, 50)
    """
    x = x.to(torch.float32)
    x_min = torch.clamp(x.min(), max=0.0)                 # the range always contains 0
    x_max = torch.clamp(x.max(), min=0.0)
    scale = torch.clamp((x_max - x_min) / 255, min=torch.finfo(torch.float32).eps)
    zero_point = torch.clamp(torch.round(x_min / scale), 0, 255).to(torch.int64)   # the code of the real number 0
    q = torch.clamp(torch.round(x / scale) + zero_point, 0, 255).to(torch.uint8)
    return q, scale, zero_point
    ### END SOLUTION

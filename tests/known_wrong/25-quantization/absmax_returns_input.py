"""The degenerate quantizer: absmax_quantize returns the input itself as the codes and a scale of 1. Return int8 codes round(x / scale) with scale = absmax / 127."""
import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats


def absmax_quantize(x: torch.Tensor, per_row: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 quantization with scale absmax / 127.

    Args:
        x: float32 tensor; for per_row=True a 2-D tensor (rows, cols).
        per_row: one scale for the whole tensor (False) or one per row (True).

    Returns:
        q: int8 tensor of x's shape, values in [-127, 127], q = clamp(round(x / scale), -127, 127)
            with torch.round (halves to even).
        scale: float32, shape () for per_row=False, (rows, 1) for per_row=True; absmax / 127, or 1.0
            where the absmax is 0.

    Example:
        >>> q, s = absmax_quantize(torch.tensor([0.5, -1.27, 0.01]))
        >>> q, s
        (tensor([ 50, -127,    1], dtype=torch.int8), tensor(0.0100))
    """
    return x, torch.ones(())   # BUG: no quantization at all
    absmax = x.abs().amax(dim=-1, keepdim=True) if per_row else x.abs().max()
    scale = absmax / 127
    scale = torch.where(absmax > 0, scale, torch.ones_like(scale))      # an all-zero tensor or row: codes 0, scale 1
    q = torch.round(x / scale).clamp(-127, 127).to(torch.int8)
    return q, scale
    ### END SOLUTION

"""NF4 levels from a uniform grid: linspace(-1, 1, 16) has no exact zero and wastes levels on the tails. Use normal quantiles: norm.ppf of linspace(offset, 0.5, 9)[:-1] and minus those of linspace(offset, 0.5, 8)[:-1], plus 0, divided by the largest."""
import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats


def normal_float_levels(bits: int = 4, offset: float = 0.9677083) -> torch.Tensor:
    """The NormalFloat code of QLoRA: 2^(bits-1) positive and 2^(bits-1) - 1 negative normal quantiles and an exact 0.

    Args:
        bits: k; the code has 2^k levels.
        offset: p_max, the largest probability whose normal quantile is used.

    Returns:
        float32 (2^k,), sorted ascending, first -1.0, last 1.0, one entry exactly 0.0.

    Example:
        >>> levels = normal_float_levels(4)
        >>> levels.shape, float(levels[0]), float(levels[7]), float(levels[-1])
        (torch.Size([16]), -1.0, 0.0, 1.0)
    """
    return torch.linspace(-1.0, 1.0, 2 ** bits)   # BUG: evenly spaced
    half = 2 ** (bits - 1)
    positive = stats.norm.ppf(np.linspace(offset, 0.5, half + 1)[:-1])       # 8 quantiles > 0 for NF4
    negative = -stats.norm.ppf(np.linspace(offset, 0.5, half)[:-1])          # 7 quantiles < 0
    levels = np.sort(np.concatenate([negative, [0.0], positive]))
    return torch.tensor(levels / levels.max(), dtype=torch.float32)


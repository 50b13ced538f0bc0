"""Double quantization that forgets the mean offset: the positive scales use only half of the signed 8-bit code and the offset is lost. Subtract absmax.mean() before quantizing, return it, add it back."""
import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats


def double_quantize(absmax: torch.Tensor, code: torch.Tensor, block_size: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quantize the first-level scales: subtract their mean, then blockwise_quantize with code in blocks of block_size.

    Args:
        absmax: float32 (m,), the absmax values of blockwise_quantize.
        code: an 8-bit code (256,), e.g. DYNAMIC_CODE.

    Returns:
        indices: uint8 (m,); absmax2: float32 (ceil(m / block_size),); offset: float32 (), the mean of absmax.

    Example:
        >>> idx, absmax2, offset = double_quantize(torch.tensor([1.0, 2.0, 3.0]), DYNAMIC_CODE)
        >>> float(offset), absmax2.tolist()
        (2.0, [1.0])
    """
    offset = torch.zeros(())   # BUG: no mean subtracted
    indices, absmax2 = blockwise_quantize(absmax, code, block_size)   # centred: uses both halves of the signed code
    return indices, absmax2, offset
    ### END SOLUTION

def blockwise_quantize(x: torch.Tensor, code: torch.Tensor, block_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Absmax quantization of x in blocks of block_size consecutive values to the nearest entry of code.

    Args:
        x: float32 tensor of any shape, n values; flattened row-major.
        code: float32 (K,), sorted ascending, levels in [-1, 1] (K <= 256).
        block_size: values per block; the last block is padded with zeros.

    Returns:
        indices: uint8 (n,), the index into code of the level nearest x_j / absmax of its block
            (halfway: the lower level).
        absmax: float32 (ceil(n / block_size),), max |x| of each block.

    Example:
        >>> idx, absmax = blockwise_quantize(torch.tensor([0.1, -0.3, 4.0]), INT8_CODE, block_size=2)
        >>> idx.tolist(), absmax                # 0.1 / 0.3 * 127 = 42.3 -> level 42/127, index 128 + 42
        ([170, 0, 255], tensor([0.3000, 4.0000]))
    """
    flat = x.reshape(-1).to(torch.float32)
    n = flat.numel()
    n_blocks = -(-n // block_size)
    blocks = F.pad(flat, (0, n_blocks * block_size - n)).reshape(n_blocks, block_size)
    absmax = blocks.abs().amax(dim=1)
    normalised = blocks / absmax.clamp(min=torch.finfo(torch.float32).tiny)[:, None]
    midpoints = (code[:-1] + code[1:]) / 2
    indices = torch.bucketize(normalised, midpoints)          # nearest level; halfway goes to the lower one
    return indices.to(torch.uint8).reshape(-1)[:n], absmax
    ### END SOLUTION

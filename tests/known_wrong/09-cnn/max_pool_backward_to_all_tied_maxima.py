"""The max-pool gradient sent to every tied maximum: a mask `window == window.max()` routes the full gradient to each pixel that shares the maximum, so with ties (all-zero windows after a ReLU) the gradient is counted several times. Send it to one pixel only: the first maximum in row-major order, as PyTorch does (torch.max / argmax along the window)."""
import torch
import torch.nn.functional as F


def max_pool2d_backward(grad_out, x, kernel_size, stride=None):
    kH, kW = as_pair(kernel_size)
    sH, sW = as_pair(kernel_size if stride is None else stride)
    N, C, H, W = x.shape
    windows = im2col(x.reshape(N * C, 1, H, W), (kH, kW), (sH, sW))
    winners = windows == windows.amax(dim=1, keepdim=True)  # BUG: every tied maximum wins
    cols = winners.to(grad_out.dtype) * grad_out.reshape(N * C, 1, -1)
    grad_x = F.fold(cols, (H, W), (kH, kW), stride=(sH, sW))
    return grad_x.reshape(N, C, H, W)

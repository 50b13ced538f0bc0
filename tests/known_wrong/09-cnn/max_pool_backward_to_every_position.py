"""The max-pool gradient copied to every position of the window: each pixel of a window gets the window's whole upstream gradient, so the gradient sums to kH * kW times too much. Only the maximum affects the output: route the whole gradient to the argmax (the index max_pool2d returns) and 0 to every other pixel."""
import torch
import torch.nn.functional as F


def max_pool2d_backward(grad_out, x, kernel_size, stride=None):
    kH, kW = as_pair(kernel_size)
    sH, sW = as_pair(kernel_size if stride is None else stride)
    N, C, H, W = x.shape
    per_tap = grad_out.reshape(N * C, 1, -1)  # BUG: every pixel of the window gets the full gradient
    cols = per_tap.expand(N * C, kH * kW, per_tap.shape[-1])
    grad_x = F.fold(cols, (H, W), (kH, kW), stride=(sH, sW))
    return grad_x.reshape(N, C, H, W)

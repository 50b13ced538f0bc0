"""The max-pool gradient overwritten where windows overlap: with a stride smaller than the kernel one pixel can be the maximum of several windows, and scatter_ (or grad_x[idx] = g) keeps only one of their gradients. By the chain rule they add up: use scatter_add_ (or index_add_)."""
import torch


def max_pool2d_backward(grad_out, x, kernel_size, stride=None):
    N, C, H, W = x.shape
    _, indices = max_pool2d(x, kernel_size, stride)
    grad_x = torch.zeros(N, C, H * W, dtype=grad_out.dtype, device=grad_out.device)
    grad_x.scatter_(2, indices.reshape(N, C, -1), grad_out.reshape(N, C, -1))  # BUG: overwrites instead of adding
    return grad_x.reshape(N, C, H, W)

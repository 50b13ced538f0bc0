"""The max-pool gradient spread evenly over the window: giving each of the kH * kW pixels 1 / (kH * kW) of the upstream gradient is the gradient of average pooling. In max pooling only the maximum of the window affects the output, so the whole gradient goes to the argmax and every other pixel gets 0."""
import torch
import torch.nn.functional as F


def max_pool2d_backward(grad_out, x, kernel_size, stride=None):
    kH, kW = as_pair(kernel_size)
    sH, sW = as_pair(kernel_size if stride is None else stride)
    N, C, H, W = x.shape
    per_tap = grad_out.reshape(N * C, 1, -1) / (kH * kW)  # BUG: average pooling's gradient
    cols = per_tap.expand(N * C, kH * kW, per_tap.shape[-1])
    grad_x = F.fold(cols, (H, W), (kH, kW), stride=(sH, sW))
    return grad_x.reshape(N, C, H, W)

"""A true convolution (kernel flipped by 180 degrees) where deep learning means cross-correlation: this gives scipy.signal.convolve2d, not F.conv2d. Slide the kernel as it is: out[i, j] = sum over u, v of x[i + u, j + v] * w[u, v], with no flip."""
import torch


def correlate2d(image, kernel):
    H, W = image.shape
    kH, kW = kernel.shape
    kernel = kernel.flip(0, 1)  # BUG: rotates the kernel, a signal-processing convolution
    out = image.new_zeros(H - kH + 1, W - kW + 1)
    for i in range(H - kH + 1):
        for j in range(W - kW + 1):
            out[i, j] = (image[i:i + kH, j:j + kW] * kernel).sum()
    return out


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    N, _, H, W = x.shape
    C_out, _, kH, kW = weight.shape
    sH, sW = as_pair(stride)
    pH, pW = as_pair(padding)
    dH, dW = as_pair(dilation)
    H_out = conv_output_size(H, kH, sH, pH, dH)
    W_out = conv_output_size(W, kW, sW, pW, dW)
    cols = im2col(x, (kH, kW), stride, padding, dilation)
    out = weight.flip(-2, -1).reshape(C_out, -1) @ cols  # BUG: flipped kernel
    if bias is not None:
        out = out + bias[:, None]
    return out.reshape(N, C_out, H_out, W_out)

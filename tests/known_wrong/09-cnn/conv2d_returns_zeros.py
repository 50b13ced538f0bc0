"""A convolution that returns zeros of the right shape: the shape is only the start. Compute every output as the dot product of the filter with its window (weight.reshape(C_out, -1) @ im2col(x, ...)) plus the bias."""


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    N, _, H, W = x.shape
    C_out, _, kH, kW = weight.shape
    sH, sW = as_pair(stride)
    pH, pW = as_pair(padding)
    dH, dW = as_pair(dilation)
    H_out = conv_output_size(H, kH, sH, pH, dH)
    W_out = conv_output_size(W, kW, sW, pW, dW)
    return x.new_zeros(N, C_out, H_out, W_out)  # BUG: degenerate, right shape and nothing else

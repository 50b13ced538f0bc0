"""The bias added per position instead of per output channel: `out + bias` on an output of shape (N, C_out, L) broadcasts the bias along the positions axis, so position l gets bias[l] (an error unless L == C_out). Add one bias per output channel at every position: out + bias[:, None] (or bias.view(1, -1, 1, 1) on the 4-D output)."""


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    N, _, H, W = x.shape
    C_out, _, kH, kW = weight.shape
    sH, sW = as_pair(stride)
    pH, pW = as_pair(padding)
    dH, dW = as_pair(dilation)
    H_out = conv_output_size(H, kH, sH, pH, dH)
    W_out = conv_output_size(W, kW, sW, pW, dW)
    cols = im2col(x, (kH, kW), stride, padding, dilation)
    out = weight.reshape(C_out, -1) @ cols
    if bias is not None:
        out = out + bias  # BUG: broadcasts along the L positions, not the C_out channels
    return out.reshape(N, C_out, H_out, W_out)

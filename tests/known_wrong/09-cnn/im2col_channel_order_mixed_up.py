"""im2col with the channel and spatial order of the rows mixed up: rows ordered (tap row u, tap column v, channel c) do not line up with weight.reshape(C_out, -1), whose columns are ordered (c, u, v). Build patches of shape (N, C, kH, kW, H_out, W_out) and reshape, so that row c*kH*kW + u*kW + v holds channel c, tap (u, v), as in F.unfold."""


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    kH, kW = as_pair(kernel_size)
    sH, sW = as_pair(stride)
    pH, pW = as_pair(padding)
    dH, dW = as_pair(dilation)
    N, C, H, W = x.shape
    H_out = conv_output_size(H, kH, sH, pH, dH)
    W_out = conv_output_size(W, kW, sW, pW, dW)
    padded = pad2d(x, (pH, pW))
    patches = x.new_empty(N, kH, kW, C, H_out, W_out)  # BUG: the channel after the taps
    for u in range(kH):
        for v in range(kW):
            top, left = dH * u, dW * v
            patches[:, u, v] = padded[:, :, top:top + sH * (H_out - 1) + 1:sH, left:left + sW * (W_out - 1) + 1:sW]
    return patches.reshape(N, C * kH * kW, H_out * W_out)

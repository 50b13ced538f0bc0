"""im2col with the rows and columns of the kernel window swapped: taking the taps column by column (v before u) puts tap (u, v) in the row meant for (v, u), so the layer uses the transposed kernel. Order the rows (channel, tap row u, tap column v), all row-major: row c*kH*kW + u*kW + v, as in F.unfold."""


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    kH, kW = as_pair(kernel_size)
    sH, sW = as_pair(stride)
    pH, pW = as_pair(padding)
    dH, dW = as_pair(dilation)
    N, C, H, W = x.shape
    H_out = conv_output_size(H, kH, sH, pH, dH)
    W_out = conv_output_size(W, kW, sW, pW, dW)
    padded = pad2d(x, (pH, pW))
    patches = x.new_empty(N, C, kW, kH, H_out, W_out)  # BUG: tap columns before tap rows
    for u in range(kH):
        for v in range(kW):
            top, left = dH * u, dW * v
            patches[:, :, v, u] = padded[:, :, top:top + sH * (H_out - 1) + 1:sH, left:left + sW * (W_out - 1) + 1:sW]
    return patches.reshape(N, C * kH * kW, H_out * W_out)

"""Padding on one side only: putting the image at the top-left of the padded frame keeps the shape H + 2p but moves all the zeros to the bottom and right, so every output is shifted. Place the image in the middle: out[:, :, pH:pH + H, pW:pW + W] = x, with pH rows of zeros above and below and pW columns left and right."""


def pad2d(x, padding):
    pH, pW = as_pair(padding)
    N, C, H, W = x.shape
    out = x.new_zeros(N, C, H + 2 * pH, W + 2 * pW)
    out[:, :, :H, :W] = x  # BUG: all the padding ends up below and to the right
    return out

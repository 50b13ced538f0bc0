"""The output size without the dilation term: a dilated kernel spans d(k - 1) + 1 input pixels, not k. Use H_out = floor((H + 2p - d(k - 1) - 1) / s) + 1."""


def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    span = kernel_size  # BUG: ignores the dilation, the kernel's taps are d pixels apart
    out = (size + 2 * padding - span) // stride + 1
    if out < 1:
        raise ValueError(f"a window spanning {span} pixels does not fit into {size} + 2 * {padding} pixels")
    return out

"""The output size without the final +1: floor((H + 2p - d(k - 1) - 1) / s) counts the steps between windows, not the windows. Add 1 for the first window: H_out = floor((H + 2p - d(k - 1) - 1) / s) + 1."""


def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    span = dilation * (kernel_size - 1) + 1
    out = (size + 2 * padding - span) // stride  # BUG: the first window is not counted
    if out < 1:
        raise ValueError(f"a window spanning {span} pixels does not fit into {size} + 2 * {padding} pixels")
    return out

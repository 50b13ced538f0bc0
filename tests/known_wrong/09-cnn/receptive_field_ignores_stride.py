"""The receptive field without the jump: adding k - 1 pixels per layer ignores that after a stride-s layer one step on the map is s input pixels, so strided stacks come out far too small. Grow the size by (k - 1) * d * jump, where jump is the product of the strides of the layers below."""


def receptive_field(layers):
    size, jump = 1, 1
    for kernel_size, stride, dilation in layers:
        size += (kernel_size - 1) * dilation  # BUG: forgets the jump of the layers below
        jump *= stride
    return size, jump

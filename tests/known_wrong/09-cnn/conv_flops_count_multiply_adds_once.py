"""FLOPs counted as multiply-adds (MACs): each weight does a multiplication and an addition at every output position, two floating-point operations. FLOPs = 2 * C_in * kH * kW * C_out * H_out * W_out, the convention of torch.utils.flop_counter."""


def conv2d_cost(c_in, c_out, kernel_size, output_size, bias=True):
    kH, kW = as_pair(kernel_size)
    H_out, W_out = as_pair(output_size)
    weights = c_out * c_in * kH * kW
    params = weights + (c_out if bias else 0)
    flops = weights * H_out * W_out  # BUG: multiply-accumulates, not FLOPs
    return {"params": params, "flops": flops}

"""GRU with the reset gate applied to the state before the recurrent product, W_hn (r * h) + b_hn (the convention of Cho et al.'s paper), where torch.nn.GRUCell applies it after the product and its bias, r * (W_hn h + b_hn). Compute h @ weight_hh.T + bias_hh once, split it in r, z, n blocks, and multiply the n block by r."""
import torch


def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    if h is None:
        h = x.new_zeros(x.shape[0], weight_hh.shape[1])
    H = weight_hh.shape[1]
    x_r, x_z, x_n = (x @ weight_ih.T + bias_ih).chunk(3, dim=-1)
    h_r, h_z, _ = (h @ weight_hh.T + bias_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + (r * h) @ weight_hh[2 * H:].T + bias_hh[2 * H:])  # BUG: reset before the product
    return (1 - z) * n + z * h

"""GRU with the recurrent bias b_hn added outside the reset gate, r * (W_hn h) + b_hn: torch.nn.GRUCell resets the whole recurrent term including its bias, r * (W_hn h + b_hn). Keep bias_hh inside the recurrent product before splitting it into the r, z, n blocks."""
import torch


def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    if h is None:
        h = x.new_zeros(x.shape[0], weight_hh.shape[1])
    H = weight_hh.shape[1]
    x_r, x_z, x_n = (x @ weight_ih.T + bias_ih).chunk(3, dim=-1)
    h_r, h_z, _ = (h @ weight_hh.T + bias_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * (h @ weight_hh[2 * H:].T) + bias_hh[2 * H:])  # BUG: b_hn outside the reset gate
    return (1 - z) * n + z * h

"""GRU with the update gate inverted, h' = z * n + (1 - z) * h: in torch.nn.GRUCell z is the share of the OLD state that is kept, h' = (1 - z) * n + z * h."""
import torch


def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    if h is None:
        h = x.new_zeros(x.shape[0], weight_hh.shape[1])
    x_r, x_z, x_n = (x @ weight_ih.T + bias_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = (h @ weight_hh.T + bias_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return z * n + (1 - z) * h  # BUG: z should keep the old state

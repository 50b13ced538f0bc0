"""LSTM with the input and forget gates swapped: the stacked pre-activations are read as f, i, g, o instead of torch's i, f, g, o, so each gate uses the other's quarter of the weights. Split with gates.chunk(4, dim=-1) in the order i, f, g, o (rows 0:H input gate, H:2H forget gate)."""
import torch


def lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    if state is None:
        zeros = x.new_zeros(x.shape[0], weight_hh.shape[1])
        state = (zeros, zeros)
    h, c = state
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    a_f, a_i, a_g, a_o = gates.chunk(4, dim=-1)  # BUG: torch's order is i, f, g, o
    i, f, g, o = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.tanh(a_g), torch.sigmoid(a_o)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    return h_new, c_new

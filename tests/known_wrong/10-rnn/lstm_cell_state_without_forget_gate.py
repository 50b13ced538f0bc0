"""LSTM cell update without the forget gate, c' = c + i * g: the memory can never be erased and the old cell state passes unscaled (from a zero state the first step is even still right). The update is c' = f * c + i * g."""
import torch


def lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    if state is None:
        zeros = x.new_zeros(x.shape[0], weight_hh.shape[1])
        state = (zeros, zeros)
    h, c = state
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    a_i, a_f, a_g, a_o = gates.chunk(4, dim=-1)
    i, g, o = torch.sigmoid(a_i), torch.tanh(a_g), torch.sigmoid(a_o)
    c_new = c + i * g  # BUG: the forget gate f does not scale the old cell state
    h_new = o * torch.tanh(c_new)
    return h_new, c_new

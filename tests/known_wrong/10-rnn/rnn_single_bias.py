"""RNN cell with only one bias: torch.nn.RNNCell adds both bias_ih and bias_hh (only their sum matters mathematically, but copied weights need both). Compute x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh."""
import torch


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity="tanh"):
    if h is None:
        h = x.new_zeros(x.shape[0], weight_hh.shape[1])
    pre_activation = x @ weight_ih.T + bias_ih + h @ weight_hh.T  # BUG: bias_hh is missing
    if nonlinearity == "tanh":
        return torch.tanh(pre_activation)
    if nonlinearity == "relu":
        return torch.relu(pre_activation)
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}: use 'tanh' or 'relu'")

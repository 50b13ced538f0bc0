"""Recurrent cells that return their previous state unchanged (zeros when there is none): the state never takes in the input, so every output is the initial state. Compute the new state from the input and the old state with the cell's equations."""
import torch


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity="tanh"):
    return h if h is not None else x.new_zeros(x.shape[0], weight_hh.shape[1])  # BUG: degenerate


def lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    if state is None:
        zeros = x.new_zeros(x.shape[0], weight_hh.shape[1])
        return zeros, zeros.clone()  # BUG: degenerate
    return state


def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return h if h is not None else x.new_zeros(x.shape[0], weight_hh.shape[1])  # BUG: degenerate

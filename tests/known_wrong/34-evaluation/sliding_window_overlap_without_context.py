"""Sliding-window perplexity whose windows do not use the overlap as context: each window's new tokens are scored from a forward pass that starts just before them (disjoint chunks in disguise). Run each window over ids[begin:end] and keep only its last tokens."""
import torch


def sliding_window_nlls(model, ids, window, stride):
    T = len(ids)
    pieces = []
    previous_end = 1
    for begin in range(0, T, stride):
        end = min(begin + window, T)
        pieces.append(token_nlls(model, ids[previous_end - 1:end]))  # BUG: context starts at the first new token
        previous_end = end
        if end == T:
            break
    return torch.cat(pieces) if pieces else torch.zeros(0, dtype=torch.float64)

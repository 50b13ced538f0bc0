"""Sliding-window perplexity that scores every token of every window, so the overlapping tokens are counted twice (or more). Keep only the tokens past the end of the previous window."""
import torch


def sliding_window_nlls(model, ids, window, stride):
    T = len(ids)
    pieces = []
    for begin in range(0, T, stride):
        end = min(begin + window, T)
        pieces.append(token_nlls(model, ids[begin:end]))  # BUG: the overlap is scored again
        if end == T:
            break
    return torch.cat(pieces) if pieces else torch.zeros(0, dtype=torch.float64)

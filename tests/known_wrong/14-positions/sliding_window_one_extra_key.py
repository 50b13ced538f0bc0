"""Sliding window off by one, i - j <= w: each query sees w + 1 keys, one more than the window (Mistral's sliding_window counts the query itself among its w keys). Keep i - w < j <= i: (j <= i) & (i - j < w)."""
import torch


def sliding_window_mask(seq_len, window):
    if window < 1:
        raise ValueError(f"a window holds at least the query itself, got window={window}")
    i = torch.arange(seq_len)[:, None]
    j = torch.arange(seq_len)[None, :]
    return (j <= i) & (i - j <= window)  # BUG: w + 1 keys

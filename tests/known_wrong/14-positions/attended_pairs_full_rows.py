"""Sliding-window cost counted as w keys for every query, T * w, forgetting that the first w - 1 queries have fewer keys before them. Count sum over i of min(i + 1, w) = w T - w (w - 1) / 2."""


def attended_pairs(seq_len, window=None):
    if window is None:
        return seq_len * (seq_len + 1) // 2
    return seq_len * min(window, seq_len)  # BUG: every row counted as full

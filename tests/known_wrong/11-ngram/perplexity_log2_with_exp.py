"""Perplexity with the bases mixed: the cross-entropy is measured in bits (log2) and then exponentiated with e, which gives neither 2 ** H_bits nor e ** H_nats. Use natural logarithms with exp (or log2 with 2 **)."""
import numpy as np


def perplexity(probs, sequences):
    order = probs.ndim
    total_log_prob, n_predicted = 0.0, 0
    for sequence in sequences:
        sequence = np.asarray(sequence, dtype=np.int64)
        if len(sequence) < order:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(sequence, order)
        with np.errstate(divide="ignore"):
            total_log_prob += np.log2(probs[tuple(windows.T)]).sum()  # BUG: bits ...
        n_predicted += len(windows)
    return float(np.exp(-total_log_prob / n_predicted))  # ... exponentiated with e

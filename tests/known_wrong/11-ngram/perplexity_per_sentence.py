"""Perplexity averaged per sentence instead of per token: each sequence's mean log-probability counts once, so a two-token sentence weighs as much as a forty-token one. Sum the log-probabilities of all predicted tokens of all sequences and divide by their total number."""
import numpy as np


def perplexity(probs, sequences):
    order = probs.ndim
    sentence_means = []
    for sequence in sequences:
        sequence = np.asarray(sequence, dtype=np.int64)
        if len(sequence) < order:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(sequence, order)
        with np.errstate(divide="ignore"):
            sentence_means.append(np.log(probs[tuple(windows.T)]).mean())  # BUG: one mean per sentence ...
    return float(np.exp(-np.mean(sentence_means)))  # ... averaged over sentences

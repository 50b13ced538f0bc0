"""n-grams counted across sequence boundaries: the sequences are joined into one stream, so the last tokens of one sentence and the first of the next (such as "</s> <s>") are counted as n-grams that never occurred. Count the windows of each sequence on its own."""
import numpy as np


def ngram_counts(sequences, n, vocab_size):
    counts = np.zeros((vocab_size,) * n, dtype=np.int64)
    stream = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) if len(sequences) else np.zeros(0, dtype=np.int64)
    if len(stream) < n:
        return counts
    windows = np.lib.stride_tricks.sliding_window_view(stream, n)  # BUG: windows run from one sequence into the next
    np.add.at(counts, tuple(windows.T), 1)
    return counts

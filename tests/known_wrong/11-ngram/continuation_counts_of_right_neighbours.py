"""Continuation counts of the wrong side: counting the distinct tokens that follow each (m-1)-gram, N1+(g .), instead of those that precede it, N1+(. g). Kneser-Ney's lower order asks in how many different contexts a token appears: count positive entries along axis 0 (the left neighbour)."""


def continuation_counts(counts):
    return (counts > 0).sum(axis=-1)  # BUG: right neighbours (the last axis), not left neighbours

"""Kneser-Ney with raw counts at the lower orders instead of continuation counts: the lower order counts how often a word occurs, not after how many different words, so "york" (always after "new") gets the same back-off probability as the versatile "like". Use N1+(. g), the number of distinct left neighbours: (counts > 0).sum(axis=0)."""


def continuation_counts(counts):
    return counts.sum(axis=0)  # BUG: occurrences, not distinct left neighbours

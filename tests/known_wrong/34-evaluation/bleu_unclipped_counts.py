"""Modified precision without clipping: every hypothesis n-gram found in a reference counts, so "the the the the the the the" gets 7/7. Clip each count at its largest count in one reference."""
import collections


def modified_precision(hypothesis, references, n):
    hypothesis_counts = ngram_counts(hypothesis, n)
    in_some_reference = set()
    for reference in references:
        in_some_reference |= set(ngram_counts(reference, n))
    matches = sum(count for gram, count in hypothesis_counts.items() if gram in in_some_reference)  # BUG: not clipped
    return matches, sum(hypothesis_counts.values())

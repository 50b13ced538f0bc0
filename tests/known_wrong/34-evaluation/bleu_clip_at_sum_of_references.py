"""Modified precision clipped at the sum of the counts over all references instead of the maximum in one reference. Take max over references of each n-gram's count."""
import collections


def modified_precision(hypothesis, references, n):
    hypothesis_counts = ngram_counts(hypothesis, n)
    reference_counts = collections.Counter()
    for reference in references:
        reference_counts.update(ngram_counts(reference, n))  # BUG: the sum, not the maximum
    matches = sum(min(count, reference_counts[gram]) for gram, count in hypothesis_counts.items())
    return matches, sum(hypothesis_counts.values())

"""ROUGE-N recall divided by the candidate's n-grams (that is precision again) instead of the reference's. Recall = overlap / number of reference n-grams."""


def rouge_n(candidate, reference, n):
    candidate_counts, reference_counts = ngram_counts(candidate, n), ngram_counts(reference, n)
    overlap = sum(min(count, candidate_counts[gram]) for gram, count in reference_counts.items())
    precision = overlap / max(sum(candidate_counts.values()), 1)
    recall = overlap / max(sum(candidate_counts.values()), 1)  # BUG: the candidate's count
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1

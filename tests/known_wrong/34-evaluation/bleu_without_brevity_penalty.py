"""Corpus BLEU without the brevity penalty: short hypotheses that say little score as if complete. Multiply the geometric mean by brevity_penalty(c, r)."""
import math


def corpus_bleu(hypotheses, references, max_n=4, smoothing="none", k=None):
    matches, totals = [0] * max_n, [0] * max_n
    for hypothesis, refs in zip(hypotheses, references):
        h = hypothesis.split()
        rs = [ref.split() for ref in refs]
        for n in range(1, max_n + 1):
            m, t = modified_precision(h, rs, n)
            matches[n - 1] += m
            totals[n - 1] += t
    if sum(matches) == 0:
        return 0.0
    precisions = smoothed_precisions(matches, totals, smoothing, k)
    if min(precisions) == 0:
        return 0.0
    return math.exp(sum(math.log(p) for p in precisions) / max_n)  # BUG: no brevity penalty

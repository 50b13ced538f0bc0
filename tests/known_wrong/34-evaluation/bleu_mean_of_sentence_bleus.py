"""Corpus BLEU as the mean of sentence BLEUs: one sentence without a matching 4-gram counts as 0 and the weighting by length is lost. Sum matches, totals and lengths over sentences first, then compute BLEU once."""
import math


def corpus_bleu(hypotheses, references, max_n=4, smoothing="none", k=None):
    scores = []
    for hypothesis, refs in zip(hypotheses, references):
        h = hypothesis.split()
        rs = [ref.split() for ref in refs]
        matches, totals = [], []
        for n in range(1, max_n + 1):
            m, t = modified_precision(h, rs, n)
            matches.append(m)
            totals.append(t)
        if sum(matches) == 0:
            scores.append(0.0)
            continue
        precisions = smoothed_precisions(matches, totals, smoothing, k)
        if min(precisions) == 0:
            scores.append(0.0)
            continue
        bp = brevity_penalty(len(h), closest_reference_length(len(h), [len(r) for r in rs]))
        scores.append(bp * math.exp(sum(math.log(p) for p in precisions) / max_n))
    return sum(scores) / len(scores)  # BUG: the mean of sentence scores

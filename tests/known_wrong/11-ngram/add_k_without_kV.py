"""Add-k smoothing that forgets k*V in the denominator: k is added to each of the V entries of a row but only once to the total, so every row sums to more than one (and perplexity looks better than it is). Divide by c(h) + k * V."""
import numpy as np


def add_k_probs(counts, k):
    context_totals = counts.sum(axis=-1, keepdims=True)
    return (counts + k) / (context_totals + k)  # BUG: the denominator lacks k * V

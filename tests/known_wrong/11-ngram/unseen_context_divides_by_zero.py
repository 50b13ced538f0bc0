"""Absolute discounting that divides by c(h) for every context, also the unseen ones with c(h) = 0: their rows become nan (0 / 0) instead of the lower-order distribution. Give a context never seen P_lower(. | h') unchanged, e.g. with np.where(c(h) > 0, ..., lower)."""
import numpy as np


def absolute_discounting(counts, discount, lower):
    context_totals = counts.sum(axis=-1, keepdims=True)
    distinct = (counts > 0).sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        discounted = np.maximum(counts - discount, 0) / context_totals  # BUG: 0 / 0 for unseen contexts
        backoff_weight = discount * distinct / context_totals
    return discounted + backoff_weight * lower

"""Absolute discounting that subtracts D from every seen count but never gives the collected mass to the lower order: the rows of seen contexts sum to less than one. Add gamma(h) * P_lower(w | h') with gamma(h) = D * N1+(h .) / c(h)."""
import numpy as np


def absolute_discounting(counts, discount, lower):
    context_totals = counts.sum(axis=-1, keepdims=True)
    safe_totals = np.maximum(context_totals, 1)
    discounted = np.maximum(counts - discount, 0) / safe_totals  # BUG: the discounted mass is lost
    return np.where(context_totals > 0, discounted, lower)

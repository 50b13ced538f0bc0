"""After a rejection the replacement is sampled from the target p instead of the residual max(0, p - q) / (1 - alpha): the tokens the draft already supplies are produced twice over. Resample from the normalised max(0, p - q)."""
import torch


def residual_distribution(p, q):
    return p.clone()  # BUG: the residual is replaced by the target

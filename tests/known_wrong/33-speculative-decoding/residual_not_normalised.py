"""The residual max(0, p - q) is used without dividing by its sum 1 - alpha, so it is not a distribution: the rejection path gets too little mass and sampling by its CDF runs off the end. Divide by (p - q).clamp(min=0).sum(-1, keepdim=True)."""
import torch


def residual_distribution(p, q):
    return (p - q).clamp(min=0.0)  # BUG: not normalised

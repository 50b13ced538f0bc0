"""The acceptance rate computed as sum_x p(x) q(x) (the probability that two independent samples agree) instead of sum_x min(p(x), q(x)) = 1 - TV(p, q). Use torch.minimum(p, q).sum(-1)."""
import torch


def acceptance_rate(p, q):
    return (p * q).sum(dim=-1)  # BUG: an inner product, not the overlap

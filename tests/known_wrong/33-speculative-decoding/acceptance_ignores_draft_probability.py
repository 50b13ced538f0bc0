"""Speculative acceptance that ignores the draft probability: a drafted token is accepted with probability p(x) instead of min(1, p(x) / q(x)), so tokens the draft proposes often are kept too often and the output is no longer distributed as the target. Accept with min(1, p / q)."""
import torch


def acceptance_probability(p, q):
    return p.clone()  # BUG: the draft's probability q(x) is ignored

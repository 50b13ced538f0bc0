"""Top-p that keeps only tokens whose cumulative probability is <= p drops the token that crosses p (and keeps nothing when the top token alone exceeds p). Keep a token when the mass ranked ABOVE it is < p."""
import math

import torch


def top_p_filter(logits, p):
    if p >= 1.0:
        return logits.clone()
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    sorted_probs = torch.softmax(sorted_logits, dim=-1)
    remove_sorted = torch.cumsum(sorted_probs, dim=-1) > p  # BUG: the crossing token is removed
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, -math.inf)

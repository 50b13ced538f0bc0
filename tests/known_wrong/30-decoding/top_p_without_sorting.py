"""Top-p that accumulates probabilities in vocabulary order keeps an arbitrary prefix of the vocabulary. Sort the probabilities in decreasing order first, then scatter the mask back."""
import math

import torch


def top_p_filter(logits, p):
    if p >= 1.0:
        return logits.clone()
    probs = torch.softmax(logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # BUG: no sort
    return logits.masked_fill(mass_before >= p, -math.inf)

"""Beam scores kept as products of probabilities underflow to 0 after a few hundred tokens, and then every candidate ties. Add log-probabilities (torch.log_softmax) instead."""
import math

import torch


def beam_search(next_logits, prompt, n_new, beam_width):
    beams = [([int(t) for t in prompt], 1.0)]
    for _ in range(n_new):
        candidates = []
        for ids, prob in beams:
            probs = torch.softmax(next_logits(ids).double(), dim=-1)
            for token, p in enumerate(probs.tolist()):
                candidates.append((ids + [token], prob * p))  # BUG: a product of probabilities
        candidates.sort(key=lambda candidate: candidate[1], reverse=True)
        beams = candidates[:beam_width]
    ids, prob = beams[0]
    return ids, (math.log(prob) if prob > 0 else -math.inf)

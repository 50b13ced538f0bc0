"""Beam scores as sums of probabilities rank sequences by their average step, not by how likely they are. The score of a sequence is the sum of the LOG-probabilities of its tokens."""
import math

import torch


def beam_search(next_logits, prompt, n_new, beam_width):
    beams = [([int(t) for t in prompt], 0.0, 0.0)]
    for _ in range(n_new):
        candidates = []
        for ids, score, log_score in beams:
            probs = torch.softmax(next_logits(ids).double(), dim=-1)
            for token, p in enumerate(probs.tolist()):
                candidates.append((ids + [token], score + p, log_score + math.log(p)))  # BUG: ranked by a sum of probabilities
        candidates.sort(key=lambda candidate: candidate[1], reverse=True)
        beams = candidates[:beam_width]
    ids, _, log_score = beams[0]
    return ids, log_score

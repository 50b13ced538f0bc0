"""Beam search that ranks candidates by the log-probability of their last token alone forgets the score of the prefix. Rank by the beam's accumulated score plus the new token's log-probability."""
import torch


def beam_search(next_logits, prompt, n_new, beam_width):
    beams = [([int(t) for t in prompt], 0.0)]
    for _ in range(n_new):
        candidates = []
        for ids, score in beams:
            log_probs = torch.log_softmax(next_logits(ids).double(), dim=-1)
            for token, log_prob in enumerate(log_probs.tolist()):
                candidates.append((ids + [token], score + log_prob, log_prob))
        candidates.sort(key=lambda candidate: candidate[2], reverse=True)  # BUG: the prefix's score is ignored
        beams = [(ids, score) for ids, score, _ in candidates[:beam_width]]
    return beams[0]

"""Beam search that keeps only the single best candidate after each step is greedy decoding. Keep the beam_width best candidates, drawn from the children of all beams."""
import torch


def beam_search(next_logits, prompt, n_new, beam_width):
    beams = [([int(t) for t in prompt], 0.0)]
    for _ in range(n_new):
        candidates = []
        for ids, score in beams:
            log_probs = torch.log_softmax(next_logits(ids).double(), dim=-1)
            for token, log_prob in enumerate(log_probs.tolist()):
                candidates.append((ids + [token], score + log_prob))
        candidates.sort(key=lambda candidate: candidate[1], reverse=True)
        beams = candidates[:1]  # BUG: the beam collapses to one hypothesis
    return beams[0]

"""Top-p that drops the token whose cumulative probability crosses p: the kept mass is below p, and for p below the top probability nothing but a fallback is left. Keep every token whose more probable predecessors total less than p: the crossing token included."""
import torch


def top_p_filter(logits, p):
    if p >= 1.0:
        return logits
    probs = torch.softmax(logits, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    cumulative = sorted_probs.cumsum(dim=-1)
    remove_sorted = cumulative >= p  # BUG: removes the crossing token too
    remove_sorted[..., 0] = False    # (the top token kept, as the usual patch does)
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))

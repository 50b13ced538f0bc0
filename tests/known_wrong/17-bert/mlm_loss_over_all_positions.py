"""The MLM loss is divided by the number of all positions instead of the selected ones: it shrinks by about the masking rate and depends on padding. Average the cross-entropy over the positions whose label is not -100."""
import torch
import torch.nn.functional as F


def mlm_loss(logits, labels):
    selected = labels != -100
    if not selected.any():
        return logits.sum() * 0.0
    total = F.cross_entropy(logits[selected], labels[selected], reduction="sum")
    return total / labels.numel()  # BUG: mean over all B*T positions

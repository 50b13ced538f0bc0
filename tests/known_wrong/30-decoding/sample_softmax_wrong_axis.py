"""Softmax over the batch axis (dim=0) makes each row's distribution depend on the other rows. Normalise over the last axis, the vocabulary."""
import torch


def sample(logits, generator=None):
    probs = torch.softmax(logits, dim=0)  # BUG: the batch axis for a (B, V) input
    flat = probs.reshape(-1, probs.shape[-1])
    draws = torch.multinomial(flat, num_samples=1, generator=generator)
    return draws.reshape(logits.shape[:-1])

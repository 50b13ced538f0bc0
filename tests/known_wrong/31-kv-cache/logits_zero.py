"""A degenerate forward pass: logits of zeros of the right shape and an untouched cache, so every step predicts token 0. Compute the model's logits block by block."""
import torch


def forward_with_cache(model, ids, cache):
    return torch.zeros(*ids.shape, model.config.vocab_size, dtype=model.lm_head.weight.dtype)  # BUG: a constant

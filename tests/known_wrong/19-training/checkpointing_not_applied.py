"""Activation checkpointing that never calls checkpoint: the loss and gradients are right, but every block's activations are still saved and no memory is saved. Wrap each group of segment_size blocks in torch.utils.checkpoint.checkpoint(..., use_reentrant=False)."""
import torch
import torch.nn.functional as F


def checkpointed_lm_loss(model, inputs, targets, segment_size):
    transformer = model.transformer
    positions = torch.arange(inputs.shape[1], device=inputs.device)
    h = transformer.drop(transformer.wte(inputs) + transformer.wpe(positions))
    for block in transformer.h:  # BUG: segment_size ignored, nothing checkpointed
        h = block(h)
    logits = model.lm_head(transformer.ln_f(h))
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)

"""Cosine schedule without the warmup: the cosine runs from step 0 over all total_steps and warmup_steps is ignored, so the first updates take the full peak learning rate. Rise linearly as base_lr * (step + 1) / warmup_steps first, then start the cosine at step warmup_steps."""
import math


def lr_at(step, base_lr, warmup_steps, total_steps, min_lr=0.0):
    if step >= total_steps:
        return float(min_lr)
    progress = step / total_steps  # BUG: no warmup phase
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))

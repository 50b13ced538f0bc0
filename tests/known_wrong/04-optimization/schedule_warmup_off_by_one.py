"""Warmup off by one, base_lr * step / warmup_steps: the first update gets learning rate 0 and every warmup step lags by one. Use base_lr * (step + 1) / warmup_steps for the 0-based update number step."""
import math


def lr_at(step, base_lr, warmup_steps, total_steps, min_lr=0.0):
    if step < warmup_steps:
        return base_lr * step / warmup_steps  # BUG: should be (step + 1) / warmup_steps
    if step >= total_steps:
        return float(min_lr)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))

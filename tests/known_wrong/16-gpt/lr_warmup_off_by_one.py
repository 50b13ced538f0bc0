"""A warm-up off by one: step 0 gets a learning rate of 0 (a wasted step) and the peak is reached one step late. With 0-based steps the warm-up is max_lr * (step + 1) / warmup_steps."""
import math


def lr_at(step, max_lr, warmup_steps, total_steps, min_lr=0.0):
    if step < warmup_steps:
        return max_lr * step / warmup_steps  # BUG: step, not step + 1
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)

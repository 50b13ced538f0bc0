"""AdamW whose decoupled decay is not multiplied by the learning rate (params *= 1 - weight_decay): the decay is 1/lr times too strong and ignores the schedule. torch.optim.AdamW multiplies by (1 - lr * weight_decay)."""
import numpy as np


def adamw_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    params = np.asarray(params, dtype=np.float64)
    decayed = params * (1 - weight_decay)  # BUG: should be (1 - lr * weight_decay)
    return adam_step(decayed, grads, state, lr, betas=betas, eps=eps, weight_decay=0.0)

"""Adam without bias correction: the zero-initialised moments make the first steps about 3x too large and add a hidden warmup of ~1/(1 - beta2) steps. Divide m by (1 - beta1**t) and v by (1 - beta2**t), with t counted from 1."""
import numpy as np


def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    params = np.asarray(params, dtype=np.float64)
    grads = np.asarray(grads, dtype=np.float64)
    beta1, beta2 = betas
    if weight_decay != 0.0:
        grads = grads + weight_decay * params
    step = state.get("step", 0) + 1
    exp_avg = beta1 * state.get("exp_avg", np.zeros_like(params)) + (1 - beta1) * grads
    exp_avg_sq = beta2 * state.get("exp_avg_sq", np.zeros_like(params)) + (1 - beta2) * grads**2
    new_params = params - lr * exp_avg / (np.sqrt(exp_avg_sq) + eps)  # BUG: no bias correction
    return new_params, {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}

"""Adam that updates its state arrays in place (exp_avg *= beta1, ...), as torch does internally: the caller's saved state changes behind its back, so checkpoints and replays are silently wrong. Build new arrays and return a new state dict."""
import numpy as np


def adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    params = np.asarray(params, dtype=np.float64)
    grads = np.asarray(grads, dtype=np.float64)
    beta1, beta2 = betas
    if weight_decay != 0.0:
        grads = grads + weight_decay * params
    if not state:
        state["step"] = 0
        state["exp_avg"] = np.zeros_like(params)
        state["exp_avg_sq"] = np.zeros_like(params)
    # BUG: the caller's state dict and arrays are modified in place
    state["step"] += 1
    state["exp_avg"] *= beta1
    state["exp_avg"] += (1 - beta1) * grads
    state["exp_avg_sq"] *= beta2
    state["exp_avg_sq"] += (1 - beta2) * grads**2
    m_hat = state["exp_avg"] / (1 - beta1 ** state["step"])
    v_hat = state["exp_avg_sq"] / (1 - beta2 ** state["step"])
    return params - lr * m_hat / (np.sqrt(v_hat) + eps), state

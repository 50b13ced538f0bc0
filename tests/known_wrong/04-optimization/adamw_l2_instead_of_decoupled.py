"""AdamW with weight decay applied through the gradient (L2, Adam's convention) instead of decoupled: the decay gets divided by sqrt(v_hat), so weights with large gradients are barely decayed. Multiply the weights by (1 - lr * weight_decay) and feed the raw gradient to the Adam update."""
import numpy as np


def adamw_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    params = np.asarray(params, dtype=np.float64)
    # BUG: L2 regularisation through the gradient, normalised by Adam along with it
    return adam_step(params, grads, state, lr, betas=betas, eps=eps, weight_decay=weight_decay)

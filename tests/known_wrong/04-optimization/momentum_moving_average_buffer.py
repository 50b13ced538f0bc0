"""Momentum buffer as a moving average, b = mu * b + (1 - mu) * g starting from zero: every step is (1 - mu) times smaller than torch's. torch.optim.SGD's buffer is a decaying sum: b_1 = g_1, then b = mu * b + (1 - dampening) * g."""
import numpy as np


def momentum_step(params, grads, state, lr, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False):
    params = np.asarray(params, dtype=np.float64)
    grads = np.asarray(grads, dtype=np.float64)
    if weight_decay != 0.0:
        grads = grads + weight_decay * params
    previous = state.get("momentum_buffer", np.zeros_like(params))
    buffer = momentum * previous + (1 - momentum) * grads  # BUG: an average, not torch's sum
    direction = grads + momentum * buffer if nesterov else buffer
    return params - lr * direction, {"momentum_buffer": buffer}

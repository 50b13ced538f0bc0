"""Momentum buffer started at zero, so the first step is dampened too: with dampening > 0 the first step is (1 - dampening) * lr * g instead of torch's lr * g. torch sets the buffer to the raw first gradient and dampens only later steps."""
import numpy as np


def momentum_step(params, grads, state, lr, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False):
    params = np.asarray(params, dtype=np.float64)
    grads = np.asarray(grads, dtype=np.float64)
    if weight_decay != 0.0:
        grads = grads + weight_decay * params
    previous = state.get("momentum_buffer", np.zeros_like(params))  # BUG: should start as the raw gradient
    buffer = momentum * previous + (1 - dampening) * grads
    direction = grads + momentum * buffer if nesterov else buffer
    return params - lr * direction, {"momentum_buffer": buffer}

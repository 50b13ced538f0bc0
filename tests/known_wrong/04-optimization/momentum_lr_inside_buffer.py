"""Momentum in the Sutskever form, v = mu * v + lr * g and params -= v: the learning rate is stored inside the buffer, so the run differs from torch as soon as the learning rate changes (warmup, decay). torch steps by params -= lr * b with the current lr."""
import numpy as np


def momentum_step(params, grads, state, lr, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False):
    params = np.asarray(params, dtype=np.float64)
    grads = np.asarray(grads, dtype=np.float64)
    if weight_decay != 0.0:
        grads = grads + weight_decay * params
    if "momentum_buffer" not in state:
        velocity = lr * grads
    else:
        velocity = momentum * state["momentum_buffer"] + (1 - dampening) * lr * grads  # BUG: lr inside
    direction = lr * grads + momentum * velocity if nesterov else velocity
    return params - direction, {"momentum_buffer": velocity}

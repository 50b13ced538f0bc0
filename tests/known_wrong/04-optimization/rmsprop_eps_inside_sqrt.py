"""RMSProp with epsilon inside the square root, sqrt(v + eps): eps is then in squared units, 1e-8 acts like 1e-4, and coordinates with small gradients barely move. torch adds eps outside: sqrt(v) + eps."""
import numpy as np


def rmsprop_step(params, grads, state, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    params = np.asarray(params, dtype=np.float64)
    grads = np.asarray(grads, dtype=np.float64)
    if weight_decay != 0.0:
        grads = grads + weight_decay * params
    zeros = np.zeros_like(params)
    square_avg = alpha * state.get("square_avg", zeros) + (1 - alpha) * grads**2
    new_state = {"step": state.get("step", 0) + 1, "square_avg": square_avg}
    if centered:
        grad_avg = alpha * state.get("grad_avg", zeros) + (1 - alpha) * grads
        new_state["grad_avg"] = grad_avg
        denominator = np.sqrt(square_avg - grad_avg**2 + eps)  # BUG: eps inside the root
    else:
        denominator = np.sqrt(square_avg + eps)  # BUG: eps inside the root
    if momentum > 0:
        buffer = momentum * state.get("momentum_buffer", zeros) + grads / denominator
        new_state["momentum_buffer"] = buffer
        return params - lr * buffer, new_state
    return params - lr * grads / denominator, new_state

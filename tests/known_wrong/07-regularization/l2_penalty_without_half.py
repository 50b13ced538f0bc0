"""An L2 penalty reported as lambda * ||W||^2 next to the gradient lambda * W: the gradient of lambda * ||W||^2 is 2 * lambda * W, so the penalty and its gradient disagree by a factor 2. torch's weight_decay adds lambda * W, the gradient of (lambda / 2) * ||W||^2: keep the 1/2 in the penalty."""
import numpy as np


def weight_decay_penalty(params, weight_decay):
    penalty, grads = 0.0, {}
    for name, value in params.items():
        value = np.asarray(value, dtype=np.float64)
        if value.ndim >= 2:
            penalty += weight_decay * float(np.sum(value**2))  # BUG: no 1/2
            grads[name] = weight_decay * value
        else:
            grads[name] = np.zeros_like(value)
    return penalty, grads

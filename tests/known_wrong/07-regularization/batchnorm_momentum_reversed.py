"""Batch norm's momentum convention reversed, new = momentum * old + (1 - momentum) * batch: in torch, momentum is the weight of the NEW batch, so nn.BatchNorm1d(momentum=0.1) means new = 0.9 * old + 0.1 * batch (the opposite of optimisers' momentum and of Keras' BatchNormalization)."""
import numpy as np


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    if training:
        n = x.shape[0]
        if n < 2:
            raise ValueError(f"batch norm in training mode needs at least 2 examples per batch, got {n}")
        mean = x.mean(axis=0)
        var = ((x - mean) ** 2).mean(axis=0)
        x_hat = (x - mean) / np.sqrt(var + eps)
        new_running_mean = momentum * running_mean + (1 - momentum) * mean  # BUG: weights swapped
        new_running_var = momentum * running_var + (1 - momentum) * var * n / (n - 1)  # BUG: weights swapped
    else:
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        new_running_mean = np.array(running_mean, dtype=np.float64)
        new_running_var = np.array(running_var, dtype=np.float64)
    return gamma * x_hat + beta, new_running_mean, new_running_var

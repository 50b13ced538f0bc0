"""Batch norm that normalises with the batch's own mean and variance at evaluation too: predictions then depend on which examples share the batch, and a batch of one breaks. In evaluation mode use (x - running_mean) / sqrt(running_var + eps), as nn.BatchNorm1d after model.eval()."""
import numpy as np


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    x_hat = (x - mean) / np.sqrt(var + eps)  # BUG: batch statistics in both modes
    if training:
        if n < 2:
            raise ValueError(f"batch norm in training mode needs at least 2 examples per batch, got {n}")
        new_running_mean = (1 - momentum) * running_mean + momentum * mean
        new_running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
    else:
        new_running_mean = np.array(running_mean, dtype=np.float64)
        new_running_var = np.array(running_var, dtype=np.float64)
    return gamma * x_hat + beta, new_running_mean, new_running_var

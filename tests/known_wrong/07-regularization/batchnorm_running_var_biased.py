"""Running variance updated with the biased batch variance (divide by N): torch's nn.BatchNorm1d averages the unbiased variance N / (N - 1) * var, so the running variance comes out too small by (N - 1) / N. Normalise with the biased variance, but update the running variance with var * N / (N - 1)."""
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
        new_running_mean = (1 - momentum) * running_mean + momentum * mean
        new_running_var = (1 - momentum) * running_var + momentum * var  # BUG: biased, no N / (N - 1)
    else:
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        new_running_mean = np.array(running_mean, dtype=np.float64)
        new_running_var = np.array(running_var, dtype=np.float64)
    return gamma * x_hat + beta, new_running_mean, new_running_var

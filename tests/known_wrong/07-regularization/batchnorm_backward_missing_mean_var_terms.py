"""Batch-norm backward that treats the batch mean and variance as constants, grad_x = gamma * grad_out / sqrt(var + eps): in training they depend on every input of the column, and the gradient must also flow through them. Subtract the column mean of g = gamma * grad_out and its projection on x_hat: (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps)."""
import numpy as np


def batchnorm_backward(grad_out, x, gamma, eps=1e-5):
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    std = np.sqrt(var + eps)
    x_hat = (x - mean) / std
    grad_gamma = (grad_out * x_hat).sum(axis=0)
    grad_beta = grad_out.sum(axis=0)
    grad_x = grad_out * gamma / std  # BUG: only the direct path, none through the mean and variance
    return grad_x, grad_gamma, grad_beta

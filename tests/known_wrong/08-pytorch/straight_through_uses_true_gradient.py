"""The rounding estimator's backward returns the true derivative of round, which is zero almost everywhere, so no gradient reaches the weights and quantization-aware training cannot learn. A straight-through estimator passes grad_output through unchanged."""
import torch


class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output)  # BUG: d round / dx = 0 instead of the identity

"""Softplus computed as log1p(exp(beta x)) / beta: exp overflows to inf for beta x above 88.7 in float32 and 709.8 in float64. Use the stable form max(x, 0) + log1p(exp(-beta |x|)) / beta, whose exponential is at most 1."""
import torch


class StableSoftplus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta):
        ctx.save_for_backward(x)
        ctx.beta = beta
        return torch.log1p(torch.exp(beta * x)) / beta  # BUG: overflows for large beta * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.sigmoid(ctx.beta * x), None

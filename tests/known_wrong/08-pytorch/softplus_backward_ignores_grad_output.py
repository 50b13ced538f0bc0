"""The custom backward returns the local derivative sigmoid(beta x) without multiplying it by grad_output, so it is right only when softplus is the loss itself and wrong inside any network. A backward returns the vector-Jacobian product: grad_output * sigmoid(beta * x)."""
import torch


class StableSoftplus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta):
        ctx.save_for_backward(x)
        ctx.beta = beta
        bx = beta * x
        return (bx.clamp_min(0) + torch.log1p(torch.exp(-bx.abs()))) / beta

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return torch.sigmoid(ctx.beta * x), None  # BUG: grad_output is ignored

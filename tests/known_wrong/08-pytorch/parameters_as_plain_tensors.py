"""The weights are plain tensor attributes, not nn.Parameter: they are not in model.parameters() or the state dict, the optimizer never sees them, so they are never trained, saved or moved by .to(). Wrap each weight in nn.Parameter(...)."""
import math

import torch
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        bound1, bound2 = 1 / math.sqrt(n_in), 1 / math.sqrt(n_hidden)
        # BUG: plain tensors (even with requires_grad=True) are not registered
        self.w1 = torch.empty(n_hidden, n_in).uniform_(-bound1, bound1).requires_grad_()
        self.b1 = torch.empty(n_hidden).uniform_(-bound1, bound1).requires_grad_()
        self.w2 = torch.empty(n_out, n_hidden).uniform_(-bound2, bound2).requires_grad_()
        self.b2 = torch.empty(n_out).uniform_(-bound2, bound2).requires_grad_()
        self.register_buffer("x_mean", torch.zeros(n_in))
        self.register_buffer("x_std", torch.ones(n_in))

    def fit_input_statistics(self, x):
        with torch.no_grad():
            self.x_mean.copy_(x.mean(dim=0))
            self.x_std.copy_(x.std(dim=0, correction=0))

    def forward(self, x):
        z = (x - self.x_mean) / self.x_std
        return torch.relu(z @ self.w1.T + self.b1) @ self.w2.T + self.b2

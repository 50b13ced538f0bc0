"""The Jacobian rows are read from .grad after one backward() per output without resetting it, so .grad accumulates and row i holds the sum of rows 0 to i. Use torch.autograd.grad(y[i], x, retain_graph=True), which returns the gradient instead of adding it, or set x.grad = None before each row."""
import torch


def jacobian(f, x):
    leaf = x.detach().requires_grad_(True)
    y = f(leaf)
    rows = []
    for i in range(y.shape[0]):
        y[i].backward(retain_graph=True)
        rows.append(leaf.grad.clone())  # BUG: leaf.grad is never reset
    return torch.stack(rows)

"""Clipping that always rescales to max_norm, also when the norm is below it: small gradients are blown up to norm max_norm. Clamp the coefficient max_norm / (norm + 1e-6) to at most 1, so that clipping is a no-op below the threshold."""
import torch


def clip_grad_norm(parameters, max_norm):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])
    total_norm = torch.linalg.vector_norm(norms)
    coefficient = max_norm / (total_norm + 1e-6)  # BUG: not clamped to 1
    for g in grads:
        g.mul_(coefficient.to(g.dtype))
    return total_norm

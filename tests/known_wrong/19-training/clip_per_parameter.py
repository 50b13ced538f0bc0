"""Clipping each parameter's gradient to max_norm separately instead of the global norm: the small gradients keep their size while the large ones shrink, so the step changes direction (and its norm can reach max_norm * sqrt(P)). Compute one norm over all gradients and scale every gradient by the same min(1, max_norm / (norm + 1e-6))."""
import torch


def clip_grad_norm(parameters, max_norm):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])
    total_norm = torch.linalg.vector_norm(norms)
    for g in grads:
        coefficient = torch.clamp(max_norm / (torch.linalg.vector_norm(g) + 1e-6), max=1.0)  # BUG: one coefficient per parameter
        g.mul_(coefficient.to(g.dtype))
    return total_norm

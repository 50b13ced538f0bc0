"""The einsum operations return zeros of the right shape: the shapes pass, the numbers do not. Compute each operation with one torch.einsum call ('bij,bjk->bik', 'ii->', 'i,j->ij', 'bi,ij,bj->b', 'bhld,bhsd->bhls' divided by sqrt(d))."""
import torch


def batched_matmul(a, b):
    return torch.zeros(a.shape[0], a.shape[1], b.shape[2], dtype=a.dtype)


def trace(a):
    return torch.zeros((), dtype=a.dtype)


def outer(u, v):
    return torch.zeros(u.shape[0], v.shape[0], dtype=u.dtype)


def bilinear_form(x, W, y):
    return torch.zeros(x.shape[0], dtype=x.dtype)


def attention_scores(q, k):
    return torch.zeros(*q.shape[:-1], k.shape[-2], dtype=q.dtype)

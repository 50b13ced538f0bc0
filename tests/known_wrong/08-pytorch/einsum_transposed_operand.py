"""A batched matrix product whose einsum string transposes the second operand: 'bij,bkj->bik' computes A B^T, which runs without an error whenever the matrices are square. The summed letter must be the last axis of A and the middle axis of B: 'bij,bjk->bik'."""
import torch


def batched_matmul(a, b):
    return torch.einsum("bij,bkj->bik", a, b)  # BUG: b transposed

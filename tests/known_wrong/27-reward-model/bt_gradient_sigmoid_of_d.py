"""The gradient weight sigmoid(d) instead of sigmoid(-d): learnt pairs would pull hardest and wrong ones least. d/dz [-log sigmoid(z)] = -(1 - sigmoid(z)) = -sigmoid(-z)."""
import torch


def bradley_terry_gradient(r_chosen, r_rejected, margin=None):
    difference = r_chosen - r_rejected
    if margin is not None:
        difference = difference - margin
    grad_chosen = -torch.sigmoid(difference) / difference.shape[0]  # BUG: sigmoid(d)
    return grad_chosen, -grad_chosen

"""The Bradley-Terry loss summed over the pairs instead of averaged: the loss and its gradients grow with the batch size, so the learning rate depends on it. Take the mean over the pairs."""
import torch.nn.functional as F


def bradley_terry_loss(r_chosen, r_rejected, margin=None):
    difference = r_chosen - r_rejected
    if margin is not None:
        difference = difference - margin
    return -F.logsigmoid(difference).sum()  # BUG: sum


def bradley_terry_gradient(r_chosen, r_rejected, margin=None):
    difference = r_chosen - r_rejected
    if margin is not None:
        difference = difference - margin
    grad_chosen = -torch.sigmoid(-difference)  # BUG: no 1/n
    return grad_chosen, -grad_chosen

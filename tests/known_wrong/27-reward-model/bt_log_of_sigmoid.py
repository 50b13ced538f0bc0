"""-log(sigmoid(d)) computed in two steps overflows: for d = -200 in float32 the sigmoid rounds to 0 and its log is -inf (and the gradient NaN). Use -F.logsigmoid(d) or F.softplus(-d), which compute log(1 + e^-d) stably."""
import torch


def bradley_terry_loss(r_chosen, r_rejected, margin=None):
    difference = r_chosen - r_rejected
    if margin is not None:
        difference = difference - margin
    return -torch.log(torch.sigmoid(difference)).mean()  # BUG: unstable

"""Bradley-Terry with chosen and rejected swapped: the loss rewards the rejected response, and the reward model learns the preference backwards. The difference is r_chosen - r_rejected (minus the margin), chosen first."""
import torch.nn.functional as F


def bradley_terry_loss(r_chosen, r_rejected, margin=None):
    difference = r_rejected - r_chosen  # BUG: swapped
    if margin is not None:
        difference = difference - margin
    return -F.logsigmoid(difference).mean()

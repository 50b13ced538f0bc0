"""The margin added to the reward difference instead of subtracted: a strongly preferred pair counts as learnt before it is even won. Llama 2's loss is -log sigmoid(r_chosen - r_rejected - m)."""
import torch.nn.functional as F


def bradley_terry_loss(r_chosen, r_rejected, margin=None):
    difference = r_chosen - r_rejected
    if margin is not None:
        difference = difference + margin  # BUG: wrong sign
    return -F.logsigmoid(difference).mean()

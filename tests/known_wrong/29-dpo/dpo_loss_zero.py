"""A degenerate DPO loss: constant zero losses (with correct rewards), so nothing is ever learnt. Return -logsigmoid(beta * h) per pair."""
import torch


def dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    chosen_logratio = policy_chosen - reference_chosen
    rejected_logratio = policy_rejected - reference_rejected
    return torch.zeros_like(policy_chosen), (beta * chosen_logratio).detach(), (beta * rejected_logratio).detach()  # BUG: a constant

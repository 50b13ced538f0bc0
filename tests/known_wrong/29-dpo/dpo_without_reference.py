"""DPO without the reference log-ratio: the margin is log pi(y_w) - log pi(y_l), so nothing anchors the policy to the reference (the "unlikelihood" loss that degenerates). Use (pi_w - ref_w) - (pi_l - ref_l)."""
import torch.nn.functional as F


def dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    chosen_logratio = policy_chosen - reference_chosen
    rejected_logratio = policy_rejected - reference_rejected
    losses = -F.logsigmoid(beta * (policy_chosen - policy_rejected))  # BUG: the reference is ignored
    return losses, (beta * chosen_logratio).detach(), (beta * rejected_logratio).detach()

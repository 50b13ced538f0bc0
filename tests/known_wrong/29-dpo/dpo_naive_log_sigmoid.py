"""DPO computed as -log(sigmoid(z)): sigmoid underflows to 0 for margins of a few hundred nats and the loss becomes infinite. Use -F.logsigmoid(z) or F.softplus(-z)."""
import torch


def dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    chosen_logratio = policy_chosen - reference_chosen
    rejected_logratio = policy_rejected - reference_rejected
    losses = -torch.log(torch.sigmoid(beta * (chosen_logratio - rejected_logratio)))  # BUG: unstable
    return losses, (beta * chosen_logratio).detach(), (beta * rejected_logratio).detach()

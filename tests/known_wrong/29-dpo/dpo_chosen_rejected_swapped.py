"""DPO with chosen and rejected swapped: the loss rewards the rejected response and trains the model towards the violations. The margin is chosen log-ratio minus rejected log-ratio."""
import torch.nn.functional as F


def dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    chosen_logratio = policy_chosen - reference_chosen
    rejected_logratio = policy_rejected - reference_rejected
    losses = -F.logsigmoid(beta * (rejected_logratio - chosen_logratio))  # BUG: swapped
    return losses, (beta * chosen_logratio).detach(), (beta * rejected_logratio).detach()

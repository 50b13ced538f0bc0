"""The KL penalty in the wrong direction: logp_ref - logp, whose mean on samples from pi is minus KL(pi || pi_ref), so the penalty rewards drifting away from the reference. Use logp - logp_ref."""
import torch
import torch.nn as nn


def kl_penalty(logp: torch.Tensor, logp_ref: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token estimates of KL(pi || pi_ref) from tokens sampled from pi.

    Args:
        logp: float tensor (...), log pi(a_t | s_t) of the sampled tokens under the policy that sampled them.
        logp_ref: float tensor of the same shape, log pi_ref(a_t | s_t) of the same tokens under the frozen reference.
        estimator: "k1" for logp - logp_ref, "k3" for (u - 1) - log u with u = pi_ref / pi = exp(logp_ref - logp).

    Returns:
        A float tensor of logp's shape: one estimate per token (0 where both inputs are 0, e.g. masked positions).

    Example:
        >>> kl_penalty(torch.tensor([-1.0]), torch.tensor([-2.0]))            # the policy likes the token more than the reference
        tensor([1.])
        >>> kl_penalty(torch.tensor([-1.0]), torch.tensor([-2.0]), "k3")      # exp(-1) - 1 + 1
        tensor([0.3679])
    """
    log_ratio = logp_ref - logp                 # log pi / pi_ref: the direction RLHF penalises
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio      # (u - 1) - log u, u = pi_ref / pi; expm1 keeps it accurate near 0
    raise ValueError(f"unknown KL estimator {estimator!r}: use 'k1' or 'k3'")

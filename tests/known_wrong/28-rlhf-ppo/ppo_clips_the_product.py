"""PPO clips the product rho * A to [1 - eps, 1 + eps] instead of the ratio: the objective then depends on the advantage's scale and the clip is in the wrong units. Clip the ratio, clamp(rho, 1 - eps, 1 + eps) * A."""
import torch
import torch.nn as nn


def ppo_policy_loss(logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                    clip_eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate as a loss to minimise, with its two diagnostics.

    Args:
        logp_new: float tensor (B, L), log pi_theta of the sampled tokens (with gradients).
        logp_old: float tensor (B, L), log pi_old of the same tokens (constants: the policy that sampled them).
        advantages: float tensor (B, L), A_t (constants).
        mask: float tensor (B, L), 1 on response tokens.
        clip_eps: epsilon, e.g. 0.2.

    Returns:
        (loss, clip_fraction, approx_kl), three scalar tensors:
        loss = -masked_mean(min(rho * A, clip(rho, 1 - eps, 1 + eps) * A)) with rho = exp(logp_new - logp_old),
        differentiable with respect to logp_new;
        clip_fraction = masked_mean(|rho - 1| > eps) and approx_kl = masked_mean((rho - 1) - log rho), both without gradients.

    Example:
        >>> loss, frac, kl = ppo_policy_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([[1.0, -3.0]]), torch.ones(1, 2), 0.2)
        >>> loss, frac, kl                                      # rho = 1: minus the mean advantage, nothing clipped
        (tensor(1.), tensor(0.), tensor(0.))
    """
    log_ratio = logp_new - logp_old
    ratio = torch.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio * advantages, 1 - clip_eps, 1 + clip_eps)
    loss = -masked_mean(torch.minimum(unclipped, clipped), mask)       # minus: we minimise, PPO maximises
    with torch.no_grad():
        clip_fraction = masked_mean(((ratio - 1).abs() > clip_eps).to(ratio.dtype), mask)
        approx_kl = masked_mean(torch.expm1(log_ratio) - log_ratio, mask)
    return loss, clip_fraction, approx_kl

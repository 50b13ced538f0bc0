"""Degenerate GAE: zero advantages and zero returns, whatever the rewards. Compute the TD errors and the backward recursion A_t = delta_t + gamma lambda A_{t+1}."""
import torch
import torch.nn as nn


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float,
        next_values: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over masked responses, and the lambda-returns.

    Args:
        rewards: float tensor (B, L), r_t per position (shape_rewards), 0 on padding.
        values: float tensor (B, L), V(s_t) per position; values on padding are arbitrary and must not be used.
        mask: float tensor (B, L), 1 on the positions of the response; a row may end early (terminated) or
            run to the last column. Position t continues into t + 1 exactly when mask[:, t + 1] is 1.
        gamma, lam: the discount and the GAE parameter, in [0, 1].
        next_values: float tensor (B,) or None: V(s_L) of the state after the last column, used as the bootstrap
            of rows still running at the last column (truncated rows); None means zeros (every row terminated).

    Returns:
        (advantages, returns), float tensors (B, L): A_t = delta_t + gamma * lam * A_{t+1} with
        delta_t = r_t + gamma * V(s_{t+1}) - V(s_t), nothing carried across the end of a response;
        returns = advantages + values; both exactly 0 where mask is 0.

    Example:
        >>> adv, ret = gae(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]), torch.ones(1, 2), gamma=1.0, lam=1.0)
        >>> adv                                                # Monte Carlo: [0 + 1 - 0.5, 1 - 0.5]
        tensor([[0.5000, 0.5000]])
    """
    B, L = rewards.shape
    if next_values is None:
        next_values = torch.zeros(B, dtype=values.dtype, device=values.device)
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(B, dtype=rewards.dtype, device=rewards.device)      # A_{t+1}
    for t in reversed(range(L)):
        if t + 1 < L:
            continues, next_value = mask[:, t + 1], values[:, t + 1]       # 0 after the last token of a response
        else:
            continues, next_value = torch.ones_like(running), next_values    # bootstrap (zeros: terminated)
        delta = rewards[:, t] + gamma * continues * next_value - values[:, t]
        running = delta + gamma * lam * continues * running
        advantages[:, t] = running
    advantages = advantages * 0.0
    returns = advantages * mask
    return advantages, returns

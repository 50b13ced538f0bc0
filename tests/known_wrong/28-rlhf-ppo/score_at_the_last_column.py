"""The score added at the last column instead of each response's last token: a response that ended early loses its score to a masked padding position. Add it at the last position where the row's mask is 1."""
import torch
import torch.nn as nn


def shape_rewards(kl: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-token rewards r_t = -beta * kl_t on response tokens, plus each response's score at its last response token.

    Args:
        kl: float tensor (B, L), per-token KL estimates (kl_penalty).
        scores: float tensor (B,), the score R(x, y) of each response.
        mask: float tensor (B, L), 1 on response tokens, 0 on prompt and padding; every row has at least one 1.
        beta: the KL coefficient.

    Returns:
        A float tensor (B, L): -beta * kl * mask, with scores[b] added at the last position where mask[b] is 1.
        The inputs are left unchanged.

    Example:
        >>> shape_rewards(torch.tensor([[0.5, 1.0, 2.0]]), torch.tensor([3.0]), torch.tensor([[1.0, 1.0, 0.0]]), beta=0.1)
        tensor([[-0.0500,  2.9000,  0.0000]])
    """
    rewards = -beta * kl * mask
    positions = torch.arange(mask.shape[1], device=mask.device)
    last = torch.full((mask.shape[0],), mask.shape[1] - 1)          # the last response position of each row
    rewards[torch.arange(mask.shape[0], device=mask.device), last] += scores.to(rewards.dtype)
    return rewards

"""Log-probabilities gathered without the one-token shift: tokens[:, j] scored under logits[:, j], which were computed after seeing it. The logits at position j predict tokens[:, j + 1]: gather tokens[:, 1:] from log_softmax(logits[:, :-1])."""
import torch
import torch.nn as nn


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """The log-probability of each next token under the logits, zero outside the response.

    Args:
        logits: float tensor (B, T, V), the model's output on tokens (logits[:, j] predicts tokens[:, j + 1]).
        tokens: LongTensor (B, T), prompt and response.
        response_mask: float tensor (B, T - 1), 1 where position j holds a response token (tokens[:, j + 1]), else 0.

    Returns:
        A float tensor (B, T - 1) in logits' dtype (float32 for float16/bfloat16 logits): log softmax(logits[:, j])[tokens[:, j + 1]]
        where response_mask is 1, exactly 0 where it is 0. Differentiable with respect to logits.

    Example:
        >>> logits = torch.zeros(1, 3, 4)                  # uniform over 4 tokens
        >>> token_logprobs(logits, torch.tensor([[0, 1, 2]]), torch.tensor([[0.0, 1.0]]))
        tensor([[ 0.0000, -1.3863]])
    """
    predicting = logits[:, :-1]                              # logits[:, j] predict tokens[:, j + 1]
    if predicting.dtype in (torch.float16, torch.bfloat16):
        predicting = predicting.float()                     # low-precision log-probabilities are too coarse for PPO's ratios
    logp_all = torch.log_softmax(predicting, dim=-1)       # (B, T - 1, V), stable for huge logits
    logp = logp_all.gather(-1, tokens[:, :-1].unsqueeze(-1)).squeeze(-1)
    return logp * response_mask

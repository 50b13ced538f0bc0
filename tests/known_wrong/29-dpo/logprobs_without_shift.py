"""Sequence log-probabilities without the one-token shift: logits[:, t] are scored against tokens[:, t], the token they were computed from, not the next one. Compare logits[:, :-1] with tokens[:, 1:]."""
import torch


def sequence_logprobs(logits, tokens, response_mask):
    log_probs = torch.log_softmax(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits, dim=-1)
    token_logprobs = log_probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # BUG: no shift
    return (token_logprobs * response_mask.to(token_logprobs.dtype)).sum(dim=-1)

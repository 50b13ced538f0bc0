"""Sequence log-probabilities that include the prompt tokens (the mask is ignored): the prompt's terms enter the DPO margin once policy and reference differ on them. Sum only where response_mask is True."""
import torch


def sequence_logprobs(logits, tokens, response_mask):
    log_probs = torch.log_softmax(logits[:, :-1].float() if logits.dtype in (torch.float16, torch.bfloat16) else logits[:, :-1], dim=-1)
    token_logprobs = log_probs.gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
    real = torch.ones_like(response_mask[:, 1:])
    for i in range(response_mask.shape[0]):     # every real token, prompt included, up to the end of the response
        last = int(response_mask[i].nonzero().max()) if response_mask[i].any() else 0
        real[i, last:] = False
    return (token_logprobs * real.to(token_logprobs.dtype)).sum(dim=-1)  # BUG: prompt tokens counted

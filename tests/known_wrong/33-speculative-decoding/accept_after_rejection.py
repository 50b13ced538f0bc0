"""Verification that goes on after the first rejection: later drafts were sampled after the rejected token, so keeping them (or replacing each rejected one) produces tokens conditioned on text that is not there. Stop at the first rejection and return the resampled token."""
import torch


def speculative_step(target_probs, draft_probs, tokens, gamma, generator):
    sequence = tokens.clone()
    draft_distributions = []
    for _ in range(gamma):
        q = draft_probs(sequence)[-1]
        drafted = torch.multinomial(q, 1, generator=generator)
        draft_distributions.append(q)
        sequence = torch.cat([sequence, drafted])
    start = len(tokens)
    target_rows = target_probs(sequence)[start - 1:]
    new_tokens, n_accepted = [], 0
    for i in range(gamma):
        u, v = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        accepted, token = accept_or_resample(target_rows[i], draft_distributions[i], int(sequence[start + i]), u, v)
        new_tokens.append(token)
        n_accepted += int(accepted)  # BUG: no stop at the first rejection
    if n_accepted == gamma:
        bonus = torch.multinomial(target_rows[gamma], 1, generator=generator)
        return torch.tensor(new_tokens + [int(bonus)], dtype=torch.long), gamma
    return torch.tensor(new_tokens, dtype=torch.long), len(new_tokens) - 1

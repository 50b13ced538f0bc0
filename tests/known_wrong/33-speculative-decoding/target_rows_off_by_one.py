"""The draft token at position start + i is verified against the target's row start + i (the distribution AFTER that token) instead of row start + i - 1 (the distribution OF that token): the one-token shift of causal models is lost. Use target_probs(sequence)[len(tokens) - 1:]."""
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
    all_rows = target_probs(sequence)
    new_tokens = []
    for i in range(gamma):
        u, v = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        accepted, token = accept_or_resample(all_rows[start + i], draft_distributions[i], int(sequence[start + i]), u, v)  # BUG: one row late
        new_tokens.append(token)
        if not accepted:
            return torch.tensor(new_tokens, dtype=torch.long), i
    bonus = torch.multinomial(all_rows[-1], 1, generator=generator)
    return torch.tensor(new_tokens + [int(bonus)], dtype=torch.long), gamma

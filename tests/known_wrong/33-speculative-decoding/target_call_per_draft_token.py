"""Verification with one target call per draft token (gamma + 1 calls per step): the output is right but every token still costs a full target pass, so nothing is gained. Call target_probs once on the prefix plus all gamma drafts and read the gamma + 1 rows."""
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
    target_rows = torch.stack([target_probs(sequence[:start + i])[-1] for i in range(gamma + 1)])  # BUG: gamma + 1 calls
    new_tokens = []
    for i in range(gamma):
        u, v = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        accepted, token = accept_or_resample(target_rows[i], draft_distributions[i], int(sequence[start + i]), u, v)
        new_tokens.append(token)
        if not accepted:
            return torch.tensor(new_tokens, dtype=torch.long), i
    bonus = torch.multinomial(target_rows[gamma], 1, generator=generator)
    return torch.tensor(new_tokens + [int(bonus)], dtype=torch.long), gamma

"""No bonus token when all gamma drafts are accepted: the target's distribution after the last draft, computed by the verification call anyway, is thrown away, so a step yields at most gamma tokens. Sample one more token from the target's last row."""
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
    new_tokens = []
    for i in range(gamma):
        u, v = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        accepted, token = accept_or_resample(target_rows[i], draft_distributions[i], int(sequence[start + i]), u, v)
        new_tokens.append(token)
        if not accepted:
            return torch.tensor(new_tokens, dtype=torch.long), i
    return torch.tensor(new_tokens, dtype=torch.long), gamma  # BUG: no bonus token

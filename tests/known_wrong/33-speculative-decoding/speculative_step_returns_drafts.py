"""A degenerate speculative step that returns the draft's tokens unverified: the output is the draft model's text, not the target's. Verify each draft token with accept_or_resample against the target's row."""
import torch


def speculative_step(target_probs, draft_probs, tokens, gamma, generator):
    sequence = tokens.clone()
    for _ in range(gamma):
        q = draft_probs(sequence)[-1]
        sequence = torch.cat([sequence, torch.multinomial(q, 1, generator=generator)])
    target_probs(sequence)
    return sequence[len(tokens):].clone(), gamma  # BUG: every draft kept, nothing verified

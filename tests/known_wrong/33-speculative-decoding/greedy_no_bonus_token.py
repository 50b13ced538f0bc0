"""Greedy speculative decoding without the bonus token: when all gamma drafts match, the target's argmax after the last draft is dropped, so a perfect draft yields gamma tokens per target call instead of gamma + 1. Append choices[:n + 1] also when n == gamma."""
import torch


def greedy_speculative_generate(target_probs, draft_probs, tokens, max_new_tokens, gamma):
    sequence = tokens.clone()
    accepted = []
    while len(sequence) < len(tokens) + max_new_tokens:
        start = len(sequence)
        drafted = sequence
        for _ in range(gamma):
            drafted = torch.cat([drafted, draft_probs(drafted)[-1].argmax().reshape(1)])
        choices = target_probs(drafted)[start - 1:].argmax(dim=-1)
        n = 0
        while n < gamma and int(drafted[start + n]) == int(choices[n]):
            n += 1
        sequence = torch.cat([sequence, choices[:min(n + 1, gamma)]])  # BUG: no bonus after gamma matches
        accepted.append(n)
    return sequence[:len(tokens) + max_new_tokens], accepted

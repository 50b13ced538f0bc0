"""Greedy speculative decoding that appends the draft's token at the first mismatch instead of the target's argmax: one draft token per step slips into the output. At the mismatch append the target's own choice, choices[n]."""
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
        if n < gamma:
            sequence = torch.cat([sequence, drafted[start:start + n + 1]])  # BUG: the mismatching draft token is kept
        else:
            sequence = torch.cat([sequence, choices[:n + 1]])
        accepted.append(n)
    return sequence[:len(tokens) + max_new_tokens], accepted

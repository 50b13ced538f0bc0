"""GRPO advantages with the population std (N) where this notebook, torch.std and TRL use the sample std (N - 1). Use rewards.std(dim=1, keepdim=True)."""


def grpo_advantages(rewards, eps=1e-4, scale_by_std=True):
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if not scale_by_std:
        return centred
    return centred / (rewards.std(dim=1, unbiased=False, keepdim=True) + eps)  # BUG: population std

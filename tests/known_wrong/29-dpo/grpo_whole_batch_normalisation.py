"""GRPO advantages normalised over the whole batch instead of per prompt: groups of easy and hard prompts are mixed, so a poor answer to an easy prompt can get a positive advantage. Take the mean and std along dim=1."""


def grpo_advantages(rewards, eps=1e-4, scale_by_std=True):
    centred = rewards - rewards.mean()  # BUG: one mean for the whole batch
    if not scale_by_std:
        return centred
    return centred / (rewards.std() + eps)

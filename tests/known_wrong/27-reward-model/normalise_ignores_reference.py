"""Reward normalisation with the batch's own statistics even when a reference set is given: the offset and scale then change with every batch. Take the mean and std of the reference set when there is one."""


def normalise_rewards(rewards, reference=None):
    return (rewards - rewards.mean()) / rewards.std()  # BUG: reference ignored

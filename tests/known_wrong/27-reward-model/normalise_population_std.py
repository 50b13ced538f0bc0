"""Reward normalisation with the population standard deviation (N in the denominator): this notebook's convention is the sample std (N - 1), torch.std's default, as TRL's whitening uses."""


def normalise_rewards(rewards, reference=None):
    statistics = rewards if reference is None else reference
    return (rewards - statistics.mean()) / statistics.std(unbiased=False)  # BUG: population std

"""IPO with the target margin 1/beta instead of 1/(2 beta): Azar et al.'s target is tau^-1 / 2, so the pair is pushed twice as far apart. Use (h - 1 / (2 * beta)) ** 2."""


def ipo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    h = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    return (h - 1.0 / beta) ** 2  # BUG: the target is 1 / (2 beta)

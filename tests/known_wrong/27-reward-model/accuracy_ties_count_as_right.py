"""Preference accuracy with >=: a tie counts as right, so a reward model that scores everything the same gets accuracy 1. Count r_chosen > r_rejected strictly."""


def preference_accuracy(r_chosen, r_rejected):
    return float((r_chosen >= r_rejected).double().mean())  # BUG: ties count as right

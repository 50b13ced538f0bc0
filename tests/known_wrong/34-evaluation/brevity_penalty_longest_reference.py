"""The effective reference length taken as the longest reference instead of the closest one, which penalises good short translations. Pick the reference length closest to the hypothesis length (ties: the shorter)."""


def closest_reference_length(hypothesis_length, reference_lengths):
    return max(reference_lengths)  # BUG: the longest, not the closest

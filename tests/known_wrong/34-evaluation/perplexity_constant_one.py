"""A degenerate perplexity: always 1, the score of a perfect model, whatever the NLLs. Return exp(mean NLL)."""


def perplexity(nlls):
    return 1.0  # BUG: a constant

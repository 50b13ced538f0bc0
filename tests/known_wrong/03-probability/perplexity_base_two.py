"""Perplexity computed as 2 ** cross-entropy when the cross-entropy is in nats mixes bases and reports a perplexity that is too low. With a loss in nats, perplexity = exp(loss) (2 ** loss only for a loss in bits).
"""


def perplexity(logits, targets):
    return 2.0 ** cross_entropy(logits, targets)  # BUG: base 2 with a loss in nats

"""Mean pooling that averages over padding as well: the embedding of a sentence depends on the length of the longest sentence in its batch. Sum the real tokens' states and divide by the number of real tokens."""


def mean_pool(hidden, attention_mask):
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / hidden.shape[1]  # BUG: divides by T

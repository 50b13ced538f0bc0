"""A ring all-reduce that returns its input unchanged: the right shape and dtype, and no communication at all (the degenerate answer). Reduce-scatter, then all-gather, with dist.isend and dist.recv."""


def ring_all_reduce(tensor):
    return tensor  # BUG: the degenerate answer, the input returned

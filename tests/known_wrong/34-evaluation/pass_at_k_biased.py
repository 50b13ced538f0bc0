"""pass@k estimated as 1 - (1 - c/n)^k, which overestimates pass@k (Jensen). Use the unbiased 1 - C(n - c, k) / C(n, k)."""


def pass_at_k(n, c, k):
    return 1.0 - (1.0 - c / n) ** k  # BUG: sampling with replacement from the empirical rate

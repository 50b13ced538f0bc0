"""The maximum-likelihood variance divides by N, not by N - 1: dividing by N - 1 (Bessel's correction, np.var(ddof=1), torch.var's default) gives the unbiased estimator, which does not maximise the likelihood. Use mean((x - mean)^2).
"""


def mle_gaussian(x):
    x = np.asarray(x, dtype=np.float64)
    mean = np.mean(x, axis=0)
    var = np.sum((x - mean) ** 2, axis=0) / (x.shape[0] - 1)  # BUG: N - 1 instead of N
    return mean, var

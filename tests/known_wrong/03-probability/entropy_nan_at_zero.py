"""Entropy as -sum(p * log(p)) returns NaN when some probability is exactly 0, because 0 * log(0) = 0 * -inf = NaN in floating point. Use the convention 0 log 0 = 0: take the log only where p > 0.
"""


def entropy(p):
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(p * np.log(p), axis=-1)  # BUG: 0 * log(0) is NaN

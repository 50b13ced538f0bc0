"""KL divergence with its arguments swapped computes KL(q || p) when KL(p || q) is asked; KL is not symmetric, so the value (and any fit that minimises it) is wrong. KL(p || q) = sum_i p_i log(p_i / q_i) averages under the first argument p.
"""


def kl_divergence(p, q):
    p, q = np.asarray(q, dtype=np.float64), np.asarray(p, dtype=np.float64)  # BUG: p and q swapped
    safe_p = np.where(p > 0, p, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(safe_p) - np.log(q)), 0.0)
    return np.sum(terms, axis=-1)

"""Exponential smoothing that gives every zero-match order 1 / (2 t_n), without doubling the divisor at each further zero order. The j-th zero order gets 1 / (2^j t_n)."""

SMOOTHING_DEFAULTS = {"none": None, "floor": 0.1, "add-k": 1.0, "exp": None}


def smoothed_precisions(matches, totals, method="none", k=None):
    if k is None:
        k = SMOOTHING_DEFAULTS[method]
    precisions = [0.0] * len(matches)
    for n, (m, t) in enumerate(zip(matches, totals), start=1):
        if method == "add-k" and n > 1:
            m, t = m + k, t + k
        if t == 0:
            break
        if m > 0:
            precisions[n - 1] = m / t
        elif method == "exp":
            precisions[n - 1] = 1 / (2 * t)  # BUG: the factor does not double from one zero order to the next
        elif method == "floor":
            precisions[n - 1] = k / t
    return precisions

"""A relative error without the eps floor, |a - n| / (|a| + |n|): two zero gradients (a parameter that does not affect the loss) give 0/0 = NaN. Divide by max(|a| + |n|, eps).
"""

# Caught by the hidden test relative_error_edge_cases.


def relative_error(analytic, numeric, eps=1e-12):
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    return np.abs(analytic - numeric) / (np.abs(analytic) + np.abs(numeric))

"""A relative error divided by a + n without absolute values or the eps floor: negative gradients give negative "errors", opposite signs divide by zero. Divide by max(|a| + |n|, eps).
"""

# Caught by the hidden tests relative_error_edge_cases, gradient_check_flags_wrong_gradient.


def relative_error(analytic, numeric, eps=1e-12):
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    return np.abs(analytic - numeric) / (analytic + numeric)

"""A gradient checker that averages the relative errors instead of taking the worst one: one wrong entry among many is diluted below the threshold. Report the max over entries.
"""

# Caught by the hidden test gradient_check_flags_wrong_gradient.


def gradient_check(f, grad_f, x, h=1e-5, eps=1e-12):
    x = np.array(x, dtype=np.float64)
    analytic = np.asarray(grad_f(x.copy()), dtype=np.float64)
    numeric = numerical_gradient(f, x, h)
    return float(np.mean(relative_error(analytic, numeric, eps)))

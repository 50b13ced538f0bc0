"""A numerical gradient that nudges the caller's array in place and never puts x[i] back: later partial derivatives are taken at the wrong point and the caller's data is changed. Work on a float64 copy and restore x[i] = original after each coordinate.
"""

# Caught by the hidden test numerical_gradient_matches_analytic.


def numerical_gradient(f, x, h=1e-5):
    x = np.asarray(x, dtype=np.float64)  # no copy: the caller's array is nudged
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        x[index] += h
        f_plus = f(x)
        x[index] -= 2 * h
        f_minus = f(x)
        # forgot: x[index] += h
        grad[index] = (f_plus - f_minus) / (2.0 * h)
    return grad

"""The chain rule without the inner derivative: d/dx sin(x^2) taken as cos(x^2) instead of cos(x^2) * 2x. Multiply the outer derivative by the derivative of the inner function, u_bar * 2x.
"""

# Caught by the hidden test composite_matches_sympy (and the visible composite_small_cases).


def composite_value_and_derivative(x):
    x = np.asarray(x, dtype=np.float64)
    u = x**2
    s = np.sin(u)
    e = np.exp(-x)
    value = s * e
    s_bar = e
    e_bar = s
    u_bar = s_bar * np.cos(u)
    x_bar = u_bar + e_bar * (-e)  # missing the inner derivative du/dx = 2x
    return value, x_bar

"""A forward difference (f(x + h) - f(x)) / h instead of the central one: its error falls only like h, not h^2. Use the symmetric secant (f(x + h) - f(x - h)) / (2h).
"""

# Caught by the hidden tests central_difference_matches_analytic, central_difference_second_order.


def central_difference(f, x, h=1e-5):
    x = np.asarray(x, dtype=np.float64)
    return (f(x + h) - f(x)) / h

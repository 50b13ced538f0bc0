"""A central difference divided by h instead of 2h: the points x - h and x + h are 2h apart, so every derivative comes out twice too large. Divide f(x + h) - f(x - h) by 2h.
"""

# Caught by the hidden tests central_difference_matches_analytic, central_difference_second_order.


def central_difference(f, x, h=1e-5):
    x = np.asarray(x, dtype=np.float64)
    return (f(x + h) - f(x - h)) / h

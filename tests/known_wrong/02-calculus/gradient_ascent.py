"""Gradient descent that adds the gradient, x + lr * grad_f(x): that climbs uphill (gradient ascent) and runs away from the minimum. Subtract it: x <- x - lr * grad_f(x).
"""

# Caught by the hidden test gradient_descent_converges (and the visible gradient_descent_small_cases).


def gradient_descent(grad_f, x0, learning_rate, num_steps):
    x = np.array(x0, dtype=np.float64)
    path = [x.copy()]
    for _ in range(num_steps):
        x = x + learning_rate * grad_f(x)
        path.append(x.copy())
    return np.array(path)

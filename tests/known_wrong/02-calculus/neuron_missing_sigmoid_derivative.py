"""A neuron's backward pass without the sigmoid's derivative: dL/dw taken as (y - t) x, skipping dy/dz = y (1 - y). The chain rule multiplies every local derivative on the path: dL/dw = (y - t) * y * (1 - y) * x.
"""

# Caught by the hidden test neuron_matches_torch (and the visible neuron_small_case).


def neuron_loss_and_grads(w, b, x, t):
    w = np.asarray(w, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    z = w @ x + b
    y = 1.0 / (1.0 + np.exp(-z))
    loss = 0.5 * (y - t) ** 2
    delta = y - t  # missing dy/dz = y * (1 - y)
    return float(loss), delta * x, float(delta)

"""A forward pass that returns all-zero logits (with a correct cache): every class gets probability 1/C whatever the input. The logits are the last layer's Z = A_prev @ W.T + b, with no activation."""
import numpy as np


def mlp_forward(params, X, activation="relu"):
    A = np.asarray(X, dtype=np.float64)
    cache = []
    for l, layer in enumerate(params):
        Z = A @ layer["W"].T + layer["b"]
        cache.append({"A_prev": A, "Z": Z})
        A = activate(Z, activation) if l < len(params) - 1 else Z
    return np.zeros_like(A), cache  # BUG: degenerate logits

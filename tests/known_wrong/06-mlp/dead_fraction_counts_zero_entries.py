"""The dead fraction computed as the share of zero entries (about half in any healthy ReLU layer) instead of the share of units that are off for every example. A unit is dead when its whole column of pre-activations is <= 0: np.mean(np.all(Z <= 0, axis=0))."""
import numpy as np


def layer_statistics(params, X, activation):
    _, cache = mlp_forward(params, X, activation)
    hidden = [layer["Z"] for layer in cache[:-1]]
    outputs = [activate(Z, activation) for Z in hidden]
    return {
        "mean": np.array([A.mean() for A in outputs]),
        "std": np.array([A.std() for A in outputs]),
        "dead_fraction": np.array([np.mean(Z <= 0) for Z in hidden]),  # BUG: entries, not whole units
    }

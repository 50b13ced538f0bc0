"""He initialisation (Var = 2 / fan_in) used for tanh and sigmoid networks too: it was derived for ReLU, which halves the second moment; tanh does not, so the variance grows and the units saturate. Use Xavier (Var = 2 / (fan_in + fan_out)) for tanh and sigmoid, He for relu and gelu."""
import numpy as np


def init_mlp(sizes, activation, rng):
    return [{"W": init_weight((n_out, n_in), "he", rng), "b": np.zeros(n_out)}  # BUG: He whatever the activation
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]

"""Dropout still applied at evaluation: with training=False inverted dropout must be the identity (no mask, no scaling); dropping and rescaling there makes predictions random. Return x unchanged when training is False."""
import numpy as np


def dropout_forward(x, keep, p, training=True):
    x = np.asarray(x, dtype=np.float64)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"the drop probability must be in [0, 1], got {p}")
    if keep is None:  # BUG: `training` is ignored; only a missing mask leaves x alone
        return x.copy()
    if p == 1.0:
        return np.zeros_like(x)
    return x * keep / (1.0 - p)

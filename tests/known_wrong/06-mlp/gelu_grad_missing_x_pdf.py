"""GELU's derivative without the z * pdf term of the product rule: only Phi(z) is kept, right at z = 0 and wrong everywhere else. d/dz z * Phi(z) = Phi(z) + z * phi(z) (and for the tanh form, differentiate both factors of 0.5 * z * (1 + tanh(u)))."""
import math

import numpy as np
from scipy.special import erf


def gelu_grad(z, approximate="none"):
    z = np.asarray(z, dtype=np.float64)
    if approximate == "none":
        return 0.5 * (1.0 + erf(z / math.sqrt(2.0)))  # BUG: missing + z * pdf(z)
    if approximate == "tanh":
        k = math.sqrt(2.0 / math.pi)
        return 0.5 * (1.0 + np.tanh(k * (z + 0.044715 * z**3)))  # BUG: missing the z * d(tanh)/dz term
    raise ValueError(f"approximate must be 'none' or 'tanh', not {approximate!r}")

"""The ReLU derivative taken as 1 everywhere: the backward pass then treats the layer as linear and sends gradient through units that were off. relu'(z) is 1 where z > 0 and 0 where z <= 0: return (z > 0) as floats."""
import numpy as np


def relu_grad(z):
    return np.ones_like(np.asarray(z, dtype=np.float64))  # BUG: should be (z > 0)

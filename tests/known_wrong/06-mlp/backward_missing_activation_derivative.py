"""The backward pass forgets the activation's derivative in the chain rule, passing dZ @ W straight to the layer below: it computes the gradient of a network without nonlinearities. Multiply by phi'(Z) of the layer below: dZ_prev = (dZ @ W) * activate_grad(Z_prev, activation)."""
import numpy as np


def mlp_backward(params, cache, dlogits, activation="relu"):
    grads = [None] * len(params)
    dZ = np.asarray(dlogits, dtype=np.float64)
    for l in reversed(range(len(params))):
        grads[l] = {"W": dZ.T @ cache[l]["A_prev"], "b": dZ.sum(axis=0)}
        if l > 0:
            dZ = dZ @ params[l]["W"]  # BUG: missing * activate_grad(cache[l - 1]["Z"], activation)
    return grads

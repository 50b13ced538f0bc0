"""The weight gradient computed as A_prev.T @ dZ, the transpose of the right one: shaped (n_in, n_out), which square layers hide, and wrong for every layer. With W of shape (n_out, n_in), dW = dZ.T @ A_prev has the shape of W."""
import numpy as np


def mlp_backward(params, cache, dlogits, activation="relu"):
    grads = [None] * len(params)
    dZ = np.asarray(dlogits, dtype=np.float64)
    for l in reversed(range(len(params))):
        grads[l] = {"W": cache[l]["A_prev"].T @ dZ, "b": dZ.sum(axis=0)}  # BUG: transposed
        if l > 0:
            dZ = (dZ @ params[l]["W"]) * activate_grad(cache[l - 1]["Z"], activation)
    return grads

"""The backward pass divides the weight and bias gradients by the batch size again, although dlogits already holds the 1/N of the mean loss: every gradient is N times too small. The 1/N belongs in dlogits only; dW = dZ.T @ A_prev and db = dZ.sum(0) add up the examples."""
import numpy as np


def mlp_backward(params, cache, dlogits, activation="relu"):
    grads = [None] * len(params)
    dZ = np.asarray(dlogits, dtype=np.float64)
    N = dZ.shape[0]
    for l in reversed(range(len(params))):
        grads[l] = {"W": dZ.T @ cache[l]["A_prev"] / N, "b": dZ.sum(axis=0) / N}  # BUG: / N a second time
        if l > 0:
            dZ = (dZ @ params[l]["W"]) * activate_grad(cache[l - 1]["Z"], activation)
    return grads

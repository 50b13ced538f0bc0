"""Softmax without subtracting the row maximum overflows for large logits (exp(1e4) = inf, inf / inf = NaN). Subtract x.max(axis=-1, keepdims=True) before exponentiating; softmax is shift-invariant, so the result is unchanged.
"""


def softmax(x):
    x = np.asarray(x, dtype=np.float64)
    exps = np.exp(x)  # BUG: no max subtraction
    return exps / np.sum(exps, axis=-1, keepdims=True)

"""logsumexp that subtracts the maximum but forgets to add it back returns log(sum(exp(x - m))), a number in [0, log V] whatever the logits. Return m + log(sum(exp(x - m))).
"""


def logsumexp(x):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=-1, keepdims=True)
    return np.log(np.sum(np.exp(x - m), axis=-1))  # BUG: m is not added back

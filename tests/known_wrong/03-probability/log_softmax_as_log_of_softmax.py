"""log-softmax computed as log(softmax(x)) gives log(0) = -inf once a probability underflows (logits 1e4 apart), so the loss becomes infinite. Compute it as x - logsumexp(x).
"""


def log_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(softmax(x))  # BUG: log of an underflowed probability is -inf

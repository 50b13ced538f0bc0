"""Label smoothing that gives the true class exactly 1 - eps and spreads eps over the K - 1 other classes (fairseq's convention): F.cross_entropy(label_smoothing=eps) spreads eps over all K classes, the true one included, so its target is (1 - eps) * one_hot + eps / K."""
import numpy as np


def label_smoothing_cross_entropy(logits, targets, eps):
    logits = np.asarray(logits, dtype=np.float64)
    n, k = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    q = np.full((n, k), eps / (k - 1))  # BUG: eps over the K - 1 other classes ...
    q[np.arange(n), targets] = 1.0 - eps  # ... and exactly 1 - eps on the true one
    loss = -np.sum(q * log_probs) / n
    grad = (np.exp(log_probs) - q) / n
    return float(loss), grad

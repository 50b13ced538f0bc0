"""A feed-forward network without its activation: (x W1^T + b1) W2^T + b2 is one linear map of rank at most d, so the FFN adds no nonlinearity. Apply ReLU or GELU to the hidden layer: act(x @ w1.T + b1) @ w2.T + b2."""
import torch.nn.functional as F


def feed_forward(x, w1, b1, w2, b2, activation="relu"):
    if activation not in ("relu", "gelu"):
        raise ValueError(f"activation must be 'relu' or 'gelu', got {activation!r}")
    hidden = x @ w1.T + b1  # BUG: no activation
    return hidden @ w2.T + b2

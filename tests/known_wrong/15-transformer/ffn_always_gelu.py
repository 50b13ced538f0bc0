"""GELU used where ReLU was asked for (the activation argument ignored): right for GPT-2 and BERT, wrong for the 2017 Transformer and nn.TransformerEncoderLayer's default. Choose the activation from the argument: F.relu for "relu", F.gelu for "gelu"."""
import torch.nn.functional as F


def feed_forward(x, w1, b1, w2, b2, activation="relu"):
    if activation not in ("relu", "gelu"):
        raise ValueError(f"activation must be 'relu' or 'gelu', got {activation!r}")
    hidden = F.gelu(x @ w1.T + b1)  # BUG: always GELU
    return hidden @ w2.T + b2

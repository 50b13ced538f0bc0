"""Attention without the 1/sqrt(d_k) scaling: the scores grow like sqrt(d_k) and the softmax saturates. Divide q @ k.transpose(-2, -1) by math.sqrt(q.shape[-1]) before the softmax."""
import math

import torch


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)  # BUG: no division by sqrt(d_k)
    weights = masked_softmax(scores, mask)
    return weights @ v, weights

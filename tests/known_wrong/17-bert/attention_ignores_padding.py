"""Attention without the padding mask: real tokens attend to [PAD] keys, so a sentence's representation changes with the padding of its batch. Add -inf to the scores of keys where attention_mask is 0."""
import math

import torch
import torch.nn.functional as F


def bert_layer(x, params, prefix, attention_mask, num_heads, eps=1e-12):
    def linear(inputs, name):
        return F.linear(inputs, params[prefix + name + ".weight"], params[prefix + name + ".bias"])

    def layer_norm(inputs, name):
        return F.layer_norm(inputs, (inputs.shape[-1],), params[prefix + name + ".weight"], params[prefix + name + ".bias"], eps)

    B, T, D = x.shape
    d_h = D // num_heads

    def split_heads(t):
        return t.view(B, T, num_heads, d_h).transpose(1, 2)

    q = split_heads(linear(x, "attention.self.query"))
    k = split_heads(linear(x, "attention.self.key"))
    v = split_heads(linear(x, "attention.self.value"))
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_h)  # BUG: padded keys not masked
    context = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, D)
    h = layer_norm(x + linear(context, "attention.output.dense"), "attention.output.LayerNorm")
    ffn = linear(F.gelu(linear(h, "intermediate.dense")), "output.dense")
    return layer_norm(h + ffn, "output.LayerNorm")

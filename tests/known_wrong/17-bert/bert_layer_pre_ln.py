"""A pre-LN layer (GPT-2's layout) instead of BERT's post-LN: each sub-layer reads a normalised copy and the stream is never normalised, so the weights of a BERT checkpoint compute something else. Normalise after each residual addition: h = LN(x + Attn(x)), y = LN(h + FFN(h))."""
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

    normed = layer_norm(x, "attention.output.LayerNorm")  # BUG: pre-LN
    q = split_heads(linear(normed, "attention.self.query"))
    k = split_heads(linear(normed, "attention.self.key"))
    v = split_heads(linear(normed, "attention.self.value"))
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_h)
    scores = scores.masked_fill((attention_mask == 0)[:, None, None, :], float("-inf"))
    context = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, D)
    h = x + linear(context, "attention.output.dense")
    ffn = linear(F.gelu(linear(layer_norm(h, "output.LayerNorm"), "intermediate.dense")), "output.dense")
    return h + ffn

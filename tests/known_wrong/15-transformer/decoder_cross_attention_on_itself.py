"""Cross-attention that reads the decoder's own states as keys and values: a second self-attention, so the decoder never sees the source and cannot translate, copy or reverse it. Queries come from the decoder, keys and values from the encoder's memory: multi_head_attention(z, memory, ...)."""


def decoder_block(y, memory, params, n_heads, norm_first, activation="relu"):
    def sa(z):
        return multi_head_attention(z, z, params, "self_attn.", n_heads, causal=True)

    def ca(z):
        return multi_head_attention(z, z, params, "multihead_attn.", n_heads)  # BUG: keys and values from the decoder

    def ff(z):
        return feed_forward(z, params["linear1.weight"], params["linear1.bias"], params["linear2.weight"], params["linear2.bias"], activation)

    if norm_first:
        y = y + sa(layer_norm(y, params, "norm1"))
        y = y + ca(layer_norm(y, params, "norm2"))
        y = y + ff(layer_norm(y, params, "norm3"))
    else:
        y = layer_norm(y + sa(y), params, "norm1")
        y = layer_norm(y + ca(y), params, "norm2")
        y = layer_norm(y + ff(y), params, "norm3")
    return y

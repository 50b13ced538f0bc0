"""Post-LN written as pre-LN: the norm placed on the branch, x + SA(LN1(x)), whatever norm_first says, so the post-LN block (the 2017 Transformer, BERT) gives different numbers. For norm_first=False normalise after the addition: x = LN1(x + SA(x)); x = LN2(x + FFN(x))."""


def encoder_block(x, params, n_heads, norm_first, activation="relu"):
    def sa(z):
        return multi_head_attention(z, z, params, "self_attn.", n_heads)

    def ff(z):
        return feed_forward(z, params["linear1.weight"], params["linear1.bias"], params["linear2.weight"], params["linear2.bias"], activation)

    x = x + sa(layer_norm(x, params, "norm1"))  # BUG: pre-LN for both placements
    x = x + ff(layer_norm(x, params, "norm2"))
    return x

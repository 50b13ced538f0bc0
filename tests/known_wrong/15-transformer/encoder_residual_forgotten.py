"""The residual connection forgotten around the feed-forward sub-layer: x = FFN(LN2(x)) replaces the stream instead of adding to it, so the block forgets what attention wrote and gradients lose their identity path. Add every sub-layer's output to its input: x = x + FFN(LN2(x))."""


def encoder_block(x, params, n_heads, norm_first, activation="relu"):
    def sa(z):
        return multi_head_attention(z, z, params, "self_attn.", n_heads)

    def ff(z):
        return feed_forward(z, params["linear1.weight"], params["linear1.bias"], params["linear2.weight"], params["linear2.bias"], activation)

    if norm_first:
        x = x + sa(layer_norm(x, params, "norm1"))
        x = ff(layer_norm(x, params, "norm2"))  # BUG: no residual
    else:
        x = layer_norm(x + sa(x), params, "norm1")
        x = layer_norm(ff(x), params, "norm2")  # BUG: no residual
    return x

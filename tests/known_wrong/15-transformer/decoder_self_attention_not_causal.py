"""Decoder self-attention without the causal mask: position t reads the targets after it, so the teacher-forced loss looks excellent while the model cannot generate. Mask the future: is_causal=True (position t attends to positions <= t)."""


def decoder_block(y, memory, params, n_heads, norm_first, activation="relu"):
    def sa(z):
        return multi_head_attention(z, z, params, "self_attn.", n_heads)  # BUG: no causal mask

    def ca(z):
        return multi_head_attention(z, memory, params, "multihead_attn.", n_heads)

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

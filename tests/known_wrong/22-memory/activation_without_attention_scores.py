"""The activation formula without the attention scores: the softmax output, its dropout mask and the dropout output add 5*a*s*s*b bytes per layer, s*b*h*(34 + 5*a*s/h) in all."""


def activation_bytes_per_layer(seq_len, batch, hidden, heads, recompute="none"):
    sbh = seq_len * batch * hidden
    if recompute == "none":
        return 34 * sbh  # BUG: the s x s attention scores of every head are saved too
    if recompute == "selective":
        return 34 * sbh
    if recompute == "full":
        return 2 * sbh
    raise ValueError(recompute)

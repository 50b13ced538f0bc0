"""Training FLOPs counted as 2ND, the forward pass only: every budget three times too small. The backward pass computes the gradients for the inputs and for the weights, twice the forward cost: C = 6ND (plus 3 times the forward attention term)."""


def training_flops(n_params, n_tokens, n_layer=0, n_ctx=0, d_model=0):
    forward_per_token = 2.0 * n_params + 2.0 * n_layer * n_ctx * d_model
    return float(forward_per_token * n_tokens)  # BUG: no backward pass

"""Inference FLOPs counted as 2N per token, without attention: wrong for long contexts. The token at position t computes scores against t cached keys, 2 n_layer t d_model FLOPs more: 2NT + n_layer d_model T (T + 1) in all."""


def inference_flops(n_params, n_layer, d_model, n_tokens):
    return float(2.0 * n_params * n_tokens)  # BUG: the attention scores are left out

"""Receptive field counted as n * w, as if each layer added w new positions: the query itself is counted again in every layer. Each layer moves information w - 1 positions further: n (w - 1) + 1."""


def receptive_field(n_layers, window):
    return n_layers * window  # BUG: the token itself counted once per layer

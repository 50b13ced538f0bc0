"""A degenerate RoPE that returns its input unrotated: norms are preserved and scores trivially depend on nothing, so only a comparison with transformers' rotary embedding (or the closed-form score) shows that no position information was added. Rotate: x * cos + rotate_half(x) * sin with the tables of rope_cos_sin."""


def apply_rope(x, positions, base=10000.0):
    return x.clone()  # BUG: no rotation at all

"""The feed-forward width rounded down to a multiple of multiple_of instead of up: 10752 instead of LLaMA 7B's 11008, so checkpoints do not fit. Round up: multiple_of * ((width + multiple_of - 1) // multiple_of)."""


def ffn_hidden_size(hidden_size, multiple_of=256, ffn_dim_multiplier=None):
    width = int(2 * (4 * hidden_size) / 3)
    if ffn_dim_multiplier is not None:
        width = int(ffn_dim_multiplier * width)
    return multiple_of * (width // multiple_of)  # BUG: rounds down

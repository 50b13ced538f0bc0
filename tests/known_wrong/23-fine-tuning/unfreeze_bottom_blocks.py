"""Gradual unfreezing that unfreezes the bottom k blocks (`h[:k]`) trains the most general layers first and leaves the top frozen. Unfreeze the top k blocks, `h[L - k:]`, nearest the output, with ln_f."""


def unfreeze_top(model: nn.Module, k: int) -> int:
    freeze(model)
    blocks = model.transformer.h
    if k > len(blocks):
        unfreeze(model)
    elif k >= 1:
        for block in blocks[:k]:
            unfreeze(block)
        unfreeze(model.transformer.ln_f)
    return count_parameters(model)["trainable"]

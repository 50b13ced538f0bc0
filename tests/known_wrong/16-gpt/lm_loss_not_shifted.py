"""The loss not shifted by one: the logits at position t are scored against the token at t itself, which the model can see, so it learns to copy its input and predicts nothing. Score model(windows[:, :-1]) against the NEXT tokens, windows[:, 1:]."""
import torch.nn.functional as F


def lm_loss(model, windows):
    logits = model(windows[:, :-1])
    targets = windows[:, :-1]  # BUG: the inputs themselves, not the next tokens
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

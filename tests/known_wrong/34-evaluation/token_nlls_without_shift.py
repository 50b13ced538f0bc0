"""Token NLLs without the one-token shift: the logits at position t are scored against the token at t, the one they were computed from. Compare logits[:-1] with ids[1:]."""
import torch
import torch.nn.functional as F


def token_nlls(model, ids):
    with torch.no_grad():
        logits = model(ids[None]).logits[0].double()
    return F.cross_entropy(logits[1:], ids[1:], reduction="none")  # BUG: logits[t] scored against ids[t]

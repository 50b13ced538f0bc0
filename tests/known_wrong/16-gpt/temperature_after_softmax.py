"""The temperature applied to the probabilities after the softmax: dividing probabilities by T and renormalising changes nothing, so the temperature has no effect (and the filters see the untempered distribution). Divide the LOGITS by the temperature, before top-k, top-p and the softmax."""
import torch
import torch.nn.functional as F


def next_token_probs(logits, temperature=1.0, top_k=None, top_p=None):
    if temperature < 0:
        raise ValueError(f"the temperature must be >= 0, not {temperature}")
    if temperature == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    filtered = logits
    if top_k is not None:
        filtered = top_k_filter(filtered, top_k)
    if top_p is not None:
        filtered = top_p_filter(filtered, top_p)
    probs = torch.softmax(filtered, dim=-1) / temperature  # BUG: the temperature divides probabilities
    return probs / probs.sum(dim=-1, keepdim=True)

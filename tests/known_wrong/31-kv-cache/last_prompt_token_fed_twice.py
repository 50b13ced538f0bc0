"""The last prompt token is fed twice: after the prefill the loop starts by feeding prompt[:, -1] again, so its key and value sit twice in the cache and every later position is off by one. The prefill's last logits already predict the first new token."""
import torch


def generate_cached(model, prompt, n_new):
    tokens = prompt
    if n_new == 0:
        return tokens
    cache = KVCache(model.config.n_layer)
    with torch.no_grad():
        forward_with_cache(model, prompt, cache)
        last = prompt[:, -1:]
        for _ in range(n_new):
            logits = forward_with_cache(model, last, cache)  # BUG: on the first pass, the last prompt token a second time
            last = logits[:, -1].argmax(dim=-1, keepdim=True)
            tokens = torch.cat([tokens, last], dim=1)
    return tokens

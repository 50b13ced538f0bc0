"""A cache that re-appends the whole prefix: every step feeds the whole sequence again together with the cache, so each key is stored many times and positions run past the text. After the prefill, feed only the newest token."""
import torch


def generate_cached(model, prompt, n_new):
    tokens = prompt
    if n_new == 0:
        return tokens
    cache = KVCache(model.config.n_layer)
    with torch.no_grad():
        logits = forward_with_cache(model, prompt, cache)
        for step in range(n_new):
            next_token = logits[:, -1].argmax(dim=-1, keepdim=True)
            tokens = torch.cat([tokens, next_token], dim=1)
            if step < n_new - 1:
                logits = forward_with_cache(model, tokens, cache)  # BUG: the whole prefix again, appended to the cache
    return tokens

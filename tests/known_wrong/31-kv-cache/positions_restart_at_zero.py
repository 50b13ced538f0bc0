"""Positions restart at zero at every call: the new tokens get wpe(arange(n)) instead of wpe(arange(T, T + n)), so every decoded token is embedded as if it were the first. Offset the position ids by cache.length, read before the first layer's update."""
import torch


def forward_with_cache(model, ids, cache):
    transformer, n_head, width = model.transformer, model.config.n_head, model.config.n_embd
    positions = torch.arange(ids.shape[1], device=ids.device)  # BUG: no offset by cache.length
    x = transformer.wte(ids) + transformer.wpe(positions)
    for layer, block in enumerate(transformer.h):
        q, k, v = block.attn.c_attn(block.ln_1(x)).split(width, dim=-1)
        keys, values = cache.update(layer, split_heads(k, n_head), split_heads(v, n_head))
        x = x + block.attn.c_proj(merge_heads(cached_attention(split_heads(q, n_head), keys, values)))
        x = x + block.mlp(block.ln_2(x))
    return model.lm_head(transformer.ln_f(x))

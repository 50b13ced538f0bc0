"""The cache memory counted with the query heads n_head instead of the key/value heads n_kv_head: with grouped- or multi-query attention only n_kv_head heads are cached. Use model_config.get("n_kv_head", n_head)."""


def kv_cache_bytes(model_config, seq_len, batch, bytes_per_element):
    head_dim = model_config["n_embd"] // model_config["n_head"]
    return 2 * model_config["n_layer"] * batch * seq_len * model_config["n_head"] * head_dim * bytes_per_element  # BUG: n_head, not n_kv_head

"""The cache memory without the factor 2: only the keys are counted, but every layer caches a value vector beside each key. Multiply by 2 (keys and values)."""


def kv_cache_bytes(model_config, seq_len, batch, bytes_per_element):
    n_kv_head = model_config.get("n_kv_head", model_config["n_head"])
    head_dim = model_config["n_embd"] // model_config["n_head"]
    return model_config["n_layer"] * batch * seq_len * n_kv_head * head_dim * bytes_per_element  # BUG: no factor 2

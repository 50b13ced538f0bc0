"""GPT-2's output matrix counted as a matrix of its own: GPT2LMHeadModel ties lm_head to the token embedding, so its V*D parameters are counted once."""


def gpt2_parameter_count(vocab_size, n_positions, n_embd, n_layer):
    embeddings = vocab_size * n_embd + n_positions * n_embd
    attention = (3 * n_embd * n_embd + 3 * n_embd) + (n_embd * n_embd + n_embd)
    mlp = (4 * n_embd * n_embd + 4 * n_embd) + (4 * n_embd * n_embd + n_embd)
    layer_norms = 2 * (2 * n_embd)
    final_norm = 2 * n_embd
    lm_head = vocab_size * n_embd  # BUG: tied to the embedding
    return embeddings + n_layer * (attention + mlp + layer_norms) + final_norm + lm_head

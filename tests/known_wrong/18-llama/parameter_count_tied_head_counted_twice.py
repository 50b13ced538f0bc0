"""The parameter count that adds lm_head even when it is tied to the embedding: one matrix under two names is one set of parameters. With tie_word_embeddings, count V * D once."""


def llama_parameter_count(vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
                          tie_word_embeddings=False):
    head_dim = hidden_size // num_attention_heads
    attention = 2 * hidden_size * num_attention_heads * head_dim + 2 * hidden_size * num_key_value_heads * head_dim
    feed_forward = 3 * hidden_size * intermediate_size
    norms = 2 * hidden_size
    embeddings = vocab_size * hidden_size
    lm_head = vocab_size * hidden_size  # BUG: counted even when tied
    return embeddings + num_hidden_layers * (attention + feed_forward + norms) + hidden_size + lm_head

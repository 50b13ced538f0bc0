"""The model without its final RMSNorm: lm_head reads the raw residual stream, whose scale grows with depth, and the logits are another model's. Apply self.norm to the last block's output before lm_head."""
import torch
import torch.nn as nn


class Llama(nn.Module):
    def __init__(self, vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
                 rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False):
        super().__init__()
        self.head_dim = hidden_size // num_attention_heads
        self.rope_theta = rope_theta
        self.embed_tokens = nn.Embedding(vocab_size, hidden_size)
        self.layers = nn.ModuleList(
            LlamaBlock(hidden_size, intermediate_size, num_attention_heads, num_key_value_heads, rms_norm_eps)
            for _ in range(num_hidden_layers)
        )
        self.norm = RMSNorm(hidden_size, rms_norm_eps)
        self.lm_head = nn.Linear(hidden_size, vocab_size, bias=False)
        if tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def forward(self, tokens):
        x = self.embed_tokens(tokens)
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        cos, sin = rope_cos_sin(positions, self.head_dim, self.rope_theta)
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(x)  # BUG: no final norm

"""A block that returns its input unchanged: the right shape, and nothing computed. Add both sub-layers to the residual stream: h = x + self_attn(input_layernorm(x), cos, sin), then h + mlp(post_attention_layernorm(h))."""
import torch.nn as nn


class LlamaBlock(nn.Module):
    def __init__(self, hidden_size, intermediate_size, num_attention_heads, num_key_value_heads, rms_norm_eps=1e-6):
        super().__init__()
        self.input_layernorm = RMSNorm(hidden_size, rms_norm_eps)
        self.self_attn = LlamaAttention(hidden_size, num_attention_heads, num_key_value_heads)
        self.post_attention_layernorm = RMSNorm(hidden_size, rms_norm_eps)
        self.mlp = LlamaMLP(hidden_size, intermediate_size)

    def forward(self, x, cos, sin):
        return x  # BUG: the degenerate answer, the input returned

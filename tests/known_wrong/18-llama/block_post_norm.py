"""A post-norm block, x <- norm(x + sublayer(x)) as in GPT-1 and BERT: the residual stream itself gets normalised, and LLaMA's weights compute something else. LLaMA is pre-norm: h = x + self_attn(input_layernorm(x)), y = h + mlp(post_attention_layernorm(h))."""
import torch.nn as nn


class LlamaBlock(nn.Module):
    def __init__(self, hidden_size, intermediate_size, num_attention_heads, num_key_value_heads, rms_norm_eps=1e-6):
        super().__init__()
        self.input_layernorm = RMSNorm(hidden_size, rms_norm_eps)
        self.self_attn = LlamaAttention(hidden_size, num_attention_heads, num_key_value_heads)
        self.post_attention_layernorm = RMSNorm(hidden_size, rms_norm_eps)
        self.mlp = LlamaMLP(hidden_size, intermediate_size)

    def forward(self, x, cos, sin):
        h = self.input_layernorm(x + self.self_attn(x, cos, sin))  # BUG: post-norm
        return self.post_attention_layernorm(h + self.mlp(h))

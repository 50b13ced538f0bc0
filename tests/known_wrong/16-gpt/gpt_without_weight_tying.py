"""Weight tying forgotten: lm_head gets a matrix of its own, V D parameters more than GPT-2, trained apart from the embedding. Make both modules hold one Parameter: self.lm_head.weight = self.transformer.wte.weight, before init_gpt2_weights_(self)."""
import torch
import torch.nn as nn


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            h=nn.ModuleList(Block(config) for _ in range(config.n_layer)),
            ln_f=nn.LayerNorm(config.n_embd),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)  # BUG: not tied to transformer.wte.weight
        init_gpt2_weights_(self)

    def forward(self, tokens):
        T = tokens.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"a sequence of {T} tokens is longer than the context of {self.config.block_size}")
        positions = torch.arange(T, device=tokens.device)
        x = self.transformer.wte(tokens) + self.transformer.wpe(positions)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))

"""The reward read at the first token, as BERT reads [CLS]: in a causal model the first position has read one token, so every response to a prompt gets the same reward. Read the last real token."""
import torch
import torch.nn as nn


class RewardModel(nn.Module):
    def __init__(self, language_model):
        super().__init__()
        self.transformer = language_model.transformer
        self.score = nn.Linear(language_model.config.n_embd, 1, bias=False)

    def forward(self, input_ids, attention_mask):
        hidden = self.transformer(input_ids, attention_mask=attention_mask).last_hidden_state
        return self.score(hidden[:, 0]).squeeze(-1)  # BUG: first token

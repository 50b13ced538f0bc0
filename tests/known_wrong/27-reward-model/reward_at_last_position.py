"""The reward read at position -1: in a right-padded batch that is a pad token for every row shorter than the longest. Read the last real token, (torch.arange(T) * attention_mask).argmax(-1)."""
import torch
import torch.nn as nn


class RewardModel(nn.Module):
    def __init__(self, language_model):
        super().__init__()
        self.transformer = language_model.transformer
        self.score = nn.Linear(language_model.config.n_embd, 1, bias=False)

    def forward(self, input_ids, attention_mask):
        hidden = self.transformer(input_ids, attention_mask=attention_mask).last_hidden_state
        return self.score(hidden[:, -1]).squeeze(-1)  # BUG: position -1

"""The body run without the attention mask: with left padding the real tokens attend to the pads before them and the rewards change with the padding. Pass attention_mask to model.transformer."""
import torch
import torch.nn as nn


class RewardModel(nn.Module):
    def __init__(self, language_model):
        super().__init__()
        self.transformer = language_model.transformer
        self.score = nn.Linear(language_model.config.n_embd, 1, bias=False)

    def forward(self, input_ids, attention_mask):
        hidden = self.transformer(input_ids).last_hidden_state  # BUG: no attention mask
        last = (torch.arange(input_ids.shape[1]) * attention_mask.long()).argmax(dim=-1)
        return self.score(hidden[torch.arange(input_ids.shape[0]), last]).squeeze(-1)

"""A degenerate reward model that scores every response 0: the loss is log 2 whatever the data, every pair is a tie and nothing is learnt. Score the last real token's hidden state with the head."""
import torch
import torch.nn as nn


class RewardModel(nn.Module):
    def __init__(self, language_model):
        super().__init__()
        self.transformer = language_model.transformer
        self.score = nn.Linear(language_model.config.n_embd, 1, bias=False)

    def forward(self, input_ids, attention_mask):
        return torch.zeros(input_ids.shape[0], dtype=self.score.weight.dtype) + 0.0 * self.score.weight.sum()  # BUG: a constant

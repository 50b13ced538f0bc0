"""A learned position table that ignores start and always adds rows 0 .. T-1: when generating with a cache every new token is encoded as position 0. Add the rows start .. start + T - 1: x + weight[start:start + T], and check start + T against the table's length."""
import torch
import torch.nn as nn


class LearnedPositionalEmbedding(nn.Module):
    def __init__(self, max_positions, d_model):
        super().__init__()
        self.weight = nn.Parameter(0.02 * torch.randn(max_positions, d_model, dtype=torch.float64))

    def forward(self, x, start=0):
        n_positions = x.shape[-2]
        if n_positions > self.weight.shape[0]:
            raise ValueError(f"{n_positions} positions do not fit a table of {self.weight.shape[0]}")
        return x + self.weight[:n_positions]  # BUG: start is ignored

"""Padding mask applied to queries instead of keys: padded keys stay visible to every query (padding leaks into real tokens' outputs) while padded queries lose all their keys. Mask keys: shape (B, 1, S) with True where j < lengths[b]."""
import torch


def padding_mask(lengths, S):
    positions = torch.arange(S, device=lengths.device)
    return (positions[None, :] < lengths[:, None]).unsqueeze(2)  # BUG: (B, S, 1) masks query rows

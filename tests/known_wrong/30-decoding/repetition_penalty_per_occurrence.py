"""A repetition penalty applied once per occurrence (theta ** count) punishes frequent tokens exponentially, unlike CTRL and transformers. Penalise each distinct token in the context once."""
import torch


def apply_repetition_penalty(logits, previous_ids, penalty):
    penalised = logits.clone()
    for token in previous_ids:  # BUG: a token seen three times is penalised three times
        value = penalised[int(token)]
        penalised[int(token)] = value / penalty if value > 0 else value * penalty
    return penalised

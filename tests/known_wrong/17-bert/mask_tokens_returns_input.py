"""A degenerate corruption that selects nothing: the inputs come back unchanged and every label is -100, so there is nothing to learn. Select each ordinary token with probability mlm_probability."""
import torch


def mask_tokens(input_ids, special_tokens_mask, mask_token_id, vocab_size, seed, mlm_probability=0.15):
    return input_ids.clone(), torch.full_like(input_ids, -100)  # BUG: nothing selected

"""Every selected token is replaced by [MASK], with no 80/10/10 split: the model then only ever predicts at [MASK] positions and learns to copy every visible token, a shortcut that fails when fine-tuning inputs contain no [MASK]. Replace 80 % of the selected tokens by [MASK], 10 % by a uniformly random id, and leave 10 % unchanged."""
import torch


def mask_tokens(input_ids, special_tokens_mask, mask_token_id, vocab_size, seed, mlm_probability=0.15):
    generator = torch.Generator().manual_seed(seed)
    probability = torch.full(input_ids.shape, mlm_probability, dtype=torch.float64)
    probability[special_tokens_mask] = 0.0
    selected = torch.bernoulli(probability, generator=generator).bool()
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
    inputs = input_ids.clone()
    inputs[selected] = mask_token_id  # BUG: always [MASK]
    return inputs, labels

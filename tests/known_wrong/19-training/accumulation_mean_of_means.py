"""Gradient accumulation that divides every micro-batch's loss by the number of micro-batches K: right only when all micro-batches count the same number of tokens; with unequal sizes or padding a token of a small micro-batch weighs more. Weight micro-batch k by n_k / N, its share of the counted tokens."""


def accumulate_gradients(model, micro_batches):
    model.zero_grad(set_to_none=True)
    counts = [int((targets != IGNORE).sum()) for _, targets in micro_batches]
    used = [c for c in counts if c > 0]
    loss_sum = 0.0
    for (inputs, targets), count in zip(micro_batches, counts):
        if count == 0:
            continue
        loss = lm_loss(model, inputs, targets)
        (loss / len(used)).backward()  # BUG: 1 / K instead of n_k / N
        loss_sum += loss.item() / len(used)
    return loss_sum

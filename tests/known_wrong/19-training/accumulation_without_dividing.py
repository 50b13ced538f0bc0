"""Gradient accumulation that sums the micro-batch losses without dividing them: the gradient is K times the large batch's (clipping fires every step, SGD's step is K times too long). Weight each micro-batch's mean loss by n_k / N (1 / K for equal micro-batches) before backward()."""


def accumulate_gradients(model, micro_batches):
    model.zero_grad(set_to_none=True)
    counts = [int((targets != IGNORE).sum()) for _, targets in micro_batches]
    total = sum(counts)
    loss_sum = 0.0
    for (inputs, targets), count in zip(micro_batches, counts):
        if count == 0:
            continue
        loss = lm_loss(model, inputs, targets)
        loss.backward()  # BUG: no weight n_k / N: the gradients of the micro-batch means are summed
        loss_sum += loss.item() * count
    return loss_sum / total

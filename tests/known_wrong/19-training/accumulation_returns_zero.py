"""A degenerate accumulation that computes nothing: it clears the gradients and returns 0. Run each micro-batch forward, call backward() on its loss times n_k / N, and return the mean loss over all counted tokens."""


def accumulate_gradients(model, micro_batches):
    model.zero_grad(set_to_none=False)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # BUG: the degenerate answer, zero gradients and a zero loss
    return 0.0

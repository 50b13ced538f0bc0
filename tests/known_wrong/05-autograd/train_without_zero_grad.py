"""A training loop without model.zero_grad(): each backward pass adds to the gradients left by all the previous steps, so the update follows their running sum instead of the current gradient, and training oscillates or diverges. Reset the gradients at every step, before loss.backward(): zero, forward, backward, step."""


def train(model, xs, ys, steps, lr):
    losses = []
    for _ in range(steps):
        loss = logistic_loss(model, xs, ys)
        loss.backward()  # BUG: no model.zero_grad() before this
        for p in model.parameters():
            p.data -= lr * p.grad
        losses.append(loss.data)
    return losses

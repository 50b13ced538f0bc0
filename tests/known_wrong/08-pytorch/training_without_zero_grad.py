"""The training loop never calls optimizer.zero_grad(), so .grad accumulates: every step uses the sum of the gradients of all batches so far, and training becomes unstable. Call optimizer.zero_grad() before each loss.backward()."""
import torch
import torch.nn.functional as F


def train(model, loader, n_epochs, lr, momentum=0.9):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    device = next(model.parameters()).device
    model.train()
    history = []
    for _ in range(n_epochs):
        total, count = 0.0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)  # BUG: no optimizer.zero_grad() before backward
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            count += len(y)
        history.append(total / count)
    return history

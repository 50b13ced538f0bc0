"""The epoch loss is the plain average of the batch means, so a smaller last batch counts as much as a full one. The mean over samples weights each batch's mean loss by its size: add loss.item() * len(y) and divide by the number of samples."""
import torch
import torch.nn.functional as F


def train(model, loader, n_epochs, lr, momentum=0.9):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    device = next(model.parameters()).device
    model.train()
    history = []
    for _ in range(n_epochs):
        losses = []
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history.append(sum(losses) / len(losses))  # BUG: unweighted mean of batch means
    return history

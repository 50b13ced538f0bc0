"""Under Accelerate the DataLoader is given the global batch B: every process then receives its own batches of B, so one step consumes p * B samples and the run takes p times fewer, larger steps. Give the loader batch_size = B // num_processes (or use split_batches=True)."""
import torch
import torch.nn.functional as F


def accelerate_train(rank, world_size, model, x, y, batch_size, lr):
    from accelerate import Accelerator
    from torch.utils.data import DataLoader, TensorDataset

    accelerator = Accelerator(cpu=True)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)  # BUG: the global batch per process
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    for x_batch, y_batch in loader:
        loss = F.mse_loss(model(x_batch), y_batch)
        optimizer.zero_grad()
        accelerator.backward(loss)
        optimizer.step()
    return [parameter.detach().clone() for parameter in accelerator.unwrap_model(model).parameters()]

"""Gradients never communicated: each rank keeps the gradient of its own shard, so the replicas drift apart and each one fits only its shard. All-reduce every gradient (sum over ranks), then divide by the world size."""
import torch.distributed as dist


def average_gradients(model):
    world_size = dist.get_world_size()
    for parameter in model.parameters():
        if parameter.grad is None:
            continue
        parameter.grad /= world_size  # BUG: no all-reduce: a local gradient, only rescaled

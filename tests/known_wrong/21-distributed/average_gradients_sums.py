"""Gradients all-reduced but not averaged: dist.all_reduce sums over ranks, so every gradient is world_size times the full-batch gradient and the learning rate is effectively multiplied by p. Divide by dist.get_world_size() after the all-reduce."""
import torch.distributed as dist


def average_gradients(model):
    for parameter in model.parameters():
        if parameter.grad is None:
            continue
        dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)  # BUG: the sum, never divided by the world size

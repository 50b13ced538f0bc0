"""A "ring" that sends the whole tensor round the ring p-1 times and adds: the right sum, but each rank sends (p-1) n numbers instead of 2(p-1)/p n, and p-1 messages instead of 2(p-1). Cut the tensor into p chunks and send one chunk per step: reduce-scatter, then all-gather."""
import torch
import torch.distributed as dist


def ring_all_reduce(tensor):
    rank, world_size = dist.get_rank(), dist.get_world_size()
    right, left = (rank + 1) % world_size, (rank - 1) % world_size
    passing = tensor.clone()
    for _ in range(world_size - 1):  # BUG: whole tensors passed round, no chunks
        incoming = torch.empty_like(passing)
        request = dist.isend(passing, right)
        dist.recv(incoming, left)
        request.wait()
        tensor.add_(incoming)
        passing = incoming
    return tensor

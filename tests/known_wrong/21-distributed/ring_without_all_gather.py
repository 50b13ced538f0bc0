"""A ring all-reduce that stops after the reduce-scatter: each rank then holds the complete sum of one chunk only, and partial sums everywhere else. Follow the p-1 reduce-scatter steps with p-1 all-gather steps that pass the complete chunks round the ring."""
import torch
import torch.distributed as dist


def ring_all_reduce(tensor):
    rank, world_size = dist.get_rank(), dist.get_world_size()
    right, left = (rank + 1) % world_size, (rank - 1) % world_size
    chunks = tensor.view(-1).tensor_split(world_size)
    for step in range(world_size - 1):
        send_index, receive_index = (rank - step) % world_size, (rank - step - 1) % world_size
        incoming = torch.empty_like(chunks[receive_index])
        request = dist.isend(chunks[send_index], right)
        dist.recv(incoming, left)
        request.wait()
        chunks[receive_index].add_(incoming)
    return tensor  # BUG: no all-gather phase

"""A ring all-reduce whose reduce-scatter sends chunk (r + s) % p instead of (r - s) % p: the chunk sent is not the one the neighbour is accumulating, so contributions are lost or counted twice. At step s rank r sends chunk (r - s) % p and adds what it receives into chunk (r - s - 1) % p."""
import torch
import torch.distributed as dist


def ring_all_reduce(tensor):
    rank, world_size = dist.get_rank(), dist.get_world_size()
    right, left = (rank + 1) % world_size, (rank - 1) % world_size
    chunks = tensor.view(-1).tensor_split(world_size)
    for step in range(world_size - 1):
        send_index, receive_index = (rank + step) % world_size, (rank - step - 1) % world_size  # BUG: rank + step
        incoming = torch.empty_like(chunks[receive_index])
        request = dist.isend(chunks[send_index], right)
        dist.recv(incoming, left)
        request.wait()
        chunks[receive_index].add_(incoming)
    for step in range(world_size - 1):
        send_index, receive_index = (rank + 1 - step) % world_size, (rank - step) % world_size
        request = dist.isend(chunks[send_index], right)
        dist.recv(chunks[receive_index], left)
        request.wait()
    return tensor

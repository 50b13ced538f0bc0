"""Counting saved activations in elements instead of bytes: a bfloat16 activation costs 2 bytes, a float32 one 4, a float64 one 8, so element counts mislead every memory budget across dtypes. Add tensor.numel() * tensor.element_size() in the pack hook."""
import torch


def saved_tensor_bytes(compute):
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel()  # BUG: elements, not bytes
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        compute()
    return total

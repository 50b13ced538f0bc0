"""Saved activations counted per saved tensor (numel * element_size) instead of per storage: views of one storage and a tensor saved twice are one allocation; key the count by untyped_storage().data_ptr()."""
import torch


def saved_activation_bytes(module, x):
    parameter_storages = {p.untyped_storage().data_ptr() for p in module.parameters()}
    total = 0

    def pack(t):
        nonlocal total
        if t.untyped_storage().data_ptr() not in parameter_storages:
            total += t.numel() * t.element_size()  # BUG: counts every saved view and every repeat
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return total

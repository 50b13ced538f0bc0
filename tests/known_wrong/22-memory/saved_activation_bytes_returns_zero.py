"""A degenerate measurement that returns 0 without recording anything: run module(x) inside torch.autograd.graph.saved_tensors_hooks and add up the nbytes() of the saved storages."""


def saved_activation_bytes(module, x):
    return 0

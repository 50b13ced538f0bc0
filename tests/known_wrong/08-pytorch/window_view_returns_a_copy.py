"""The sliding windows are built as a copy (stacked slices): the values are right, but the result has its own storage, costs n_w * size numbers, and writing into it does not reach the input. Build a view: x.as_strided((n_w, size), (step * x.stride(0), x.stride(0)), x.storage_offset())."""
import torch


def sliding_windows(x, size, step=1):
    if x.dim() != 1:
        raise ValueError(f"sliding_windows needs a 1-D tensor, got shape {tuple(x.shape)}")
    n = x.shape[0]
    if not 1 <= size <= n or step < 1:
        raise ValueError(f"need 1 <= size <= {n} and step >= 1, got size {size} and step {step}")
    n_windows = (n - size) // step + 1
    return torch.stack([x[i * step:i * step + size] for i in range(n_windows)])  # BUG: a copy

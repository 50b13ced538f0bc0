"""Key/value heads repeated with Tensor.repeat, giving k0, k1, k0, k1 instead of k0, k0, k1, k1: query head h reads key/value head h % H_kv instead of h // g. Use torch.repeat_interleave(x, n_rep, dim=1), as transformers' repeat_kv."""


def repeat_kv(x, n_rep):
    return x.repeat(1, n_rep, 1, 1)  # BUG: tiles the block of heads

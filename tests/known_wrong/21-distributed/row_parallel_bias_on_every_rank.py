"""The row-parallel layer adds its bias on every rank: after the all-reduce the bias is counted world_size times. Add it once, on rank 0 only (or after the all-reduce)."""


def row_parallel_linear(x_shard, weight, bias, rank, world_size):
    weight_shard = weight.chunk(world_size, dim=1)[rank]
    return x_shard @ weight_shard.T + bias  # BUG: every rank adds the bias

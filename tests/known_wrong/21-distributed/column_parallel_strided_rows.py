"""The column-parallel layer takes every p-th output feature (weight[rank::p]) instead of a contiguous block: the slices no longer line up with the row-parallel split of the next layer or with the checkpoint's layout. Rank r owns the contiguous rows weight.chunk(world_size, dim=0)[r] and the same slice of the bias."""


def column_parallel_linear(x, weight, bias, rank, world_size):
    weight_shard = weight[rank::world_size]  # BUG: strided rows, not a contiguous block
    bias_shard = bias[rank::world_size]
    return x @ weight_shard.T + bias_shard

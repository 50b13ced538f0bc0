"""Mixed precision counted without the fp32 master copy of the weights: the update is applied to fp32 weights (a bf16 weight cannot absorb small updates), 4 more bytes per parameter, 16 in all."""


def training_memory_bytes(n_params, mixed_precision):
    weight_bytes = 2 if mixed_precision else 4
    return {
        "weights": weight_bytes * n_params,
        "gradients": weight_bytes * n_params,
        "master_weights": 0,  # BUG: no fp32 master weights
        "adam_moments": 2 * 4 * n_params,
    }

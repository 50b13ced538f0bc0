"""Adam's state counted as one fp32 tensor per parameter: AdamW keeps two, the first moment exp_avg and the second moment exp_avg_sq, 8 bytes per parameter."""


def training_memory_bytes(n_params, mixed_precision):
    weight_bytes = 2 if mixed_precision else 4
    return {
        "weights": weight_bytes * n_params,
        "gradients": weight_bytes * n_params,
        "master_weights": 4 * n_params if mixed_precision else 0,
        "adam_moments": 4 * n_params,  # BUG: only one moment
    }

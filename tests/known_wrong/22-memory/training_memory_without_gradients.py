"""Training memory without the gradients: every trained parameter has a gradient p.grad of its own size, alive from backward() to step(); count weight_bytes * n_params for them."""


def training_memory_bytes(n_params, mixed_precision):
    weight_bytes = 2 if mixed_precision else 4
    return {
        "weights": weight_bytes * n_params,
        "gradients": 0,  # BUG: gradients forgotten
        "master_weights": 4 * n_params if mixed_precision else 0,
        "adam_moments": 2 * 4 * n_params,
    }

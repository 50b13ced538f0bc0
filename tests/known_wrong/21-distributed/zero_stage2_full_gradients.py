"""ZeRO stage 2 that still keeps the full gradients: stage 2 partitions the gradients as well as the optimizer states (reduce-scatter instead of all-reduce), 2 Psi + (2 + K) Psi / N_d bytes per rank, not stage 1's 4 Psi + K Psi / N_d."""


def zero_memory_per_rank(num_params, num_devices, stage, k=12):
    parameters, gradients, optimizer_states = 2.0 * num_params, 2.0 * num_params, float(k) * num_params
    if stage >= 1:
        optimizer_states /= num_devices
    if stage >= 3:  # BUG: gradients stay whole in stage 2
        gradients /= num_devices
    if stage >= 3:
        parameters /= num_devices
    return parameters + gradients + optimizer_states

"""Kaplan's allocation exponent confused with the loss exponent: N_opt growing as C^0.076 (alpha_N of L(N)) instead of C^0.73, so the model hardly grows with compute. The compute-efficient size is N = 1.3e9 (C / 1 PF-day)^0.73."""
import numpy as np


def kaplan_optimal(compute):
    compute = np.asarray(compute, dtype=np.float64)
    n_opt = KAPLAN["N_e"] * (compute / PF_DAY) ** KAPLAN["alpha_N"]  # BUG: the loss exponent 0.076
    d_opt = compute / (6.0 * n_opt)
    return n_opt, d_opt

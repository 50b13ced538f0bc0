"""Weight decay on every parameter, biases and normalisation gains included: decaying a LayerNorm gain towards 0 fights the normalisation, and nanoGPT (like most LLM recipes) decays only the tensors with two or more dimensions. Give 0-D and 1-D parameters a zero decay gradient."""
import numpy as np


def weight_decay_penalty(params, weight_decay):
    penalty, grads = 0.0, {}
    for name, value in params.items():
        value = np.asarray(value, dtype=np.float64)
        penalty += 0.5 * weight_decay * float(np.sum(value**2))  # BUG: every tensor is decayed
        grads[name] = weight_decay * value
    return penalty, grads

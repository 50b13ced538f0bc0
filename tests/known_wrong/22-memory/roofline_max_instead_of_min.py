"""The roofline taken as the larger of the two limits: an operation reaches at most min(peak, bandwidth * intensity), the lower of the compute roof and the memory slope."""
import numpy as np


def attainable_flops(intensity, peak_flops, bandwidth):
    attainable = np.maximum(peak_flops, bandwidth * np.asarray(intensity, dtype=np.float64))  # BUG: max for min
    return float(attainable) if attainable.ndim == 0 else attainable

"""fan_in and fan_out swapped, as if the weight were stored (n_in, n_out) as in x @ W code: He initialisation then scales by the number of outputs, wrong for every non-square layer. In torch's layout (n_out, n_in, *kernel), fan_in = shape[1] * field and fan_out = shape[0] * field."""
import math


def fan_in_and_fan_out(shape):
    if len(shape) < 2:
        raise ValueError(f"fan_in and fan_out need a weight with at least 2 dimensions, not {tuple(shape)}")
    receptive_field = math.prod(shape[2:])
    return shape[0] * receptive_field, shape[1] * receptive_field  # BUG: swapped

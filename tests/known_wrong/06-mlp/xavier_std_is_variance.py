"""Xavier's variance 2 / (fan_in + fan_out) used as the standard deviation: the weights come out sqrt((fan_in + fan_out) / 2) times too small (about 16x for 256 -> 256) and the signal vanishes. The standard deviation is the square root, gain * sqrt(2 / (fan_in + fan_out))."""
import math


def init_std(shape, scheme, gain=None):
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if scheme == "xavier":
        gain = 1.0 if gain is None else gain
        return gain * 2.0 / (fan_in + fan_out)  # BUG: the variance, not its square root
    if scheme == "he":
        gain = math.sqrt(2.0) if gain is None else gain
        return gain / math.sqrt(fan_in)
    raise ValueError(f"scheme must be 'xavier' or 'he', not {scheme!r}")

"""Temperature that multiplies the logits by T inverts it: T < 1 flattens and T > 1 sharpens. Divide the logits by T."""


def apply_temperature(logits, temperature):
    return logits * temperature  # BUG: multiplied

"""Temperature that multiplies the logits instead of dividing them makes T < 1 flatten the distribution and T > 1 sharpen it, the opposite of the definition. Use softmax(logits / T).
"""


def apply_temperature(logits, temperature):
    logits = np.asarray(logits, dtype=np.float64)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        greedy = np.argmax(logits, axis=-1)
        return np.eye(logits.shape[-1])[greedy]
    return softmax(logits * temperature)  # BUG: multiplies instead of dividing

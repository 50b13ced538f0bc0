"""Expected tokens per step with gamma terms instead of gamma + 1, (1 - alpha^gamma) / (1 - alpha): it forgets the token every step always yields (the resampled one or the bonus). Sum alpha^k for k = 0 .. gamma."""


def expected_tokens_per_step(alpha, gamma):
    return sum(alpha ** k for k in range(gamma))  # BUG: one term short

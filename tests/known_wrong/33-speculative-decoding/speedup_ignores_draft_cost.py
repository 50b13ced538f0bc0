"""The expected speed-up that ignores the draft's cost: tokens per step alone, as if the gamma draft calls were free, so best_gamma always drafts as much as allowed. Divide by gamma * cost_ratio + 1."""


def expected_speedup(alpha, gamma, cost_ratio):
    return expected_tokens_per_step(alpha, gamma)  # BUG: the draft calls cost nothing

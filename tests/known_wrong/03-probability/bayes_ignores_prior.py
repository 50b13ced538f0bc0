"""Bayes' rule that ignores the prior (the base-rate fallacy) normalises the likelihood alone, so a 95%-sensitive test "proves" a rare disease. Multiply the likelihood by the prior, then divide by the evidence sum_h P(e|h) P(h).
"""


def bayes_posterior(prior, likelihood):
    prior = np.asarray(prior, dtype=np.float64)
    likelihood = np.asarray(likelihood, dtype=np.float64)
    joint = np.broadcast_to(likelihood, np.broadcast_shapes(prior.shape, likelihood.shape))  # BUG: prior ignored
    return joint / np.sum(joint, axis=-1, keepdims=True)

"""A pairwise loss without the sigmoid, -(r_chosen - r_rejected): it is unbounded below, every pair pulls with the same weight however well it is learnt, and the rewards grow without limit. Use -log sigmoid(r_chosen - r_rejected)."""


def bradley_terry_loss(r_chosen, r_rejected, margin=None):
    difference = r_chosen - r_rejected
    if margin is not None:
        difference = difference - margin
    return -difference.mean()  # BUG: no log-sigmoid

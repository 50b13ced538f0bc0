"""Teacher forcing without the shift: the decoder input is the targets themselves, so with the causal mask position t still sees y_t and learns to copy it; the loss falls to zero and greedy generation fails. Shift right: cat([bos, targets[:, :-1]], dim=1)."""


def shift_right(targets, bos):
    return targets.clone()  # BUG: no shift, no start token

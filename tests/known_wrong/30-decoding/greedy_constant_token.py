"""A degenerate decoder: greedy_decode appends token 0 every time, whatever the model says. Append the argmax of next_logits(ids) at each step."""


def greedy_decode(next_logits, prompt, n_new):
    return [int(t) for t in prompt] + [0] * n_new  # BUG: a constant

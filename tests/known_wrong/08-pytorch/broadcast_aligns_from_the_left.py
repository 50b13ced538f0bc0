"""Broadcasting aligned from the left: the shorter shape was padded with 1s on the right, so (3,) met the first axis of (1, 3) instead of the last. Shapes are aligned at their last axis: pad the shorter one with 1s on the left, (1,) * (n - len(shape)) + shape."""


def broadcast_shape(shape_a, shape_b):
    n_axes = max(len(shape_a), len(shape_b))
    a = tuple(shape_a) + (1,) * (n_axes - len(shape_a))  # BUG: padded on the right
    b = tuple(shape_b) + (1,) * (n_axes - len(shape_b))
    result = []
    for axis, (m, n) in enumerate(zip(a, b)):
        if m == n or n == 1:
            result.append(m)
        elif m == 1:
            result.append(n)
        else:
            raise ValueError(f"shapes {tuple(shape_a)} and {tuple(shape_b)} do not broadcast: axis {axis} has sizes {m} and {n}")
    return tuple(result)

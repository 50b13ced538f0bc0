"""padding_waste counts packed rows wrongly: it opens a new row when the next example would exactly fill the current one (>= in place of >), so it reports more waste than pack_examples produces. Open a new row only when used + n > max_len."""
import torch
import torch.nn.functional as F


def padding_waste(lengths: list[int], max_len: int) -> tuple[float, float]:
    """(waste when every example is padded to the longest, waste when packed by next fit into rows of max_len), each in [0, 1).

    Example: padding_waste([3, 2], 4) == (1 - 5 / 6, 1 - 5 / 8): padded, 2 rows of 3; packed, 2 rows of 4.
    """
    real = sum(lengths)
    padded = 1.0 - real / (len(lengths) * max(lengths))
    rows, used = 1, 0
    for n in lengths:
        if used + n >= max_len:
            rows, used = rows + 1, 0
        used += n
    packed = 1.0 - real / (rows * max_len)
    return padded, packed

"""Packing without resetting the positions: the second example of a row gets position ids continuing from the first, so GPT-2's learned position embeddings differ from the example run alone. Restart position_ids at 0 for every example."""
import torch
import torch.nn.functional as F


def pack_examples(examples: list[tuple[torch.Tensor, torch.Tensor]], max_len: int) -> dict:
    """Pack (input_ids, labels) examples, in order, into rows of max_len tokens ("next fit").

    Args:
        examples: [(input_ids LongTensor (T_i,), labels LongTensor (T_i,)), ...] with every T_i <= max_len
            (a longer example raises ValueError).
        max_len: L, the row length.
    Returns:
        {"input_ids": LongTensor (R, L), padded with PAD_ID,
         "labels": LongTensor (R, L), -100 on padding,
         "position_ids": LongTensor (R, L), 0, 1, ..., T_i - 1 for each example, 0 on padding,
         "segment_ids": LongTensor (R, L), 0, 1, 2, ... numbering the examples of each row from 0, -1 on padding}.
    Example: two examples of lengths 3 and 2 with max_len=4 give two rows; position_ids [[0, 1, 2, 0], [0, 1, 0, 0]],
        segment_ids [[0, 0, 0, -1], [0, 0, -1, -1]].
    """
    rows, current, used = [], [], 0
    for input_ids, labels in examples:
        if len(input_ids) > max_len:
            raise ValueError(f"an example of {len(input_ids)} tokens does not fit in rows of {max_len}")
        if used + len(input_ids) > max_len:            # next fit: the example does not fit, close the row
            rows.append(current)
            current, used = [], 0
        current.append((input_ids, labels))
        used += len(input_ids)
    if current:
        rows.append(current)
    shape = (len(rows), max_len)
    out = {"input_ids": torch.full(shape, PAD_ID, dtype=torch.long), "labels": torch.full(shape, IGNORE_INDEX, dtype=torch.long),
           "position_ids": torch.zeros(shape, dtype=torch.long), "segment_ids": torch.full(shape, -1, dtype=torch.long)}
    for r, row in enumerate(rows):
        start = 0
        for segment, (input_ids, labels) in enumerate(row):
            stop = start + len(input_ids)
            out["input_ids"][r, start:stop] = input_ids
            out["labels"][r, start:stop] = labels
            out["position_ids"][r, start:stop] = torch.arange(start, stop)   # positions restart for every example
            out["segment_ids"][r, start:stop] = segment
            start = stop
    return out

"""A newline counted as the start of the line after it: at a newline the rule points one place past the query, to a key the query cannot see (the line start must be <= t). Take the last newline strictly BEFORE t: shift the running maximum of newline positions by one place."""
import torch


def line_start_positions(tokens, newline_id):
    positions = torch.arange(len(tokens))
    newline_at = torch.where(tokens == newline_id, positions, -1)
    return newline_at.cummax(dim=0).values + 1  # BUG: the last newline at or before t, so a newline points past itself

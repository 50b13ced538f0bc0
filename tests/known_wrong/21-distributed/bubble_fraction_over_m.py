"""The bubble fraction written (p-1)/m: that is the idle time over the busy time, not over the whole step, and it exceeds 1 when m < p - 1. The idle share of the timetable is (p-1)/(m+p-1)."""


def bubble_fraction(num_stages, num_microbatches):
    return (num_stages - 1) / num_microbatches  # BUG: divided by the busy time only

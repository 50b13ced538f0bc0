"""Counting FlashAttention's K and V reads once, as if they stayed in SRAM for every query block: they are streamed again for each of the ceil(N / B_q) query blocks."""
import math

import torch


def attention_hbm_traffic(n: int, d: int, block_q: int, bytes_per_element: int = 2, s: int | None = None) -> dict:
    s = n if s is None else s
    standard = (n * d + s * d) + n * s        # step 1: read Q and K, write S
    standard += n * s + n * s                 # step 2: read S, write P
    standard += n * s + s * d + n * d         # step 3: read P and V, write O
    query_blocks = math.ceil(n / block_q)
    flash = n * d + 2 * s * d + n * d  # BUG: K and V counted once
    return {"standard": standard * bytes_per_element, "flash": flash * bytes_per_element + 4 * n}

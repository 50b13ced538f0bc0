"""Merges applied at encode time in order of frequency in the text being encoded, as in training, instead of in the order they were learned: 'abcbc' with merges [(a, b), (b, c)] becomes a|bc|bc instead of ab|c|bc, a segmentation training never produced. Merge the adjacent pair with the lowest rank, min(pairs, key=lambda p: ranks.get(p, inf))."""
import math


def encode_chunk(ids, ranks):
    ids = list(ids)
    while len(ids) >= 2:
        counts = {}
        for pair in zip(ids, ids[1:]):
            if pair in ranks:
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            break
        pair = max(counts, key=lambda p: (counts[p], -ranks[p]))  # BUG: the most frequent pair here, not the lowest rank
        ids = merge_pair(ids, pair, 256 + ranks[pair])
    return ids

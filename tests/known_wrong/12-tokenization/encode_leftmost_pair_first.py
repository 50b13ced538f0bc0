"""Encoding that merges the leftmost mergeable pair first instead of the pair of lowest rank: 'bca' with merges [(c, a), (b, c)] becomes bc|a instead of b|ca. Merge the adjacent pair with the lowest rank, min(pairs, key=lambda p: ranks.get(p, inf))."""


def encode_chunk(ids, ranks):
    ids = list(ids)
    while len(ids) >= 2:
        mergeable = [pair for pair in zip(ids, ids[1:]) if pair in ranks]
        if not mergeable:
            break
        pair = mergeable[0]  # BUG: the leftmost mergeable pair, whatever its rank
        ids = merge_pair(ids, pair, 256 + ranks[pair])
    return ids

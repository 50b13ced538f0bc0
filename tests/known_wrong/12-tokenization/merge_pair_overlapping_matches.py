"""Merging every position where the pair starts, overlapping ones included: "aaa" with (a, a) becomes two merged tokens, which invents an "a" that was not there. Scan from the left and, after replacing a pair, continue two positions further."""


def merge_pair(ids, pair, new_id):
    merged = []
    for i in range(len(ids)):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            merged.append(new_id)  # BUG: a pair overlapping the previous one is merged again
        elif i > 0 and ids[i - 1] == pair[0] and ids[i] == pair[1]:
            continue  # the second half of a merged pair
        else:
            merged.append(ids[i])
    return merged

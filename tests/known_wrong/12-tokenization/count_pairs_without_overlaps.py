"""Runs of one token counted as if they were merged: "aaa" holds the pair (a, a) at two positions, but is counted once, so long runs are undercounted. Count every position i of zip(word, word[1:]), overlapping ones included."""


def count_pairs(words):
    counts = {}
    for word, freq in words.items():
        i = 0
        while i < len(word) - 1:
            pair = (word[i], word[i + 1])
            counts[pair] = counts.get(pair, 0) + freq
            i += 2 if word[i] == word[i + 1] else 1  # BUG: skips the overlapping occurrence
    return counts

"""Pair counts that add 1 per distinct chunk instead of the chunk's frequency: a word seen a thousand times weighs as much as one seen once. Add words[w] for each occurrence of a pair in chunk w."""


def count_pairs(words):
    counts = {}
    for word, freq in words.items():
        for pair in zip(word, word[1:]):
            counts[pair] = counts.get(pair, 0) + 1  # BUG: the chunk's frequency is ignored
    return counts

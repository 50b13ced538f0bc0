"""Ties broken by dictionary order, max(counts, key=counts.get): among equally frequent pairs the first one inserted wins, which depends on the history of the updates instead of a stated rule. Break ties by the smallest pair: min(counts, key=lambda p: (-counts[p], p))."""


def train_bpe(text, vocab_size, special_tokens=()):
    n_merges = vocab_size - 256 - len(special_tokens)
    if n_merges < 0:
        raise ValueError("vocab_size too small")
    words = {}
    for piece in split_on_special_tokens(text, special_tokens)[::2]:
        for chunk in pretokenize(piece):
            word = tuple(text_to_bytes(chunk))
            words[word] = words.get(word, 0) + 1
    counts = count_pairs(words)
    where = {}
    for word in words:
        for pair in zip(word, word[1:]):
            where.setdefault(pair, set()).add(word)
    merges = []
    while len(merges) < n_merges and counts:
        pair = max(counts, key=counts.get)  # BUG: ties go to whichever pair the dict holds first
        new_id = 256 + len(merges)
        merges.append(pair)
        for word in list(where[pair]):
            freq = words.pop(word)
            new_word = tuple(merge_pair(word, pair, new_id))
            words[new_word] = freq
            for old_pair, n in count_pairs({word: freq}).items():
                counts[old_pair] -= n
                if counts[old_pair] == 0:
                    del counts[old_pair]
                where[old_pair].discard(word)
            for new_pair, n in count_pairs({new_word: freq}).items():
                counts[new_pair] = counts.get(new_pair, 0) + n
                where.setdefault(new_pair, set()).add(new_word)
    return merges

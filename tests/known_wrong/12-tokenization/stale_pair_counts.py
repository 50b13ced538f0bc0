"""An incremental update that adds the pairs of the new token but never subtracts the old neighbours: after merging (a, b) in "xaby", the pairs (x, a) and (b, y) keep their counts although they are gone, and later merges are chosen on stale counts. For each changed chunk subtract all pair counts of the old chunk and add those of the new one."""


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
        pair = min(counts, key=lambda p: (-counts[p], p))
        new_id = 256 + len(merges)
        merges.append(pair)
        for word in list(where[pair]):
            freq = words.pop(word)
            new_word = tuple(merge_pair(word, pair, new_id))
            words[new_word] = freq
            for old_pair in count_pairs({word: freq}):
                where[old_pair].discard(word)
            for new_pair, n in count_pairs({new_word: freq}).items():
                if new_id in new_pair:  # BUG: only the pairs with the new token are counted; the old neighbours keep their counts
                    counts[new_pair] = counts.get(new_pair, 0) + n
                where.setdefault(new_pair, set()).add(new_word)
        del counts[pair]
    return merges

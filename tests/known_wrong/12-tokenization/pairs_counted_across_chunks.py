"""Training on the whole text as one sequence, without pre-tokenizing: pairs are counted across word boundaries ("e" followed by " "), and merges learn tokens that GPT-2's chunks never allow. Cut each ordinary piece into pretokenize chunks and count pairs inside each chunk only."""


def train_bpe(text, vocab_size, special_tokens=()):
    n_merges = vocab_size - 256 - len(special_tokens)
    if n_merges < 0:
        raise ValueError("vocab_size too small")
    # BUG: each ordinary piece is one long sequence, never cut into pretokenize chunks
    sequences = [list(text_to_bytes(piece)) for piece in split_on_special_tokens(text, special_tokens)[::2]]
    merges = []
    while len(merges) < n_merges:
        counts = {}
        for ids in sequences:
            for pair in zip(ids, ids[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        sequences = [merge_pair(ids, pair, 256 + len(merges)) for ids in sequences]
        merges.append(pair)
    return merges

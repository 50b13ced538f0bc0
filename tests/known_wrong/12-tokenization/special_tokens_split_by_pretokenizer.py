"""Pre-tokenizing before looking for special tokens: the pattern cuts '<|endoftext|>' into '<|', 'endoftext' and '|>', so no chunk is ever a special token and it is encoded as ordinary bytes. Split the text with split_on_special_tokens first, then pre-tokenize only the ordinary pieces."""


def encode(text, merges, special_tokens=()):
    ranks = {tuple(pair): k for k, pair in enumerate(merges)}
    special_ids = {token: 256 + len(merges) + j for j, token in enumerate(special_tokens)}
    ids = []
    for chunk in pretokenize(text):  # BUG: chunks first, so special tokens are already split
        if chunk in special_ids:
            ids.append(special_ids[chunk])
        else:
            ids.extend(encode_chunk(text_to_bytes(chunk), ranks))
    return ids

"""A degenerate encoder that returns the UTF-8 bytes and applies no merge: it round-trips but compresses nothing, and special tokens are never recognised. Encode each chunk with encode_chunk and the ranks of the merges, and give each special token its id."""


def encode(text, merges, special_tokens=()):
    return list(text_to_bytes(text))  # BUG: the bytes, no merges

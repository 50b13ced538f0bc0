"""Decoding each token to a string on its own and joining the strings: a character whose bytes are spread over several tokens (an emoji of 4 byte tokens) becomes U+FFFD replacement characters. Join the bytes of all tokens first, then decode once: bytes_to_text(b"".join(vocab[i] for i in ids))."""


def decode(ids, merges, special_tokens=()):
    vocab = vocabulary(merges, special_tokens)
    return "".join(bytes_to_text(vocab[i]) for i in ids)  # BUG: each token decoded alone

"""Text encoded with errors="replace": a lone surrogate becomes b"?", so the string does not come back and two different strings share their bytes. Encode with text.encode("utf-8", errors="surrogatepass"), which writes a surrogate with its 3-byte pattern."""


def text_to_bytes(text):
    return text.encode("utf-8", errors="replace")  # BUG: lone surrogates become b"?"

# %% [markdown]
# # 12 · Tokenization: characters, bytes and byte-pair encoding
#
# A language model never reads text. It reads a sequence of integers, and the **tokenizer** decides
# which integers. Byte-level byte-pair encoding (BPE), the tokenizer of GPT-2, GPT-4, LLaMA 3 and most
# models since, starts from the 256 possible bytes of UTF-8 and learns a list of **merges**, greedily:
# the $k$-th merge joins the pair of adjacent tokens that occurs most often in the training text after
# the first $k$ merges, and the merged pair becomes token $256 + k$:
#
# $$\boxed{\;(a_k, b_k) \;=\; \arg\max_{(a,\, b)} \; \sum_{w} f_w \; \#\big\{\, i : w^{(k)}_i = a,\; w^{(k)}_{i+1} = b \,\big\},
# \qquad \operatorname{bytes}(256 + k) \;=\; \operatorname{bytes}(a_k) \,\Vert\, \operatorname{bytes}(b_k)\;}$$
#
# where $w$ runs over the distinct chunks ("words") of the training text, $f_w$ is how often chunk $w$
# occurs, and $w^{(k)}$ is chunk $w$ written with the tokens of the first $k$ merges. To encode new text
# the merges are replayed **in the order they were learned**; to decode, the bytes of the tokens are
# concatenated and read as UTF-8 once.
#
# Why it matters for LLMs: the tokenizer fixes the length of every sequence, and with it the cost of
# attention (quadratic in the number of tokens) and how much text fits in a context window; it fixes
# the vocabulary, and with it the size of the embedding and output matrices; and a surprising number of
# odd model behaviours are tokenizer effects: trouble with spelling and digits, the meaning of a
# trailing space, languages that cost three times as many tokens as English for the same sentence.
#
# **What you will build:** a character tokenizer; the text-to-bytes rule that makes every Python string
# encodable, lone surrogates included; pair counting and merging; a BPE trainer with incremental pair
# counts (fast enough to learn a thousand merges from 100 KB of Shakespeare in about a second);
# special tokens that are never split; encoding by merge rank; decoding that is exact for arbitrary
# Unicode; and the compression ratio of your tokenizer against the character tokenizer on Tiny
# Shakespeare. Where the Hugging Face `tokenizers` package is installed, your encoder and trainer are
# checked against it.

# %% [markdown]
# ## Prerequisites
#
# - `11-ngram`: counting events in a corpus, vocabularies of symbols.
# - `10-rnn` (optional): the character language model, whose tokenizer you now write properly.
#
# Packages: `regex` (installed with `transformers`; Python's own `re` has no Unicode classes such as
# `\p{L}`), `numpy`, `matplotlib`. The Hugging Face `tokenizers` package (also installed with
# `transformers`) is used only to compare with, where it is present. Everything runs in seconds on a
# CPU.
#
# **Conventions used throughout.** A token id is an `int`. Ids $0, \dots, 255$ are the single bytes;
# the $k$-th merge (counting from 0) creates id $256 + k$; special tokens come last, after all merges.
# A tokenizer is therefore just plain data: the list `merges` of pairs `(a, b)` in the order they were
# learned, and the list `special_tokens` of strings.

# %%
import math
import random
import re
import time
import unicodedata
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import regex

# %% [markdown]
# ## 1 · Text is a sequence of code points, and UTF-8 writes each one as 1 to 4 bytes
#
# A Python `str` is a sequence of Unicode **code points**, integers $c \in \{0, \dots, \text{0x10FFFF}\}$
# (`ord` and `chr` convert). UTF-8 writes each code point with 1 to 4 bytes, chosen by its range; the
# `x` bits are the bits of $c$:
#
# | code points | bytes | pattern |
# |---|---|---|
# | U+0000 – U+007F | 1 | `0xxxxxxx` |
# | U+0080 – U+07FF | 2 | `110xxxxx 10xxxxxx` |
# | U+0800 – U+FFFF | 3 | `1110xxxx 10xxxxxx 10xxxxxx` |
# | U+10000 – U+10FFFF | 4 | `11110xxx 10xxxxxx 10xxxxxx 10xxxxxx` |
#
# **What this means.** ASCII text is its own UTF-8, one byte per character. A lead byte says how many
# bytes follow, and continuation bytes (`10xxxxxx`) can never be mistaken for lead bytes, so a decoder
# always knows where characters start. But a sequence of bytes cut at an arbitrary place is generally
# **not** valid UTF-8: the bytes of one token may hold half a character. Keep this in mind for decoding.
#
# Three facts about "characters" that every tokenizer meets:
#
# - **One glyph can be several code points.** "é" is either one code point, U+00E9 (the composed
#   form, NFC), or two, "e" followed by the combining acute accent U+0301 (NFD). The family emoji 👩‍👩‍👧 is
#   five: three emoji glued by two zero-width joiners (U+200D). A flag is two regional-indicator letters.
# - **Scripts cost different numbers of bytes**: Latin letters 1, accented Latin, Greek, Cyrillic,
#   Hebrew and Arabic 2, Devanagari, Thai, Chinese, Japanese and Korean 3, emoji 4.
# - **Surrogates.** The code points U+D800 – U+DFFF are reserved for UTF-16's surrogate pairs and are
#   not characters; strict UTF-8 refuses to encode them. A Python `str` may still hold them ("lone
#   surrogates": half of a JSON `"\ud83d\ude00"` escape, a file name decoded with
#   `errors="surrogateescape"`), and `text.encode("utf-8")` then raises. This notebook's rule: **encode
#   with `errors="surrogatepass"`**, which writes a surrogate with the ordinary 3-byte pattern
#   (`"\ud800"` becomes `ED A0 80`), so that *every* Python string has bytes and comes back exactly.
#   (tiktoken chooses the other option: it replaces lone surrogates by U+FFFD before encoding, which
#   is lossy.)

# %%
samples = ["A", "é", "e\u0301", "日", "😀", "👩\u200d👩\u200d👧", "🇫🇷", "\ud800"]
for s in samples:
    code_points = " ".join(f"U+{ord(c):04X}" for c in s)
    data = s.encode("utf-8", errors="surrogatepass")
    names = ", ".join(unicodedata.name(c, "<surrogate>") for c in s)
    print(f"{s!r:>16}: {len(s)} code point(s) [{code_points}] -> {len(data)} bytes {data.hex(' ')}   ({names})")
print("'e' + U+0301 == 'é':", "e\u0301" == "é", "  but after NFC normalization:", unicodedata.normalize("NFC", "e\u0301") == "é")
try:
    "\ud800".encode("utf-8")
except UnicodeEncodeError as error:
    print("strict UTF-8 refuses a lone surrogate:", error.reason)

# %% [markdown]
# The figure shows the UTF-8 length of every code point (left), and what that does to the same greeting
# written in several scripts (right): the number of characters hardly changes, the number of bytes
# does. A byte-level tokenizer starts from these bytes, so without merges a Hindi sentence costs about
# three times as many tokens as an English one.

# %%
code_points = np.arange(1, 0x110000, 97)
utf8_length = np.array([len(chr(c).encode("utf-8", errors="surrogatepass")) for c in code_points])
greetings = {"English": "Good morning, my friend", "French": "Bonjour, mon ami très cher", "Greek": "Καλημέρα, φίλε μου",
             "Russian": "Доброе утро, мой друг", "Hindi": "सुप्रभात, मेरे दोस्त", "Chinese": "早上好，我的朋友",
             "Japanese": "おはよう、友よ", "emoji": "☀️👋🙂🤝"}
fig, (ax_len, ax_lang) = plt.subplots(1, 2, figsize=(11, 3.6))
ax_len.step(code_points, utf8_length, where="post")
ax_len.axvspan(0xD800, 0xDFFF, color="tab:red", alpha=0.3, label="surrogates D800–DFFF")
ax_len.set(xscale="log", xlabel="code point", ylabel="UTF-8 bytes", yticks=[1, 2, 3, 4], title="bytes per code point")
ax_len.legend(loc="lower right")
x = np.arange(len(greetings))
ax_lang.bar(x - 0.2, [len(s) for s in greetings.values()], width=0.4, label="code points")
ax_lang.bar(x + 0.2, [len(s.encode("utf-8")) for s in greetings.values()], width=0.4, label="UTF-8 bytes")
ax_lang.set_xticks(x, list(greetings), rotation=30)
ax_lang.set(ylabel="length", title="'good morning, my friend' in several scripts")
ax_lang.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2 · The character tokenizer
#
# The simplest tokenizer that is exact: the vocabulary $V$ is the sorted list of the distinct code
# points of a training text, a character's id is its position in $V$, and decoding looks the ids up and
# joins them:
#
# $$\operatorname{id}(c) = \big|\{\, v \in V : v < c \,\}\big|, \qquad
# \operatorname{encode}(c_1 \dots c_n) = \big(\operatorname{id}(c_1), \dots, \operatorname{id}(c_n)\big), \qquad
# \operatorname{decode} = \operatorname{encode}^{-1}.$$
#
# **What this means.** Every text made of characters in $V$ comes back exactly, one token per code
# point. Two weaknesses make it a poor choice for an LLM: sequences are long (one token per character
# gives attention the most work for the least text), and a character that was not in the training text
# cannot be encoded at all. The 65 characters of Tiny Shakespeare contain no "é" and no emoji. Sorting
# the vocabulary (by code point, Python's order for strings) makes the ids a function of the *set* of
# characters only, so two people who build the vocabulary from the same text get the same ids.
#
# A worked example with a dictionary, the same lookup you will write:

# %%
demo_vocab = sorted(set("banana band"))
demo_ids = [demo_vocab.index(ch) for ch in "banana"]
print("vocabulary:", demo_vocab, "-> ids of 'banana':", demo_ids, "-> back:", "".join(demo_vocab[i] for i in demo_ids))

# %% nbgrader={"grade": false, "grade_id": "char_tokenizer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def char_vocab(text: str) -> list[str]:
    """The character vocabulary of a text: its distinct code points, sorted (about 2 minutes).

    Args:
        text: any str (combining marks, emoji and lone surrogates are code points like any other).

    Returns:
        A list of one-character strings, each distinct code point of text once, in increasing code
        point order (Python's order of str). Empty for an empty text.

    Example:
        >>> char_vocab("hello")
        ['e', 'h', 'l', 'o']
    """
    ### BEGIN SOLUTION
    return sorted(set(text))
    ### END SOLUTION


def char_encode(text: str, vocab: list[str]) -> list[int]:
    """Encode text with a character vocabulary: one id per code point (about 3 minutes).

    Args:
        text: a str. vocab: a list of distinct one-character strings (as char_vocab returns).

    Returns:
        A list of int of length len(text): the position in vocab of each character of text.
        Raises KeyError for a character that is not in vocab.

    Example:
        >>> char_encode("hello", ['e', 'h', 'l', 'o'])
        [1, 0, 2, 2, 3]
    """
    ### BEGIN SOLUTION
    index = {ch: i for i, ch in enumerate(vocab)}
    return [index[ch] for ch in text]
    ### END SOLUTION


def char_decode(ids: list[int], vocab: list[str]) -> str:
    """Decode ids of a character vocabulary back to the text (about 2 minutes).

    Args:
        ids: a list of int, each in 0..len(vocab)-1. vocab: the vocabulary the ids were encoded with.

    Returns:
        The str whose characters are vocab[ids[0]], vocab[ids[1]], ... ("" for no ids).

    Example:
        >>> char_decode([1, 0, 2, 2, 3], ['e', 'h', 'l', 'o'])
        'hello'
    """
    ### BEGIN SOLUTION
    return "".join(vocab[i] for i in ids)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "char_tokenizer_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the character tokenizer gives the hand-computed vocabulary and ids of 'hello' and decodes them back"""
from grader.testing import learner, expect

vocab = learner.char_vocab("hello")
expect.equal(vocab, ["e", "h", "l", "o"], what="char_vocab('hello')",
             hint="the distinct characters of the text, sorted: sorted(set(text))")
expect.equal(learner.char_encode("hello", ["e", "h", "l", "o"]), [1, 0, 2, 2, 3], what="char_encode('hello', ['e', 'h', 'l', 'o'])",
             hint="each character's id is its position in the vocabulary")
expect.equal(learner.char_decode([1, 0, 2, 2, 3], ["e", "h", "l", "o"]), "hello", what="char_decode([1, 0, 2, 2, 3], ['e', 'h', 'l', 'o'])",
             hint="look each id up in the vocabulary and join the characters")

# %% [markdown]
# Random test strings mix every kind of "character" of section 1: ASCII, composed and decomposed
# accents, several scripts, emoji sequences, unusual white space, digits of other scripts, a NUL and a
# byte-order mark, code points drawn from the whole Unicode range, and (when asked for) lone
# surrogates. Use `random_unicode_text` to test your own functions: a tokenizer that is right on
# English and wrong on one of these is wrong.

# %%
HARD_PIECES = [
    "a", "b", "z", "Q", "the", " ", "  ", "\n", "\n\n", "\t", "\r\n", ".", ",", "!?", "'s", "'ll", "'t", "0", "42", "_", "-",
    "é", "e\u0301", "ñ", "ß", "Å", "ø", "Ω", "ж", "日本", "語", "漢字", "한국어", "مرحبا", "नमस्ते", "ไทย",
    "😀", "👍🏽", "👩\u200d👩\u200d👧", "🇫🇷", "❤\ufe0f", "\u00a0", "\u3000", "\u2028", "٣", "½", "①", "\x00", "\ufeff",
]
LONE_SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d", "\ude00"]


def random_unicode_text(rng: random.Random, n_pieces: int, surrogates: bool = True) -> str:
    """A random str of n_pieces pieces: HARD_PIECES, code points drawn from all of Unicode, lone surrogates.

    With surrogates=False no code point in U+D800..U+DFFF appears (for libraries that refuse them).
    A high surrogate is never directly followed by a low one: JSON, which carries test values to
    your code, would read such a pair as the one code point it encodes in UTF-16.
    """
    pieces = []
    for _ in range(n_pieces):
        roll = rng.random()
        if roll < 0.15:
            code = rng.randrange(0x110000)
            pieces.append("\ufffd" if 0xD800 <= code <= 0xDFFF and not surrogates else chr(code))
        elif roll < 0.2 and surrogates:
            pieces.append(rng.choice(LONE_SURROGATES))
        else:
            pieces.append(rng.choice(HARD_PIECES))
    return re.sub("([\ud800-\udbff])(?=[\udc00-\udfff])", "\\1 ", "".join(pieces))


# %%
print([random_unicode_text(random.Random(seed), 6) for seed in range(3)])

# %% nbgrader={"grade": true, "grade_id": "char_tokenizer_round_trip", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the character tokenizer sorts its vocabulary by code point, round-trips random Unicode strings exactly (combining marks, emoji, lone surrogates), works on the empty text, and raises KeyError for a character it has not seen"""
from grader.testing import learner, expect

vocab = learner.char_vocab("Zebra zoo")
expect.equal(vocab, [" ", "Z", "a", "b", "e", "o", "r", "z"], what="char_vocab('Zebra zoo')",
             hint="sort by code point: the space (U+0020) comes first and 'Z' (U+005A) before 'a' (U+0061)")
expect.raises("KeyError", learner.char_encode, "abc", ["a", "b"])
### BEGIN HIDDEN TESTS
from grader.testing import reference

hint = "the vocabulary is sorted(set(text)); a character's id is its index in the vocabulary; decoding joins vocab[i]"
expect.equal(learner.char_vocab(""), [], what="char_vocab of the empty text")
expect.equal(learner.char_encode("", ["a"]), [], what="char_encode of the empty text")
expect.equal(learner.char_decode([], ["a"]), "", what="char_decode of no ids")
expect.equal(learner.char_vocab("e\u0301e\u0301"), ["e", "\u0301"], what="char_vocab of a decomposed accent",
             hint="a combining mark is a code point of its own")
rng = random.Random(2)
texts = [random_unicode_text(rng, rng.randint(1, 30)) for _ in range(40)]
for n, text in enumerate(texts):
    want_vocab = sorted(set(text))
    want_ids = [want_vocab.index(ch) for ch in text]
    expect.equal(learner.char_vocab(text), want_vocab, what=f"char_vocab of random string {n}", hint=hint)
    expect.equal(learner.char_encode(text, want_vocab), want_ids, what=f"char_encode of random string {n}", hint=hint)
    expect.equal(learner.char_decode(want_ids, want_vocab), text, what=f"char_decode of random string {n}", hint=hint)
# a vocabulary in any order is used as given
shuffled = sorted(set(texts[0]), reverse=True)
expect.equal(learner.char_encode(texts[0], shuffled), [shuffled.index(ch) for ch in texts[0]],
             what="char_encode with a vocabulary in reverse order", hint="use the positions of the vocabulary you are given")
### END HIDDEN TESTS

# %% [markdown]
# On Tiny Shakespeare (shipped with the course, public domain, see `DATA-LICENCE.md`), the character
# tokenizer needs 65 ids, and one token per character: the baseline that BPE will compress. And it fails
# on the first character it has not seen.

# %%
with open("tinyshakespeare.txt", encoding="utf-8") as file:
    shakespeare = file.read()
shakespeare_vocab = char_vocab(shakespeare)
print(f"{len(shakespeare):,} characters, a vocabulary of {len(shakespeare_vocab)}: {''.join(shakespeare_vocab)!r}")
print("'To be' ->", char_encode("To be", shakespeare_vocab))
try:
    char_encode("naïve 😀", shakespeare_vocab)
except KeyError as error:
    print("the character tokenizer cannot encode", error)

# %% [markdown]
# ## 3 · Bytes: a base vocabulary of 256 that never fails
#
# Byte-level tokenizers replace the open-ended set of characters by the 256 possible bytes: every text
# becomes its UTF-8 bytes, and token ids $0..255$ are those bytes. Nothing is ever "unknown". The two
# conversions you need fix two policies, and a tokenizer must state both:
#
# - **text to bytes**: UTF-8 with `errors="surrogatepass"`, so that lone surrogates (section 1) have
#   bytes too. Then `bytes_to_text(text_to_bytes(s)) == s` for **every** Python string `s`.
# - **bytes to text**: a model can produce any sequence of tokens, and not every byte sequence is
#   UTF-8 (a generation cut in the middle of an emoji ends with 1 to 3 bytes of it). Decoding must not
#   crash. Our rule: decode with `errors="surrogatepass"` (the exact inverse of the encoding above);
#   if the bytes are not valid that way, decode them **all** with `errors="replace"`, which turns each
#   invalid piece into the replacement character U+FFFD "�", exactly as `bytes.decode` does.
#
# `errors=` is the standard library's own mechanism (see `codecs`):

# %%
for data in [b"caf\xc3\xa9", b"\xf0\x9f\x98\x80", b"\xf0\x9f\x98", b"a\xffb", b"\xed\xa0\x80"]:
    try:
        strict = repr(data.decode("utf-8", errors="surrogatepass"))
    except UnicodeDecodeError:
        strict = "(not valid UTF-8)"
    print(f"{data.hex(' '):>14}: surrogatepass -> {strict:>18}   replace -> {data.decode('utf-8', errors='replace')!r}")

# %% nbgrader={"grade": false, "grade_id": "utf8_bytes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def text_to_bytes(text: str) -> bytes:
    """The UTF-8 bytes of any Python str, lone surrogates included (about 2 minutes).

    Args:
        text: any str, including lone surrogates U+D800..U+DFFF.

    Returns:
        bytes: text encoded as UTF-8 with errors="surrogatepass" (a surrogate is written with the
        3-byte pattern of its code point, e.g. "\\ud800" -> b"\\xed\\xa0\\x80"). Never raises.

    Example:
        >>> text_to_bytes("é😀")
        b'\\xc3\\xa9\\xf0\\x9f\\x98\\x80'
    """
    ### BEGIN SOLUTION
    return text.encode("utf-8", errors="surrogatepass")
    ### END SOLUTION


def bytes_to_text(data: bytes) -> str:
    """Bytes back to a str: the exact inverse of text_to_bytes, and never a crash (about 3 minutes).

    Args:
        data: any bytes.

    Returns:
        data decoded as UTF-8 with errors="surrogatepass" when that succeeds (so that
        bytes_to_text(text_to_bytes(s)) == s for every str s); otherwise, when data is not valid
        UTF-8 even with surrogates allowed, data.decode("utf-8", errors="replace"), which puts a
        U+FFFD for each invalid piece.

    Example:
        >>> bytes_to_text(b"\\xed\\xa0\\x80"), bytes_to_text(b"a\\xffb")
        ('\\ud800', 'a\\ufffdb')
    """
    ### BEGIN SOLUTION
    try:
        return data.decode("utf-8", errors="surrogatepass")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace")
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "utf8_bytes_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""text_to_bytes gives the UTF-8 bytes of 'é' and of an emoji, and bytes_to_text reads them back"""
from grader.testing import learner, expect

got = learner.text_to_bytes("é")
expect.true(isinstance(got, bytes), f"text_to_bytes('é') returned a {type(got).__name__}: return bytes (str.encode gives them)")
expect.equal(got, b"\xc3\xa9", what="text_to_bytes('é')", hint="U+00E9 is two bytes in UTF-8, C3 A9")
expect.equal(learner.text_to_bytes("😀"), b"\xf0\x9f\x98\x80", what="text_to_bytes of an emoji", hint="a code point above U+FFFF takes 4 bytes")
expect.equal(learner.bytes_to_text(b"caf\xc3\xa9"), "café", what="bytes_to_text(b'caf\\xc3\\xa9')", hint="decode the bytes as UTF-8")

# %% nbgrader={"grade": true, "grade_id": "utf8_round_trip_with_surrogates", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""lone surrogates are encoded with surrogatepass and come back exactly, every random Unicode string round-trips through bytes, and bytes that are not UTF-8 are decoded with U+FFFD replacements instead of raising"""
from grader.testing import learner, expect

expect.equal(learner.text_to_bytes("\ud800"), b"\xed\xa0\x80", what="text_to_bytes of the lone surrogate U+D800",
             hint="encode with errors='surrogatepass': the surrogate is written with its 3-byte pattern, never replaced or dropped")
expect.equal(learner.bytes_to_text(b"\xed\xa0\x80"), "\ud800", what="bytes_to_text(b'\\xed\\xa0\\x80')",
             hint="decode with errors='surrogatepass' first, so that the surrogate comes back")
expect.equal(learner.bytes_to_text(b"a\xffb"), "a\ufffdb", what="bytes_to_text(b'a\\xffb')",
             hint="bytes that are not UTF-8 must not raise: fall back to errors='replace'")
### BEGIN HIDDEN TESTS
from grader.testing import reference

rng = random.Random(3)
texts = [random_unicode_text(rng, rng.randint(0, 40)) for _ in range(60)]
for n, text in enumerate(texts):
    data = learner.text_to_bytes(text)
    expect.equal(data, text.encode("utf-8", errors="surrogatepass"), what=f"text_to_bytes of random string {n}",
                 hint="UTF-8 with errors='surrogatepass' for every string, with or without surrogates")
    expect.equal(learner.bytes_to_text(data), text, what=f"bytes_to_text(text_to_bytes(s)) for random string {n}",
                 hint="decode with errors='surrogatepass': it inverts the encoding exactly")
hint = "when decoding with surrogatepass fails, decode all of the bytes with errors='replace'"
for data, case in [(b"", "no bytes"), (b"\xf0\x9f\x98", "an emoji cut after 3 of its 4 bytes"), (b"\x80", "a lone continuation byte"),
                   (b"\xc0\xaf", "an overlong encoding of '/'"), (b"\xed\xa0\x80\xff", "a surrogate followed by an invalid byte"),
                   (b"\xf4\x90\x80\x80", "a code point above U+10FFFF"), (b"ok\xe6\x97", "a Chinese character cut in two")]:
    expect.equal(learner.bytes_to_text(data), reference.bytes_to_text(data), what=f"bytes_to_text of {case}", hint=hint)
for n in range(40):
    data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
    expect.equal(learner.bytes_to_text(data), reference.bytes_to_text(data), what=f"bytes_to_text of random bytes {n}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Pre-tokenization: chunks that merges never cross
#
# Before counting anything, GPT-2 cuts the text into **chunks** with a regular expression, and BPE
# works inside each chunk only: no merge ever crosses from one chunk into the next. The pattern (the
# one of GPT-2 and of Hugging Face's `ByteLevel` pre-tokenizer) tries, at each position, these
# alternatives in order:
#
# | alternative | matches |
# |---|---|
# | `'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d` | English contractions, as chunks of their own |
# | ` ?\p{L}+` | a run of letters (any script), with at most one space before it |
# | ` ?\p{N}+` | a run of digits (any script), with at most one space before it |
# | ` ?[^\s\p{L}\p{N}]+` | a run of other symbols (punctuation, emoji, marks) with at most one space |
# | `\s+(?!\S)` | white space, except the last space before a word |
# | `\s+` | any remaining white space |
#
# **What this means.** "the", " the" and "The" are different chunks, and the space belongs to the
# word after it: the vocabulary learns " the" as one token, and "dog." is two chunks, so the merges
# never waste tokens on "dog.", "dog!" and "dog?". Every character falls into one of the alternatives,
# so the chunks always concatenate back to the text. The training corpus becomes a multiset of chunks,
# each with its **frequency** $f_w$; BPE only ever needs the distinct chunks and their counts, which is
# what makes it fast.

# %%
GPT2_SPLIT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def pretokenize(text: str) -> list[str]:
    """The chunks of text, by GPT-2's pattern: they concatenate back to text exactly."""
    return GPT2_SPLIT.findall(text)


# %%
example = "We know't, we know't!  Speak,\n   speak 1234 times 😀😀."
print(pretokenize(example))
assert "".join(pretokenize(example)) == example
print(Counter(pretokenize(shakespeare[:100_000])).most_common(12))

# %% [markdown]
# ## 5 · Counting pairs
#
# For a chunk $w = (w_1, \dots, w_m)$ of token ids and a pair of ids $(a, b)$, let
# $n_{ab}(w) = \#\{\, i : w_i = a,\ w_{i+1} = b \,\}$ be the number of positions where $a$ is followed by
# $b$. The count of the pair in the corpus weighs each distinct chunk by its frequency:
#
# $$N_{ab} = \sum_{w} f_w \; n_{ab}(w).$$
#
# **What this means.** Every position counts, overlapping ones included: "aaa" holds the pair
# ("a", "a") **twice**, at positions 1 and 2, although only one of them can be merged at a time. This
# is the convention of Sennrich et al. (2016), of Hugging Face `tokenizers` and of minbpe, and it makes
# $N_{ab}$ a plain function of the sequences. Pairs are counted inside chunks only: the last byte of
# one chunk and the first byte of the next are never a pair.
#
# A worked example with `Counter` on Wikipedia's BPE example "aaabdaaabac", a single chunk:

# %%
ids = list(b"aaabdaaabac")
print({f"{bytes([a]).decode()}{bytes([b]).decode()}": n for (a, b), n in Counter(zip(ids, ids[1:])).most_common()})

# %% [markdown]
# The most frequent pairs in the first 100 KB of Shakespeare, counted with `Counter` inside chunks,
# follow a steep, Zipf-like law: a few pairs (" t", "he", "th") are very common, most are rare.
# Greedy merging takes the common ones first, and each merge shortens the text by exactly the count of
# the pair merged.

# %%
chunk_counts = Counter(pretokenize(shakespeare[:100_000]))
pair_counter = Counter()
for chunk, freq in chunk_counts.items():
    data = chunk.encode("utf-8")
    for pair in zip(data, data[1:]):
        pair_counter[pair] += freq
ranked = pair_counter.most_common()
fig, (ax_top, ax_zipf) = plt.subplots(1, 2, figsize=(11, 3.5))
top = ranked[:15]
ax_top.bar(range(len(top)), [n for _, n in top])
ax_top.set_xticks(range(len(top)), [repr(bytes(p).decode())[1:-1] for p, _ in top], rotation=60)
ax_top.set(ylabel="count in 100 KB", title="the 15 most frequent byte pairs (inside chunks)")
ax_zipf.loglog(np.arange(1, len(ranked) + 1), [n for _, n in ranked], marker=".", ls="none")
ax_zipf.set(xlabel="rank of the pair", ylabel="count", title=f"all {len(ranked)} distinct byte pairs")
fig.tight_layout()
plt.show()

# %% nbgrader={"grade": false, "grade_id": "count_pairs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def count_pairs(words: dict[tuple[int, ...], int]) -> dict[tuple[int, int], int]:
    """How often each pair of adjacent ids occurs, inside chunks, weighted by chunk frequency (about 5 minutes).

    Args:
        words: dict from a chunk, written as a tuple of token ids (ints), to how many times that chunk
            occurs in the corpus (an int >= 1).

    Returns:
        dict from each pair (a, b) that occurs somewhere to N_ab = sum over chunks w of
        words[w] * (number of positions i with w[i] == a and w[i + 1] == b). Every position counts,
        overlapping ones too: (97, 97, 97) holds (97, 97) twice. No pair spans two chunks; a chunk of
        length 0 or 1 holds no pair.

    Example:
        >>> count_pairs({(97, 97, 98): 2, (97, 98): 1})
        {(97, 97): 2, (97, 98): 3}
    """
    ### BEGIN SOLUTION
    counts = {}
    for word, freq in words.items():
        for pair in zip(word, word[1:]):
            counts[pair] = counts.get(pair, 0) + freq
    return counts
    ### END SOLUTION

# %% [markdown]
# The tests call your `count_pairs` through this scenario (a function of your namespace `ns` that returns
# plain data), which turns the dict into sorted `[a, b, count]` triples. You can call it yourself:
# `pair_counts.learner([list(b"aaab")], [1])`.

# %%
from grader.testing import scenario


@scenario
def pair_counts(ns, words, freqs):
    """count_pairs of chunks given as lists of ids with their frequencies, as sorted [a, b, count] triples."""
    counts = ns.count_pairs({tuple(word): freq for word, freq in zip(words, freqs)})
    return sorted([a, b, n] for (a, b), n in counts.items())


# %% nbgrader={"grade": true, "grade_id": "count_pairs_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""count_pairs gives the hand-computed counts of two chunks with frequencies, 'aaab' twice and 'ab' once"""
from grader.testing import expect

expect.equal(pair_counts.learner([list(b"aaab"), list(b"ab")], [2, 1]), [[97, 97, 4], [97, 98, 3]],
             what="count_pairs({'aaab': 2, 'ab': 1}) as [a, b, count]",
             hint="'aaab' holds (a, a) at two positions and (a, b) once, and counts twice; 'ab' adds one more (a, b)")

# %% nbgrader={"grade": true, "grade_id": "count_pairs_every_position_inside_chunks", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""count_pairs counts every position of a run ('aaaa' holds (a, a) three times), weighs each chunk by its frequency, never pairs the end of one chunk with the start of the next, and matches the reference on random chunks"""
from grader.testing import expect

expect.equal(pair_counts.learner([list(b"ab"), list(b"cd")], [1, 1]), [[97, 98, 1], [99, 100, 1]],
             what="count_pairs of the chunks 'ab' and 'cd'", hint="pairs are counted inside each chunk only: (b, c) spans two chunks")
### BEGIN HIDDEN TESTS
hint = "count every position i of every chunk (overlapping runs included) and add the chunk's frequency each time"
expect.equal(pair_counts.learner([list(b"aaaa")], [5]), [[97, 97, 15]], what="count_pairs({'aaaa': 5})", hint=hint)
expect.equal(pair_counts.learner([list(b"aaa"), list(b"a"), []], [1, 4, 2]), [[97, 97, 2]],
             what="count_pairs of 'aaa', a one-id chunk and an empty chunk", hint=hint)
expect.equal(pair_counts.learner([], []), [], what="count_pairs of no chunks")
expect.equal(pair_counts.learner([[300, 256, 300, 256, 300]], [3]), [[256, 300, 6], [300, 256, 6]],
             what="count_pairs of a chunk of merged ids", hint=hint)
rng = random.Random(4)
for n in range(10):
    words = {tuple(rng.choice([97, 98, 99, 256]) for _ in range(rng.randint(0, 9))) for _ in range(12)}
    words, freqs = [list(w) for w in words], [rng.randint(1, 7) for _ in words]
    expect.equal(pair_counts.learner(words, freqs), pair_counts.reference(words, freqs),
                 what=f"count_pairs of random chunks {n}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · Merging a pair
#
# Merging $(a, b)$ into the new id $t$ rewrites a chunk from left to right: wherever $a$ is followed by
# $b$, both are replaced by $t$ and the scan continues **after** the pair. Occurrences never overlap,
# so a run is cut from the left:
#
# $$\text{aaaa} \to (t, t), \qquad \text{aaa} \to (t, \text{a}), \qquad \text{abab} \to (t, t)
# \quad\text{for } (a, b) = (\text{a}, \text{a}) \text{ or } (\text{a}, \text{b}).$$
#
# **What this means.** A merge shortens the chunk by the number of pairs it replaced, which for runs is
# less than the number of positions `count_pairs` counted: "aaa" counted (a, a) twice but shrinks by
# one. That is fine: the count only chooses *which* pair to merge. The left-to-right rule is the one
# training and encoding both use, so they always agree.

# %% nbgrader={"grade": false, "grade_id": "merge_pair", "locked": false, "schema_version": 3, "solution": true, "task": false}
def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace each occurrence of pair in ids by new_id, left to right, never overlapping (about 5 minutes).

    Args:
        ids: a list (or tuple, or bytes) of token ids. pair: (a, b), two ids. new_id: the id of the
            merged token.

    Returns:
        A new list of int: ids scanned from the left; where ids[i] == a and ids[i + 1] == b, both are
        replaced by new_id and the scan goes on at i + 2. (97, 97, 97) with pair (97, 97) gives
        [new_id, 97]. ids itself is not changed.

    Example:
        >>> merge_pair([1, 2, 3, 1, 2], (1, 2), 9)
        [9, 3, 9]
    """
    ### BEGIN SOLUTION
    merged = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "merge_pair_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""merge_pair replaces both occurrences of (1, 2) in [1, 2, 3, 1, 2] by the new id"""
from grader.testing import learner, expect

expect.equal(learner.merge_pair([1, 2, 3, 1, 2], (1, 2), 9), [9, 3, 9], what="merge_pair([1, 2, 3, 1, 2], (1, 2), 9)",
             hint="every place where 1 is followed by 2 becomes a single 9")

# %% nbgrader={"grade": true, "grade_id": "merge_pair_left_to_right", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""merge_pair cuts runs from the left without overlaps ('aaa' -> [t, a], 'aaaa' -> [t, t]), handles pairs at both ends, empty and one-id inputs, leaves its input unchanged, and matches the reference on random sequences"""
from grader.testing import learner, scenario, expect

expect.equal(learner.merge_pair([97, 97, 97], (97, 97), 256), [256, 97], what="merge_pair of 'aaa' with the pair (a, a)",
             hint="scan from the left and continue after each merged pair: occurrences never overlap")


@scenario
def merge_leaves_input(ns):
    """merge_pair on a list and on a tuple: the results, and the input list afterwards."""
    ids = [1, 2, 2, 1, 2]
    from_list = ns.merge_pair(ids, (1, 2), 9)
    return [list(from_list), list(ns.merge_pair(tuple(ids), (1, 2), 9)), ids]

### BEGIN HIDDEN TESTS
from grader.testing import reference

hint = "scan left to right; where ids[i], ids[i + 1] is the pair, emit new_id and jump to i + 2, else emit ids[i] and go to i + 1"
for ids, pair, case in [([97] * 4, (97, 97), "'aaaa'"), ([97] * 5, (97, 97), "'aaaaa'"), ([1, 2, 1, 2, 1], (2, 1), "a pair in the middle of a run"),
                        ([5, 1, 2], (1, 2), "a pair at the end"), ([1, 2, 5], (1, 2), "a pair at the start"), ([1], (1, 2), "a single id"),
                        ([], (1, 2), "no ids"), ([3, 4, 3], (4, 4), "a pair that does not occur"), ([2, 1], (1, 2), "the pair reversed"),
                        ([1, 1, 2, 2], (1, 2), "a pair between two runs"), ([7, 1], (7, 1), "only the pair")]:
    expect.equal(learner.merge_pair(ids, pair, 300), reference.merge_pair(ids, pair, 300), what=f"merge_pair of {case}", hint=hint)

got = merge_leaves_input.learner()
expect.equal(got[2], [1, 2, 2, 1, 2], what="the input list after merge_pair", hint="build a new list; do not change ids in place")
expect.equal(got[1], [9, 2, 9], what="merge_pair of a tuple", hint="ids may be a tuple: index it, do not call list methods on it")
rng = random.Random(6)
for n in range(20):
    ids = [rng.choice([1, 2, 3]) for _ in range(rng.randint(0, 15))]
    pair = (rng.choice([1, 2]), rng.choice([1, 2]))
    expect.equal(learner.merge_pair(ids, pair, 256 + n), reference.merge_pair(ids, pair, 256 + n), what=f"merge_pair of random sequence {n}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 7 · Special tokens are hard boundaries
#
# Special tokens mark structure that is not text: the end of a document (`<|endoftext|>` in GPT-2),
# the turns of a chat (`<|im_start|>`, `<|im_end|>`), padding, masks. Each is **one** id, after all
# merges: the $j$-th special token gets id $256 + |\text{merges}| + j$. Two rules make them work:
#
# - **never split**: `<|endoftext|>` in the text must become its one id, never the bytes of "<", "|",
#   "endoftext"... The pre-tokenizer would cut it into three chunks (`<|`, `endoftext`, `|>`), so
#   special tokens are found **before** pre-tokenization, by splitting the text on them.
# - **never produced by merges**: training removes the special tokens from the text the same way, so
#   no merge is ever learned across or inside one, and ordinary text can never encode to a special id.
#
# Splitting with a capturing group, `re.split("(tok1|tok2)", text)`, returns the ordinary pieces at
# even positions and the special tokens at odd positions. `re.escape` makes `|` and `[` literal. Where
# several special tokens start at the same place, the longest one wins: sort them longest first,
# because the alternatives of a regular expression are tried in order.

# %%
print(re.split("(" + "|".join(map(re.escape, ["<|endoftext|>", "[MASK]"])) + ")", "one<|endoftext|>two [MASK]<|endoftext|>"))
print("the pre-tokenizer alone splits a special token:", pretokenize("one<|endoftext|>two"))

# %% nbgrader={"grade": false, "grade_id": "split_on_special_tokens", "locked": false, "schema_version": 3, "solution": true, "task": false}
def split_on_special_tokens(text: str, special_tokens: list[str]) -> list[str]:
    """Cut text at every occurrence of a special token, keeping the special tokens (about 5 minutes).

    Args:
        text: a str. special_tokens: a list of distinct, non-empty strings (may be empty).

    Returns:
        A list of str of odd length, [piece, special, piece, special, ..., piece]: the pieces at even
        positions are ordinary text (possibly ""), those at odd positions are the special tokens found,
        left to right. Where several special tokens start at the same place, the longest wins.
        Without special tokens: [text]. "".join(result) == text always.

    Example:
        >>> split_on_special_tokens("a<|endoftext|>b", ["<|endoftext|>"])
        ['a', '<|endoftext|>', 'b']
    """
    ### BEGIN SOLUTION
    if not special_tokens:
        return [text]
    longest_first = sorted(special_tokens, key=len, reverse=True)
    pattern = "(" + "|".join(re.escape(token) for token in longest_first) + ")"
    return re.split(pattern, text)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "split_on_special_tokens_cases", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""split_on_special_tokens keeps the special tokens at odd positions, handles adjacent tokens and tokens at the ends, treats regex characters literally, prefers the longest token, and returns [text] without special tokens"""
from grader.testing import learner, expect

expect.equal(learner.split_on_special_tokens("a<|endoftext|>b", ["<|endoftext|>"]), ["a", "<|endoftext|>", "b"],
             what="split_on_special_tokens('a<|endoftext|>b', ['<|endoftext|>'])", hint="re.split with a capturing group keeps the separators")
expect.equal(learner.split_on_special_tokens("a|b", []), ["a|b"], what="split_on_special_tokens('a|b', [])",
             hint="without special tokens the whole text is one ordinary piece")
### BEGIN HIDDEN TESTS
from grader.testing import reference

hint = "re.split('(' + '|'.join(re.escape(t) for t in tokens sorted longest first) + ')', text)"
for text, tokens, case in [
    ("<s><s>", ["<s>"], "two adjacent special tokens"),
    ("<s>x</s>", ["<s>", "</s>"], "special tokens at both ends"),
    ("", ["<s>"], "the empty text"),
    ("no specials here", ["<s>"], "a text without special tokens"),
    ("a[MASK]b(x)c.d", ["[MASK]", "(x)", "."], "special tokens with regex characters"),
    ("x<a><b>y<a>z", ["<a>", "<a><b>"], "a special token that is a prefix of another"),
    ("<|im_start|>user\nhi<|im_end|>\n<|im_start|>", ["<|im_start|>", "<|im_end|>"], "a chat transcript"),
    ("e\u0301<|endoftext|>😀", ["<|endoftext|>"], "a text with combining marks and emoji"),
]:
    got = learner.split_on_special_tokens(text, tokens)
    expect.equal(got, reference.split_on_special_tokens(text, tokens), what=f"split_on_special_tokens of {case}", hint=hint)
expect.equal(learner.split_on_special_tokens("a.b", ["."]), ["a", ".", "b"], what="split_on_special_tokens with the token '.'",
             hint="escape the special tokens with re.escape: '.' must match only a dot")
### END HIDDEN TESTS

# %% [markdown]
# ## 8 · Training: learn the merges greedily
#
# **The algorithm.** Split the text on the special tokens and drop them; cut each ordinary piece into
# chunks; write each distinct chunk as the tuple of its UTF-8 bytes, with its frequency. Then, for
# $k = 0, 1, \dots$ up to the number of merges wanted:
#
# 1. count the pairs, $N_{ab}$ (section 5);
# 2. take the most frequent pair $(a_k, b_k)$; **ties** go to the smallest pair, comparing first ids
#    and then second ids: `min(counts, key=lambda p: (-counts[p], p))`;
# 3. append it to the merges and rewrite every chunk with `merge_pair(chunk, (a_k, b_k), 256 + k)`.
#
# Stop early when no chunk holds a pair any more. The vocabulary size counts everything: $256$ bytes,
# the merges and the special tokens, so `vocab_size` $= 256 + |\text{merges}| + |\text{special tokens}|$.
#
# **Worked by hand.** The text `"hug hug hug pug pun pun bun hugs"` has the chunks (with their
# frequencies) `hug` 1, ` hug` 2, ` pug` 1, ` pun` 2, ` bun` 1, ` hugs` 1 (the space belongs to the word
# after it). Writing `_` for the space:
#
# | step | the largest counts | merge | new token |
# |---|---|---|---|
# | 0 | (u, g) 5 = 1+2+1+1 from hug, _hug, _pug, _hugs; (h, u) 4; (_, h), (_, p), (p, u), (u, n) 3 | (u, g) | 256 = "ug" |
# | 1 | (h, ug) 4; (_, h) 3; (_, p) 3; (u, n) 3 | (h, 256) | 257 = "hug" |
# | 2 | (_, hug) 3; (_, p) 3; (u, n) 3: a tie, and (32, 112) < (32, 257) < (117, 110) | (32, 112) | 258 = "_p" |
# | 3 | (_, hug) 3; (u, n) 3: a tie, and (32, 257) < (117, 110) | (32, 257) | 259 = "_hug" |
# | 4 | (u, n) 3 | (117, 110) | 260 = "un" |
# | 5 | (_p, un) 2 | (258, 260) | 261 = "_pun" |
#
# Wikipedia's single chunk `"aaabdaaabac"` gives (a, a) with count 4 (the two runs "aaa" hold it twice
# each), then (a, b) and (aa, a) tie at 2 and the smaller pair (97, 98) wins, then (aa, ab) with 2:
# the merges `[(97, 97), (97, 98), (256, 257)]`, tokens "aa", "ab", "aaab".
#
# **Why not simply recount?** Recounting all pairs after every merge is correct, and it is how BPE is
# usually explained. Its cost is the total length $L$ of the distinct chunks *for every merge*:
# $O(M L)$ for $M$ merges. Both grow with the corpus (real tokenizers learn $M = 50{,}000$ to
# $200{,}000$ merges from gigabytes of text), so the naive trainer is quadratic in practice. But a merge
# only changes the chunks that contain the merged pair, and most chunks contain none of the pairs
# merged late (" the" stops changing once it is a token). The **incremental** trainer keeps, besides
# the counts, an index `where[pair]` of the chunks that contain each pair, and after a merge updates
# only those chunks: subtract the pair counts of the old chunk, add those of the new one, and move the
# chunk in the index. The work per merge is then proportional to the occurrences of the merged pair,
# and the sum of those over all merges is at most $L$, since each occurrence shrinks the corpus by one
# token. What remains per merge is finding the maximum among the distinct pairs; a heap (as Hugging
# Face `tokenizers` uses) would make that logarithmic too, a plain `min` over a dict is fast enough here.

# %% nbgrader={"grade": false, "grade_id": "train_bpe", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_bpe(text: str, vocab_size: int, special_tokens: list[str] = ()) -> list[tuple[int, int]]:
    """Learn byte-level BPE merges from text, with incremental pair counts (about 45 minutes).

    Args:
        text: the training text, any str. vocab_size: the size of the whole vocabulary, 256 bytes +
            merges + special tokens; at least 256 + len(special_tokens). special_tokens: a list of
            distinct strings that are cut out of the text before training (split_on_special_tokens):
            no merge is learned across or inside them.

    Returns:
        merges: a list of (a, b) tuples of ints, in the order learned; merge k creates id 256 + k.
        At most vocab_size - 256 - len(special_tokens) merges: fewer when no chunk holds a pair any
        more. Chunks are the pretokenize chunks of each ordinary piece, as the tuples of their
        text_to_bytes. Merge k is the pair with the largest count_pairs count after the first k
        merges; ties go to the smallest pair: min(counts, key=lambda p: (-counts[p], p)).
        Raises ValueError when vocab_size < 256 + len(special_tokens).
        Update the counts incrementally: 1,000 merges on 100 KB of text take about a second.

    Example:
        >>> train_bpe("aaabdaaabac", 259)
        [(97, 97), (97, 98), (256, 257)]
    """
    ### BEGIN SOLUTION
    n_merges = vocab_size - 256 - len(special_tokens)
    if n_merges < 0:
        raise ValueError(f"vocab_size {vocab_size} is smaller than 256 bytes + {len(special_tokens)} special tokens")
    words = {}  # chunk (a tuple of ids) -> its frequency
    for piece in split_on_special_tokens(text, special_tokens)[::2]:
        for chunk in pretokenize(piece):
            word = tuple(text_to_bytes(chunk))
            words[word] = words.get(word, 0) + 1
    counts = count_pairs(words)
    where = {}  # pair -> the chunks that contain it
    for word in words:
        for pair in zip(word, word[1:]):
            where.setdefault(pair, set()).add(word)
    merges = []
    while len(merges) < n_merges and counts:
        pair = min(counts, key=lambda p: (-counts[p], p))
        new_id = 256 + len(merges)
        merges.append(pair)
        for word in list(where[pair]):  # only the chunks that contain the pair change
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
    ### END SOLUTION

# %% [markdown]
# Where the Hugging Face `tokenizers` package is installed, the tests compare your tokenizer with it.
# These helpers translate between its conventions and ours (section 13 explains GPT-2's byte table); you
# can call them too, for example `hf_train_merges("aaabdaaabac", 3)`.

# %%
def gpt2_bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte: the printable ASCII and Latin-1 bytes map to themselves, the rest to U+0100 onwards."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + shifted)
            shifted += 1
    return mapping


def hf_token_strings(merges: list[tuple[int, int]]) -> dict[int, str]:
    """Each merged id's bytes as GPT-2's printable text (computed here, independently of your vocabulary)."""
    as_bytes = {i: bytes([i]) for i in range(256)}
    for k, (a, b) in enumerate(merges):
        as_bytes[256 + k] = as_bytes[a] + as_bytes[b]
    to_char = gpt2_bytes_to_unicode()
    return {i: "".join(to_char[x] for x in token) for i, token in as_bytes.items()}


def hf_tokenizer_from_merges(merges: list[tuple[int, int]]):
    """A Hugging Face tokenizers byte-level BPE with exactly these merges and the GPT-2 pre-tokenizer (needs tokenizers)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    names = hf_token_strings(merges)
    tokenizer = Tokenizer(models.BPE({name: i for i, name in names.items()}, [(names[a], names[b]) for a, b in merges]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def hf_train_merges(text: str, n_merges: int) -> list[tuple[int, int]]:
    """The merges tokenizers' BpeTrainer learns from text (byte-level, GPT-2 pre-tokenizer), translated to our ids (needs tokenizers)."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=256 + n_merges, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  min_frequency=0, show_progress=False)
    tokenizer.train_from_iterator([text], trainer)
    to_byte = {char: b for b, char in gpt2_bytes_to_unicode().items()}
    ids = {bytes([i]): i for i in range(256)}
    merges = []
    for merge in json.loads(tokenizer.to_str())["model"]["merges"]:
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        a, b = bytes(to_byte[c] for c in left), bytes(to_byte[c] for c in right)
        merges.append((ids[a], ids[b]))
        ids[a + b] = 255 + len(merges)
    return merges


def is_merge_list(value) -> bool:
    """Whether value is a list of (a, b) tuples of ints, the format of merges."""
    return isinstance(value, list) and all(
        isinstance(p, tuple) and len(p) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in p) for p in value)


# %% nbgrader={"grade": true, "grade_id": "train_bpe_hand_checked_merges", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""train_bpe learns the hand-computed merges of the lesson's small corpora ('aaabdaaabac' and 'hug hug hug pug pun pun bun hugs'), breaks ties by the smallest pair, never pairs bytes of different chunks, stops when no pair is left, and counts the vocabulary size as 256 + merges + special tokens"""
from grader.testing import learner, expect

got = learner.train_bpe("aaabdaaabac", 259)
expect.true(is_merge_list(got), "train_bpe must return a list of (a, b) tuples of ints")
expect.equal(got, [(97, 97), (97, 98), (256, 257)], what="train_bpe('aaabdaaabac', 259)",
             hint="count (a, a) at every position of 'aaa', break the tie between (a, b) and (aa, a) by the smaller pair, and give merge k the id 256 + k")
expect.equal(learner.train_bpe("ab ab", 300), [(97, 98), (32, 256)], what="train_bpe('ab ab', 300)",
             hint="the chunks are 'ab' and ' ab': (b, ' ') spans two chunks and is never counted, and training stops when no pair is left")
### BEGIN HIDDEN TESTS
from grader.testing import reference

hint = "merge the most frequent pair, ties to the smallest (a, b): min(counts, key=lambda p: (-counts[p], p)); count inside chunks only"
got = learner.train_bpe("hug hug hug pug pun pun bun hugs", 256 + 8)
expect.true(is_merge_list(got), "train_bpe must return a list of (a, b) tuples of ints")
expect.equal(got[:6], [(117, 103), (104, 256), (32, 112), (32, 257), (117, 110), (258, 260)],
             what="the first 6 merges of 'hug hug hug pug pun pun bun hugs' (the lesson's table)", hint=hint)
expect.equal(got, reference.train_bpe("hug hug hug pug pun pun bun hugs", 256 + 8), what="the 8 merges of the 'hug pug' corpus", hint=hint)
expect.equal(learner.train_bpe("xyab", 300), [(97, 98), (120, 121), (256 + 1, 256)], what="train_bpe('xyab', 300): three pairs of count 1",
             hint="all three pairs occur once: the smallest pair (a, b) = (97, 98) comes first, not the first one seen")
expect.equal(learner.train_bpe("aaaa", 300), [(97, 97), (256, 256)], what="train_bpe('aaaa', 300)",
             hint="'aaaa' holds (a, a) three times; after merging it is (aa, aa), and then a single token: stop")
expect.equal(learner.train_bpe("one two", 256), [], what="train_bpe with vocab_size 256", hint="vocab_size 256 leaves room for no merge")
expect.equal(learner.train_bpe("", 400), [], what="train_bpe of the empty text", hint="no chunk, no pair, no merge")
expect.equal(learner.train_bpe("a. b", 400), reference.train_bpe("a. b", 400), what="train_bpe('a. b', 400)",
             hint="chunks 'a', '.', ' b': only ' b' holds a pair; training stops after that merge")
for text, size in [("low " * 5 + "lower " * 2 + "newest " * 6 + "widest " * 3, 256 + 12), ("abababab cdcd abab", 256 + 6),
                   ("the cat sat on the mat, the cat ate the rat", 256 + 15)]:
    expect.equal(learner.train_bpe(text, size), reference.train_bpe(text, size), what=f"train_bpe of {text[:20]!r}... with vocab_size {size}", hint=hint)
expect.equal(learner.train_bpe("ab ab", 258, ["<s>"]), [(97, 98)], what="train_bpe('ab ab', 258, ['<s>'])",
             hint="vocab_size counts the special tokens too: 258 = 256 bytes + 1 merge + 1 special token")
expect.raises("ValueError", learner.train_bpe, "ab", 256, ["<s>"])
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "train_bpe_matches_reference_and_tokenizers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""on random texts and on Tiny Shakespeare, train_bpe learns exactly the reference's merges, and on texts of printable ASCII (where the two tie-breaking rules agree) exactly the merges of Hugging Face tokenizers' BpeTrainer"""
from grader.testing import learner, expect

with open("tinyshakespeare.txt", encoding="utf-8") as file:
    shakespeare_text = file.read()
got = learner.train_bpe(shakespeare_text[:3000], 256 + 40)
expect.true(is_merge_list(got), "train_bpe must return a list of (a, b) tuples of ints")
expect.equal(len(got), 40, what="the number of merges learned from 3,000 characters of Shakespeare with vocab_size 296",
             hint="learn vocab_size - 256 merges while pairs remain")
expect.true(all(a < 256 + k and b < 256 + k for k, (a, b) in enumerate(got)),
            "merge k may only join ids that exist before it (bytes and the ids of merges 0..k-1): give merge k the id 256 + k")
### BEGIN HIDDEN TESTS
from grader.testing import reference

hint = "merge the most frequent pair, ties to the smallest (a, b); count pairs inside pretokenize chunks only, every position of a run"
expect.equal(got, reference.train_bpe(shakespeare_text[:3000], 256 + 40), what="the 40 merges learned from 3,000 characters of Shakespeare", hint=hint)
got = learner.train_bpe(shakespeare_text[10_000:22_000], 256 + 300)
expect.equal(got, reference.train_bpe(shakespeare_text[10_000:22_000], 256 + 300),
             what="the 300 merges learned from 12,000 characters of Shakespeare", hint=hint)
rng = random.Random(8)
for n in range(4):
    text = random_unicode_text(rng, 300)
    expect.equal(learner.train_bpe(text, 256 + 60), reference.train_bpe(text, 256 + 60), what=f"the merges of random Unicode text {n}", hint=hint)
try:
    import tokenizers
except ImportError:
    tokenizers = None
if tokenizers is not None:
    # Hugging Face breaks ties by its own ids, which order the printable bytes as we do but put space,
    # newline and other control bytes after them: on printable text without white space both rules agree.
    printable = "abcdefgh" + "aaaa" + "0123" + ",.;!?'" + "éö"
    for n in range(3):
        text = "".join(rng.choice(printable) for _ in range(1500))
        expect.equal(learner.train_bpe(text, 256 + 120), hf_train_merges(text, 120),
                     what=f"the merges of printable text {n}, compared with tokenizers' BpeTrainer", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "train_bpe_special_tokens", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""train_bpe cuts special tokens out of the training text: no merge is learned inside or across a special token, and the merges equal the reference's on texts full of special tokens"""
from grader.testing import learner, expect

got = learner.train_bpe("<|endoftext|>".join(["ab"] * 50), 300, ["<|endoftext|>"])
expect.true(is_merge_list(got), "train_bpe must return a list of (a, b) tuples of ints")
expect.equal(got, [(97, 98)], what="train_bpe on 'ab' repeated 50 times between <|endoftext|> tokens",
             hint="split the text on the special tokens first and train on the pieces between them only: no byte of '<|endoftext|>' is ever counted")
### BEGIN HIDDEN TESTS
from grader.testing import reference

hint = "train on split_on_special_tokens(text, special_tokens)[::2], the ordinary pieces, each cut into chunks"
with open("tinyshakespeare.txt", encoding="utf-8") as file:
    scenes = file.read()[:8000].split("\n\n")
specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
documents = "".join(scene + token for scene, token in zip(scenes, specials * len(scenes)))
got = learner.train_bpe(documents, 256 + 100 + 3, specials)
expect.equal(got, reference.train_bpe(documents, 256 + 100 + 3, specials), what="the merges of Shakespeare scenes separated by 3 kinds of special tokens", hint=hint)
vocab = reference.vocabulary(got, [])
expect.true(not any(b"<|" in vocab[256 + k] or b"|>" in vocab[256 + k] for k in range(len(got))),
            "a merge learned from the bytes of a special token ('<|' or '|>'): special tokens must be cut out before training")
expect.equal(learner.train_bpe("x<s>x<s>x", 300, ["<s>"]), [], what="train_bpe('x<s>x<s>x', 300, ['<s>'])",
             hint="between the special tokens there are only one-byte chunks: no pair, no merge")
expect.equal(learner.train_bpe("ab<a><b>ab", 300, ["<a>", "<a><b>"]), reference.train_bpe("ab<a><b>ab", 300, ["<a>", "<a><b>"]),
             what="train_bpe with special tokens '<a>' and '<a><b>'", hint="split with split_on_special_tokens (longest token first)")
### END HIDDEN TESTS

# %% [markdown]
# How much the incremental update saves: the naive trainer below recounts every pair of every chunk
# after each merge (it uses your `count_pairs` and `merge_pair`); the figure compares its time with your
# `train_bpe` on the first 50 KB of Shakespeare. The naive time grows linearly with the number of merges,
# each merge costing a full pass; the incremental one hardly grows.

# %%
def train_bpe_naive(text: str, vocab_size: int) -> tuple[list[tuple[int, int]], list[float]]:
    """The same merges as train_bpe (no special tokens), recounting every pair after each merge; also the elapsed seconds after each merge."""
    started = time.perf_counter()
    words = dict(Counter(tuple(text_to_bytes(chunk)) for chunk in pretokenize(text)))
    merges, elapsed = [], []
    while len(merges) < vocab_size - 256:
        counts = count_pairs(words)
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        words = {tuple(merge_pair(word, pair, 256 + len(merges))): freq for word, freq in words.items()}
        merges.append(pair)
        elapsed.append(time.perf_counter() - started)
    return merges, elapsed


# %%
corpus = shakespeare[:50_000]
naive_merges, naive_seconds = train_bpe_naive(corpus, 256 + 300)
sizes = [25, 50, 100, 200, 300]
incremental_seconds = []
for n in sizes:
    started = time.perf_counter()
    incremental_merges = train_bpe(corpus, 256 + n)
    incremental_seconds.append(time.perf_counter() - started)
print("the incremental merges equal the naive ones:", incremental_merges == naive_merges)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(np.arange(1, len(naive_seconds) + 1), naive_seconds, label="naive: recount after every merge")
ax.plot(sizes, incremental_seconds, marker="o", label="your train_bpe (incremental)")
ax.set(xlabel="number of merges", ylabel="seconds", title="training on 50 KB of Shakespeare")
ax.legend()
fig.tight_layout()
plt.show()

started = time.perf_counter()
shakespeare_merges = train_bpe(shakespeare[:100_000], 256 + 1000)
print(f"1,000 merges from 100 KB of Shakespeare in {time.perf_counter() - started:.2f} s")

# %% [markdown]
# ## 9 · The vocabulary: the bytes of every token
#
# Every id stands for a byte string: $\operatorname{bytes}(i) = (i)$ for $i < 256$,
# $\operatorname{bytes}(256 + k) = \operatorname{bytes}(a_k) \Vert \operatorname{bytes}(b_k)$ for merge
# $k$ (both parts exist already, since merge $k$ only uses older ids), and the UTF-8 of the special
# token for the special ids. Building it in merge order is one pass over the merges.
#
# **What this means.** A token is a byte string, not a string: a merge can join the first two bytes of
# "日" (`E6 97`) into a token that is no character at all. GPT-2's vocabulary file shows such tokens with
# a printable stand-in for each byte ("Ġ" for the space, which is why " the" appears as "Ġthe"); see
# `gpt2_bytes_to_unicode` in section 8 and section 13.

# %% nbgrader={"grade": false, "grade_id": "vocabulary", "locked": false, "schema_version": 3, "solution": true, "task": false}
def vocabulary(merges: list[tuple[int, int]], special_tokens: list[str] = ()) -> dict[int, bytes]:
    """The bytes of every token id (about 5 minutes).

    Args:
        merges: a list of (a, b) pairs as train_bpe returns (merge k creates id 256 + k).
        special_tokens: a list of strings; the j-th gets id 256 + len(merges) + j.

    Returns:
        dict from every id to its bytes, with 256 + len(merges) + len(special_tokens) entries: ids
        0..255 map to the single bytes bytes([i]), id 256 + k to vocab[a_k] + vocab[b_k], and each
        special token's id to text_to_bytes of the special token.

    Example:
        >>> vocab = vocabulary([(97, 98), (256, 99)], ["<s>"])
        >>> vocab[256], vocab[257], vocab[258]
        (b'ab', b'abc', b'<s>')
    """
    ### BEGIN SOLUTION
    vocab = {i: bytes([i]) for i in range(256)}
    for rank, (a, b) in enumerate(merges):
        vocab[256 + rank] = vocab[a] + vocab[b]
    for j, token in enumerate(special_tokens):
        vocab[256 + len(merges) + j] = text_to_bytes(token)
    return vocab
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "vocabulary_bytes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""vocabulary maps the 256 bytes to themselves, each merge to the concatenation of its two parts and each special token to its UTF-8 bytes"""
from grader.testing import learner, expect

vocab = learner.vocabulary([(97, 98), (256, 99)], ["<s>"])
expect.true(isinstance(vocab, dict) and len(vocab) == 259, "vocabulary(2 merges, 1 special token) must be a dict of 259 ids")
expect.equal([vocab.get(i) for i in (0, 97, 255, 256, 257, 258)], [b"\x00", b"a", b"\xff", b"ab", b"abc", b"<s>"],
             what="the bytes of ids 0, 97, 255, 256, 257 and 258", hint="bytes([i]) for i < 256, then vocab[a] + vocab[b] for each merge, then the special tokens")
### BEGIN HIDDEN TESTS
from grader.testing import reference

with open("tinyshakespeare.txt", encoding="utf-8") as file:
    merges = reference.train_bpe(file.read()[:5000], 256 + 80)
for specials in ([], ["<|endoftext|>", "<|é|>"]):
    expect.equal(learner.vocabulary(merges, specials), reference.vocabulary(merges, specials),
                 what=f"the vocabulary of 80 Shakespeare merges and {len(specials)} special tokens",
                 hint="build the merged tokens in merge order; special tokens take the ids after the merges, in their order, as UTF-8")
### END HIDDEN TESTS

# %% [markdown]
# The longest tokens learned from 100 KB of Shakespeare are whole words with their leading space, and
# names of characters (the text is a play): BPE has found the vocabulary of the corpus by counting.

# %%
shakespeare_tokens = vocabulary(shakespeare_merges)
longest = sorted(range(256, 256 + len(shakespeare_merges)), key=lambda i: -len(shakespeare_tokens[i]))[:24]
print("first 24 merges:", [shakespeare_tokens[256 + k].decode() for k in range(24)])
print("longest tokens: ", [shakespeare_tokens[i].decode() for i in longest])

# %% [markdown]
# ## 10 · Encoding: replay the merges in the order they were learned
#
# To encode a chunk, start from its bytes and repeatedly merge the adjacent pair with the **lowest
# rank** $r(a, b)$ (the position of $(a, b)$ in `merges`), until no adjacent pair is a merge:
#
# $$(a, b)^\star = \arg\min_{(w_i, w_{i+1})} r(w_i, w_{i+1}), \qquad \text{merged into } 256 + r\big((a, b)^\star\big).$$
#
# **What this means.** Rank order replays training: the chunk is rewritten by merge 0 wherever it
# applies, then merge 1, and so on, as it was when the merges were learned, so every training chunk
# gets exactly the tokens training gave it, and new text gets the same treatment. Two plausible
# shortcuts give a *different* tokenizer:
#
# - **frequency order**, merging first the pair that is most frequent in the text being encoded (as
#   training does): with merges [(a, b), (b, c)], "abcbc" becomes (ab, c, bc) by rank but
#   (a, bc, bc) by frequency, since (b, c) occurs twice;
# - **leftmost first**, merging the first mergeable pair from the left: with merges [(c, a), (b, c)],
#   "bca" becomes (b, ca) by rank but (bc, a) from the left.
#
# A merge never creates a pair of lower rank than itself (a new token only appears in merges learned
# later), so merging all occurrences of the lowest-rank pair at once is the same as merging them one at
# a time; `merge_pair` does it in one pass. To look ranks up quickly, build the dict
# `ranks = {pair: k for k, pair in enumerate(merges)}` once per text, not once per chunk.

# %%
merges_demo = [(ord("a"), ord("b")), (ord("b"), ord("c"))]
ranks_demo = {pair: k for k, pair in enumerate(merges_demo)}
chunk = list(b"abcbc")
pairs_here = list(zip(chunk, chunk[1:]))
print("pairs and ranks:", [(bytes(p).decode(), ranks_demo.get(p)) for p in pairs_here])
print("lowest rank first: merge", bytes(min(pairs_here, key=lambda p: ranks_demo.get(p, math.inf))).decode())

# %% nbgrader={"grade": false, "grade_id": "encode_chunk", "locked": false, "schema_version": 3, "solution": true, "task": false}
def encode_chunk(ids: list[int], ranks: dict[tuple[int, int], int]) -> list[int]:
    """Encode one chunk by applying merges in rank order (about 10 minutes).

    Args:
        ids: the chunk's token ids, a list of int or bytes (usually the UTF-8 bytes of one chunk).
        ranks: dict from each merge (a, b) to its rank k (its position in merges; it creates 256 + k).

    Returns:
        A list of int: while some adjacent pair of the sequence is in ranks, merge the one with the
        lowest rank (all of its occurrences, left to right, with merge_pair) into 256 + its rank.
        Returns the ids unchanged, as a list, when no merge applies.

    Example:
        >>> encode_chunk(list(b"abcbc"), {(97, 98): 0, (98, 99): 1})
        [256, 99, 257]
    """
    ### BEGIN SOLUTION
    ids = list(ids)
    while len(ids) >= 2:
        pair = min(zip(ids, ids[1:]), key=lambda p: ranks.get(p, math.inf))
        if pair not in ranks:
            break
        ids = merge_pair(ids, pair, 256 + ranks[pair])
    return ids
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "encode_chunk_rank_order", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""encode_chunk merges by rank, not by frequency in the chunk nor from the left (the lesson's 'abcbc' and 'bca'), merges two-byte chunks, returns a list when nothing merges, and matches the reference on random chunks"""
from grader.testing import scenario, expect


@scenario
def chunk_tokens(ns, data, merges):
    """encode_chunk of the bytes `data` with the ranks of `merges`."""
    ranks = {tuple(pair): k for k, pair in enumerate(merges)}
    return ns.encode_chunk(data, ranks)


expect.equal(chunk_tokens.learner(b"abcbc", [(97, 98), (98, 99)]), [256, 99, 257], what="encode_chunk('abcbc') with merges [(a, b), (b, c)]",
             hint="merge the adjacent pair of lowest rank first, even where another pair occurs more often")
### BEGIN HIDDEN TESTS
from grader.testing import reference

hint = "repeat: among the adjacent pairs, take the one with the lowest rank; stop when none is in ranks; merge it into 256 + rank"
expect.equal(chunk_tokens.learner(b"bca", [(99, 97), (98, 99)]), [98, 256], what="encode_chunk('bca') with merges [(c, a), (b, c)]",
             hint="the lowest rank wins, not the leftmost mergeable pair")
expect.equal(chunk_tokens.learner(b"ab", [(97, 98)]), [256], what="encode_chunk of a two-byte chunk that is a merge", hint=hint)
got = chunk_tokens.learner(b"xyz", [(97, 98)])
expect.equal(got, [120, 121, 122], what="encode_chunk of a chunk that no merge applies to",
             hint="return the ids unchanged, as a list of int (list(ids), not the bytes)")
expect.equal(chunk_tokens.learner(b"q", [(97, 98)]), [113], what="encode_chunk of a one-byte chunk", hint="a single id has no pair: return it as a list")
expect.equal(chunk_tokens.learner(b"", [(97, 98)]), [], what="encode_chunk of an empty chunk")
expect.equal(chunk_tokens.learner(b"aaaaa", [(97, 97), (256, 256), (257, 97)]), [258], what="encode_chunk('aaaaa') with merges aa, aaaa, aaaaa", hint=hint)
rng = random.Random(10)
with open("tinyshakespeare.txt", encoding="utf-8") as file:
    merges = reference.train_bpe(file.read()[:6000], 256 + 150)
for n in range(15):
    data = bytes(rng.choice(b"etaoinshr ") for _ in range(rng.randint(2, 14)))
    expect.equal(chunk_tokens.learner(data, merges), chunk_tokens.reference(data, merges),
                 what=f"encode_chunk of random chunk {n} with 150 Shakespeare merges", hint=hint)
for n in range(6):
    pool = [(97, 98), (98, 97), (97, 97), (98, 98), (256, 97), (97, 256), (256, 256), (257, 98)]
    merges = rng.sample(pool, 5)
    merges = [pair for k, pair in enumerate(merges) if max(pair) < 256 + k]
    data = bytes(rng.choice(b"ab") for _ in range(12))
    expect.equal(chunk_tokens.learner(data, merges), chunk_tokens.reference(data, merges),
                 what=f"encode_chunk of random 'ab' chunk {n} with random merges", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# A whole text is encoded piece by piece: split it on the special tokens; each special token becomes
# its id; each ordinary piece is cut into chunks, each chunk is turned into bytes and encoded with
# `encode_chunk`; the ids are concatenated in order. Because chunks never interact, real tokenizers
# cache the ids of frequent chunks (" the" is encoded once) and encode documents in parallel.

# %% nbgrader={"grade": false, "grade_id": "encode", "locked": false, "schema_version": 3, "solution": true, "task": false}
def encode(text: str, merges: list[tuple[int, int]], special_tokens: list[str] = ()) -> list[int]:
    """Encode text with byte-level BPE and special tokens (about 10 minutes).

    Args:
        text: any str (lone surrogates included). merges: the list train_bpe returns.
        special_tokens: a list of distinct strings; the j-th has id 256 + len(merges) + j.

    Returns:
        A list of int: for each piece of split_on_special_tokens(text, special_tokens), a special token
        gives its single id; an ordinary piece gives, for each of its pretokenize chunks in order,
        encode_chunk(text_to_bytes(chunk), ranks). A special token is never split, and ordinary text
        never produces a special id. Without special_tokens, '<|endoftext|>' is ordinary text.

    Example:
        >>> encode("ab ab", [(97, 98), (32, 256)])
        [256, 257]
    """
    ### BEGIN SOLUTION
    ranks = {tuple(pair): k for k, pair in enumerate(merges)}
    special_ids = {token: 256 + len(merges) + j for j, token in enumerate(special_tokens)}
    ids = []
    for i, piece in enumerate(split_on_special_tokens(text, special_tokens)):
        if i % 2 == 1:
            ids.append(special_ids[piece])
        else:
            for chunk in pretokenize(piece):
                ids.extend(encode_chunk(text_to_bytes(chunk), ranks))
    return ids
    ### END SOLUTION

# %%
@scenario
def encodings(ns, texts, merges, special_tokens=()):
    """encode of each text (the tests of encode use it)."""
    return [ns.encode(text, merges, special_tokens) for text in texts]


# %% nbgrader={"grade": true, "grade_id": "encode_matches_tokenizers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""encode cuts the text into chunks and encodes each by rank: it matches the reference and, where Hugging Face tokenizers is installed, tokenizers' own BPE built with the same merges, on Shakespeare and on random Unicode strings"""
from grader.testing import expect

expect.equal(encodings.learner(["ab ab"], [(97, 98), (32, 256)])[0], [256, 257], what="encode('ab ab') with merges [(a, b), (' ', ab)]",
             hint="the chunks are 'ab' and ' ab'; 'ab' is merge 0 (id 256) and ' ab' merge 1 (id 257)")
expect.equal(encodings.learner(["é😀"], [])[0], [0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80], what="encode('é😀') without merges",
             hint="without merges the ids are the UTF-8 bytes")
### BEGIN HIDDEN TESTS
from grader.testing import reference

hint = "split on special tokens, then pretokenize each piece, encode_chunk(text_to_bytes(chunk), ranks) for each chunk, and concatenate"
with open("tinyshakespeare.txt", encoding="utf-8") as file:
    shakespeare_text = file.read()
merges = reference.train_bpe(shakespeare_text[:20_000], 256 + 200)
held_out = [shakespeare_text[start:start + 400] for start in range(300_000, 306_000, 400)]
got = encodings.learner(held_out, merges)
expect.equal(got, encodings.reference(held_out, merges), what="the encoding of 15 held-out passages of Shakespeare", hint=hint)
rng = random.Random(11)
with_surrogates = [random_unicode_text(rng, rng.randint(0, 25)) for _ in range(40)]
expect.equal(encodings.learner(with_surrogates, merges), encodings.reference(with_surrogates, merges),
             what="the encodings of 40 random Unicode strings (with lone surrogates)", hint=hint)
try:
    import tokenizers
except ImportError:
    tokenizers = None
if tokenizers is not None:
    hf = hf_tokenizer_from_merges(merges)
    texts = held_out[:5] + [random_unicode_text(rng, rng.randint(0, 25), surrogates=False) for _ in range(60)]
    expect.equal(encodings.learner(texts, merges), [hf.encode(text).ids for text in texts],
                 what="the encodings of Shakespeare and of 60 random Unicode strings, compared with tokenizers' BPE with the same merges", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "encode_special_tokens_never_split", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""encode turns each special token into its one id (after the merges, in the order given), never splits one, never produces a special id from ordinary text, and treats '<|endoftext|>' as ordinary text when it is not a special token"""
from grader.testing import expect

merges = [(104, 105), (60, 124)]  # 'hi' -> 256, '<|' -> 257
got = encodings.learner(["hi<|endoftext|>hi"], merges, ["<|endoftext|>"])[0]
expect.equal(got, [256, 258, 256], what="encode('hi<|endoftext|>hi') with 2 merges and the special token <|endoftext|>",
             hint="split on the special tokens before pre-tokenizing: '<|endoftext|>' is the single id 256 + len(merges) + 0 = 258")
### BEGIN HIDDEN TESTS
from grader.testing import reference

hint = "split with split_on_special_tokens first; the pieces at odd positions are special tokens, id 256 + len(merges) + their index"
specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
with open("tinyshakespeare.txt", encoding="utf-8") as file:
    merges = reference.train_bpe(file.read()[:8000], 256 + 120)
texts = ["<|im_start|>user\nWhat say you?<|im_end|>\n<|im_start|>assistant\nSpeak, speak.<|im_end|><|endoftext|>",
         "<|endoftext|><|endoftext|>", "a<|endoftext|> b<|im_end|>", "<|endoftext", "<|im_start|><|im_end|>", ""]
got = encodings.learner(texts, merges, specials)
expect.equal(got, encodings.reference(texts, merges, specials), what="the encodings of chat transcripts with 3 special tokens", hint=hint)
special_ids = set(range(256 + len(merges), 256 + len(merges) + 3))
rng = random.Random(12)
ordinary = ["<|endoftext|>".replace("|", "| ") + " endoftext <| |>", random_unicode_text(rng, 40), "<<||endoftext||>>"]
got = encodings.learner(ordinary, merges, specials)
expect.true(all(i not in special_ids for ids in got for i in ids), "ordinary text (without any special token) was encoded with a special id")
expect.equal(got, encodings.reference(ordinary, merges, specials), what="the encodings of text that looks like special tokens", hint=hint)
got = encodings.learner(["<|endoftext|>"], merges)[0]
expect.equal(got, encodings.reference(["<|endoftext|>"], merges)[0], what="encode('<|endoftext|>') without special tokens",
             hint="when '<|endoftext|>' is not among the special tokens it is ordinary text, encoded like any other")
expect.equal(encodings.learner(["x<a><b>y"], merges, ["<a>", "<a><b>"])[0], encodings.reference(["x<a><b>y"], merges, ["<a>", "<a><b>"])[0],
             what="encode with special tokens '<a>' and '<a><b>'", hint="the longest special token wins (split_on_special_tokens)")
### END HIDDEN TESTS

# %% [markdown]
# ## 11 · Decoding: concatenate the bytes, then read UTF-8 once
#
# $$\operatorname{decode}(t_1, \dots, t_n) = \operatorname{utf8}^{-1}\big(\operatorname{bytes}(t_1) \Vert \cdots \Vert \operatorname{bytes}(t_n)\big).$$
#
# **What this means.** The bytes of one token need not be a whole character: "😀" is 4 bytes and, in a
# tokenizer that never merged them, 4 tokens, none of which is valid UTF-8 alone. Decoding each token
# separately and joining the strings gives "����"; joining the **bytes** first gives "😀". With
# `bytes_to_text` for the last step, `decode(encode(s)) == s` for every Python string, and any sequence
# of ids decodes to *something* without raising. (A chat interface that streams tokens as they are
# generated must buffer the bytes of an incomplete character until its last byte arrives, for the same
# reason.)

# %%
emoji_ids = list("😀".encode("utf-8"))
print("token by token:", "".join(bytes([i]).decode("utf-8", errors="replace") for i in emoji_ids),
      "   bytes first:", b"".join(bytes([i]) for i in emoji_ids).decode("utf-8"))

# %% nbgrader={"grade": false, "grade_id": "decode", "locked": false, "schema_version": 3, "solution": true, "task": false}
def decode(ids: list[int], merges: list[tuple[int, int]], special_tokens: list[str] = ()) -> str:
    """Decode token ids to text: the bytes of all tokens, concatenated, read once (about 5 minutes).

    Args:
        ids: a list of int, each in 0..256 + len(merges) + len(special_tokens) - 1.
        merges, special_tokens: the tokenizer the ids come from (as for encode).

    Returns:
        bytes_to_text of the concatenated bytes of all the tokens (vocabulary), so that
        decode(encode(s, ...), ...) == s for every str s, and any ids decode without raising
        (invalid UTF-8 becomes U+FFFD). Special ids give their special token's text.

    Example:
        >>> decode([0xF0, 0x9F, 0x98, 0x80], [])
        '😀'
    """
    ### BEGIN SOLUTION
    vocab = vocabulary(merges, special_tokens)
    return bytes_to_text(b"".join(vocab[i] for i in ids))
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "decode_round_trip_arbitrary_unicode", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""decode joins the bytes of all tokens before reading UTF-8: a character split across tokens comes back whole, decode(encode(s)) == s for random Unicode strings (emoji, combining marks, CJK, lone surrogates) and special tokens, and invalid byte sequences decode with U+FFFD"""
from grader.testing import learner, scenario, expect


@scenario
def round_trips(ns, texts, merges, special_tokens=()):
    """decode(encode(text)) for each text."""
    return [ns.decode(ns.encode(text, merges, special_tokens), merges, special_tokens) for text in texts]


expect.equal(learner.decode([0xF0, 0x9F, 0x98, 0x80], []), "😀", what="decode of the 4 byte tokens of an emoji",
             hint="join the bytes of all tokens first and decode the whole once: no single byte of an emoji is valid UTF-8")
expect.equal(learner.decode([256, 32, 257], [(104, 105), (256, 33)]), "hi hi!", what="decode([256, 32, 257]) with merges 'hi', 'hi!'",
             hint="look up the bytes of each id in the vocabulary (merges build on earlier ids)")
### BEGIN HIDDEN TESTS
from grader.testing import reference

hint = "decode must be bytes_to_text(b''.join(vocab[i] for i in ids)): join the bytes of all tokens, then decode once"
with open("tinyshakespeare.txt", encoding="utf-8") as file:
    shakespeare_text = file.read()
merges = reference.train_bpe(shakespeare_text[:10_000], 256 + 150)
specials = ["<|endoftext|>", "<|im_start|>"]
rng = random.Random(13)
texts = [random_unicode_text(rng, rng.randint(0, 30)) for _ in range(150)] + [shakespeare_text[500_000:501_000]]
got = round_trips.learner(texts, merges)
bad = sum(g != t for g, t in zip(got, texts))
expect.true(len(got) == len(texts) and bad == 0,
            f"decode(encode(s)) differs from s for {bad} of {len(texts)} random Unicode strings: " + hint)
ids_lists = [reference.encode(text, merges) for text in texts[:60]]
for n, ids in enumerate(ids_lists):
    expect.equal(learner.decode(ids, merges), texts[n], what=f"decode of the reference's encoding of random string {n}", hint=hint)
with_specials = ["<|im_start|>日本語<|endoftext|>😀<|endoftext|>", "e\u0301<|im_start|>\ud800", "<|endoftext|>"]
got = round_trips.learner(with_specials, merges, specials)
expect.equal(got, with_specials, what="decode(encode(s)) for texts with special tokens", hint="a special id decodes to its special token's text")
for n in range(25):
    ids = [rng.randrange(256 + len(merges) + 2) for _ in range(rng.randint(1, 8))]
    expect.equal(learner.decode(ids, merges, specials), reference.decode(ids, merges, specials),
                 what=f"decode of random ids {n} (generally not valid UTF-8)", hint="invalid UTF-8 must decode with U+FFFD replacements (bytes_to_text), never raise")
expect.equal(learner.decode([], merges), "", what="decode of no ids")
### END HIDDEN TESTS

# %% [markdown]
# ## 12 · Compression on Tiny Shakespeare
#
# The **compression ratio** of a tokenizer against the character tokenizer on a text is the number of
# character tokens divided by the number of BPE tokens, i.e. characters per token:
#
# $$\rho = \frac{|\operatorname{char\_encode}(s)|}{|\operatorname{encode}(s)|} = \frac{\text{characters}}{\text{tokens}}.$$
#
# **What this means.** $\rho = 2$ means a sequence half as long: a transformer does the attention of a
# context of $T$ characters with $T/2$ tokens, a quarter of the score matrix, and sees twice as much
# text in the same context window. Measure $\rho$ on **held-out** text: on its training text a
# tokenizer looks better than it is, since it has learned those very words. Without merges a text of
# ASCII has $\rho = 1$, and a text of other scripts less than 1 (more bytes than characters).

# %% nbgrader={"grade": false, "grade_id": "compression_ratio", "locked": false, "schema_version": 3, "solution": true, "task": false}
def compression_ratio(text: str, merges: list[tuple[int, int]]) -> float:
    """Characters per BPE token: the character tokenizer's length over encode's (about 3 minutes).

    Args:
        text: a non-empty str. merges: the list train_bpe returns (no special tokens).

    Returns:
        float: len(char_encode(text, char_vocab(text))) / len(encode(text, merges)).

    Example:
        >>> compression_ratio("aaaa", [(97, 97)])
        2.0
    """
    ### BEGIN SOLUTION
    n_characters = len(char_encode(text, char_vocab(text)))
    return n_characters / len(encode(text, merges))
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "compression_ratio_on_tiny_shakespeare", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the compression ratio is characters per token: 2 for 'aaaa' with the merge (a, a), below 1 for Chinese without merges, and on held-out Tiny Shakespeare, with merges learned from 20,000 characters, equal to the reference's (and far above 1)"""
from grader.testing import learner, scenario, expect

expect.close(learner.compression_ratio("aaaa", [(97, 97)]), 2.0, atol=0, rtol=1e-15, what="compression_ratio('aaaa', [(97, 97)])",
             hint="4 characters and 2 tokens")


@scenario
def shakespeare_compression(ns, train_text, held_out, vocab_size):
    """Train with your train_bpe, then the compression ratio of your encode on held-out text."""
    return ns.compression_ratio(held_out, ns.train_bpe(train_text, vocab_size))

### BEGIN HIDDEN TESTS
from grader.testing import reference

hint = "characters (the character tokenizer's length) divided by the number of BPE tokens of the same text"
expect.close(learner.compression_ratio("早上好", []), 1 / 3, atol=0, rtol=1e-12, what="compression_ratio of 3 Chinese characters without merges", hint=hint)
with open("tinyshakespeare.txt", encoding="utf-8") as file:
    shakespeare_text = file.read()
train_text, held_out = shakespeare_text[:20_000], shakespeare_text[400_000:410_000]
merges = reference.train_bpe(train_text, 256 + 256)
got = learner.compression_ratio(held_out, merges)
want = reference.compression_ratio(held_out, merges)
expect.close(got, want, atol=0, rtol=1e-12, what="the compression ratio on 10,000 held-out characters of Shakespeare", hint=hint)

got = shakespeare_compression.learner(train_text, held_out, 256 + 256)
expect.close(got, want, atol=0, rtol=1e-12, what="the compression ratio of your own train_bpe and encode on held-out Shakespeare",
             hint="train_bpe and encode together must reproduce the reference tokenizer")
expect.true(got > 1.5, f"your tokenizer compresses held-out Shakespeare to only {got:.2f} characters per token with 256 merges")
### END HIDDEN TESTS

# %% [markdown]
# A tokenizer with $M$ merges contains every smaller one: the first $m$ merges are exactly the
# tokenizer that training would have returned for `vocab_size = 256 + m`. The figure encodes 50,000
# held-out characters with the first $m$ of the 1,000 merges learned above. Compression rises fast for
# the first merges (" t", "he", " the"...) and then slowly: each new token is rarer than the last.
# Each sequence length is what a transformer would have to attend over.

# %%
held_out_text = shakespeare[500_000:550_000]
merge_counts = [0, 25, 50, 100, 200, 400, 700, 1000]
ratios = [compression_ratio(held_out_text, shakespeare_merges[:m]) for m in merge_counts]
train_ratio = compression_ratio(shakespeare[:50_000], shakespeare_merges)
fig, ax = plt.subplots(figsize=(6.5, 3.6))
ax.plot([256 + m for m in merge_counts], ratios, marker="o", label="held-out text")
ax.axhline(1.0, color="grey", ls=":", label="character tokenizer (65 ids)")
ax.scatter([256 + 1000], [train_ratio], color="tab:red", zorder=3, label="its own training text")
ax.set(xlabel="vocabulary size (256 bytes + merges)", ylabel="characters per token", title="BPE compression on Tiny Shakespeare")
ax.legend()
fig.tight_layout()
plt.show()
for m, ratio in zip(merge_counts, ratios):
    print(f"{256 + m:5d} ids: {ratio:.3f} characters per token, {len(held_out_text) / ratio:,.0f} tokens for 50,000 characters")

# %% [markdown]
# ## 13 · The same tokenizer in Hugging Face `tokenizers`
#
# Production tokenizers are written in Rust (`tokenizers`, tiktoken) for speed, but they compute the
# same function. GPT-2's files store each token as text, with a printable stand-in for each of the 256
# bytes (`gpt2_bytes_to_unicode`: the printable ASCII and Latin-1 bytes stand for themselves, the others
# are shifted to U+0100 and beyond, so the space is "Ġ" and the newline "Ċ"). With that table, your
# merges load into `tokenizers`' BPE model, and its encoding is identical to yours. Its trainer learns the
# same merges too, except where counts tie: it breaks ties by its own ids, in which space and control
# bytes come after the printable bytes, a different (and equally valid) convention.

# %%
import importlib.util

if importlib.util.find_spec("tokenizers") is None:
    print("tokenizers is not installed: nothing to compare with")
else:
    import tokenizers

    hf = hf_tokenizer_from_merges(shakespeare_merges)
    sample = shakespeare[600_000:620_000] + " naïve 😀 日本語"
    ours = encode(sample, shakespeare_merges)
    print(f"tokenizers {tokenizers.__version__}: same ids as encode on 20,000 characters:", hf.encode(sample).ids == ours)
    print("its token strings:", hf.encode("To be, or not to be").tokens)
    print("its decoder agrees:", hf.decode(ours) == decode(ours, shakespeare_merges))

# %% [markdown]
# ## Practical considerations
#
# **Unicode.**
# - Decide the surrogate policy and state it: `surrogatepass` here (exact for every Python string),
#   replacement by U+FFFD in tiktoken (lossy, but every string becomes valid UTF-8 that Rust libraries
#   accept). Rust's `String`, JSON parsers and most tokenizer libraries refuse lone surrogates outright.
# - Decide normalization: "é" composed and decomposed encode differently. Many tokenizers apply NFC
#   (or NFKC, which also folds "①" into "1") before encoding; then `decode(encode(s)) == s` holds only
#   for normalized `s`. This notebook normalizes nothing, so the round trip is exact for every string.
# - Decoding streamed tokens: keep the bytes of an incomplete character until it completes.
#
# **Common bugs, and how the tests here catch them.** Counting pairs across chunk boundaries (merges such
# as "e " appear that GPT-2's chunks forbid); counting a run "aaa" once instead of twice, or merging it as
# two overlapping pairs; an incremental update that forgets to subtract the pairs of the old chunk (stale
# counts choose wrong merges later); ties broken by dictionary order (`max(counts, key=counts.get)`),
# which depends on insertion history, instead of a stated rule; applying merges at encode time by their
# frequency in the text or from the left instead of by rank; decoding each token separately (multi-byte
# characters become "�"); pre-tokenizing before looking for special tokens (the special token is split);
# training on text that still contains special tokens.
#
# **Hyperparameters and choices that matter.**
# - Vocabulary size: GPT-2 50,257 (50,000 merges, 256 bytes, `<|endoftext|>`), GPT-4's cl100k about
#   100,000, LLaMA 3 128,000, Gemma 256,000. A larger vocabulary shortens sequences but enlarges the
#   embedding and output layers (a $V \times D$ matrix each), and gives rare tokens few training
#   examples. Non-English text gains the most from large vocabularies.
# - The pre-tokenizer regex: GPT-4's splits digits into groups of at most three (so numbers are
#   tokenized consistently), is case-insensitive for contractions and handles white space differently.
#   LLaMA 3 uses that pattern; SentencePiece models (LLaMA 1/2, T5) use no regex but treat the space as a
#   symbol "▁".
# - Other algorithms: WordPiece (BERT) merges by a likelihood score rather than a count; the Unigram
#   model (SentencePiece) starts from a large vocabulary and prunes it, and can sample segmentations.
#   Byte fallback gives a character tokenizer the bytes for unseen characters.
# - Special tokens in user text: a chat service must not let a user type `<|im_end|>` and end the
#   assistant's turn. tiktoken therefore refuses special tokens in text unless they are explicitly
#   allowed (`allowed_special`); encode ordinary user text with `special_tokens=()`.
# - Tokens that never occur in the model's training data ("glitch tokens" such as " SolidGoldMagikarp",
#   learned from a tokenizer corpus the model never saw) get untrained embeddings: train the tokenizer on
#   data like the model's.
#
# **Speed.** Encoding caches the ids of each distinct chunk and runs documents in parallel; training uses
# a heap of pair counts and the chunk index you built. On gigabytes of text, Rust implementations learn
# 100,000 merges in minutes.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | code points and UTF-8 | 1–4 bytes per code point, by range; surrogates need `surrogatepass` | `text.encode("utf-8", errors="surrogatepass")` | the input of every byte-level tokenizer |
# | character tokenizer | $\operatorname{id}(c)$ = index in sorted $V$ | `sorted(set(text))`, a dict lookup | char-level models (`10-rnn`), byte fallback |
# | pre-tokenization | chunks by regex; no merge crosses a chunk | `regex.findall(GPT2 pattern, text)` | GPT-2/3/4, LLaMA 3: spaces attach to the next word |
# | pair counts | $N_{ab} = \sum_w f_w\, n_{ab}(w)$, every position | `zip(word, word[1:])` over distinct chunks | BPE training |
# | BPE training | $(a_k, b_k) = \arg\max N_{ab}$, ties to the smallest pair; id $256 + k$ | incremental counts with a `where[pair]` index | building the vocabulary once, before pre-training |
# | special tokens | one id each, after the merges; cut out before pre-tokenizing and training | `re.split("(" + "\|".join(map(re.escape, tokens)) + ")", text)` | document boundaries, chat turns, padding |
# | encoding | merge the adjacent pair of lowest rank, repeatedly | `min(pairs, key=ranks.get)` + `merge_pair` | every prompt and every training document |
# | decoding | UTF-8 of the concatenated bytes, once | `bytes_to_text(b"".join(vocab[i] for i in ids))` | every generated answer, streamed or not |
# | compression ratio | $\rho$ = characters / tokens on held-out text | `len(text) / len(encode(text, merges))` | context length and compute per character of text |

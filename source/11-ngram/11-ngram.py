# %% [markdown]
# # 11 · N-gram language models: counting, smoothing, perplexity and sampling
#
# A language model gives every possible next token a probability, given the text so far. The
# oldest recipe that works is to **count**: how often did this word follow these $n-1$ words in
# the training text? Counting alone gives probability zero to everything it never saw, so the
# whole art is **smoothing**: take a little probability away from what was seen and give it to
# what was not, so that every distribution still sums to one. The best classical recipe is
# interpolated Kneser–Ney:
#
# $$\boxed{P_{\mathrm{KN}}(w \mid h) \;=\; \frac{\max\big(c(h\,w) - D,\; 0\big)}{c(h)}
# \;+\; \frac{D\; N_{1+}(h\,\bullet)}{c(h)}\; P_{\mathrm{KN}}(w \mid h'),
# \qquad \sum_{w \in \mathcal{V}} P_{\mathrm{KN}}(w \mid h) = 1 \ \text{ for every context } h}$$
#
# where $h'$ is the context $h$ without its first token, $D$ a discount, $N_{1+}(h\,\bullet)$ the
# number of different tokens seen after $h$, and the lower orders count *in how many different
# contexts* a token appears instead of how often. Why it matters for LLMs: a GPT is the same
# object, a conditional distribution over the next token, fitted by maximum likelihood, scored by
# perplexity on held-out text and used by sampling one token at a time. N-gram models were the
# language models of speech recognition and machine translation until about 2013, they are the
# baseline every neural model is measured against, and they still run inside LLM pipelines:
# perplexity filters of web text (KenLM in CCNet), n-gram overlap checks for test-set
# contamination, n-gram lookups over trillions of tokens (infini-gram), prompt-lookup drafts for
# speculative decoding.
#
# **What you will build:** n-gram counts of any order in a dense table; add-$k$ smoothing;
# perplexity on held-out text; absolute discounting with interpolation; Kneser–Ney's continuation
# counts and the full interpolated Kneser–Ney model of any order; and a sampler that writes new
# text. You will compare add-$k$ and Kneser–Ney on held-out Shakespeare and see why one is better.

# %% [markdown]
# ## Prerequisites
#
# - `03-probability`: maximum-likelihood estimates, cross-entropy and perplexity (and why the base
#   of the logarithm must match the exponential), sampling from a categorical distribution.
# - Later: `12-tokenization` decides what the tokens are, `16-gpt` trains a neural language model on
#   the same Shakespeare and reports the same perplexity, `30-decoding` and `34-evaluation`
#   continue sampling and perplexity.
#
# Packages: `numpy` and `matplotlib`. The tests also use `scipy.stats` (chi-square tests of your
# sampler) and `torch` (its cross-entropy, to check your perplexity).
#
# **Notation used throughout.** Tokens are integers $0, \dots, V-1$ ($V$ is the vocabulary size).
# An $n$-gram is $n$ consecutive tokens; its first $n-1$ tokens are the **context**
# $h = (h_1, \dots, h_{n-1})$ and the last one the predicted token $w$. $c(h\,w)$ counts the
# $n$-gram in the training text, $c(h) = \sum_w c(h\,w)$ counts $h$ as a context. Every table here
# is a dense NumPy array of shape $(V,)^n$ indexed `table[h_1, ..., h_{n-1}, w]`: the **last axis
# is the predicted token**, so a conditional distribution $P(\cdot \mid h)$ is the row
# `probs[h]`, and "sums to one" means `probs.sum(axis=-1) == 1` for every context.

# %%
import itertools
import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from grader.testing import scenario

# The tiny corpus of the hand-computed examples: four sentences over seven word types.
TINY_VOCAB = ["<s>", "</s>", "i", "like", "new", "york", "cats"]
TINY_SENTENCES = ["i like new york", "i like cats", "new york", "cats like new york"]


def encode_sentence(sentence: str, n: int, vocab: list[str] = TINY_VOCAB) -> np.ndarray:
    """Word ids of a sentence padded for an n-gram model: n - 1 "<s>" in front, one "</s>" at the end (int64)."""
    words = ["<s>"] * (n - 1) + sentence.split() + ["</s>"]
    return np.array([vocab.index(word) for word in words], dtype=np.int64)


@lru_cache(maxsize=1)
def shakespeare_text() -> str:
    """The whole of Tiny Shakespeare (1,115,394 characters, public domain; see DATA-LICENCE.md)."""
    return Path("tinyshakespeare.txt").read_text(encoding="utf-8")


def shakespeare_chars() -> tuple[np.ndarray, list[str]]:
    """Tiny Shakespeare as character ids: int64 (1115394,) and the sorted list of its V = 65 characters."""
    text = shakespeare_text()
    chars = sorted(set(text))
    index = {ch: i for i, ch in enumerate(chars)}
    return np.array([index[ch] for ch in text], dtype=np.int64), chars


WORD_PATTERN = re.compile(r"[a-z']+|[.,;:!?]")  # a lowercase word, or one punctuation mark


@lru_cache(maxsize=1)
def shakespeare_lines() -> tuple[tuple[str, ...], ...]:
    """Every spoken line of Tiny Shakespeare as lowercase words and punctuation (blank lines and speaker names left out)."""
    lines = shakespeare_text().split("\n")
    return tuple(tuple(WORD_PATTERN.findall(line.lower())) for line in lines if line.strip() and not line.endswith(":"))


def shakespeare_words(vocab_size: int, n: int) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Tiny Shakespeare's lines as padded word ids for an n-gram model: (train, held_out, vocab).

    Every tenth line is held out. The vocabulary is "<s>", "</s>", "<unk>" (ids 0, 1, 2) and the
    vocab_size - 3 most frequent words of the training lines; every other word becomes "<unk>".
    Each line is an int64 array: n - 1 "<s>", its words, one "</s>".
    """
    lines = shakespeare_lines()
    train_lines = [line for i, line in enumerate(lines) if i % 10 != 0]
    held_out_lines = [line for i, line in enumerate(lines) if i % 10 == 0]
    frequencies = Counter(word for line in train_lines for word in line)
    vocab = ["<s>", "</s>", "<unk>"] + [word for word, _ in frequencies.most_common(vocab_size - 3)]
    ids = {word: i for i, word in enumerate(vocab)}

    def encode(line):
        return np.array([0] * (n - 1) + [ids.get(word, 2) for word in line] + [1], dtype=np.int64)

    return [encode(line) for line in train_lines], [encode(line) for line in held_out_lines], vocab


# %% [markdown]
# ## 1 · From the chain rule to the Markov assumption
#
# The probability of a text $x_1, \dots, x_T$ factorises exactly, by the chain rule, into
# next-token probabilities:
#
# $$p(x_1, \dots, x_T) = \prod_{t=1}^{T} p(x_t \mid x_1, \dots, x_{t-1}).$$
#
# An **$n$-gram model** assumes that only the last $n-1$ tokens matter (a Markov chain of order
# $n-1$):
#
# $$p(x_t \mid x_1, \dots, x_{t-1}) \approx P(x_t \mid x_{t-n+1}, \dots, x_{t-1}).$$
#
# $n = 1$ is a unigram model (no context at all), $n = 2$ a bigram model, $n = 3$ a trigram model.
# The **maximum-likelihood estimate** of each conditional distribution is a ratio of counts,
#
# $$P_{\mathrm{ML}}(w \mid h) = \frac{c(h\,w)}{c(h)}, \qquad c(h) = \sum_{w} c(h\,w).$$
#
# (Maximise the log-likelihood $\sum_w c(h\,w) \log P(w \mid h)$ under $\sum_w P(w \mid h) = 1$
# with a Lagrange multiplier: the gradient condition $c(h\,w)/P(w \mid h) = \lambda$ makes $P$
# proportional to the counts.)
#
# **Sentence boundaries.** Each sentence is padded with $n-1$ start tokens `<s>` and one end token
# `</s>`. The start tokens give the first words a context ("which words begin a sentence?"); the
# end token lets the model decide when a sentence stops, and makes the probabilities of all
# sentences of all lengths sum to one. Counts never run across from one sentence into the next.
#
# **What this means.** An $n$-gram model is a lookup table: one probability distribution over the
# vocabulary for each of the $V^{n-1}$ possible contexts. Training is counting, and the whole
# model is only as good as its counts. Most contexts are rare, so most counts are zero, and
# $P_{\mathrm{ML}}$ calls every unseen $n$-gram impossible.
#
# A worked example on a tiny corpus of four sentences:

# %%
tiny_bigrams = Counter()
for sentence in TINY_SENTENCES:
    words = ["<s>"] + sentence.split() + ["</s>"]
    tiny_bigrams.update(zip(words[:-1], words[1:]))
tiny_contexts = Counter()
for (first, second), count in tiny_bigrams.items():
    tiny_contexts[first] += count


def p_ml(word, context):
    return tiny_bigrams[(context, word)] / tiny_contexts[context]


print("bigram counts:", dict(tiny_bigrams))
print(f"P_ML(york | new) = {p_ml('york', 'new'):.3f},  P_ML(new | like) = {p_ml('new', 'like'):.3f}")
for sentence in ["i like new york", "i like york"]:
    words = ["<s>"] + sentence.split() + ["</s>"]
    prob = math.prod(p_ml(w, h) for h, w in zip(words[:-1], words[1:]))
    print(f"P_ML({sentence!r}) = {prob:.4f}")

# %% [markdown]
# "i like new york" gets $\frac24 \cdot \frac22 \cdot \frac23 \cdot \frac33 \cdot \frac33 = \frac13$.
# "i like york" is a perfectly good sentence, but "like york" never occurred, so the maximum-
# likelihood model gives the whole sentence probability **zero**. On real text this is not a corner
# case. The figure measures it on the words of Tiny Shakespeare (every tenth line held out): the
# fraction of held-out $n$-grams that never occur in the training lines, as the training text grows.

# %%
lines = shakespeare_lines()
train_lines = [line for i, line in enumerate(lines) if i % 10 != 0]
held_out_lines = [line for i, line in enumerate(lines) if i % 10 == 0]
fractions = [0.01, 0.03, 0.1, 0.3, 1.0]
fig, ax = plt.subplots(figsize=(7, 3.8))
for n in range(1, 5):
    held_out_grams = [line[i:i + n] for line in held_out_lines for i in range(len(line) - n + 1)]
    unseen = []
    for fraction in fractions:
        subset = train_lines[: int(fraction * len(train_lines))]
        seen = {line[i:i + n] for line in subset for i in range(len(line) - n + 1)}
        unseen.append(np.mean([gram not in seen for gram in held_out_grams]))
    ax.plot([int(f * sum(map(len, train_lines))) for f in fractions], unseen, marker="o", label=f"{n}-grams")
ax.set(xscale="log", xlabel="training words", ylabel="held-out n-grams never seen in training",
       title="Tiny Shakespeare: most long n-grams are new", ylim=(0, 1))
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# With all of the training text (about 200,000 words), only 3% of the held-out *words* are new,
# but a third of the held-out word pairs, three quarters of the word triples and more than 90% of
# the word quadruples never occurred. A larger
# corpus pushes the curves down, slowly (Zipf's law: the tail of rare events never ends), and a
# larger $n$ pushes them up. Any usable n-gram model must therefore give unseen $n$-grams a
# sensible, non-zero probability. That is what sections 3 to 6 do.

# %% [markdown]
# ## 2 · Counting n-grams into a table
#
# We store the counts of order $n$ in a dense integer array of shape $(V,)^n$: `counts[h_1, ...,
# h_{n-1}, w]` $= c(h\,w)$. Then $c(h)$ is `counts.sum(axis=-1)`, a conditional distribution is a row,
# and every smoothing method in this notebook is a few whole-array operations. A dense table costs
# $V^n$ numbers: $65^3 \approx 2.7 \times 10^5$ for characters, $200^3 = 8 \times 10^6$ for a
# 200-word vocabulary, but $50{,}000^2 = 2.5 \times 10^9$ for a realistic word bigram model. Real
# toolkits store only the $n$-grams that occur (see the practical considerations); the mathematics
# is the same.
#
# The $n$-grams of a sequence $x_0, \dots, x_{L-1}$ are its $L - n + 1$ windows
# $(x_t, \dots, x_{t+n-1})$. `np.lib.stride_tricks.sliding_window_view(x, n)` gives them as an
# $(L - n + 1, n)$ array without copying. Adding them into the table needs care: with fancy
# indexing, `table[rows, cols] += 1` adds **once per distinct index**, however often it repeats,
# because NumPy evaluates `table[rows, cols] + 1` first and then writes it back. `np.add.at`
# accumulates every repetition:

# %%
table = np.zeros((2, 2), dtype=np.int64)
rows, cols = np.array([0, 0, 0, 1]), np.array([1, 1, 1, 0])     # the pair (0, 1) three times
table[rows, cols] += 1
print("fancy-index += :\n", table)
table = np.zeros((2, 2), dtype=np.int64)
np.add.at(table, (rows, cols), 1)
print("np.add.at:\n", table)
print("windows of [5, 6, 7, 8] with n = 3:\n", np.lib.stride_tricks.sliding_window_view(np.array([5, 6, 7, 8]), 3))

# %% [markdown]
# `np.bincount` on a flattened index ($\sum_i x_i V^{n-1-i}$, then `reshape`) works as well, and
# so does a plain loop over the windows for short texts. Count each sequence separately (a
# sentence's last token does not predict the next sentence's `<s>`), and remember that a sequence
# shorter than $n$ holds no $n$-gram at all.

# %% nbgrader={"grade": false, "grade_id": "ngram_counts", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ngram_counts(sequences: list[np.ndarray], n: int, vocab_size: int) -> np.ndarray:
    """Count every n-gram inside each sequence into a dense table (about 10 minutes).

    Args:
        sequences: a list of 1-D int sequences (int64 NumPy arrays or lists of ints) of token ids in
            [0, vocab_size). n-grams never cross from one sequence into the next, and a sequence
            with fewer than n tokens holds no n-gram. The list may be empty.
        n: the order, n >= 1 (1 unigrams, 2 bigrams, 3 trigrams, ...).
        vocab_size: V.

    Returns:
        int64 array of shape (V,) * n: counts[w_1, ..., w_n] is the number of positions t, over all
        sequences, where the n tokens starting at t are w_1, ..., w_n.

    Example:
        >>> ngram_counts([np.array([0, 1, 0, 1]), np.array([1, 1])], 2, 2)
        array([[0, 2],
               [1, 1]])
    """
    ### BEGIN SOLUTION
    counts = np.zeros((vocab_size,) * n, dtype=np.int64)
    for sequence in sequences:
        sequence = np.asarray(sequence, dtype=np.int64)
        if len(sequence) < n:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(sequence, n)  # (L - n + 1, n)
        np.add.at(counts, tuple(windows.T), 1)  # one index array per axis; repeats are all added
    return counts
    ### END SOLUTION

# %% [markdown]
# On the tiny corpus your bigram table should be this one (rows: the context word, columns: the
# next word, both in the order of `TINY_VOCAB`). The tests of the later sections use it directly,
# so that they do not depend on your counting.

# %%
TINY_BIGRAM_COUNTS = np.array([
    # <s> </s>  i  like new york cats     (the next word)
    [0,   0,   2,  0,   1,  0,   1],   # after <s>
    [0,   0,   0,  0,   0,  0,   0],   # after </s>: never a context
    [0,   0,   0,  2,   0,  0,   0],   # after i
    [0,   0,   0,  0,   2,  0,   1],   # after like
    [0,   0,   0,  0,   0,  3,   0],   # after new
    [0,   3,   0,  0,   0,  0,   0],   # after york
    [0,   1,   0,  1,   0,  0,   0],   # after cats
], dtype=np.int64)

try:
    got = ngram_counts([encode_sentence(s, 2) for s in TINY_SENTENCES], 2, len(TINY_VOCAB))
    print("your bigram counts equal the table above:", np.array_equal(got, TINY_BIGRAM_COUNTS))
except NotImplementedError:
    print("write ngram_counts above, then run this cell again")

# %% nbgrader={"grade": true, "grade_id": "ngram_counts_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""bigram counts of the tiny corpus: a (V, V) int64 table with the hand-counted entries, and nothing counted across two sentences"""
from grader.testing import learner, expect

w = {word: i for i, word in enumerate(TINY_VOCAB)}
counts = learner.ngram_counts([encode_sentence(s, 2) for s in TINY_SENTENCES], 2, 7)
expect.shape(counts, (7, 7), what="ngram_counts(tiny corpus, n=2, V=7)", hint="a bigram table has one axis per token: (V, V)")
expect.dtype(counts, np.int64, what="ngram_counts(tiny corpus, n=2, V=7)", hint="counts are integers: np.zeros(..., dtype=np.int64)")
expect.equal(int(counts[w["new"], w["york"]]), 3, what="c(new york) in the tiny corpus", hint="'new york' occurs in sentences 1, 3 and 4")
expect.equal(int(counts[w["like"], w["new"]]), 2, what="c(like new) in the tiny corpus")
expect.equal(int(counts[w["<s>"], w["i"]]), 2, what="c(<s> i) in the tiny corpus",
             hint="the padding <s> is a token like any other: the first word of a sentence is counted after it")
expect.equal(int(counts[w["</s>"], w["<s>"]]), 0, what="c(</s> <s>) in the tiny corpus",
             hint="n-grams never cross from one sentence into the next: count each sequence on its own")
expect.equal(int(counts.sum()), 17, what="the number of bigrams in the tiny corpus", hint="a sequence of L tokens holds L - n + 1 n-grams")
expect.equal(counts, TINY_BIGRAM_COUNTS, what="the whole bigram table of the tiny corpus")

# %% nbgrader={"grade": true, "grade_id": "ngram_counts_match_brute_force", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""n-gram counts of orders 1 to 4 equal a brute-force count on random sequences, with sequences shorter than n, exactly n tokens long, given as lists, and an empty corpus"""
from grader.testing import learner, expect

counts = learner.ngram_counts([encode_sentence(s, 3) for s in TINY_SENTENCES], 3, 7)
expect.shape(counts, (7, 7, 7), what="ngram_counts(tiny corpus, n=3, V=7)", hint="a trigram table is (V, V, V)")
expect.equal(int(counts[0, 0, 2]), 2, what="c(<s> <s> i) in the tiny corpus padded for trigrams")
expect.equal(int(counts.sum()), 17, what="the number of trigrams in the tiny corpus",
             hint="a sequence of L tokens holds L - n + 1 n-grams (with n - 1 = 2 start tokens, as many trigrams as words + 1)")
### BEGIN HIDDEN TESTS
hint = ("count every window of n consecutive tokens inside each sequence (np.add.at adds repeated windows), never across "
        "two sequences; a sequence shorter than n holds none")


def counted_by_hand(sequences, n, V):
    table = np.zeros((V,) * n, dtype=np.int64)
    for gram, count in Counter(tuple(int(t) for t in s[i:i + n]) for s in sequences for i in range(len(s) - n + 1)).items():
        table[gram] = count
    return table


rng = np.random.default_rng(11)
sequences = [rng.choice(5, size=length, p=[0.4, 0.3, 0.15, 0.1, 0.05]).tolist() for length in [0, 1, 2, 3, 4, 7, 12, 25, 40]]
for n in [1, 2, 3, 4]:
    got = learner.ngram_counts(sequences, n, 5)
    expect.shape(got, (5,) * n, what=f"ngram_counts of random sequences, n={n}, V=5")
    expect.dtype(got, np.int64, what=f"ngram_counts of random sequences, n={n}")
    expect.equal(got, counted_by_hand(sequences, n, 5), what=f"ngram_counts of random sequences given as lists, n={n}", hint=hint)
arrays = [np.array(s, dtype=np.int64) for s in sequences]
expect.equal(learner.ngram_counts(arrays, 3, 6), counted_by_hand(sequences, 3, 6), what="ngram_counts of int64 arrays, n=3, V=6", hint=hint)
# a sequence of exactly n tokens holds one n-gram; two sequences share no n-gram across their boundary
expect.equal(learner.ngram_counts([[1, 2, 3]], 3, 4), counted_by_hand([[1, 2, 3]], 3, 4), what="ngram_counts of one sequence of exactly n = 3 tokens", hint=hint)
expect.equal(learner.ngram_counts([[0, 1], [2, 3]], 2, 4), counted_by_hand([[0, 1], [2, 3]], 2, 4),
             what="ngram_counts of the two sequences [0, 1] and [2, 3]", hint=hint)
empty = learner.ngram_counts([], 2, 3)
expect.shape(empty, (3, 3), what="ngram_counts of an empty corpus, n=2, V=3")
expect.equal(empty, np.zeros((3, 3), dtype=np.int64), what="ngram_counts of an empty corpus")
### END HIDDEN TESTS

# %% [markdown]
# What a character bigram model knows: $P_{\mathrm{ML}}(\text{next} \mid \text{current})$ over the
# space and the 26 lowercase letters of Tiny Shakespeare, from your counts. Read a row to see what
# follows a letter: after `q` only `u`; after `v` and `z` mostly `e`; after a space (the top row)
# the letters that start words, `t`, `a`, `s`, `h` and `m` most often.

# %%
try:
    char_ids, chars = shakespeare_chars()
    char_bigrams = ngram_counts([char_ids], 2, len(chars))
    shown = [chars.index(ch) for ch in " abcdefghijklmnopqrstuvwxyz"]
    block = char_bigrams[np.ix_(shown, shown)].astype(np.float64)
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(block / block.sum(axis=1, keepdims=True), cmap="Blues")
    labels = ["␣"] + list("abcdefghijklmnopqrstuvwxyz")
    ax.set_xticks(range(27), labels)
    ax.set_yticks(range(27), labels)
    ax.set(xlabel="next character", ylabel="current character", title="character bigrams of Tiny Shakespeare, P(next | current)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    plt.show()
except NotImplementedError:
    plt.close("all")
    print("write ngram_counts above to see the character bigram table")

# %% [markdown]
# ## 3 · Add-$k$ smoothing
#
# The simplest fix for zero counts: pretend that every $n$-gram was seen $k$ more times than it
# was. With $V$ possible next tokens, each context's total grows by $kV$:
#
# $$P_{\text{add-}k}(w \mid h) = \frac{c(h\,w) + k}{c(h) + k V}.$$
#
# $k = 1$ is Laplace's rule of succession (1814), smaller $k$ is Lidstone smoothing. The
# denominator is what makes each row a distribution: $\sum_w (c(h\,w) + k) = c(h) + kV$. A context
# never seen ($c(h) = 0$) gets the uniform distribution $1/V$.
#
# **A Bayesian reading.** Put a symmetric Dirichlet prior with parameter $\alpha$ on the unknown
# distribution $P(\cdot \mid h)$. After observing the counts, the posterior is Dirichlet with
# parameters $c(h\,w) + \alpha$, and its mean is $\frac{c(h\,w) + \alpha}{c(h) + \alpha V}$: add-$k$
# is the posterior mean with $\alpha = k$. The prior says "all tokens are a priori equally likely
# after every context", which is exactly what is wrong with add-$k$ on language: after "new",
# "york" is far more likely than "cats" even if neither was seen.
#
# **What this means.** Each context receives $kV$ imaginary observations, spread evenly. For a
# frequent context they are a drop in the ocean; for a context seen a handful of times they drown
# the evidence. With $V = 200$ words and $k = 1$, a context seen 10 times gives $200/210 \approx 95\%$
# of its probability to imaginary counts. That is why good values of $k$ are small, and smaller
# for higher orders (whose contexts are rarer).
#
# Worked example on the tiny corpus, context "like" ($c(\text{like}) = 3$, $V = 7$):

# %%
like_row = TINY_BIGRAM_COUNTS[TINY_VOCAB.index("like")]
for k in [1.0, 0.1, 0.01]:
    smoothed = (like_row + k) / (like_row.sum() + k * len(TINY_VOCAB))
    print(f"k = {k:<5}: " + ", ".join(f"P({word} | like) = {p:.3f}" for word, p in zip(TINY_VOCAB, smoothed) if word in ("new", "cats", "york")))

# %% [markdown]
# With $k = 1$, $P(\text{new} \mid \text{like}) = \frac{2 + 1}{3 + 7} = 0.3$: the observed
# $\frac23$ shrinks a lot toward the uniform $\frac17$, and the never-seen "like york" gets
# $\frac1{10}$. With $k = 0.01$ the seen counts keep almost all the mass.

# %% nbgrader={"grade": false, "grade_id": "add_k_probs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def add_k_probs(counts: np.ndarray, k: float) -> np.ndarray:
    """Add-k smoothed conditional probabilities P(w | h) from an n-gram table (about 5 minutes).

    Args:
        counts: int64 (V,) * n, n >= 1, counts[h_1, ..., h_{n-1}, w] = c(h w) (from ngram_counts).
        k: the pseudo-count added to every entry, k > 0 (k = 1 is Laplace smoothing).

    Returns:
        float64 array of counts' shape: probs[h_1, ..., h_{n-1}, w] = (c(h w) + k) / (c(h) + k V),
        with c(h) the sum of the row counts[h] over w. Every row probs[h] sums to 1, for seen and
        unseen contexts alike (an unseen context gets the uniform distribution 1 / V).

    Example:
        >>> add_k_probs(np.array([[3, 1], [0, 0]]), 1.0)
        array([[0.66666667, 0.33333333],
               [0.5       , 0.5       ]])
    """
    ### BEGIN SOLUTION
    vocab_size = len(counts)  # every axis of the table has length V
    context_totals = counts.sum(axis=-1, keepdims=True)  # c(h), broadcast along the last axis
    return (counts + k) / (context_totals + k * vocab_size)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "add_k_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""add-one on the tiny corpus gives the hand-computed (c(h w) + 1) / (c(h) + V), and the unseen context "</s>" gets the uniform 1/V"""
from grader.testing import learner, expect

w = {word: i for i, word in enumerate(TINY_VOCAB)}
probs = learner.add_k_probs(TINY_BIGRAM_COUNTS, 1.0)
expect.shape(probs, (7, 7), what="add_k_probs(tiny bigram counts, 1.0)", hint="the probabilities have the shape of the counts")
expect.dtype(probs, np.float64, what="add_k_probs(tiny bigram counts, 1.0)", hint="probabilities are float64")
# c(like) = 3: c(like new) = 2, c(like cats) = 1, the other five words 0
expect.close(probs[w["like"]], np.array([1, 1, 1, 1, 3, 1, 2]) / 10, atol=1e-15, what="P(. | like) with k = 1",
             hint="(c(like w) + 1) / (c(like) + V) with c(like) = 3 and V = 7")
expect.close(probs[w["<s>"], w["i"]], 3 / 11, atol=1e-15, what="P(i | <s>) with k = 1", hint="(c(<s> i) + 1) / (c(<s>) + V) = (2 + 1) / (4 + 7)")
expect.close(probs[w["</s>"]], np.full(7, 1 / 7), atol=1e-15, what="P(. | </s>) with k = 1 (a context never seen)",
             hint="an unseen context has c(h) = 0, so every word gets k / (k V) = 1 / V")

# %% nbgrader={"grade": true, "grade_id": "add_k_sums_to_one", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""add-k distributions sum to one over the vocabulary for every context, seen and unseen, and equal (c + k) / (c(h) + kV) for orders 1 to 3 and k from 0.01 to 5"""
from grader.testing import learner, expect

probs = learner.add_k_probs(TINY_BIGRAM_COUNTS, 0.1)
expect.shape(probs, (7, 7), what="add_k_probs(tiny bigram counts, 0.1)")
sums = probs.sum(axis=-1)
expect.true(np.allclose(sums, 1.0, rtol=0, atol=1e-12),
            f"with k = 0.1 the rows of the tiny model do not all sum to 1 (the worst sums to {sums[np.argmax(np.abs(sums - 1))]:.4g}): "
            "k is added to each of the V entries of a row, so the denominator is c(h) + k * V")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(5)
for n, V in [(1, 6), (2, 5), (3, 4)]:
    counts = rng.poisson(0.8, size=(V,) * n).astype(np.int64)
    if n > 1:
        counts[1] = 0  # some contexts never seen
    for k in [0.01, 0.5, 1.0, 5.0]:
        got = learner.add_k_probs(counts, k)
        expect.shape(got, counts.shape, what=f"add_k_probs of random counts, n={n}, V={V}, k={k}")
        expect.dtype(got, np.float64, what=f"add_k_probs of random counts, n={n}, k={k}")
        sums = got.sum(axis=-1)
        expect.true(np.allclose(sums, 1.0, rtol=0, atol=1e-12),
                    f"for n={n}, k={k} some rows do not sum to 1 (the worst sums to {sums.flat[np.argmax(np.abs(sums - 1))]:.4g}): "
                    "normalise every context over the last axis, with the denominator c(h) + k * V")
        want = (counts + k) / (counts.sum(axis=-1, keepdims=True) + k * V)
        expect.close(got, want, atol=1e-15, rtol=1e-12, what=f"add_k_probs of random counts, n={n}, V={V}, k={k}",
                     hint="(c(h w) + k) / (c(h) + k V), with c(h) summed over the last axis (the predicted token)")
        if n > 1:
            expect.close(got[1], np.full((V,) * (n - 1), 1 / V), atol=1e-15, what=f"the rows of unseen contexts, n={n}, k={k}",
                         hint="an unseen context gets the uniform distribution 1/V")
### END HIDDEN TESTS

# %% [markdown]
# How $k$ reshapes one distribution: the next word after "the" in Tiny Shakespeare (a bigram
# model over the 197 most frequent words and `<s>`, `</s>`, `<unk>`), sorted from most to least
# likely. The maximum-likelihood curve drops to zero for the words never seen after "the"; add-$k$
# lifts them all to the same floor $k / (c(h) + kV)$. "the" is a frequent context (over 5000
# occurrences), so even $k = 1$ hardly touches the head; for a context seen ten times the same $k$
# would take most of the mass.

# %%
try:
    word_train, word_held_out, word_vocab = shakespeare_words(200, 2)
    word_bigrams = ngram_counts(word_train, 2, len(word_vocab))
    the_row = word_bigrams[word_vocab.index("the")]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(np.arange(1, len(word_vocab) + 1), np.sort(the_row / the_row.sum())[::-1], label="maximum likelihood", color="black")
    for k in [0.01, 0.1, 1.0]:
        ax.plot(np.arange(1, len(word_vocab) + 1), np.sort(add_k_probs(word_bigrams, k)[word_vocab.index("the")])[::-1], label=f"add-k, k = {k}")
    ax.set(xscale="log", yscale="log", ylim=(1e-5, 1), xlabel="rank of the next word", ylabel="P(next word | the)",
           title=f"add-k smoothing of one context (c(the) = {the_row.sum()})")
    ax.legend()
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    plt.close("all")
    print("write ngram_counts and add_k_probs above to see what k does")

# %% [markdown]
# ## 4 · Perplexity: how surprised is the model by new text?
#
# A model is judged by the probability it gives to **held-out** text, text it was not trained on.
# For $N$ predicted tokens the average negative log-likelihood (the cross-entropy, in nats) and
# the **perplexity** are
#
# $$H = -\frac{1}{N} \sum_{t} \log P(x_t \mid x_{t-n+1}, \dots, x_{t-1}), \qquad
# \operatorname{PPL} = e^{H} = \Big(\prod_t P(x_t \mid \dots)\Big)^{-1/N}.$$
#
# The sum runs over **every predicted token of every held-out sequence together**, and $N$ is
# their total number: perplexity is a per-token average. (Averaging each sentence's perplexity, or
# each sentence's mean log-probability, weights a two-word sentence as much as a forty-word one and
# gives a different number.) In each padded sequence the first $n-1$ tokens are context only;
# every token after them, including `</s>`, is predicted once.
#
# **The base must match.** With base-2 logarithms $H$ is in bits and $\operatorname{PPL} = 2^{H}$;
# with natural logarithms $H$ is in nats and $\operatorname{PPL} = e^{H}$: the same number either way.
# Mixing them, $e^{H_{\text{bits}}}$ or $2^{H_{\text{nats}}}$, is a common slip that changes the
# result (here we use nats throughout, as PyTorch's cross-entropy does).
#
# **What this means.** Perplexity is the size of a uniform choice that would be as surprising as
# the model's predictions: a model with perplexity 20 is, on average, as unsure as if it picked
# uniformly among 20 tokens. The uniform model over $V$ tokens has perplexity exactly $V$; a
# perfect model has 1. A single held-out token with probability zero makes the perplexity
# infinite, which is why the maximum-likelihood model cannot be evaluated at all. A model whose
# rows do not sum to one can report a perplexity that is too good, so perplexity is only
# meaningful for proper distributions, on the same vocabulary and tokenization.
#
# Worked example: a bigram model over two tokens, $P(\cdot \mid 0) = (0.5, 0.5)$ and
# $P(\cdot \mid 1) = (0.9, 0.1)$, on the sequence $0, 1, 0, 0$. Three tokens are predicted:

# %%
two_token_model = np.array([[0.5, 0.5], [0.9, 0.1]])
sequence = [0, 1, 0, 0]
log_probs = [math.log(two_token_model[h, w]) for h, w in zip(sequence[:-1], sequence[1:])]
print("log-probabilities:", np.round(log_probs, 4))
print(f"perplexity = exp(-mean) = {math.exp(-np.mean(log_probs)):.4f} = (0.5 * 0.9 * 0.5) ** (-1/3) = {(0.5 * 0.9 * 0.5) ** (-1 / 3):.4f}")
print(f"the same in bits: 2 ** (-mean log2) = {2 ** (-np.mean(np.log2([0.5, 0.9, 0.5]))):.4f}")

# %% nbgrader={"grade": false, "grade_id": "perplexity", "locked": false, "schema_version": 3, "solution": true, "task": false}
def perplexity(probs: np.ndarray, sequences: list[np.ndarray]) -> float:
    """Per-token perplexity of an n-gram model on held-out sequences (about 10 minutes).

    Args:
        probs: float64 (V,) * n, n >= 1, a conditional table: probs[h_1, ..., h_{n-1}, w] = P(w | h).
        sequences: a list of 1-D int sequences (arrays or lists, already padded as for ngram_counts).
            In each sequence every token from position n - 1 on is predicted from the n - 1 tokens
            before it; the first n - 1 tokens are context only, and a sequence with fewer than n
            tokens predicts nothing. At least one token is predicted in all.

    Returns:
        A float: exp(-(1/N) * sum of log P(x_t | x_{t-n+1}, ..., x_{t-1})), the sum over the N
        predicted tokens of all sequences together, natural logarithms throughout. It is inf when
        some predicted token has probability 0.

    Example:
        >>> perplexity(np.full((4, 4), 0.25), [np.array([0, 1, 2, 3])])   # uniform over 4 tokens
        4.0
    """
    ### BEGIN SOLUTION
    order = probs.ndim
    total_log_prob, n_predicted = 0.0, 0
    for sequence in sequences:
        sequence = np.asarray(sequence, dtype=np.int64)
        if len(sequence) < order:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(sequence, order)  # one row (h, w) per predicted token
        with np.errstate(divide="ignore"):  # log(0) = -inf gives perplexity inf, as it should
            total_log_prob += np.log(probs[tuple(windows.T)]).sum()
        n_predicted += len(windows)
    return float(np.exp(-total_log_prob / n_predicted))
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "perplexity_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""perplexity of a uniform model over V tokens is V, and perplexity matches the hand-computed values of a two-token model and of add-one on the tiny corpus"""
from grader.testing import learner, expect

expect.close(learner.perplexity(np.full((4, 4), 0.25), [np.array([0, 1, 2, 3])]), 4.0, atol=0, rtol=1e-12,
             what="the perplexity of a uniform bigram model over 4 tokens", hint="a uniform model over V tokens has perplexity V")
expect.close(learner.perplexity(np.array([[0.5, 0.5], [0.9, 0.1]]), [np.array([0, 1, 0, 0])]), (0.5 * 0.9 * 0.5) ** (-1 / 3), atol=0, rtol=1e-12,
             what="the perplexity of the two-token model of the worked example on 0, 1, 0, 0",
             hint="three tokens are predicted: exp(-(log 0.5 + log 0.9 + log 0.5) / 3), natural logarithms")
# add-one on the tiny corpus, "<s> i like york </s>": P(i | <s>) = 3/11, P(like | i) = 3/9, P(york | like) = 1/10, P(</s> | york) = 4/10
add_one = (TINY_BIGRAM_COUNTS + 1.0) / (TINY_BIGRAM_COUNTS.sum(axis=-1, keepdims=True) + 7.0)
expect.close(learner.perplexity(add_one, [encode_sentence("i like york", 2)]), 275 ** 0.25, atol=0, rtol=1e-12,
             what="the perplexity of add-one on '<s> i like york </s>'",
             hint="four tokens are predicted (i, like, york, </s>): (3/11 * 3/9 * 1/10 * 4/10) ** (-1/4)")

# %% nbgrader={"grade": true, "grade_id": "perplexity_per_token", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""perplexity is a per-token average over all held-out sequences (not per sentence) in nats, equal to exp of torch's cross-entropy, for orders 1 to 3, with short sequences, and inf for a zero probability"""
from grader.testing import learner, expect

model = np.array([[0.5, 0.5], [0.9, 0.1]])
# two sequences: 1 + 3 predicted tokens, averaged together
want = math.exp(-(math.log(0.5) + math.log(0.5) + math.log(0.9) + math.log(0.5)) / 4)
expect.close(learner.perplexity(model, [np.array([0, 1]), np.array([0, 1, 0, 0])]), want, atol=0, rtol=1e-12,
             what="the perplexity of the two-token model on the sequences [0, 1] and [0, 1, 0, 0]",
             hint="sum the log-probabilities of all predicted tokens of all sequences, then divide by the total number of predicted tokens (4)")
### BEGIN HIDDEN TESTS
import torch
import torch.nn.functional as F

hint = ("exp(-(sum of natural-log probabilities of every predicted token of every sequence) / (their total number)); "
        "the first n - 1 tokens of each sequence are context only")


def torch_perplexity(probs, sequences):
    """exp of torch's mean cross-entropy, on the row P(. | h) of every predicted token."""
    n = probs.ndim
    rows, targets = [], []
    for s in sequences:
        for t in range(n - 1, len(s)):
            rows.append(probs[tuple(s[t - n + 1:t])])
            targets.append(s[t])
    logits = torch.log(torch.tensor(np.array(rows)))
    return math.exp(F.cross_entropy(logits, torch.tensor(targets)).item())


rng = np.random.default_rng(21)
for n, V in [(1, 5), (2, 6), (3, 4)]:
    probs = rng.dirichlet(np.full(V, 0.7), size=(V,) * (n - 1)) if n > 1 else rng.dirichlet(np.full(V, 0.7))
    lengths = [0, 1, 2, 3, 5, 9, 30, 4, 17]
    sequences = [rng.integers(0, V, size=length).tolist() for length in lengths]
    got = learner.perplexity(probs, sequences)
    expect.finite(got, what=f"the perplexity of a random model, n={n}")
    expect.close(got, torch_perplexity(probs, sequences), atol=0, rtol=1e-10,
                 what=f"the perplexity of a random order-{n} model on sequences of lengths 0 to 30, compared with exp(torch cross-entropy)", hint=hint)
# a sequence of exactly n tokens predicts one token
probs = rng.dirichlet(np.ones(3), size=(3, 3))
expect.close(learner.perplexity(probs, [[2, 0, 1]]), 1 / probs[2, 0, 1], atol=0, rtol=1e-12,
             what="the perplexity of a trigram model on one sequence of exactly 3 tokens", hint=hint)
# one impossible token makes the perplexity infinite
zero_model = np.array([[1.0, 0.0], [0.5, 0.5]])
got = learner.perplexity(zero_model, [[1, 0, 1]])
expect.true(isinstance(got, float) and math.isinf(got) and got > 0,
            "a predicted token with probability 0 must give perplexity inf (log 0 = -inf), not a finite number or nan")
### END HIDDEN TESTS

# %% [markdown]
# The maximum-likelihood model cannot even be scored on held-out Shakespeare, and add-$k$ can, with
# a perplexity that depends a lot on $k$ and on the order. The curves below use your functions on
# words (the 197 most frequent words and `<s>`, `</s>`, `<unk>`; every tenth line held out).

# %%
try:
    ml_probs = word_bigrams / np.maximum(word_bigrams.sum(axis=-1, keepdims=True), 1)
    print("held-out perplexity of the maximum-likelihood bigram model:", perplexity(ml_probs, word_held_out))
    k_grid = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
    word_tables = {}
    add_k_curves = {}
    for n in [1, 2, 3]:
        train_n, held_out_n, _ = shakespeare_words(200, n)
        word_tables[n] = (ngram_counts(train_n, n, 200), held_out_n)
        add_k_curves[n] = [perplexity(add_k_probs(word_tables[n][0], k), held_out_n) for k in k_grid]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for n, curve in add_k_curves.items():
        ax.plot(k_grid, curve, marker="o", label=f"{n}-gram, add-k")
    ax.set(xscale="log", xlabel="k", ylabel="held-out perplexity", title="add-k on Shakespeare words (V = 200)")
    ax.legend()
    fig.tight_layout()
    plt.show()
except (NotImplementedError, NameError):
    plt.close("all")
    print("write ngram_counts, add_k_probs and perplexity above to see held-out perplexities")

# %% [markdown]
# Three lessons in one picture. A zero probability on held-out text makes maximum likelihood
# useless (perplexity inf). Add-one ($k = 1$) is far too strong: its trigram model is *worse* than
# its bigram model, because the rare trigram contexts are drowned in imaginary counts. And the best
# $k$ is small and shrinks with the order, yet even the best trigram add-$k$ model wastes
# probability: it spreads the mass it takes from seen words evenly over all unseen words, the
# likely and the absurd alike. The next two sections give it to them in proportion to a lower-order
# model instead.

# %% [markdown]
# ## 5 · Absolute discounting: take a constant, give it to a lower order
#
# How much probability should an unseen $n$-gram get? Church and Gale (1991) answered empirically:
# split a corpus in two, and look at how often the $n$-grams that occurred $c$ times in the first
# half occur in the second. Below, on word bigrams of Tiny Shakespeare's odd and even lines:

# %%
def line_bigrams(some_lines):
    return Counter(pair for line in some_lines for pair in zip(line[:-1], line[1:]))


first_half, second_half = line_bigrams(lines[0::2]), line_bigrams(lines[1::2])
training_counts = np.arange(1, 11)
held_out_means = np.array([np.mean([second_half[g] for g, c in first_half.items() if c == r]) for r in training_counts])
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(training_counts, training_counts, color="grey", ls=":", label="held-out count = training count")
ax.plot(training_counts, held_out_means, marker="o", label="mean count in the other half")
ax.plot(training_counts, training_counts - 1.0, color="C1", ls="--", label="training count - 1")
ax.set(xlabel="count of a bigram in the odd lines", ylabel="its mean count in the even lines", title="held-out counts are smaller by about a constant")
ax.legend()
fig.tight_layout()
plt.show()
print("training count minus mean held-out count:", np.round(training_counts - held_out_means, 2))

# %% [markdown]
# A bigram seen $c$ times in one half is seen, on average, between 0.6 and 1 times fewer in the
# other (on Church and Gale's newswire the difference was about 0.75). The difference does not grow with $c$:
# counts are too large by roughly a **constant**, not by a factor. So subtract a constant discount
# $D$ from every seen count, and give the mass collected this way to a lower-order distribution
# $P_{\text{lower}}(w \mid h')$, where $h'$ drops the first token of the context:
#
# $$P_{\text{AD}}(w \mid h) = \frac{\max\big(c(h\,w) - D,\; 0\big)}{c(h)} + \gamma(h)\, P_{\text{lower}}(w \mid h'),
# \qquad \gamma(h) = \frac{D\, N_{1+}(h\,\bullet)}{c(h)},$$
#
# where $N_{1+}(h\,\bullet) = \big|\{w : c(h\,w) > 0\}\big|$ is the number of different tokens seen
# after $h$. Why this $\gamma$: with integer counts and $0 < D \le 1$, every seen count is at least
# $D$, so the first term takes exactly $D$ from each of the $N_{1+}(h\,\bullet)$ seen tokens, and
#
# $$\sum_w P_{\text{AD}}(w \mid h) = \frac{c(h) - D\,N_{1+}(h\,\bullet)}{c(h)}
# + \frac{D\,N_{1+}(h\,\bullet)}{c(h)} \underbrace{\sum_w P_{\text{lower}}(w \mid h')}_{=\,1} = 1.$$
#
# The discounted mass is **redistributed**, not lost. A context never seen ($c(h) = 0$) has no
# evidence at all: it gets the lower-order distribution unchanged, $P_{\text{AD}}(w \mid h) =
# P_{\text{lower}}(w \mid h')$ (the formula would divide by zero).
#
# **What this means.** Every seen token pays the same fixed tax $D$; a context with many different
# continuations (large $N_{1+}$) and few observations (small $c(h)$) collects the most tax and
# leans the most on the lower order, which is exactly the context whose counts deserve the least
# trust. The lower order itself can be discounted the same way, recursively, down to a uniform
# distribution: this is **interpolation** (Jelinek–Mercer style mixing, with weights set by the
# counts instead of tuned).
#
# **Shapes.** For an order-$m$ table `counts` of shape $(V,)^m$ the lower-order table has shape
# $(V,)^{m-1}$, indexed `lower[h_2, ..., h_{m-1}, w]`, and NumPy's broadcasting aligns it with the
# last $m - 1$ axes of `counts` by itself: `counts - D` has shape $(V,)^m$ and `gamma * lower`
# broadcasts over the first axis. For $m = 1$ (a unigram table) the lower order is a vector of
# shape $(V,)$, the uniform distribution.
#
# Worked example: the context "like" of the tiny corpus with $D = 0.5$ ($c(\text{like}) = 3$, two
# different words seen, $\gamma = 0.5 \cdot 2 / 3 = 1/3$), with the lower-order distribution
# written out by hand (section 6 shows where it comes from):

# %%
tiny_lower = np.array([3 / 70, 27 / 140, 13 / 140, 27 / 140, 27 / 140, 13 / 140, 27 / 140])   # sums to 1
like_row = TINY_BIGRAM_COUNTS[TINY_VOCAB.index("like")]
gamma = 0.5 * np.count_nonzero(like_row) / like_row.sum()
by_hand = np.maximum(like_row - 0.5, 0) / like_row.sum() + gamma * tiny_lower
for word, p in zip(TINY_VOCAB, by_hand):
    print(f"P_AD({word:>4} | like) = {p:.4f}")
print("sum:", by_hand.sum())

# %% nbgrader={"grade": false, "grade_id": "absolute_discounting", "locked": false, "schema_version": 3, "solution": true, "task": false}
def absolute_discounting(counts: np.ndarray, discount: float, lower: np.ndarray) -> np.ndarray:
    """Interpolated absolute discounting: subtract D from every seen count, give that mass to a lower order (about 15 minutes).

    Args:
        counts: (V,) * m, m >= 1, non-negative integer counts with the context h = (h_1, ..., h_{m-1})
            on the first m - 1 axes and the predicted token w on the last (raw counts, or the
            continuation counts of section 6).
        discount: D, with 0 < D <= 1.
        lower: float64, the lower-order distribution P_lower(w | h') where h' = (h_2, ..., h_{m-1})
            is the context without its first token: shape counts.shape[1:] = (V,) * (m - 1) for
            m >= 2, and shape (V,) for m = 1. Each of its rows sums to one.

    Returns:
        float64 array of counts' shape:
            P(w | h) = max(c(h w) - D, 0) / c(h) + D * N1+(h .) / c(h) * P_lower(w | h'),
        with c(h) the sum of counts[h] over w and N1+(h .) the number of w with c(h w) > 0.
        A context never seen (c(h) = 0) gets P_lower(. | h') unchanged. Every row sums to one.

    Example:
        >>> absolute_discounting(np.array([[3, 1, 0], [0, 0, 0]]), 0.5, np.array([0.5, 0.25, 0.25]))
        array([[0.75  , 0.1875, 0.0625],
               [0.5   , 0.25  , 0.25  ]])
    """
    ### BEGIN SOLUTION
    context_totals = counts.sum(axis=-1, keepdims=True)  # c(h)
    distinct = (counts > 0).sum(axis=-1, keepdims=True)  # N1+(h .)
    safe_totals = np.maximum(context_totals, 1)  # unseen contexts are replaced below; avoid 0 / 0 here
    discounted = np.maximum(counts - discount, 0) / safe_totals
    backoff_weight = discount * distinct / safe_totals  # gamma(h): exactly the mass taken away
    return np.where(context_totals > 0, discounted + backoff_weight * lower, lower)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "absolute_discounting_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""absolute discounting gives the hand-computed values of the docstring example and of the context "like" of the tiny corpus, and an unseen context the lower-order distribution"""
from grader.testing import learner, expect

got = learner.absolute_discounting(np.array([[3, 1, 0], [0, 0, 0]]), 0.5, np.array([0.5, 0.25, 0.25]))
expect.shape(got, (2, 3), what="absolute_discounting of the docstring example", hint="the result has the shape of the counts")
expect.dtype(got, np.float64, what="absolute_discounting of the docstring example", hint="probabilities are float64")
expect.close(got[0], np.array([0.75, 0.1875, 0.0625]), atol=1e-15, what="the seen context of the docstring example",
             hint="c(h) = 4 and two words seen: (max(c - 0.5, 0) + 0.5 * 2 * lower) / 4")
expect.close(got[1], np.array([0.5, 0.25, 0.25]), atol=1e-15, what="the unseen context of the docstring example",
             hint="a context with c(h) = 0 gets the lower-order distribution unchanged (and no division by zero)")
lower = np.array([3 / 70, 27 / 140, 13 / 140, 27 / 140, 27 / 140, 13 / 140, 27 / 140])
probs = learner.absolute_discounting(TINY_BIGRAM_COUNTS, 0.5, lower)
expect.shape(probs, (7, 7), what="absolute_discounting(tiny bigram counts, 0.5, lower)")
# gamma(like) = 0.5 * 2 / 3 = 1/3: P(new | like) = 1.5/3 + lower(new)/3, P(cats | like) = 0.5/3 + lower(cats)/3, others lower/3
expect.close(probs[TINY_VOCAB.index("like")], np.array([1 / 70, 9 / 140, 13 / 420, 9 / 140, 79 / 140, 13 / 420, 1 / 6 + 9 / 140]),
             atol=1e-15, what="P_AD(. | like) with D = 0.5", hint="max(c(like w) - D, 0) / c(like) + D * N1+(like .) / c(like) * lower(w)")
expect.close(probs[TINY_VOCAB.index("</s>")], lower, atol=1e-15, what="P_AD(. | </s>), a context never seen",
             hint="an unseen context gets the lower-order distribution unchanged")

# %% nbgrader={"grade": true, "grade_id": "absolute_discounting_sums_to_one", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""absolute discounting redistributes exactly the discounted mass: every context, seen or unseen, sums to one, and the values equal the formula for orders 1 to 3, discounts 0.3 to 1 and random lower-order distributions"""
from grader.testing import learner, expect

lower = np.array([3 / 70, 27 / 140, 13 / 140, 27 / 140, 27 / 140, 13 / 140, 27 / 140])
probs = learner.absolute_discounting(TINY_BIGRAM_COUNTS, 0.75, lower)
expect.shape(probs, (7, 7), what="absolute_discounting(tiny bigram counts, 0.75, lower)")
expect.finite(probs, what="absolute_discounting(tiny bigram counts, 0.75, lower)",
              hint="the context </s> is never seen (c(h) = 0): give it the lower order instead of dividing by zero")
sums = probs.sum(axis=-1)
expect.true(np.allclose(sums, 1.0, rtol=0, atol=1e-12),
            f"with D = 0.75 the rows of the tiny model do not all sum to 1 (the worst sums to {sums[np.argmax(np.abs(sums - 1))]:.4g}): "
            "the mass taken away, D * N1+(h .) / c(h), must go to the lower order, and an unseen context gets the lower order unchanged")
### BEGIN HIDDEN TESTS
def discounted_by_hand(counts, D, lower):
    out = np.zeros(counts.shape)
    for h in itertools.product(range(counts.shape[-1]), repeat=counts.ndim - 1):
        row, low = counts[h], lower[h[1:]] if counts.ndim > 1 else lower
        total = row.sum()
        if total == 0:
            out[h] = low
        else:
            out[h] = np.maximum(row - D, 0) / total + D * np.count_nonzero(row) / total * low
    return out


hint = ("max(c(h w) - D, 0) / c(h) + D * N1+(h .) / c(h) * lower(h', w), with c(h) and N1+(h .) taken over the last axis, "
        "lower broadcast over the first axis, and lower unchanged where c(h) = 0")
rng = np.random.default_rng(8)
for m, V in [(1, 6), (2, 5), (3, 4)]:
    counts = rng.poisson(0.9, size=(V,) * m).astype(np.int64)
    if m > 1:
        counts[2] = 0  # unseen contexts
        counts[(0,) * (m - 1)] = 0
        counts[(0,) * (m - 1) + (1,)] = 1  # a context seen exactly once
    lower = rng.dirichlet(np.ones(V), size=(V,) * (m - 2)) if m > 1 else rng.dirichlet(np.ones(V))
    for D in [0.3, 0.75, 1.0]:
        got = learner.absolute_discounting(counts, D, lower)
        expect.shape(got, counts.shape, what=f"absolute_discounting of random counts, m={m}, V={V}, D={D}")
        expect.finite(got, what=f"absolute_discounting of random counts with unseen contexts, m={m}, D={D}",
                      hint="an unseen context has c(h) = 0: give it the lower order instead of dividing by zero")
        sums = got.sum(axis=-1)
        expect.true(np.allclose(sums, 1.0, rtol=0, atol=1e-12),
                    f"for m={m}, D={D} some rows do not sum to 1 (the worst sums to {sums.flat[np.argmax(np.abs(sums - 1))]:.4g}): "
                    "the discounted mass D * N1+(h .) / c(h) must be given to the lower order")
        expect.close(got, discounted_by_hand(counts, D, lower), atol=1e-15, rtol=1e-12,
                     what=f"absolute_discounting of random counts, m={m}, V={V}, D={D}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · Kneser–Ney: the lower order should count contexts, not occurrences
#
# Which lower-order distribution should absolute discounting fall back on? The obvious choice, the
# maximum-likelihood unigram $c(w)/\sum_u c(u)$, has a flaw that Kneser and Ney (1995) spotted. In
# the tiny corpus "like" and "york" both occur three times, so they get the same unigram
# probability. But "york" only ever follows "new", and the bigram "new york" already predicts it
# well. The lower order is only consulted for contexts where the bigram model has little evidence,
# and there a word that appears after many different words ("like" follows "i" and "cats") is a
# much better guess than a word glued to one predecessor. (The classic example: "Francisco" is a
# frequent word, but almost always after "San".)
#
# Kneser–Ney replaces the count of $w$ by its **continuation count**, the number of different
# tokens it follows:
#
# $$N_{1+}(\bullet\, w) = \big|\{u : c(u\,w) > 0\}\big|, \qquad
# P_{\text{cont}}(w) = \frac{N_{1+}(\bullet\, w)}{N_{1+}(\bullet\,\bullet)},$$
#
# where $N_{1+}(\bullet\,\bullet) = \sum_w N_{1+}(\bullet\, w)$ is the number of different bigram
# types. For a higher order $m$ the same holds for a whole $(m-1)$-gram $g$:
# $N_{1+}(\bullet\, g) = |\{u : c(u\, g) > 0\}|$, computed from the table of order $m$.
#
# **Interpolated Kneser–Ney** (in the form of Chen and Goodman, 1999) is absolute discounting at
# every order:
#
# - the top order $n$ uses the **raw counts** $c(h\,w)$;
# - every lower order $m = n-1, \dots, 1$ uses the **continuation counts** of the order above in
#   place of counts, in the same formula: $\frac{\max(N_{1+}(\bullet\, h\, w) - D, 0)}{\sum_{w'} N_{1+}(\bullet\, h\, w')}
#   + \gamma(h)\, P(w \mid h')$;
# - the recursion ends at the **uniform** distribution $1/V$ (order 0), so that even a token never
#   seen in any context keeps a non-zero probability.
#
# Because every level is absolute discounting of non-negative integers with $0 < D \le 1$, every
# level sums to one by section 5, for every context.
#
# **What this means.** The top order asks "how often did $w$ follow exactly this context?", every
# lower order asks "in how many different places has $w$ (or this $g\,w$) shown up?". Versatile
# words become the default guesses for unfamiliar contexts.
#
# A note on our formulation: every lower-order statistic here is computed from the $n$-gram table
# itself (distinct left neighbours among its $n$-gram types). Counting $(n-1)$-grams directly on the
# text would also count the few at the very start of a sequence, which have no left neighbour; the
# difference is tiny, and ours keeps the whole model a function of one table.
#
# Worked example on the tiny corpus, counted with sets:

# %%
left_neighbours = {word: {h for (h, w) in tiny_bigrams if w == word} for word in TINY_VOCAB}
frequency = Counter(w for (h, w), count in tiny_bigrams.items() for _ in range(count))
n_types = len(tiny_bigrams)
print(f"{'word':>5} | c(w) | P_ML(w) | left neighbours        | N1+(. w) | P_cont(w)")
for word in TINY_VOCAB:
    print(f"{word:>5} | {frequency[word]:4} | {frequency[word] / 17:7.3f} | {str(sorted(left_neighbours[word])):22} | "
          f"{len(left_neighbours[word]):8} | {len(left_neighbours[word]) / n_types:9.3f}")

# %% [markdown]
# "like", "new" and "york" are equally frequent ($3/17$ each), but "york" has one left neighbour and
# the other two have two: $P_{\text{cont}}(\text{york}) = 0.1$, half of $P_{\text{cont}}(\text{like}) =
# 0.2$. The hand-written `tiny_lower` of section 5 is this continuation distribution, discounted with
# $D = 0.5$ and interpolated with the uniform $1/7$: for example $P(\text{like}) =
# \frac{2 - 0.5}{10} + \frac{0.5 \cdot 6}{10} \cdot \frac17 = \frac{27}{140}$ (six words have a
# non-zero continuation count; `<s>` has none and keeps only its share of the uniform).
#
# The continuation counts of every order come from the table above with one reduction: a count is
# "seen" when it is positive, and the left neighbour $u$ is the first axis.

# %% nbgrader={"grade": false, "grade_id": "continuation_counts", "locked": false, "schema_version": 3, "solution": true, "task": false}
def continuation_counts(counts: np.ndarray) -> np.ndarray:
    """Kneser-Ney continuation counts: after how many different tokens does each (m-1)-gram occur? (about 5 minutes)

    Args:
        counts: (V,) * m, m >= 2, non-negative integer counts (raw n-gram counts, or continuation
            counts of a higher order) with the leftmost token on axis 0.

    Returns:
        int64 array of shape (V,) * (m - 1): out[g_1, ..., g_{m-1}] = N1+(. g), the number of
        distinct tokens u with counts[u, g_1, ..., g_{m-1}] > 0. For bigram counts, out[w] is the
        number of different tokens seen right before w.

    Example:
        >>> continuation_counts(np.array([[0, 5, 1], [0, 2, 0], [0, 7, 0]]))
        array([0, 3, 1])
    """
    ### BEGIN SOLUTION
    return (counts > 0).sum(axis=0)  # axis 0 holds the left neighbour u
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "continuation_counts_distinct_left_neighbours", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""continuation counts count distinct left neighbours (not occurrences, not right neighbours): the tiny corpus by hand, and random tables of orders 2 to 4 against a set-based count"""
from grader.testing import learner, expect

got = learner.continuation_counts(TINY_BIGRAM_COUNTS)
expect.shape(got, (7,), what="continuation_counts(tiny bigram counts)", hint="one continuation count per word: (V,) for a (V, V) table")
expect.dtype(got, np.int64, what="continuation_counts(tiny bigram counts)", hint="counts of distinct neighbours are int64")
# <s> follows nothing, </s> follows york and cats, i follows <s>, like follows i and cats, new follows <s> and like,
# york follows new only, cats follows <s> and like
expect.equal(got, np.array([0, 2, 1, 2, 2, 1, 2]), what="continuation_counts of the tiny corpus",
             hint="N1+(. w) counts the different words u with c(u w) > 0 (axis 0 is u): 'york' follows only 'new', so it has 1")
### BEGIN HIDDEN TESTS
hint = "out[g] is the number of distinct u (axis 0) with counts[u, g] > 0: count positive entries along axis 0, not their sum"
rng = np.random.default_rng(13)
for m, V in [(2, 6), (3, 5), (4, 3)]:
    counts = rng.poisson(0.7, size=(V,) * m).astype(np.int64) * rng.integers(1, 4, size=(V,) * m)
    got = learner.continuation_counts(counts)
    expect.shape(got, (V,) * (m - 1), what=f"continuation_counts of a random table, m={m}, V={V}", hint="the result drops the first axis")
    expect.dtype(got, np.int64, what=f"continuation_counts of a random table, m={m}")
    want = np.zeros((V,) * (m - 1), dtype=np.int64)
    for g in itertools.product(range(V), repeat=m - 1):
        want[g] = len({u for u in range(V) if counts[(u,) + g] > 0})
    expect.equal(got, want, what=f"continuation_counts of a random table, m={m}, V={V}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Now the whole model. Build the tables of every order, top to bottom: the raw counts of order $n$,
# then `continuation_counts` of it (order $n-1$), then `continuation_counts` of that, down to a
# table of shape $(V,)$. Then go back up: start from the uniform distribution and apply
# `absolute_discounting` with each table in turn, from the unigram level to the top order, each
# result being the `lower` of the next.

# %% nbgrader={"grade": false, "grade_id": "kneser_ney_probs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def kneser_ney_probs(counts: np.ndarray, discount: float = 0.75) -> np.ndarray:
    """Interpolated Kneser-Ney conditional probabilities P_KN(w | h) from an n-gram table (about 15 minutes).

    Args:
        counts: int64 (V,) * n, n >= 1, raw n-gram counts (from ngram_counts).
        discount: D, 0 < D <= 1, the same at every order.

    Returns:
        float64 array of counts' shape: the top order uses the raw counts, each lower order
        m = n - 1, ..., 1 the continuation counts of the order above (continuation_counts), and
        the recursion ends at the uniform distribution 1/V; each order is combined with the one
        below by absolute_discounting. Every row sums to one, for seen and unseen contexts.

    Example:
        >>> probs = kneser_ney_probs(TINY_BIGRAM_COUNTS, 0.5)      # (7, 7)
        >>> probs[TINY_VOCAB.index("</s>")]                       # an unseen context: the unigram level
        array([0.04285714, 0.19285714, 0.09285714, 0.19285714, 0.19285714, 0.09285714, 0.19285714])
    """
    ### BEGIN SOLUTION
    levels = [counts]  # levels[i] has n - i axes: raw counts, then continuation counts
    for _ in range(counts.ndim - 1):
        levels.append(continuation_counts(levels[-1]))
    probs = np.full(len(counts), 1.0 / len(counts))  # order 0: uniform over the V tokens
    for level in reversed(levels):  # from the unigram level up to the top order
        probs = absolute_discounting(level, discount, probs)
    return probs
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "kneser_ney_small_cases", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""Kneser-Ney on the tiny bigram corpus with D = 0.5 gives the hand-computed unigram level (continuation counts, not frequencies) and the hand-computed row of "like"; the default discount is 0.75"""
from grader.testing import learner, expect

probs = learner.kneser_ney_probs(TINY_BIGRAM_COUNTS, 0.5)
expect.shape(probs, (7, 7), what="kneser_ney_probs(tiny bigram counts, 0.5)", hint="the probabilities have the shape of the counts")
expect.dtype(probs, np.float64, what="kneser_ney_probs(tiny bigram counts, 0.5)", hint="probabilities are float64")
# the unseen context </s> gets the unigram level: max(N1+(. w) - 0.5, 0) / 10 + 0.5 * 6 / 10 * 1/7
unigram_level = np.array([3 / 70, 27 / 140, 13 / 140, 27 / 140, 27 / 140, 13 / 140, 27 / 140])
expect.close(probs[TINY_VOCAB.index("</s>")], unigram_level, atol=1e-15, what="P_KN(. | </s>) with D = 0.5 (the unigram level)",
             hint="the unigram level discounts the continuation counts N1+(. w) = (0, 2, 1, 2, 2, 1, 2), not the frequencies, "
                  "and interpolates them with the uniform 1/V")
expect.close(probs[TINY_VOCAB.index("like")], np.array([1 / 70, 9 / 140, 13 / 420, 9 / 140, 79 / 140, 13 / 420, 1 / 6 + 9 / 140]),
             atol=1e-15, what="P_KN(. | like) with D = 0.5", hint="the top order discounts the raw counts and falls back on the unigram level")
default = learner.kneser_ney_probs(TINY_BIGRAM_COUNTS)
expect.shape(default, (7, 7), what="kneser_ney_probs(tiny bigram counts) with the default discount")
expect.close(default[TINY_VOCAB.index("new"), TINY_VOCAB.index("york")], (3 - 0.75) / 3 + 0.75 / 3 * ((1 - 0.75) / 10 + 0.75 * 6 / 10 / 7),
             atol=1e-15, what="P_KN(york | new) with the default discount", hint="the default discount is D = 0.75")

# %% nbgrader={"grade": true, "grade_id": "kneser_ney_matches_brute_force", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""interpolated Kneser-Ney of orders 1 to 3 equals an independent brute-force computation from sets of n-grams (tiny corpus and random corpora, D from 0.5 to 1), and every conditional distribution sums to one for every context, seen and unseen"""
from grader.testing import learner, expect

trigram_counts = np.zeros((7, 7, 7), dtype=np.int64)
for sentence in TINY_SENTENCES:
    ids = encode_sentence(sentence, 3)
    for i in range(len(ids) - 2):
        trigram_counts[ids[i], ids[i + 1], ids[i + 2]] += 1
probs = learner.kneser_ney_probs(trigram_counts)
expect.shape(probs, (7, 7, 7), what="kneser_ney_probs(tiny trigram counts)")
sums = probs.sum(axis=-1)
expect.true(np.all(np.isfinite(sums)) and np.allclose(sums, 1.0, rtol=0, atol=1e-12),
            "some rows of the tiny trigram model do not sum to 1 (or are not finite): every order must redistribute the discounted mass "
            "to the order below, unseen contexts must get the lower order, and the recursion must end at the uniform 1/V")
### BEGIN HIDDEN TESTS
def brute_force_kneser_ney(sequences, n, V, D):
    """P_KN(w | h) for every context and word, from dictionaries and sets of n-gram tuples only."""
    levels = {n: Counter(tuple(int(t) for t in s[i:i + n]) for s in sequences for i in range(len(s) - n + 1))}
    for m in range(n - 1, 0, -1):   # continuation counts: distinct left neighbours among the types of the order above
        neighbours = {}
        for gram in levels[m + 1]:
            neighbours.setdefault(gram[1:], set()).add(gram[0])
        levels[m] = {g: len(us) for g, us in neighbours.items()}

    @lru_cache(maxsize=None)
    def p(m, h, w):
        if m == 0:
            return 1.0 / V
        row = {g[-1]: c for g, c in levels[m].items() if g[:-1] == h and c > 0}
        total, lower = sum(row.values()), p(m - 1, h[1:], w)
        if total == 0:
            return lower
        return max(row.get(w, 0) - D, 0) / total + D * len(row) / total * lower

    out = np.zeros((V,) * n)
    for gram in itertools.product(range(V), repeat=n):
        out[gram] = p(n, gram[:-1], gram[-1])
    return out


hint = ("top order: absolute discounting of the raw counts; each lower order: of the continuation counts N1+(. g) of the order "
        "above; unseen contexts take the lower order; the recursion ends at the uniform 1/V")
tiny_sequences = [encode_sentence(s, 3) for s in TINY_SENTENCES]
for D in [0.5, 0.75, 1.0]:
    got = learner.kneser_ney_probs(trigram_counts, D)
    expect.close(got, brute_force_kneser_ney(tiny_sequences, 3, 7, D), atol=1e-14, rtol=1e-12,
                 what=f"Kneser-Ney of the tiny trigram corpus with D = {D}, compared with a brute-force computation", hint=hint)
expect.close(probs, brute_force_kneser_ney(tiny_sequences, 3, 7, 0.75), atol=1e-14, rtol=1e-12,
             what="Kneser-Ney of the tiny trigram corpus with the default discount", hint="the default discount is 0.75")

rng = np.random.default_rng(17)
for n, V in [(1, 6), (2, 6), (3, 5)]:
    sequences = [rng.choice(V, size=length, p=np.arange(V, 0, -1) / (V * (V + 1) / 2)).tolist() for length in [3, 8, 15, 30, 6]]
    counts = np.zeros((V,) * n, dtype=np.int64)
    for s in sequences:
        for i in range(len(s) - n + 1):
            counts[tuple(s[i:i + n])] += 1
    for D in [0.6, 1.0]:
        got = learner.kneser_ney_probs(counts, D)
        expect.shape(got, (V,) * n, what=f"kneser_ney_probs of a random corpus, n={n}, V={V}")
        expect.finite(got, what=f"kneser_ney_probs of a random corpus, n={n}, V={V}, D={D}",
                      hint="unseen contexts (c(h) = 0) must take the lower order instead of dividing by zero")
        sums = got.sum(axis=-1)
        expect.true(np.allclose(sums, 1.0, rtol=0, atol=1e-12),
                    f"for a random corpus with n={n}, D={D} some contexts do not sum to 1 (the worst sums to "
                    f"{sums.flat[np.argmax(np.abs(sums - 1))]:.4g}): every order must redistribute its discounted mass")
        expect.close(got, brute_force_kneser_ney(sequences, n, V, D), atol=1e-14, rtol=1e-12,
                     what=f"Kneser-Ney of a random corpus, n={n}, V={V}, D={D}, compared with a brute-force computation", hint=hint)
# no data at all: every order falls through to the uniform distribution
empty = learner.kneser_ney_probs(np.zeros((4, 4, 4), dtype=np.int64), 0.75)
expect.close(empty, np.full((4, 4, 4), 0.25), atol=1e-15, what="kneser_ney_probs of an all-zero trigram table",
             hint="with no counts at all, every context falls through every order to the uniform 1/V")
### END HIDDEN TESTS

# %% [markdown]
# ## 7 · Add-$k$ against Kneser–Ney on held-out Shakespeare
#
# The same words as in section 4 (the 197 most frequent words of the training lines plus `<s>`,
# `</s>`, `<unk>`; every tenth line held out), now with Kneser–Ney as well. The scenario below
# builds every model with your functions; the test runs it with a vocabulary of 100 words to stay
# fast.

# %%
@scenario
def shakespeare_perplexities(ns, orders, ks, discounts, vocab_size=100):
    """Held-out perplexities of add-k and Kneser-Ney word models of Tiny Shakespeare, all built with ns's functions."""
    results = {}
    for n in orders:
        train, held_out, _ = ns.shakespeare_words(vocab_size, n)
        counts = ns.ngram_counts(train, n, vocab_size)
        results[f"add-k, n={n}"] = [ns.perplexity(ns.add_k_probs(counts, k), held_out) for k in ks]
        results[f"Kneser-Ney, n={n}"] = [ns.perplexity(ns.kneser_ney_probs(counts, d), held_out) for d in discounts]
    return results


# %% nbgrader={"grade": true, "grade_id": "shakespeare_add_k_against_kneser_ney", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""on held-out Shakespeare words your add-k and Kneser-Ney models of orders 1 to 3 reach the reference's perplexities, Kneser-Ney beats the best add-k at every order above one, and add-one gets worse from bigrams to trigrams"""
from grader.testing import expect

got = shakespeare_perplexities.learner([3], [1.0], [0.75])
for key in ["add-k, n=3", "Kneser-Ney, n=3"]:
    expect.shape(got[key], (1,), what=f"the held-out perplexities of {key} (one model)", hint="perplexity returns one float")
    expect.finite(got[key], what=f"the held-out perplexity of {key}")
kneser_ney, add_one = float(got["Kneser-Ney, n=3"][0]), float(got["add-k, n=3"][0])
expect.true(1.0 < kneser_ney < add_one,
            "the trigram Kneser-Ney model (D = 0.75) should have a held-out perplexity above 1 and below add-one's")
### BEGIN HIDDEN TESTS
ks, discounts = [0.01, 0.1, 1.0], [0.5, 0.75, 1.0]
got = shakespeare_perplexities.learner([1, 2, 3], ks, discounts)
want = shakespeare_perplexities.reference([1, 2, 3], ks, discounts)
for key in want:
    expect.close(got[key], want[key], atol=0, rtol=1e-9, what=f"the held-out perplexities of {key}",
                 hint="build the counts with ngram_counts, the models with add_k_probs and kneser_ney_probs, and score them with perplexity")
for n in [2, 3]:
    expect.true(min(got[f"Kneser-Ney, n={n}"]) < min(got[f"add-k, n={n}"]),
                f"with n={n} the best Kneser-Ney model should beat the best add-k model on held-out text")
expect.true(got["add-k, n=3"][2] > got["add-k, n=2"][2], "add-one should be worse with trigrams than with bigrams on held-out text")
### END HIDDEN TESTS

# %% [markdown]
# The same comparison with 200 words, drawn from your functions, with the best $k$ and the best $D$
# of small grids (chosen on the held-out text itself here, to keep the picture simple; in a real
# experiment you tune on a development set and report on a separate test set).

# %%
try:
    d_grid = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    kn_curves = {n: [perplexity(kneser_ney_probs(counts_n, d), held_out_n) for d in d_grid] for n, (counts_n, held_out_n) in word_tables.items()}
    fig, (ax_bars, ax_d) = plt.subplots(1, 2, figsize=(11, 3.8))
    orders = np.array([1, 2, 3])
    for offset, (label, values) in zip([-0.27, 0, 0.27], [
        ("add-one", [add_k_curves[n][k_grid.index(1.0)] for n in orders]),
        ("best add-k", [min(add_k_curves[n]) for n in orders]),
        ("best Kneser-Ney", [min(kn_curves[n]) for n in orders]),
    ]):
        ax_bars.bar(orders + offset, values, width=0.27, label=label)
        for x, v in zip(orders + offset, values):
            ax_bars.text(x, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    ax_bars.set(xticks=orders, xlabel="order n", ylabel="held-out perplexity", title="Shakespeare words, V = 200")
    ax_bars.legend()
    for n, curve in kn_curves.items():
        ax_d.plot(d_grid, curve, marker="o", label=f"{n}-gram Kneser-Ney")
    ax_d.set(xlabel="discount D", ylabel="held-out perplexity", title="Kneser-Ney is not very sensitive to D")
    ax_d.legend()
    fig.tight_layout()
    plt.show()
except (NotImplementedError, NameError):
    plt.close("all")
    print("write every function of sections 2 to 6 (and run the figure cell of section 4) to see the comparison")

# %% [markdown]
# At $n = 1$ the two methods are the same model up to a tiny smoothing (every word is seen). At
# $n = 2$ Kneser–Ney wins by a little, at $n = 3$ by a lot (about 19 against 24): the gap grows
# with the order, because the rarer the contexts, the more mass is smoothed. Kneser–Ney gives the mass
# of unseen continuations to words that are likely *in new contexts*, where add-$k$ spreads it
# evenly. Its trigram model is better than its bigram model, which add-one's is not. On
# characters (65 symbols, every one of them frequent) the difference is much smaller; Kneser–Ney
# was designed for large, Zipf-distributed vocabularies like words and subword tokens.

# %% [markdown]
# ## 8 · Sampling: writing new text with the model
#
# A language model is also a generator. **Ancestral sampling** draws the first token from
# $P(\cdot \mid \text{context})$, appends it, draws the next token given the $n-1$ most recent
# tokens (which now include the one just drawn), and repeats:
#
# $$x_{t} \sim P(\cdot \mid x_{t-n+1}, \dots, x_{t-1}), \qquad t = T_0 + 1, T_0 + 2, \dots$$
#
# Drawing one token from a row $p = P(\cdot \mid h)$ is inverse-transform sampling: take
# $u \sim \mathrm{Uniform}(0, 1)$ and return the first $w$ with $\sum_{v \le w} p_v > u$. That is
# what `rng.choice(V, p=p)` does for you; using the generator you are given (never the global
# random state) makes a run repeatable. The sequence of tokens drawn this way has exactly the
# probability the model gives it, by the chain rule of section 1.
#
# **What this means.** Sampling shows what the model has learned, which perplexity only summarises.
# Taking the most likely token at every step instead (greedy decoding, `argmax`) is not sampling:
# it returns the same text every time and quickly falls into loops (the character trigram model
# of this section continues "ROMEO:" greedily with "\nI withe the the the the ..."), the same degeneration that large language models show under greedy
# decoding (`30-decoding`). A quick check of the sampler: the drawn frequencies must match the
# model's probabilities (the test uses chi-square tests).
#
# Worked example of inverse-transform sampling with NumPy's own tools:

# %%
p = np.array([0.5, 0.3, 0.2])
rng = np.random.default_rng(0)
u = rng.random(10)
print("u:", np.round(u, 3))
print("inverse transform:", np.searchsorted(np.cumsum(p), u, side="right"))
print("rng.choice:       ", np.random.default_rng(0).choice(3, size=10, p=p))

# %% nbgrader={"grade": false, "grade_id": "sample", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sample(probs: np.ndarray, context, n_new: int, rng: np.random.Generator) -> np.ndarray:
    """Generate n_new tokens from an n-gram model, one at a time (about 10 minutes).

    Args:
        probs: float64 (V,) * n, n >= 1, a conditional table P(w | h) whose rows sum to one.
        context: the tokens to continue (a list or 1-D int array) with at least n - 1 tokens; only
            its last n - 1 tokens matter (none for a unigram model).
        n_new: the number of tokens to generate, n_new >= 0.
        rng: the np.random.Generator that every draw uses: draw each token with
            rng.choice(V, p=probs[h]), h the tuple of the last n - 1 tokens so far.

    Returns:
        int64 array (n_new,): the generated tokens only (not the context). Each is drawn from
        P(. | the n - 1 tokens before it), and those include the tokens generated before it.

    Example:
        >>> cycle = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])   # 0 -> 1 -> 2 -> 0
        >>> sample(cycle, [2], 5, np.random.default_rng(0))
        array([0, 1, 2, 0, 1])
    """
    ### BEGIN SOLUTION
    order = probs.ndim
    history = [int(token) for token in context]
    for _ in range(n_new):
        last = tuple(history[len(history) - order + 1:])  # the n - 1 most recent tokens: () for a unigram model
        history.append(int(rng.choice(len(probs), p=probs[last])))
    return np.array(history[len(context):], dtype=np.int64)
    ### END SOLUTION

# %% [markdown]
# The tests call your `sample` through this scenario: `repeats` calls, all with one generator.

# %%
@scenario
def draws(ns, probs, context, n_new, seed, repeats=1):
    """`repeats` calls of ns.sample(probs, context, n_new, rng) with one generator seeded with `seed`: int64 (repeats, n_new)."""
    rng = np.random.default_rng(seed)
    return np.stack([np.asarray(ns.sample(np.asarray(probs), context, n_new, rng)) for _ in range(repeats)])


# %% nbgrader={"grade": true, "grade_id": "sample_shapes_and_context", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""sampling returns n_new int64 tokens, follows deterministic bigram and trigram models exactly (so the context moves along with each new token), and the same seed gives the same draws"""
from grader.testing import expect

cycle = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])   # 0 -> 1 -> 2 -> 0
tokens = draws.learner(cycle, [2], 5, 0)
expect.shape(tokens, (1, 5), what="sample(cycle model, context [2], n_new=5)", hint="return the n_new new tokens only, as a 1-D array")
expect.dtype(tokens, np.int64, what="sample(cycle model, context [2], n_new=5)", hint="token ids are int64")
expect.equal(tokens[0], np.array([0, 1, 2, 0, 1]), what="five tokens from the cycle model 0 -> 1 -> 2 -> 0 after the context [2]",
             hint="draw each token from the row of the most recent token, which is the token you drew just before")
# a deterministic trigram model: the next token is (a + b) mod 3 after (a, b), a Fibonacci sequence mod 3
fibonacci = np.zeros((3, 3, 3))
for a, b in itertools.product(range(3), repeat=2):
    fibonacci[a, b, (a + b) % 3] = 1.0
expect.equal(draws.learner(fibonacci, [0, 1], 8, 0)[0], np.array([1, 2, 0, 2, 2, 1, 0, 1]),
             what="eight tokens from the trigram model x_t = (x_{t-2} + x_{t-1}) mod 3 after the context [0, 1]",
             hint="the context of each draw is the tuple of the last n - 1 = 2 tokens, in their order, including the ones you drew")
model = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3], [0.3, 0.3, 0.4]])
expect.equal(draws.learner(model, [0], 20, 3), draws.learner(model, [0], 20, 3), what="two runs with the same seed",
             hint="draw every token with the generator you are given: rng.choice(V, p=probs[h])")

# %% nbgrader={"grade": true, "grade_id": "sample_follows_model_distribution", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""sampled tokens follow the model's distribution (chi-square tests with fixed seeds): unigram frequencies, the first token and the pair of the first two tokens of bigram and trigram models, and the transitions of one long sample; the draws come from the given generator"""
from grader.testing import expect
from scipy import stats

unigram = np.array([0.5, 0.3, 0.15, 0.05])
tokens = draws.learner(unigram, [], 1, 1, repeats=4000)
expect.shape(tokens, (4000, 1), what="4000 draws of one token from a unigram model (context [])",
             hint="a unigram model (n = 1) has an empty context: draw from probs itself")
counts = np.bincount(tokens.ravel(), minlength=4)
expect.true(len(counts) == 4 and stats.chisquare(counts, 4000 * unigram).pvalue > 1e-4,
            "4000 draws from the unigram model (0.5, 0.3, 0.15, 0.05) do not follow its probabilities: draw at random with "
            "rng.choice(V, p=probs[h]), do not take the most likely token")
### BEGIN HIDDEN TESTS
hint = "draw each token with rng.choice(V, p=probs[h]), h the last n - 1 tokens so far, including the tokens already drawn"
rng = np.random.default_rng(4)
bigram = rng.dirichlet(np.full(4, 4.0), size=4)
n = 6000
tokens = draws.learner(bigram, [3, 1, 0], 2, 2, repeats=n)   # only the last token of the context matters
expect.shape(tokens, (n, 2), what=f"{n} draws of two tokens from a bigram model")
expect.true(bool(((tokens >= 0) & (tokens < 4)).all()), "sampled token ids must lie in [0, V)")
first = np.bincount(tokens[:, 0], minlength=4)
p_value = stats.chisquare(first, n * bigram[0]).pvalue
expect.true(p_value > 1e-4, f"the first token drawn after the context [3, 1, 0] does not follow P(. | 0) of a bigram model "
            f"(chi-square p-value {p_value:.1e}): the last n - 1 tokens of the context are the context")
pairs = np.bincount(tokens[:, 0] * 4 + tokens[:, 1], minlength=16)
p_value = stats.chisquare(pairs, n * (bigram[0][:, None] * bigram).ravel()).pvalue
expect.true(p_value > 1e-4, f"the pairs of tokens drawn from a bigram model do not follow P(a | 0) P(b | a) (chi-square p-value "
            f"{p_value:.1e}): the second token must be drawn after the first one, " + hint)

trigram = rng.dirichlet(np.full(3, 4.0), size=(3, 3))
tokens = draws.learner(trigram, [1, 2], 2, 5, repeats=n)
expect.shape(tokens, (n, 2), what=f"{n} draws of two tokens from a trigram model")
pairs = np.bincount(tokens[:, 0] * 3 + tokens[:, 1], minlength=9)
p_value = stats.chisquare(pairs, n * (trigram[1, 2][:, None] * trigram[2]).ravel()).pvalue
expect.true(p_value > 1e-4, f"the pairs of tokens drawn from a trigram model after [1, 2] do not follow P(a | 1, 2) P(b | 2, a) "
            f"(chi-square p-value {p_value:.1e}): the context is the last two tokens in their order, " + hint)

chain = draws.learner(bigram, [0], 20000, 6)[0]
expect.shape(chain, (20000,), what="one sample of 20000 tokens from a bigram model")
previous, following = np.concatenate([[0], chain[:-1]]), chain
statistic, degrees = 0.0, 0
for a in range(4):
    observed = np.bincount(following[previous == a], minlength=4)
    expected = observed.sum() * bigram[a]
    statistic += (((observed - expected) ** 2) / expected).sum()
    degrees += 3
p_value = stats.chi2.sf(statistic, degrees)
expect.true(p_value > 1e-4, f"the transitions of one long sample do not follow the bigram model (chi-square p-value {p_value:.1e}): " + hint)

expect.shape(draws.learner(bigram, [0], 0, 0), (1, 0), what="sample with n_new = 0", hint="n_new = 0 gives an empty array")
expect.true(not np.array_equal(draws.learner(bigram, [0], 50, 7), draws.learner(bigram, [0], 50, 8)),
            "samples drawn with different seeds are identical: draw with the generator you are given")
### END HIDDEN TESTS

# %% [markdown]
# What your sampler writes. A character-level Kneser–Ney trigram model of the whole of Tiny
# Shakespeare ($65^3$ entries), continued from "ROMEO:" three times with different seeds; then the
# frequencies of 5000 sampled characters after "th" against the model's own probabilities.

# %%
try:
    char_ids, chars = shakespeare_chars()
    char_model = kneser_ney_probs(ngram_counts([char_ids], 3, len(chars)), 0.75)
    prompt = [chars.index(ch) for ch in "ROMEO:"]
    for seed in range(3):
        new = sample(char_model, prompt, 160, np.random.default_rng(seed))
        print(f"--- seed {seed} ---\nROMEO:" + "".join(chars[i] for i in new) + "\n")
    context = [chars.index("t"), chars.index("h")]
    rng = np.random.default_rng(0)
    drawn = np.bincount(np.concatenate([sample(char_model, context, 1, rng) for _ in range(5000)]), minlength=len(chars)) / 5000
    top = np.argsort(char_model[tuple(context)])[::-1][:12]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar(np.arange(12) - 0.2, char_model[tuple(context)][top], width=0.4, label="model P(next | th)")
    ax.bar(np.arange(12) + 0.2, drawn[top], width=0.4, label="5000 samples")
    ax.set_xticks(range(12), [repr(chars[i])[1:-1] for i in top])
    ax.set(ylabel="probability", title="the sampler follows the model's distribution")
    ax.legend()
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    plt.close("all")
    print("write the functions of sections 2 to 8 to generate text")

# %% [markdown]
# Two characters of context are enough for short words to appear ("the", "and", "my", "thy") and
# for the layout of a play to show (a name in capitals, line breaks, punctuation). The text means nothing: a
# trigram model forgets everything older than two characters. Longer contexts are where n-gram
# tables run out (a $65^6$ table has $7.5 \times 10^{10}$ entries, nearly all zero) and where neural
# models take over: an RNN (`10-rnn`) or a transformer (`16-gpt`) learns a function of the whole
# context instead of a table indexed by it.

# %% [markdown]
# ## Practical considerations
#
# **Work in log space.** Sum log-probabilities, never multiply probabilities: a 1000-token text has a
# probability around $10^{-1000}$, far below the smallest float64 ($\approx 10^{-308}$). Perplexity
# is $\exp$ of a mean of logs for that reason, and `log(0) = -inf` is the honest answer for an
# impossible token (silence NumPy's warning with `np.errstate(divide="ignore")` rather than adding a
# tiny epsilon, which would hide the bug).
#
# **Memory.** Dense $(V,)^n$ tables are for teaching and small vocabularies. Real toolkits (SRILM,
# KenLM) store only the $n$-grams that occur, in sorted arrays, tries or hash tables, with quantised
# probabilities and one back-off weight $\gamma(h)$ per stored context; the probability of an
# unseen $n$-gram is computed on the fly from $\gamma(h)$ and the lower order, with exactly the
# formulas of sections 5 and 6. KenLM answers millions of queries a second, which is why it still
# filters web corpora for LLM pre-training.
#
# **Choosing $k$ and $D$.** Tune them on held-out data, never on the test set. For Kneser–Ney a good
# estimate needs no tuning: $D = \frac{n_1}{n_1 + 2 n_2}$ (Ney, Essen and Kneser, 1994), with $n_1$,
# $n_2$ the numbers of $n$-grams seen once and twice. **Modified Kneser–Ney** (Chen and Goodman, 1999),
# the strongest classical smoother, uses three discounts $D_1, D_2, D_{3+}$ for counts 1, 2 and 3 or
# more, and a separate discount per order.
#
# **Vocabulary, `<unk>` and comparability.** Perplexities can only be compared with the same
# vocabulary and tokenization: mapping more words to `<unk>` makes text easier to predict and the
# number smaller. To compare a word model with a character or subword model, convert both to bits
# per character (total negative log-likelihood in bits divided by the number of characters).
#
# **Interpolation and back-off.** Interpolated models (this notebook) always mix in the lower order;
# back-off models (Katz, 1987) use the lower order only for unseen $n$-grams. For web-scale data
# "stupid back-off" (Brants et al., 2007) skips normalisation entirely: fine for ranking translations,
# useless for perplexity, because its scores do not sum to one.
#
# **Common bugs, and how the tests here catch them.**
#
# | bug | symptom | caught by |
# |---|---|---|
# | counting across sentence boundaries | pairs like (`</s>`, `<s>`) get counts | the tiny table, brute-force counts of several sequences |
# | add-$k$ without $kV$ in the denominator | rows sum to more than one (and perplexity looks too good) | rows summed over the vocabulary |
# | discount not redistributed | rows sum to less than one | rows summed over the vocabulary, every context |
# | unseen context divides by zero | `nan` rows | unseen contexts in every table |
# | Kneser–Ney with raw lower-order counts | proper distributions, wrong values ("york" as likely as "like") | the hand-computed unigram level, brute force |
# | continuation counts of right neighbours | wrong lower orders | hand values, a set-based count |
# | perplexity with $\log_2$ and $\exp$ mixed | a number that is off by a power | hand values, torch's cross-entropy |
# | perplexity averaged per sentence | short sentences weigh too much | sequences of different lengths |
# | sampling with `argmax` | the same text every time | chi-square tests of the draws |
# | sampling from a context that never moves | the second token ignores the first | chi-square tests of pairs of draws |
#
# **Where n-grams live on in LLM work.** Data pipelines filter and deduplicate with n-gram models
# and n-gram overlap (13-gram overlap for test-set contamination in the GPT-3 paper); decoding
# blocks repeated n-grams (`no_repeat_ngram_size`) and speculative decoding can draft tokens by
# n-gram lookup in the prompt; infini-gram answers n-gram counts over trillions of tokens with
# suffix arrays, and interpolating it with a neural LM still lowers perplexity.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | n-gram model | $p(x_t \mid x_{<t}) \approx P(x_t \mid x_{t-n+1:t-1})$ | a table `probs[h_1, ..., h_{n-1}, w]`, rows sum to one | the same next-token factorisation as GPT, with a fixed window |
# | counting | $c(h\,w)$ over windows inside each sequence | `sliding_window_view(seq, n)`, `np.add.at(counts, tuple(windows.T), 1)` | data statistics, n-gram filters and contamination checks |
# | maximum likelihood | $c(h\,w) / c(h)$ | `counts / counts.sum(-1, keepdims=True)` | the objective of LLM pre-training, minus the table |
# | add-$k$ | $\frac{c(h\,w) + k}{c(h) + kV}$ (Dirichlet posterior mean) | `(counts + k) / (totals + k * V)` | label smoothing (`07-regularization`) is the same idea on targets |
# | perplexity | $\exp\big(-\frac1N \sum_t \log P(x_t \mid h_t)\big)$, per token, nats | sum of `np.log(probs[tuple(windows.T)])`, then `exp(-total / N)` | the standard LM metric (`16-gpt`, `34-evaluation`) |
# | absolute discounting | $\frac{\max(c - D, 0)}{c(h)} + \frac{D N_{1+}(h\bullet)}{c(h)} P_{\text{lower}}$ | `np.maximum(counts - D, 0)`, `np.where(totals > 0, ..., lower)` | interpolating a neural LM with an n-gram model (kNN-LM, infini-gram) |
# | continuation counts | $N_{1+}(\bullet\,g) = \lvert\{u : c(u\,g) > 0\}\rvert$ | `(counts > 0).sum(axis=0)` | counting distinct contexts: the idea behind "versatile" tokens |
# | interpolated Kneser–Ney | top order raw counts, lower orders continuation counts, uniform at the bottom | `continuation_counts` down, `absolute_discounting` up | KenLM models that filter pre-training data (CCNet) |
# | sampling | $x_t \sim P(\cdot \mid x_{t-n+1:t-1})$, context moves with each token | `rng.choice(V, p=probs[tuple(history[len(history) - n + 1:])])` | generation in every LLM (`30-decoding`) |

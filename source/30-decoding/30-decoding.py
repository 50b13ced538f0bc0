# %% [markdown]
# # 30 · Decoding: greedy, beam search, temperature, top-k, top-p and repetition penalty
#
# A language model gives a distribution over the next token, $p_\theta(y_t \mid y_{<t}, x)$. Text
# only appears once a *decoding rule* turns those distributions into tokens, and there are two
# families of rules: **search** for the most likely continuation, and **sampling** from a reshaped
# distribution. With logits $z_t$, a temperature $T$ and a filter that keeps a set $S_t$ of tokens,
#
# $$\boxed{\;\hat y = \arg\max_{y_{1:n}} \sum_{t=1}^{n} \log p_\theta(y_t\mid y_{<t}, x)
# \quad\text{(search)}, \qquad
# y_t \sim q_t(v) = \frac{e^{z_{t,v}/T}\,[v\in S_t]}{\sum_{u\in S_t} e^{z_{t,u}/T}}
# \quad\text{(sampling)}\;}$$
#
# Why it matters for LLMs: the *same* weights give a terse, repetitive, or wildly creative model
# depending only on these few lines of code. Every API you call (`temperature`, `top_p`, `top_k`,
# `repetition_penalty`, `num_beams`) is one of the functions you write here, and most "the model is
# broken" reports in practice are decoding settings: beam search on open-ended text, top-p that drops
# the wrong token, a repetition penalty with the sign the wrong way round.
#
# **What you will build**: greedy decoding and beam search, checked against exhaustive search over
# every continuation of tiny synthetic models and against `transformers`' `generate` on the course
# model of `16-gpt`; the four classic logits processors (temperature, top-k, top-p, repetition
# penalty), each checked against its `transformers` twin; a sampler and a full `generate` loop,
# checked with chi-square tests on tens of thousands of draws.

# %% [markdown]
# ## Prerequisites
#
# - `03-probability`: softmax, log-sum-exp, entropy, the chi-square test.
# - `11-ngram`: sampling text from a conditional distribution, one token at a time.
# - `16-gpt`: the course model (a character-level GPT trained on Tiny Shakespeare) and its
#   next-token logits.
#
# Packages: `torch`, `numpy`, `scipy` (the chi-square test), `matplotlib`, `transformers` (the
# course model is a `GPT2LMHeadModel`, and its `generation.logits_process` module holds the
# reference processors). The course model (`course_model.py`, its weights and configuration) and
# the licence note of its training text (`DATA-LICENCE.md`) come with this notebook. Nothing is
# downloaded.
#
# **Notation.** $V$ the vocabulary size; $z \in \mathbb{R}^V$ the logits of one step;
# $p = \operatorname{softmax}(z)$; a *prompt* is a list of token ids and a decoder appends
# `n_new` tokens to it. A *model* here is any function `next_logits(ids) -> (V,)` float tensor:
# the logits of the next token after the list `ids`. This one interface serves both the course
# model and tiny hand-made tables where every one of the $V^n$ continuations can be enumerated.

# %%
import itertools
import math
import os
import sys
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

try:
    from course_model import config, decode, encode, load_course_model, vocabulary
except ModuleNotFoundError:   # a script run or the grader: course_model.py lies in the working directory, beside this notebook
    sys.path.insert(0, os.getcwd())
    from course_model import config, decode, encode, load_course_model, vocabulary


def table_model(table: torch.Tensor):
    """A tiny synthetic model: next_logits(ids) is table[ids[-1]] for a (V, V) table, table[ids[-2], ids[-1]] for (V, V, V)."""
    def next_logits(ids):
        ids = [int(i) for i in ids]
        row = table[ids[-1]] if table.dim() == 2 else table[ids[-2], ids[-1]]
        return row.clone()
    return next_logits


def model_next_logits(model, block_size: int = 256):
    """next_logits for a transformers causal LM: the float64 logits of the token after `ids` (the last block_size of them), no gradient."""
    def next_logits(ids):
        with torch.no_grad():
            return model(torch.tensor([[int(i) for i in ids][-block_size:]])).logits[0, -1].double()
    return next_logits


def continuation_logprob(next_logits, prompt: list[int], continuation: list[int]) -> float:
    """log p(continuation | prompt) = the sum of the log-probabilities of its tokens, one step at a time."""
    ids, total = list(prompt), 0.0
    for token in continuation:
        total += float(torch.log_softmax(next_logits(ids).double(), dim=-1)[token])
        ids.append(int(token))
    return total


def exhaustive_search(next_logits, prompt: list[int], n_new: int, vocab_size: int) -> tuple[list[int], float]:
    """The most likely n_new-token continuation by enumerating all vocab_size ** n_new of them (tiny cases only)."""
    best, best_score = None, -math.inf
    for continuation in itertools.product(range(vocab_size), repeat=n_new):
        score = continuation_logprob(next_logits, prompt, list(continuation))
        if score > best_score:
            best, best_score = list(prompt) + list(continuation), score
    return best, best_score


# the trap of section 2: from token 0 the likeliest next token (1) leads to a flat row, the second (2) to a confident one
TRAP_TABLE = torch.log(torch.tensor([[0.10, 0.50, 0.40],
                                     [0.34, 0.33, 0.33],
                                     [0.05, 0.05, 0.90]], dtype=torch.float64))
print("course model:", config())

# %% [markdown]
# ## 1 · Greedy decoding
#
# The simplest rule takes the most likely token at every step:
#
# $$y_t = \arg\max_{v}\; p_\theta(v \mid y_{<t}, x) = \arg\max_v z_{t,v}.$$
#
# What this means: greedy decoding is deterministic (same prompt, same output) and cheap (one
# forward pass per token), but it optimises each step on its own. The probability of a sequence is
# a *product* over steps, and the best first token is not always the first token of the best
# sequence; section 2 builds a three-token vocabulary where greedy loses by a factor of two.
#
# Since softmax is monotone, the argmax of the logits is the argmax of the probabilities: no softmax
# is needed. Ties are broken towards the smallest token id (what `torch.argmax` does).
#
# A worked example with the trap table: from prompt `[0]`, row 0 of the table gives probabilities
# (0.10, 0.50, 0.40), so greedy picks token 1; row 1 is nearly flat and picks token 0.

# %%
print("row 0 probabilities:", torch.softmax(TRAP_TABLE[0], -1).numpy().round(3), "-> greedy picks", int(TRAP_TABLE[0].argmax()))

# %% [markdown]
# Write `greedy_decode` (about 5 minutes): call `next_logits` on the ids so far, append the argmax,
# repeat `n_new` times. Return plain Python ints.

# %% nbgrader={"grade": false, "grade_id": "greedy_decode", "locked": false, "schema_version": 3, "solution": true, "task": false}
def greedy_decode(next_logits, prompt: list[int], n_new: int) -> list[int]:
    """Greedy decoding: append the most likely next token n_new times.

    Args:
        next_logits: a function ids -> (V,) float tensor, the logits of the token after the list of ints ids.
        prompt: list of ints, at least one token.
        n_new: the number of tokens to append, >= 0.

    Returns:
        list of len(prompt) + n_new ints: the prompt followed by the new tokens.

    Example:
        >>> greedy_decode(table_model(TRAP_TABLE), [0], 2)
        [0, 1, 0]
    """
    ### BEGIN SOLUTION
    ids = [int(t) for t in prompt]
    for _ in range(n_new):
        ids.append(int(torch.argmax(next_logits(ids))))
    return ids
    ### END SOLUTION

# %%
from grader.testing import scenario


@scenario
def search_on_table(ns, table, prompt, n_new, beam_width=None):
    """greedy_decode (beam_width None) or beam_search on the synthetic model of a logits table, counting calls to next_logits."""
    import torch
    calls = [0]

    def next_logits(ids):
        calls[0] += 1
        ids = [int(i) for i in ids]
        return (table[ids[-1]] if table.dim() == 2 else table[ids[-2], ids[-1]]).clone()

    if beam_width is None:
        ids, score = ns.greedy_decode(next_logits, list(prompt), n_new), None
    else:
        ids, score = ns.beam_search(next_logits, list(prompt), n_new, beam_width)
        score = float(score)
    return {"ids": [int(t) for t in ids], "score": score, "calls": calls[0]}


@scenario
def search_on_course_model(ns, prompt_text, n_new, beam_width=None):
    """greedy_decode or beam_search on the course model, from a text prompt."""
    import torch
    from course_model import encode, load_course_model
    model = load_course_model()

    def next_logits(ids):
        with torch.no_grad():
            return model(torch.tensor([[int(i) for i in ids]])).logits[0, -1].double()

    prompt = encode(prompt_text).tolist()
    if beam_width is None:
        ids, score = ns.greedy_decode(next_logits, prompt, n_new), None
    else:
        ids, score = ns.beam_search(next_logits, prompt, n_new, beam_width)
        score = float(score)
    return {"ids": [int(t) for t in ids], "score": score}


def greedy_by_hand(table, prompt, n_new):
    """The judge's greedy decoding on a table model."""
    ids = list(prompt)
    for _ in range(n_new):
        row = table[ids[-1]] if table.dim() == 2 else table[ids[-2], ids[-1]]
        ids.append(int(row.argmax()))
    return ids


def random_table(seed, vocab_size, order=1, scale=1.5):
    """A random logits table of a bigram (order 1) or trigram (order 2) model, float64."""
    generator = torch.Generator().manual_seed(seed)
    return scale * torch.randn((vocab_size,) * (order + 1), generator=generator, dtype=torch.float64)


# %% nbgrader={"grade": true, "grade_id": "greedy_decode_correct", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""greedy_decode appends the argmax token n_new times, on bigram and trigram tables and on the course model (equal to transformers' generate with do_sample=False)"""
from grader.testing import expect, learner

got = search_on_table.learner(TRAP_TABLE, [0], 2)
expect.equal(len(got["ids"]), 3, what="the length of greedy_decode(..., [0], 2)", hint="return the prompt followed by the n_new new tokens")
expect.equal(got["ids"], [0, 1, 0], what="greedy_decode on the trap table from [0], 2 tokens")
### BEGIN HIDDEN TESTS
for seed, order, prompt, n_new in [(1, 1, [2], 12), (2, 2, [0, 3], 10), (3, 1, [4, 1, 0], 7)]:
    table = random_table(seed, 5, order)
    got = search_on_table.learner(table, prompt, n_new)
    expect.equal(len(got["ids"]), len(prompt) + n_new, what=f"the length of greedy_decode's output ({'trigram' if order == 2 else 'bigram'} table, {n_new} new tokens)",
                 hint="the prompt followed by exactly n_new tokens")
    expect.equal(got["ids"][:len(prompt)], prompt, what="the prompt at the start of greedy_decode's output", hint="keep the prompt unchanged in front")
    expect.equal(got["ids"], greedy_by_hand(table, prompt, n_new), what=f"greedy_decode on a random {'trigram' if order == 2 else 'bigram'} table",
                 hint="feed next_logits the whole list of ids so far (prompt and new tokens) and append argmax of the logits")
got = search_on_table.learner(random_table(4, 3), [1], 0)
expect.equal(got["ids"], [1], what="greedy_decode with n_new = 0", hint="no new tokens: return the prompt")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = load_course_model()
    want = model.generate(encode("ROMEO:\n")[None], do_sample=False, max_new_tokens=12)[0].tolist()
got = search_on_course_model.learner("ROMEO:\n", 12)
expect.equal(got["ids"], want, what="greedy_decode on the course model against transformers' generate(do_sample=False), 12 tokens")
### END HIDDEN TESTS

# %% [markdown]
# ## 2 · Beam search
#
# Greedy keeps one hypothesis. Beam search keeps the $k$ best *partial sequences* (the beam) by
# their total log-probability $s(y_{1:t}) = \sum_{i\le t}\log p_\theta(y_i\mid y_{<i}, x)$. One step:
#
# 1. expand every beam by every token: $k\cdot V$ candidates $y_{1:t}\oplus v$ with scores
#    $s(y_{1:t}) + \log p_\theta(v\mid y_{1:t}, x)$;
# 2. keep the $k$ candidates with the highest scores (from *any* beams: a good beam may have
#    several children in the next beam and a weak one none).
#
# After $n$ steps return the best of the final beam. With $k = 1$ this is greedy decoding (the best
# child of the only beam). With $k \ge V^{n-1}$ it is exhaustive search: after step $t < n$ there are
# at most $V^t \le V^{n-1}$ candidates, so none is pruned, and the last step picks the best of all
# $V^n$ complete continuations. In between, beam search can miss the optimum whenever the optimal
# sequence's prefix falls out of the top $k$ at some step, a prefix that only pays off later.
#
# **Why log-probabilities.** The score of a sequence is a product of probabilities; a product of 500
# factors around 0.3 is $10^{-260}$, and a few hundred more underflow float64 to exactly 0, after
# which every candidate ties. Sums of logs never underflow. (A *sum of probabilities* is not a score
# of anything: it ranks sequences by their average step, not by how likely they are.)
#
# What this means: beam search is an approximate maximiser of the sequence probability, with cost
# $k$ times greedy's. It is the decoding rule of machine translation, speech recognition and
# summarisation, where there is one right answer and the model's mode is close to it. Section 8
# explains why it is the *wrong* rule for open-ended text.
#
# **The trap.** From token 0 the trap table gives the next token 1 with probability 0.5 and 2 with
# 0.4; after 1 every token has about 1/3, after 2 token 2 has 0.9. Greedy's two-token continuation
# has probability $0.5\times0.34 = 0.17$; the best one, $(2, 2)$, has $0.4\times0.9 = 0.36$. Beam
# search with $k=2$ keeps token 2 alive after the first step and finds it.

# %%
trap = table_model(TRAP_TABLE)
for continuation in [[1, 0], [2, 2]]:
    print(continuation, "p =", round(math.exp(continuation_logprob(trap, [0], continuation)), 3))
print("exhaustive:", exhaustive_search(trap, [0], 2, 3))

# %% [markdown]
# Write `beam_search` (about 15 minutes). Keep each beam as (list of ids, score); for each beam take
# `torch.log_softmax` of its logits (never `softmax(...).log()`); collect all candidates; sort by
# score; keep `beam_width`. Return the best final sequence and its score.

# %% nbgrader={"grade": false, "grade_id": "beam_search", "locked": false, "schema_version": 3, "solution": true, "task": false}
def beam_search(next_logits, prompt: list[int], n_new: int, beam_width: int) -> tuple[list[int], float]:
    """Beam search for the most likely n_new-token continuation of prompt.

    Args:
        next_logits: a function ids -> (V,) float tensor, the logits of the token after the list of ints ids.
        prompt: list of ints, at least one token.
        n_new: the number of tokens to append, >= 1.
        beam_width: the number of partial sequences kept after each step, >= 1.

    Returns:
        ids: list of len(prompt) + n_new ints, the prompt followed by the best continuation found.
        score: float, its log-probability: the sum over the new tokens of log p(token | ids before it).

    Example:
        >>> beam_search(table_model(TRAP_TABLE), [0], 2, beam_width=2)    # log(0.4 * 0.9)
        ([0, 2, 2], -1.0216...)
    """
    ### BEGIN SOLUTION
    beams = [([int(t) for t in prompt], 0.0)]
    for _ in range(n_new):
        candidates = []
        for ids, score in beams:
            log_probs = torch.log_softmax(next_logits(ids).double(), dim=-1)
            for token, log_prob in enumerate(log_probs.tolist()):
                candidates.append((ids + [token], score + log_prob))
        candidates.sort(key=lambda candidate: candidate[1], reverse=True)
        beams = candidates[:beam_width]
    return beams[0]
    ### END SOLUTION

# %%
def beam_search_by_hand(table, prompt, n_new, beam_width):
    """The judge's beam search, vectorised: top-k over the flattened (beams x V) candidate scores of a table model."""
    sequences = torch.tensor([prompt], dtype=torch.long)
    scores = torch.zeros(1, dtype=torch.float64)
    for _ in range(n_new):
        rows = table[sequences[:, -1]] if table.dim() == 2 else table[sequences[:, -2], sequences[:, -1]]
        candidates = (scores[:, None] + torch.log_softmax(rows, dim=-1)).reshape(-1)
        top = torch.topk(candidates, min(beam_width, candidates.numel()))
        beam, token = top.indices // table.shape[-1], top.indices % table.shape[-1]
        sequences = torch.cat([sequences[beam], token[:, None]], dim=1)
        scores = top.values
    return sequences[0].tolist(), float(scores[0])


# %% nbgrader={"grade": true, "grade_id": "beam_search_correct", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""beam_search returns the best continuation and its log-probability: it beats greedy on the trap, equals exhaustive search when nothing is pruned and greedy at width 1, matches an independent beam search at small widths, stays finite on 1200 tokens, and equals transformers' beam search on the course model"""
from grader.testing import expect, learner

got = search_on_table.learner(TRAP_TABLE, [0], 2, 2)
expect.equal(len(got["ids"]), 3, what="the length of beam_search(..., [0], n_new=2, beam_width=2)", hint="return the prompt followed by the n_new new tokens")
expect.true(got["score"] <= 0.0, "the score of beam_search must be a log-probability (<= 0): sum torch.log_softmax values")
### BEGIN HIDDEN TESTS
expect.equal(got["ids"], [0, 2, 2], what="beam_search with width 2 on the trap table",
             hint="keep the beam_width best candidates over all beams, ranked by the TOTAL log-probability of the sequence, not only the best one")
expect.close(got["score"], math.log(0.36), atol=1e-9, what="the score of beam_search on the trap table", hint="the sum of log-probabilities of the new tokens")
# exhaustive search when nothing is pruned: width V ** (n_new - 1)
for seed, vocab_size, order, prompt, n_new in [(11, 3, 1, [0], 4), (12, 4, 2, [1, 2], 3), (13, 3, 2, [2, 0], 4)]:
    table = random_table(seed, vocab_size, order, scale=1.0)
    want_ids, want_score = exhaustive_search(table_model(table), prompt, n_new, vocab_size)
    got = search_on_table.learner(table, prompt, n_new, vocab_size ** (n_new - 1))
    expect.equal(len(got["ids"]), len(prompt) + n_new, what=f"the length of beam_search's output ({n_new} new tokens)")
    expect.equal(got["ids"], want_ids, what=f"beam_search with width V^(n-1) = {vocab_size ** (n_new - 1)} (nothing pruned) against exhaustive search, V={vocab_size}, n={n_new}",
                 hint="rank candidates by the sum of log-probabilities over the whole continuation; with this width beam search is exhaustive")
    expect.close(got["score"], want_score, atol=1e-9, what="the score of beam_search against exhaustive search", hint="the sum of log_softmax values of the new tokens")
# width 1 is greedy
table = random_table(14, 5, 1)
got = search_on_table.learner(table, [3], 8, 1)
expect.equal(got["ids"], greedy_by_hand(table, [3], 8), what="beam_search with beam_width=1 against greedy decoding")
expect.close(got["score"], continuation_logprob(table_model(table), [3], greedy_by_hand(table, [3], 8)[1:]), atol=1e-9, what="the score of beam_search with beam_width=1")
# small widths, where pruning matters: an independent beam search
for seed, vocab_size, order, prompt, n_new, width in [(15, 5, 1, [0], 6, 2), (16, 4, 2, [3, 1], 6, 3), (17, 6, 1, [5], 5, 4), (18, 5, 2, [0, 0], 5, 2)]:
    table = random_table(seed, vocab_size, order, scale=1.0)
    want_ids, want_score = beam_search_by_hand(table, prompt, n_new, width)
    got = search_on_table.learner(table, prompt, n_new, width)
    expect.equal(got["ids"], want_ids, what=f"beam_search with width {width} on a random table (V={vocab_size}, {n_new} tokens) against an independent beam search",
                 hint="after each step keep exactly beam_width candidates, chosen among the children of ALL beams by total log-probability")
    expect.close(got["score"], want_score, atol=1e-9, what=f"the score of beam_search with width {width}")
# 1200 tokens: products of probabilities underflow, sums of log-probabilities do not
table = random_table(19, 3, 1, scale=0.1)
want_ids, want_score = beam_search_by_hand(table, [0], 1200, 2)
got = search_on_table.learner(table, [0], 1200, 2)
expect.finite(got["score"], what="the score of beam_search over 1200 tokens", hint="a product of 1200 probabilities underflows to 0: add log-probabilities instead")
expect.close(got["score"], want_score, atol=1e-7, rtol=1e-10, what="the score of beam_search over 1200 tokens")
expect.equal(got["ids"], want_ids, what="beam_search over 1200 tokens with width 2")
# the course model against transformers' beam search (no end token, so every hypothesis has n tokens and length_penalty is irrelevant)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = load_course_model()
    out = model.generate(encode("JULIET:\n")[None], do_sample=False, num_beams=3, max_new_tokens=6, length_penalty=0.0, early_stopping=True,
                         output_scores=True, return_dict_in_generate=True)
got = search_on_course_model.learner("JULIET:\n", 6, 3)
expect.equal(got["ids"], out.sequences[0].tolist(), what="beam_search with width 3 on the course model against transformers' generate(num_beams=3), 6 tokens")
expect.close(got["score"], float(out.sequences_scores[0]), atol=2e-4, what="the score of beam_search on the course model against transformers' sequences_scores (float32 there)")
### END HIDDEN TESTS

# %% [markdown]
# **How wide is wide enough?** On random bigram tables with $V=4$ and $n=5$ new tokens
# ($4^5 = 1024$ continuations), the share of tables where beam search finds the exhaustive optimum,
# and how far below the optimum its answer is on average, as the width grows. Width 1 (greedy) misses
# the optimum on about a third of them; width 8 already finds it on every one of these tables, though
# only $4^4 = 256$ guarantees it. The gap shrinks fast: most of beam search's benefit comes from the
# first few extra beams, which is why widths of 4 to 10 are the norm.

# %%
def beam_quality(widths, n_tables=150, vocab_size=4, n_new=5):
    """For each beam width: the share of random tables where beam search hits the exhaustive optimum, and the mean log-prob gap."""
    hits, gaps = np.zeros(len(widths)), np.zeros(len(widths))
    for seed in range(n_tables):
        table = random_table(1000 + seed, vocab_size, 1, scale=1.0)
        log_probs = torch.log_softmax(table, dim=-1)
        # all continuations at once: the score of a path is a sum of table entries along it
        scores = torch.zeros(1, dtype=torch.float64)
        last = torch.tensor([0])
        for _ in range(n_new):
            scores = (scores[:, None] + log_probs[last]).reshape(-1)
            last = torch.arange(vocab_size).repeat(len(last))
        best = float(scores.max())
        for i, width in enumerate(widths):
            _, score = beam_search(table_model(table), [0], n_new, width)
            hits[i] += abs(score - best) < 1e-9
            gaps[i] += best - score
    return hits / n_tables, gaps / n_tables


widths = [1, 2, 3, 4, 8, 16, 64]
hit_rate, mean_gap = beam_quality(widths)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(widths, hit_rate, "o-"); axes[0].set_xscale("log", base=2)
axes[0].set(xlabel="beam width k", ylabel="share of tables", title="beam search finds the exhaustive optimum")
axes[1].plot(widths, mean_gap, "o-"); axes[1].set_xscale("log", base=2)
axes[1].set(xlabel="beam width k", ylabel="nats", title="mean log-prob gap to the optimum")
plt.tight_layout(); plt.show()

# %% [markdown]
# ### Beam search in practice: lengths and length penalties
#
# Every hypothesis here has exactly `n_new` tokens. In real systems a hypothesis ends when it emits
# the end-of-sequence token, and then sums of log-probabilities favour **short** outputs: every
# extra token adds a negative number. Beam search with an end token notoriously prefers empty or
# truncated translations (Stahlberg & Byrne, 2019, found the *exact* mode of a translation model is
# often the empty string). The fix is a length normalisation: rank finished hypotheses by
#
# $$\frac{s(y)}{|y|^{\alpha}},$$
#
# with $\alpha = 0$ the raw sum, $\alpha = 1$ the mean log-probability per token, and $\alpha > 1$
# an active push towards longer outputs. `transformers` does exactly this with `length_penalty`
# ($\alpha$, default 1.0) applied to the number of *generated* tokens; Google's NMT (Wu et al. 2016)
# used $((5+|y|)/6)^\alpha$. `early_stopping` says when to stop: `True` as soon as `num_beams`
# hypotheses are finished, `False`/`"never"` only when no running beam could still beat them.
# The course model has no end token, so all of this is moot for it; the test above compares your
# `beam_search` with `generate(num_beams=3, length_penalty=0.0)` and gets identical tokens.
#
# Cost: $k$ forward passes per step (batched into one call of batch $k$ in practice) and a $k$-fold
# KV cache (`31-kv-cache`), reordered after every step since beams swap parents.

# %% [markdown]
# ## 3 · Temperature
#
# Sampling draws $y_t \sim \operatorname{softmax}(z_t / T)$. Dividing logits by $T$:
#
# - $T = 1$ samples from the model itself;
# - $T \to 0$: the largest logit dominates, the distribution tends to a point mass on the argmax
#   (greedy decoding);
# - $T \to \infty$: all logits go to 0, the distribution tends to uniform.
#
# Why it is the *logits* that are divided: $\operatorname{softmax}(z/T)_v \propto p_v^{1/T}$, a
# power of the probabilities renormalised. In statistical physics $z$ is a negative energy and this is
# the Boltzmann distribution at temperature $T$. Dividing the *probabilities* by $T$ (after the
# softmax) does nothing at all once they are renormalised, and multiplying the logits by $T$ turns
# every setting upside down. The entropy $H(T) = -\sum_v q_v \log q_v$ rises monotonically from 0
# (at $T\to0$, for a unique maximum) to $\log V$ (at $T\to\infty$).
#
# What this means: temperature is one knob from "always the same, safest answer" to "anything
# goes". $T \approx 0.7$ is a common default for chat models; code and maths use lower; some
# creative writing uses $T > 1$ with a filter (below) to cut the unreliable tail.
#
# The figure shows the distribution of the course model's next character after "ROMEO:\nO, " at
# three temperatures, and the entropy of the distribution as $T$ varies.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    course_model = load_course_model()
course = model_next_logits(course_model)
romeo_logits = course(encode("ROMEO:\nO, ").tolist())
top = torch.argsort(romeo_logits, descending=True)[:15]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for k, temperature in enumerate([0.5, 1.0, 2.0]):
    q = torch.softmax(romeo_logits / temperature, dim=-1)
    axes[0].bar(np.arange(15) + (k - 1) * 0.27, q[top].numpy(), 0.27, label=f"T={temperature}")
axes[0].set_xticks(np.arange(15), [repr(c)[1:-1] for c in decode(top)])
axes[0].set(ylabel="probability", title="next character after 'ROMEO:\\nO, ' (top 15)"); axes[0].legend()
temperatures = np.logspace(-2, 1.3, 80)
entropies = [float(-(torch.softmax(romeo_logits / t, -1) * torch.log_softmax(romeo_logits / t, -1)).sum()) for t in temperatures]
axes[1].semilogx(temperatures, entropies); axes[1].axhline(math.log(65), ls="--", c="gray", label="log V (uniform)")
axes[1].set(xlabel="temperature T", ylabel="entropy (nats)", title="entropy of softmax(z / T)"); axes[1].legend()
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 4 · Top-k and top-p (nucleus) filtering
#
# At $T=1$ a model puts a little probability on many bad tokens, and over hundreds of steps *some*
# bad token is almost surely drawn (a tail of total mass 5 % is hit on 100 steps with probability
# $1 - 0.95^{100} > 99\%$); one bad token and the text derails. Filters cut the tail and
# renormalise. Set logits outside the kept set to $-\infty$ (so softmax gives them exactly 0):
#
# - **top-k** (Fan et al., 2018): keep the $k$ largest logits. Ties with the $k$-th largest are kept
#   too (`transformers` keeps every logit $\ge$ the $k$-th largest; so do we).
# - **top-p / nucleus** (Holtzman et al., 2020): sort probabilities in decreasing order
#   $p_{(1)} \ge p_{(2)} \ge \dots$ and keep the *smallest* prefix whose mass reaches $p$:
#
# $$S = \{(1), \dots, (m)\},\qquad m = \min\Big\{j : \sum_{i\le j} p_{(i)} \ge p\Big\}.$$
#
# The token that *crosses* $p$ is kept. Equivalently, token $(j)$ is kept iff the mass strictly
# before it, $\sum_{i<j}p_{(i)}$, is below $p$, so the top token is always kept. With probabilities
# (0.5, 0.3, 0.2) and $p = 0.6$ the nucleus is {0.5, 0.3}: 0.5 alone does not reach 0.6. Keeping only
# tokens whose cumulative mass is $\le p$ (a common slip) would keep {0.5} here, and *nothing* when
# the top token alone has more than $p$. `transformers`' `TopPLogitsWarper` computes the same set
# from the other end (sort ascending, drop tokens whose cumulative mass is $\le 1-p$) and adds
# `min_tokens_to_keep` (default 1); on an exact tie at the boundary (probabilities 0.5, 0.25, 0.25
# and $p = 0.5$) both keep only the top token, since it alone already reaches $p$.
#
# What this means: top-k keeps a fixed *number* of tokens, top-p a fixed *mass*. On a peaked
# distribution top-p keeps one or two tokens where top-k = 10 keeps ten, most of them noise; on a
# flat distribution (the first letter of a new word) top-p keeps many where top-k still keeps ten
# and cuts good options. Top-p adapts to the
# model's confidence, which is why it is the default in most APIs. In the figure below, in the
# middle of the word "speak" the course model is 98 % sure of the next letter: top-p = 0.9 keeps that
# one letter, top-k = 10 keeps nine more that can only do harm; at the start of a word after
# "I will " the mass is spread and top-p keeps 16 candidates where top-k cuts at 10.
#
# The figure uses `transformers`' own warpers on two distributions of the course model.

# %%
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

peaked = course(encode("First Citizen:\nBefore we proceed any further, hear me spea").tolist())
flat = course(encode("ROMEO:\nI will ").tolist())
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), sharey=True)
for ax, logits, name in [(axes[0], peaked, "peaked: '...hear me spea'"), (axes[1], flat, "flat: 'ROMEO:\\nI will '")]:
    order = torch.argsort(logits, descending=True)
    probs = torch.softmax(logits, -1)[order].numpy()
    kept_k = int(torch.isfinite(TopKLogitsWarper(10)(None, logits[None])).sum())
    kept_p = int(torch.isfinite(TopPLogitsWarper(0.9)(None, logits[None])).sum())
    ax.bar(np.arange(30), probs[:30], color=["C2" if i < kept_p else "lightgray" for i in range(30)])
    ax.axvline(kept_k - 0.5, c="C3", ls="--", label=f"top-k=10 keeps {kept_k}")
    ax.set(title=f"{name}\ntop-p=0.9 keeps {kept_p} (green)", xlabel="rank")
    ax.legend()
axes[0].set_ylabel("probability"); plt.tight_layout(); plt.show()

# %% [markdown]
# **min-p** (Nguyen et al., 2024), a newer filter in the same spirit: keep tokens with
# $p_v \ge p_{\min}\cdot\max_u p_u$. The threshold scales with the top probability, so it is strict
# when the model is confident and lenient when it is not; `transformers` has it as
# `MinPLogitsWarper`. You will not write it, but it takes three lines once top-p works.
#
# Write `apply_temperature`, `top_k_filter` and `top_p_filter` (about 15 minutes). Each takes logits
# of shape `(..., V)` (one distribution or a batch of them) and returns logits of the same shape:
# `torch.topk`, `torch.sort(descending=True)`, `cumsum` and `scatter` (to put the sorted mask back
# in vocabulary order) along the last dimension. Removed tokens get `-inf`.

# %% nbgrader={"grade": false, "grade_id": "apply_temperature", "locked": false, "schema_version": 3, "solution": true, "task": false}
def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Logits divided by the temperature: softmax of the result is softmax(logits / T).

    Args:
        logits: (..., V) float tensor.
        temperature: T > 0.

    Returns:
        (..., V) tensor of the same dtype, logits / temperature (a new tensor; the input is unchanged).

    Example:
        >>> apply_temperature(torch.tensor([2.0, 1.0]), 0.5)
        tensor([4., 2.])
    """
    ### BEGIN SOLUTION
    return logits / temperature
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "top_k_filter", "locked": false, "schema_version": 3, "solution": true, "task": false}
def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row (and any tied with the k-th largest); the others become -inf.

    Args:
        logits: (..., V) float tensor.
        k: int >= 1; k >= V keeps everything.

    Returns:
        (..., V) tensor of the same dtype: logits where kept, -inf elsewhere.

    Example:
        >>> top_k_filter(torch.tensor([1.0, 3.0, 2.0, 0.0]), 2)
        tensor([-inf, 3., 2., -inf])
    """
    ### BEGIN SOLUTION
    k = min(k, logits.shape[-1])
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth_largest, -math.inf)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "top_p_filter", "locked": false, "schema_version": 3, "solution": true, "task": false}
def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability reaches p; the others become -inf.

    A token is kept iff the total probability of the tokens more likely than it is < p, so the token
    that crosses p is kept and the most likely token always is. p = 1 keeps everything.

    Args:
        logits: (..., V) float tensor (entries may already be -inf).
        p: 0 < p <= 1.

    Returns:
        (..., V) tensor of the same dtype: logits where kept, -inf elsewhere.

    Example:
        >>> top_p_filter(torch.log(torch.tensor([0.2, 0.5, 0.3])), 0.6)    # 0.5 alone is short of 0.6: 0.3 is kept too
        tensor([   -inf, -0.6931, -1.2040])
    """
    ### BEGIN SOLUTION
    if p >= 1.0:
        return logits.clone()
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    sorted_probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs    # probability of the tokens ranked above each one
    remove_sorted = mass_before >= p
    remove = remove_sorted.scatter(-1, order, remove_sorted)           # back to vocabulary order
    return logits.masked_fill(remove, -math.inf)
    ### END SOLUTION

# %%
from grader.testing import expect
from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper


def same_filtered_logits(got, want, what, hint=""):
    """got and want (B, V): the same entries removed (-inf), the kept ones equal to 1e-12."""
    expect.shape(got, tuple(want.shape), what=what)
    expect.dtype(got, want.dtype, what=what, hint="keep the dtype of the logits (float64 here)")
    expect.equal(torch.isneginf(got), torch.isneginf(want), what=f"the set of tokens removed (-inf) by {what}", hint=hint)
    kept = torch.isfinite(want)
    expect.close(got[kept], want[kept], atol=1e-12, rtol=1e-12, what=f"the kept logits of {what}", hint="leave kept logits unchanged")


def hf_top_p(logits, p):
    """transformers' TopPLogitsWarper on a (B, V) tensor."""
    return TopPLogitsWarper(p)(None, logits)


def hf_top_k(logits, k):
    """transformers' TopKLogitsWarper on a (B, V) tensor."""
    return TopKLogitsWarper(k)(None, logits)


# %% nbgrader={"grade": true, "grade_id": "apply_temperature_correct", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""apply_temperature divides the logits by T, as transformers' TemperatureLogitsWarper, for T below and above 1 and on a batch"""
from grader.testing import expect, learner

got = learner.apply_temperature(torch.tensor([2.0, 1.0], dtype=torch.float64), 0.5)
expect.shape(got, (2,), what="apply_temperature on 2 logits")
expect.close(got, torch.tensor([4.0, 2.0], dtype=torch.float64), atol=1e-12, what="apply_temperature on the docstring's example")
### BEGIN HIDDEN TESTS
logits = torch.randn(3, 11, generator=torch.Generator().manual_seed(30), dtype=torch.float64) * 3
for temperature in (0.3, 1.0, 2.5):
    got = learner.apply_temperature(logits, temperature)
    expect.shape(got, (3, 11), what=f"apply_temperature on a (3, 11) batch, T={temperature}")
    expect.dtype(got, torch.float64, what=f"apply_temperature on float64 logits, T={temperature}")
    want = TemperatureLogitsWarper(temperature)(None, logits.clone())
    expect.close(torch.softmax(got, -1), torch.softmax(want, -1), atol=1e-12, what=f"softmax of apply_temperature's output against softmax(logits / T), T={temperature}",
                 hint="divide the LOGITS by T before the softmax (dividing probabilities by T changes nothing after renormalising, and multiplying by T inverts the effect)")
    expect.close(got, want, atol=1e-12, rtol=1e-12, what=f"apply_temperature against transformers' TemperatureLogitsWarper, T={temperature}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "top_k_filter_correct", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""top_k_filter keeps the k largest logits (and ties) and sets the rest to -inf, as transformers' TopKLogitsWarper, for k = 1, small k, k = V and k > V, on a batch"""
from grader.testing import expect, learner

got = learner.top_k_filter(torch.tensor([1.0, 3.0, 2.0, 0.0], dtype=torch.float64), 2)
expect.shape(got, (4,), what="top_k_filter on 4 logits")
expect.equal(torch.isneginf(got), torch.tensor([True, False, False, True]), what="the tokens removed by top_k_filter(..., 2) on the docstring's example")
### BEGIN HIDDEN TESTS
logits = torch.randn(4, 13, generator=torch.Generator().manual_seed(31), dtype=torch.float64) * 2
for k in (1, 3, 7, 13, 20):
    got = learner.top_k_filter(logits, k)
    same_filtered_logits(got, hf_top_k(logits, k), f"top_k_filter with k={k} on a (4, 13) batch",
                         hint="keep exactly the k largest logits of each row (not k + 1, not k - 1) and replace the others by -inf; k >= V keeps all")
ties = torch.tensor([[1.0, 2.0, 2.0, 0.0, 2.0]], dtype=torch.float64)
same_filtered_logits(learner.top_k_filter(ties, 2), hf_top_k(ties, 2), "top_k_filter with k=2 on logits with a three-way tie",
                     hint="keep every logit >= the k-th largest: compare with torch.topk(...).values[..., -1:]")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "top_p_filter_correct", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""top_p_filter keeps the smallest set of most likely tokens whose probability reaches p (the crossing token included), as transformers' TopPLogitsWarper, on unsorted logits, batches, p = 1 and peaked rows"""
from grader.testing import expect, learner

got = learner.top_p_filter(torch.log(torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)), 0.6)
expect.shape(got, (3,), what="top_p_filter on 3 logits")
expect.true(bool(torch.isneginf(got[0])) and bool(torch.isfinite(got[1])),
            "top_p_filter on the docstring's example: the least likely token (0.2) must go and the most likely (0.5) stay")
### BEGIN HIDDEN TESTS
expect.true(bool(torch.isfinite(got[2])), "top_p_filter drops the token that crosses p: with probabilities 0.5, 0.3, 0.2 and p = 0.6, 0.5 alone does not reach 0.6, so 0.3 must be kept too; "
            "keep a token when the mass of the tokens ranked ABOVE it is < p")
# a top token above p: only it survives (never an empty set)
one = learner.top_p_filter(torch.log(torch.tensor([[0.05, 0.9, 0.05]], dtype=torch.float64)), 0.8)
expect.shape(one, (1, 3), what="top_p_filter on a (1, 3) batch whose top token has probability 0.9 > p")
expect.equal(torch.isfinite(one), torch.tensor([[False, True, False]]), what="the tokens kept by top_p_filter when the top token alone exceeds p",
             hint="the most likely token is always kept: the mass ranked above it is 0 < p")
generator = torch.Generator().manual_seed(32)
for p in (0.3, 0.75, 0.9, 0.99):
    logits = torch.randn(5, 17, generator=generator, dtype=torch.float64) * 1.5
    same_filtered_logits(learner.top_p_filter(logits, p), hf_top_p(logits, p), f"top_p_filter with p={p} on an unsorted (5, 17) batch",
                         hint="sort probabilities in DECREASING order, accumulate them, keep tokens whose preceding mass is < p, and scatter the mask back to vocabulary order")
logits = torch.randn(2, 9, generator=generator, dtype=torch.float64)
same_filtered_logits(learner.top_p_filter(logits, 1.0), logits.clone(), "top_p_filter with p = 1", hint="p = 1 keeps every token")
tiny_tail = torch.tensor([[0.0, -60.0, -1.0]], dtype=torch.float64)
same_filtered_logits(learner.top_p_filter(tiny_tail, 1.0), tiny_tail.clone(), "top_p_filter with p = 1 on a row with a token of probability near 1e-26",
                     hint="p = 1 keeps every token, however unlikely (rounding makes the preceding mass exactly 1.0 there: return the logits unchanged for p = 1)")
# the nucleus reaches p exactly with the top token (probabilities 0.5, 0.25, 0.25 and p = 0.5): only it is kept
exact = torch.tensor([[math.log(2.0), 0.0, 0.0]], dtype=torch.float64)
same_filtered_logits(learner.top_p_filter(exact, 0.5), hf_top_p(exact, 0.5), "top_p_filter with p = 0.5 on probabilities 0.5, 0.25, 0.25",
                     hint="the top token alone reaches p = 0.5, so the nucleus is that token: a token is kept iff the mass ranked above it is STRICTLY below p")
# already filtered logits (top-k before top-p) and a large scale
logits = torch.randn(3, 12, generator=generator, dtype=torch.float64) * 2
logits = hf_top_k(logits, 6)
same_filtered_logits(learner.top_p_filter(logits, 0.7), hf_top_p(logits, 0.7), "top_p_filter on logits already filtered by top-k (with -inf entries)")
big = torch.tensor([[1e4, 1e4 - 1.0, 1e4 - 0.5, 1e4 - 4.0, 1e4 - 2.0]], dtype=torch.float64)
got = learner.top_p_filter(big, 0.8)
expect.finite(got[torch.isfinite(hf_top_p(big, 0.8))], what="the kept logits of top_p_filter on logits near 1e4", hint="compute probabilities with torch.softmax (it subtracts the maximum)")
same_filtered_logits(got, hf_top_p(big, 0.8), "top_p_filter with p=0.8 on logits near 1e4")
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · Repetition penalty
#
# Language models love loops: once a phrase has appeared, attention finds it, copies it, and each
# copy makes the next more likely (section 8 shows the course model doing it under greedy search).
# CTRL (Keskar et al., 2019) discounts every token that already occurs in the context by a penalty
# $\theta > 1$. Their formula divides the logit; `transformers` and every serving system since apply
# it so that it always *lowers* the probability, whatever the sign of the logit:
#
# $$z'_v = \begin{cases} z_v / \theta & z_v > 0\\ z_v\cdot\theta & z_v \le 0\end{cases}
# \qquad\text{for every token } v \text{ in the context (once, however often it occurs)}.$$
#
# Dividing a *negative* logit by $\theta > 1$ brings it closer to 0, which makes the repeated token
# *more* likely: the penalty then rewards exactly the tokens it should punish. $\theta < 1$ is
# allowed and encourages repetition (useful for copying tasks).
#
# What this means: the penalty is a blunt instrument. It counts the prompt too (so "ROMEO" in the
# prompt makes the name less likely in the answer), it hits every common character or word (in a
# character model, the space and "e"), and $\theta = 1.2$ (CTRL's value) already changes the text
# noticeably. OpenAI-style APIs use additive *presence* and *frequency* penalties instead
# ($z_v - \alpha\,[c_v>0] - \beta\, c_v$ with $c_v$ the count), and many systems only look at a
# recent window or forbid repeated $n$-grams outright (`no_repeat_ngram_size`).
#
# Write `apply_repetition_penalty` (about 5 minutes). Do not modify the input in place.

# %% nbgrader={"grade": false, "grade_id": "apply_repetition_penalty", "locked": false, "schema_version": 3, "solution": true, "task": false}
def apply_repetition_penalty(logits: torch.Tensor, previous_ids: list[int], penalty: float) -> torch.Tensor:
    """CTRL's repetition penalty: every token that occurs in previous_ids is made less likely (for penalty > 1).

    Args:
        logits: (V,) float tensor, the next-token logits.
        previous_ids: list of ints, the tokens so far (prompt and generated); repeats count once.
        penalty: theta > 0; positive logits of those tokens are divided by theta, negative ones multiplied.

    Returns:
        (V,) tensor of the same dtype, a new tensor (the input is unchanged).

    Example:
        >>> apply_repetition_penalty(torch.tensor([2.0, -1.0, 0.5]), [0, 1, 1], 2.0)
        tensor([ 1.0000, -2.0000,  0.5000])
    """
    ### BEGIN SOLUTION
    penalised = logits.clone()
    seen = torch.tensor(sorted(set(int(t) for t in previous_ids)), dtype=torch.long)
    if len(seen) == 0:
        return penalised
    values = penalised[seen]
    penalised[seen] = torch.where(values > 0, values / penalty, values * penalty)
    return penalised
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "apply_repetition_penalty_correct", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""apply_repetition_penalty divides positive and multiplies negative logits of the tokens already present, once per token, as transformers' RepetitionPenaltyLogitsProcessor"""
from grader.testing import expect, learner

got = learner.apply_repetition_penalty(torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64), [0, 1, 1], 2.0)
expect.shape(got, (3,), what="apply_repetition_penalty on 3 logits")
expect.close(got[0], 1.0, atol=1e-12, what="the penalised positive logit of the docstring's example (2 / 2)")
### BEGIN HIDDEN TESTS
expect.close(got, torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), atol=1e-12, what="apply_repetition_penalty on the docstring's example",
             hint="a negative logit is MULTIPLIED by the penalty (dividing it would make the repeated token more likely), and a token repeated twice is penalised once")
generator = torch.Generator().manual_seed(33)
for penalty, ids in [(1.3, [4, 0, 9, 4, 4, 2, 11]), (1.8, [1, 2, 3, 1, 2, 3, 1]), (0.7, [5, 6, 5]), (1.4, [3, 3]), (1.2, [])]:
    logits = torch.randn(12, generator=generator, dtype=torch.float64) * 2
    got = learner.apply_repetition_penalty(logits, ids, penalty)
    expect.shape(got, (12,), what=f"apply_repetition_penalty on 12 logits, penalty {penalty}")
    expect.dtype(got, torch.float64, what=f"apply_repetition_penalty on float64 logits, penalty {penalty}")
    input_ids = torch.tensor([ids], dtype=torch.long) if ids else torch.zeros(1, 0, dtype=torch.long)
    want = RepetitionPenaltyLogitsProcessor(penalty)(input_ids, logits[None].clone())[0]
    expect.close(got, want, atol=1e-12, rtol=1e-12, what=f"apply_repetition_penalty against transformers' RepetitionPenaltyLogitsProcessor, penalty {penalty}, {len(ids)} previous tokens",
                 hint="only tokens in previous_ids change, each once; positive logits / penalty, negative logits * penalty")
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · Sampling
#
# To draw one token from $q = \operatorname{softmax}(z)$: `torch.multinomial(q, 1)` (inverse-CDF
# sampling: a uniform $u$ and the first index whose cumulative probability exceeds it). A
# `torch.Generator` makes the draws reproducible. Filtered tokens have logit $-\infty$, hence
# probability exactly 0, and are never drawn. An equivalent trick you will meet in papers is the
# **Gumbel-max**: $\arg\max_v (z_v + g_v)$ with $g_v = -\log(-\log u_v)$ i.i.d. is an exact sample
# from $\operatorname{softmax}(z)$; with $T\to 0$ the noise is negligible and it becomes greedy.
#
# **Testing a sampler.** A sampler is right when its draws *have the right distribution*, which
# only statistics can check: draw $N$ tokens, count $c_v$, and compare with the expected counts
# $N q_v$ by Pearson's chi-square $\chi^2 = \sum_v (c_v - Nq_v)^2/(Nq_v)$, which for a correct
# sampler follows a $\chi^2_{V'-1}$ distribution ($V'$ the tokens with $q_v>0$). A p-value below
# $10^{-6}$ is a bug, not bad luck, and with $N = 50{,}000$ draws a probability off by 0.01 is
# caught every time. The tests here use fixed seeds, so the verdict is reproducible.
#
# Write `sample` (about 5 minutes) for logits of shape `(..., V)`: one draw per row, so a batch of
# $N$ identical rows gives $N$ independent draws in one call (what the tests do).

# %% nbgrader={"grade": false, "grade_id": "sample", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sample(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token drawn from softmax(logits) for each row.

    Args:
        logits: (..., V) float tensor; -inf entries have probability 0.
        generator: a torch.Generator for reproducible draws (None: torch's global one).

    Returns:
        int64 tensor of shape logits.shape[:-1] (a 0-d tensor for logits of shape (V,)).

    Example:
        >>> sample(torch.tensor([0.0, -math.inf, 0.0]), torch.Generator().manual_seed(0)).item() in (0, 2)
        True
    """
    ### BEGIN SOLUTION
    probs = torch.softmax(logits, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    draws = torch.multinomial(flat, num_samples=1, generator=generator)
    return draws.reshape(logits.shape[:-1])
    ### END SOLUTION

# %%
from grader.testing import expect, scenario


@scenario
def sample_counts(ns, rows, n_draws, seed):
    """n_draws draws of sample for each row of rows (R, V), in one call on a batch that interleaves the rows; counts (R, V)."""
    import torch
    generator = torch.Generator().manual_seed(seed)
    batch = rows.repeat(n_draws, 1)             # (n_draws * R, V): row r of draw i sits at i * R + r
    draws = torch.as_tensor(ns.sample(batch, generator))
    out = {"shape": list(draws.shape), "dtype": str(draws.dtype), "counts": None}
    if tuple(draws.shape) == (n_draws * rows.shape[0],) and not draws.is_floating_point():
        draws = draws.long().reshape(n_draws, rows.shape[0])
        out["counts"] = torch.stack([torch.bincount(draws[:, r].clamp(0, rows.shape[1]), minlength=rows.shape[1] + 1)[:rows.shape[1] + 1]
                                     for r in range(rows.shape[0])])
    return out


def chi_square_pvalue(counts, probs):
    """Pearson's chi-square test of counts (V,) against probabilities (V,) over the cells with positive probability."""
    from scipy.stats import chisquare
    positive = probs > 0
    n = counts.sum()
    return float(chisquare(counts[positive].double(), (n * probs[positive]).double()).pvalue)


def expect_counts_follow(counts, probs, what, hint=""):
    """Counts (V + 1,) of draws (last cell: out-of-range tokens) follow probs (V,): no draw where probs is 0, and chi-square p > 1e-6."""
    expect.true(int(counts[-1]) == 0, f"{what}: some draws are not token ids in range(V)")
    counts = counts[:-1]
    expect.true(int(counts[probs == 0].sum()) == 0, f"{what}: a token with probability 0 (logit -inf) was drawn{': ' + hint if hint else ''}")
    pvalue = chi_square_pvalue(counts, probs)
    expect.true(pvalue > 1e-6, f"{what}: the draws do not follow the expected distribution (chi-square p-value {pvalue:.1e} < 1e-6){': ' + hint if hint else ''}")


# %% nbgrader={"grade": true, "grade_id": "sample_statistics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""sample draws from softmax(logits) row by row: chi-square tests on 40,000 draws per row, never a -inf token, one draw per row of a batch, stable for logits near 1e4"""
from grader.testing import expect, learner

got = sample_counts.learner(torch.tensor([[0.0, -math.inf, 0.0], [1.0, 0.5, -1.0]], dtype=torch.float64), 10, 0)
expect.equal(got["shape"], [20], what="the shape of sample on a (20, 3) batch", hint="one token per row: shape logits.shape[:-1]")
expect.true(got["dtype"] == "torch.int64", f"sample returns {got['dtype']}, expected torch.int64 token ids")
### BEGIN HIDDEN TESTS
rows = torch.tensor([[2.0, 1.0, 0.5, -1.0, -math.inf, 0.0],
                     [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                     [-3.0, 1.5, -math.inf, 1.0, 0.2, -0.5]], dtype=torch.float64)
got = sample_counts.learner(rows, 40000, 1)
expect.equal(got["shape"], [120000], what="the shape of sample on a (120000, 6) batch")
expect.true(got["counts"] is not None, "sample does not return int64 token ids of shape logits.shape[:-1]")
for r in range(3):
    expect_counts_follow(got["counts"][r], torch.softmax(rows[r], -1), f"sample on row {r} of a batch of 3 different distributions",
                         hint="draw each row from softmax over the LAST axis (the vocabulary) of that row")
big = torch.tensor([[1e4, 1e4 - 1.0, 1e4 - 0.5, 1e4 - 3.0, 1e4 - 2.0]], dtype=torch.float64)
got = sample_counts.learner(big, 40000, 2)
expect.true(got["counts"] is not None, "sample on logits near 1e4 does not return int64 token ids of shape logits.shape[:-1]")
expect_counts_follow(got["counts"][0], torch.softmax(big[0], -1), "sample on logits near 1e4", hint="use torch.softmax, which subtracts the maximum (exp(1e4) overflows)")
### END HIDDEN TESTS

# %% [markdown]
# The learner's own sampler on one distribution of the course model: 20,000 draws of the next
# character after "ROMEO:\nO, " at $T=1$, the histogram against the expected probabilities.

# %%
try:
    draws = sample(romeo_logits.repeat(20000, 1), torch.Generator().manual_seed(0))
    counts = torch.bincount(draws, minlength=65)[top].numpy()
    expected = 20000 * torch.softmax(romeo_logits, -1)[top].numpy()
    plt.figure(figsize=(8, 3))
    plt.bar(np.arange(15), counts, color="C0", label="draws of sample()")
    plt.plot(np.arange(15), expected, "k_", ms=18, mew=2, label="expected N q")
    plt.errorbar(np.arange(15), expected, yerr=2 * np.sqrt(expected), fmt="none", ecolor="k", capsize=3, label="± 2 sd")
    plt.xticks(np.arange(15), [repr(c)[1:-1] for c in decode(top)]); plt.ylabel("count"); plt.legend()
    plt.title("20,000 draws of the next character after 'ROMEO:\\nO, '"); plt.tight_layout(); plt.show()
except NotImplementedError:
    print("write sample() above to see its histogram")

# %% [markdown]
# ## 7 · The generation loop
#
# A full sampler chains the processors in a fixed order at every step, exactly as
# `transformers.generate(do_sample=True, ...)` does:
#
# $$z \xrightarrow{\text{repetition penalty (on all ids so far)}} z'
# \xrightarrow{\;/T\;} z'' \xrightarrow{\text{top-}k} \xrightarrow{\text{top-}p}
# \xrightarrow{\text{sample}} y_t.$$
#
# The order matters: top-p *after* temperature means the nucleus is computed on the tempered
# distribution (a high $T$ flattens it, so the nucleus grows), and the repetition penalty acts on
# raw logits before anything else. Each step's $q_t$ then depends on the ids so far, and the
# probability of a whole continuation is the product $\prod_t q_t(y_t)$, which the tests compute
# exactly on a tiny model (all $V^n$ continuations) and compare with your generator's frequencies.
#
# Two limits make quick sanity checks: `temperature` $\to 0$ and `top_k=1` are both greedy
# decoding; `top_p=1`, `top_k=None`, $T=1$, penalty 1 is plain sampling from the model.
#
# Write `generate` (about 10 minutes) from your functions above.

# %% nbgrader={"grade": false, "grade_id": "generate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def generate(next_logits, prompt: list[int], n_new: int, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, repetition_penalty: float = 1.0, generator: torch.Generator | None = None) -> list[int]:
    """Sample n_new tokens: at each step penalise repeats, apply the temperature, top-k, top-p (in this order), and sample.

    Args:
        next_logits: a function ids -> (V,) float tensor, the logits of the token after the list of ints ids.
        prompt: list of ints, at least one token.
        n_new: the number of tokens to append, >= 0.
        temperature: T > 0.
        top_k: None (no top-k filter) or an int >= 1.
        top_p: None (no nucleus filter) or a float in (0, 1].
        repetition_penalty: theta > 0, applied to every token in the ids so far (prompt included); 1.0 does nothing.
        generator: a torch.Generator for reproducible draws, passed to sample.

    Returns:
        list of len(prompt) + n_new ints: the prompt followed by the sampled tokens.

    Example:
        >>> generate(table_model(TRAP_TABLE), [0], 3, temperature=1e-4)    # T -> 0 is greedy
        [0, 1, 0, 0]
    """
    ### BEGIN SOLUTION
    ids = [int(t) for t in prompt]
    for _ in range(n_new):
        logits = next_logits(ids)
        if repetition_penalty != 1.0:
            logits = apply_repetition_penalty(logits, ids, repetition_penalty)
        logits = apply_temperature(logits, temperature)
        if top_k is not None:
            logits = top_k_filter(logits, top_k)
        if top_p is not None:
            logits = top_p_filter(logits, top_p)
        ids.append(int(sample(logits, generator)))
    return ids
    ### END SOLUTION

# %%
from grader.testing import expect, scenario


@scenario
def generate_on_course_model(ns, prompt_text, n_new, seed, settings):
    """generate on the course model from a text prompt, with a seeded generator."""
    import torch
    from course_model import encode, load_course_model
    model = load_course_model()

    def next_logits(ids):
        with torch.no_grad():
            return model(torch.tensor([[int(i) for i in ids]])).logits[0, -1].double()

    ids = ns.generate(next_logits, encode(prompt_text).tolist(), n_new, generator=torch.Generator().manual_seed(seed), **settings)
    return [int(t) for t in ids]


@scenario
def generate_counts(ns, table, prompt, n_new, n_runs, seed, settings):
    """generate run n_runs times on a table model from one seeded generator; counts (V ** n_new,) of the continuations, in base-V order."""
    import torch
    vocab_size = table.shape[-1]

    def next_logits(ids):
        ids = [int(i) for i in ids]
        return (table[ids[-1]] if table.dim() == 2 else table[ids[-2], ids[-1]]).clone()

    generator = torch.Generator().manual_seed(seed)
    counts = torch.zeros(vocab_size ** n_new + 1, dtype=torch.long)   # last cell: malformed outputs
    for _ in range(n_runs):
        ids = [int(t) for t in ns.generate(next_logits, list(prompt), n_new, generator=generator, **settings)]
        new = ids[len(prompt):]
        if len(ids) != len(prompt) + n_new or ids[:len(prompt)] != list(prompt) or not all(0 <= t < vocab_size for t in new):
            counts[-1] += 1
            continue
        counts[sum(t * vocab_size ** (n_new - 1 - i) for i, t in enumerate(new))] += 1
    return counts


def processed_probs(logits, ids, settings):
    """The judge's q for one step, from transformers' own processors in generate's order."""
    scores = logits[None].clone()
    if settings.get("repetition_penalty", 1.0) != 1.0:
        scores = RepetitionPenaltyLogitsProcessor(settings["repetition_penalty"])(torch.tensor([ids]), scores)
    scores = TemperatureLogitsWarper(settings.get("temperature", 1.0))(None, scores) if settings.get("temperature", 1.0) != 1.0 else scores
    if settings.get("top_k") is not None:
        scores = TopKLogitsWarper(settings["top_k"])(None, scores)
    if settings.get("top_p") is not None and settings["top_p"] < 1.0:
        scores = TopPLogitsWarper(settings["top_p"])(None, scores)
    return torch.softmax(scores[0], -1)


def continuation_probs(table, prompt, n_new, settings):
    """The exact probability of every n_new-token continuation under generate's settings, in base-V order."""
    vocab_size = table.shape[-1]
    probs = torch.zeros(vocab_size ** n_new, dtype=torch.float64)
    for index, continuation in enumerate(itertools.product(range(vocab_size), repeat=n_new)):
        ids, p = list(prompt), 1.0
        for token in continuation:
            row = table[ids[-1]] if table.dim() == 2 else table[ids[-2], ids[-1]]
            p *= float(processed_probs(row, ids, settings)[token])
            ids.append(token)
        probs[index] = p
    return probs


# %% nbgrader={"grade": true, "grade_id": "generate_statistics", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""generate samples continuations with the exact probabilities of penalty -> temperature -> top-k -> top-p -> sample (chi-square on all continuations of a tiny model, transformers' processors as the reference); T -> 0 and top_k = 1 are greedy, also on the course model"""
from grader.testing import expect, learner

got = generate_counts.learner(TRAP_TABLE, [0], 3, 5, 0, {"temperature": 1e-4})
expect.shape(got, (28,), what="the counts of generate's continuations on the trap table")
expect.true(int(got[-1]) == 0, "generate returns something other than the prompt followed by n_new token ids")
expect.true(int(got.max()) == 5, "generate with temperature -> 0 must be greedy: the same continuation every time")
### BEGIN HIDDEN TESTS
bigram = random_table(40, 4, 1, scale=1.2)
trigram = random_table(41, 3, 2, scale=1.2)
cases = [
    ("plain sampling", bigram, [1], 2, {}),
    ("temperature 0.6 with top-k 3", bigram, [0], 2, {"temperature": 0.6, "top_k": 3}),
    ("temperature 1.6 with top-p 0.7", bigram, [2], 2, {"temperature": 1.6, "top_p": 0.7}),
    ("repetition penalty 2.5", bigram, [3, 3, 1], 2, {"repetition_penalty": 2.5}),
    ("all four on a trigram model", trigram, [0, 1], 3, {"temperature": 0.8, "top_k": 2, "top_p": 0.9, "repetition_penalty": 1.5}),
]
for i, (name, table, prompt, n_new, settings) in enumerate(cases):
    counts = generate_counts.learner(table, prompt, n_new, 3000, 100 + i, settings)
    expect.shape(counts, (table.shape[-1] ** n_new + 1,), what=f"the counts of generate's continuations ({name})")
    expect_counts_follow(counts, continuation_probs(table, prompt, n_new, settings), f"generate with {name}, 3000 continuations of {n_new} tokens",
                         hint="at each step: repetition penalty on ALL ids so far (prompt included), then logits / T, then top-k, then top-p, then sample")
# the greedy limits
table = random_table(42, 5, 2)
for settings in ({"temperature": 1e-3}, {"top_k": 1}, {"top_k": 1, "temperature": 3.0}):
    counts = generate_counts.learner(table, [1, 4], 4, 20, 7, settings)
    want = greedy_by_hand(table, [1, 4], 4)[2:]
    index = sum(t * 5 ** (3 - i) for i, t in enumerate(want))
    expect.true(int(counts[index]) == 20, f"generate with {settings} must be greedy decoding (the argmax at every step), every time")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = load_course_model()
    want = model.generate(encode("MENENIUS:\n")[None], do_sample=False, max_new_tokens=10)[0].tolist()
expect.equal(generate_on_course_model.learner("MENENIUS:\n", 10, 3, {"top_k": 1, "temperature": 0.9}), want,
             what="generate with top_k=1 on the course model against transformers' greedy generate, 10 tokens")
### END HIDDEN TESTS

# %% [markdown]
# ## 8 · What the course model writes with each rule
#
# Holtzman et al. (2020, "The curious case of neural text degeneration") showed two facts about
# open-ended generation that this notebook reproduces in miniature:
#
# 1. **Maximisation degenerates.** Greedy and beam search on a story prompt produce bland, generic
#    text that soon loops ("I don't know. I don't know. I don't know."). The mode of the
#    distribution over long sequences is not typical text: human text has a per-token
#    log-probability that *fluctuates* well below the model's maximum, and a repetition, once
#    started, becomes more probable with every copy (a self-reinforcing loop of attention copying
#    the previous occurrence). Beam search, a *better* maximiser, is *worse* here.
# 2. **Pure sampling derails.** At $T=1$ the unreliable tail is sampled now and then, and one
#    implausible token sends the text off course. Nucleus sampling with $p\approx0.9$ matched
#    human text best on their measures (perplexity close to the human one, no repetition, diverse).
#
# The decoding *objective* is the real question: search answers "what is the single most likely
# text?" (right for translation, classification-like tasks, or short factual answers); sampling
# answers "give me a typical text" (right for dialogue and stories). Below, the course model
# continues one prompt 120 characters with each rule (all through your functions).

# %%
def show_samples(prompt_text="ROMEO:\n", n_new=120, seed=0):
    """The course model's continuation of prompt_text under each decoding rule."""
    prompt = encode(prompt_text).tolist()
    rules = [
        ("greedy", lambda: greedy_decode(course, prompt, n_new)),
        ("beam search, k=4", lambda: beam_search(course, prompt, n_new, 4)[0]),
        ("sampling, T=1", lambda: generate(course, prompt, n_new, generator=torch.Generator().manual_seed(seed))),
        ("sampling, T=0.6", lambda: generate(course, prompt, n_new, temperature=0.6, generator=torch.Generator().manual_seed(seed))),
        ("top-k=10", lambda: generate(course, prompt, n_new, top_k=10, generator=torch.Generator().manual_seed(seed))),
        ("top-p=0.9, T=0.8", lambda: generate(course, prompt, n_new, temperature=0.8, top_p=0.9, generator=torch.Generator().manual_seed(seed))),
        ("greedy + repetition penalty 1.3", lambda: generate(course, prompt, n_new, top_k=1, repetition_penalty=1.3)),
    ]
    for name, rule in rules:
        try:
            text = decode(rule()[len(prompt):])
        except NotImplementedError:
            text = "(write the functions above first)"
        print(f"--- {name} ---\n{prompt_text}{text}\n")


show_samples()

# %% [markdown]
# What to look for: greedy settles into "the the state the the state" within a line, and beam
# search, a better maximiser, into "thou have thought thought thoughts"; $T=1$ sampling invents
# words now and then ("mhousand", "lordick": the tail at work); top-k = 10 still keeps enough tail to
# misspell; a lower temperature and top-p give the most Shakespeare-like lines. The repetition
# penalty breaks greedy's loop and here even gives a readable dialogue, but notice how it works on a
# character model: after a hundred characters nearly every letter has been seen, so the penalty
# shifts *all* common letters at once and what remains is mostly the difference between positive and
# negative logits. In a word-level model "the" is penalised once; here the letter "e" is, from the
# prompt on. (Your samples may differ in detail if your functions draw differently; the statistics
# are the same.)
#
# **Repetition, measured.** The share of distinct 4-grams among all 4-grams of a 200-character
# continuation (1 = no 4-gram ever repeats), for each rule, averaged over three prompts.

# %%
def distinct_4grams(ids):
    """Distinct 4-grams / all 4-grams of a token list."""
    grams = [tuple(ids[i:i + 4]) for i in range(len(ids) - 3)]
    return len(set(grams)) / max(len(grams), 1)


try:
    prompts = ["ROMEO:\n", "JULIET:\n", "First Citizen:\n"]
    rules = {
        "greedy": lambda p, s: greedy_decode(course, p, 200),
        "T=1": lambda p, s: generate(course, p, 200, generator=torch.Generator().manual_seed(s)),
        "T=0.6": lambda p, s: generate(course, p, 200, temperature=0.6, generator=torch.Generator().manual_seed(s)),
        "top-p 0.9": lambda p, s: generate(course, p, 200, top_p=0.9, generator=torch.Generator().manual_seed(s)),
        "greedy+pen 1.3": lambda p, s: generate(course, p, 200, top_k=1, repetition_penalty=1.3),
    }
    scores = {name: np.mean([distinct_4grams(rule(encode(p).tolist(), s)[len(p):]) for s, p in enumerate(prompts)]) for name, rule in rules.items()}
    plt.figure(figsize=(7, 2.8))
    plt.bar(list(scores), list(scores.values()))
    plt.ylabel("distinct 4-grams"); plt.title("repetition in 200-character continuations (3 prompts)"); plt.tight_layout(); plt.show()
except NotImplementedError:
    print("write the functions above to see how often each rule repeats itself")

# %% [markdown]
# ## 9 · Practical considerations
#
# **Numerical stability.** Work with log-probabilities (`log_softmax`) in search, and let
# `softmax` subtract the maximum before sampling; logits of a few thousand are normal in float16
# models after a temperature of 0.1. A temperature of exactly 0 is a division by zero: APIs treat
# `temperature=0` as greedy decoding by special case.
#
# **Common bugs** (each has a test above):
#
# | bug | symptom |
# |---|---|
# | beam search keeps only the best candidate | it is greedy decoding, at $k$ times the cost |
# | beam scores as products of probabilities | all scores 0 after a few hundred tokens; ties everywhere |
# | beam scores as sums of probabilities | ranks by average step confidence, not sequence probability |
# | top-p drops the crossing token | the nucleus is too small, empty when the top token exceeds $p$ |
# | top-p on unsorted probabilities | keeps an arbitrary prefix of the vocabulary |
# | top-k keeps $k+1$ | the off-by-one of `values[..., k]` against `values[..., k-1]` |
# | temperature after the softmax | no effect at all (or inverted, if the logits are multiplied) |
# | repetition penalty divides negative logits | repeated tokens become *more* likely |
# | softmax over the wrong axis of a batch | every row's distribution depends on the others |
#
# **Hyperparameters that matter.** Temperature first (0 to 1.2); then one filter, usually top-p
# 0.9–0.95 or min-p 0.05–0.1 (top-k 40–50 is the older default); a repetition penalty only if loops
# appear (1.1–1.3), or `no_repeat_ngram_size` for beam search. For beam search: width 4–10; wider
# beams often *lower* quality in translation (the "beam search curse": the better the search, the
# closer to the degenerate mode) and need a length penalty.
#
# **Cost.** Sampling is greedy's cost plus a sort of $V$ logits per step (top-p); beam search
# multiplies compute and KV-cache memory by $k$. Batched serving systems (vLLM, TGI) implement these
# same processors on the GPU, per request, and speculative decoding (`33-speculative-decoding`)
# must reproduce *exactly* the processed distribution $q$, which is why it matters that $q$ is
# well defined.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | greedy | $y_t = \arg\max_v z_{t,v}$ | `ids.append(int(next_logits(ids).argmax()))` | `temperature=0`, short factual answers, tests |
# | beam search | keep top $k$ of $s + \log p(v\mid\cdot)$ over all beams | `log_softmax`, collect $kV$ candidates, sort, keep $k$ | translation, ASR, summarisation (`num_beams`) |
# | length penalty | $s(y)/\lvert y\rvert^{\alpha}$ | divide finished scores | beam search with an end token |
# | temperature | $q \propto e^{z/T} = p^{1/T}$ | `logits / T` | every sampling API |
# | top-k | keep $z_v \ge z_{(k)}$ | `topk(...).values[..., -1:]`, `masked_fill` | `top_k` (40–50) |
# | top-p (nucleus) | keep $(j)$ iff $\sum_{i<j}p_{(i)} < p$ | `sort`, `cumsum - probs`, `scatter` | `top_p` (0.9–0.95), the usual default |
# | min-p | keep $p_v \ge p_{\min}\max p$ | one comparison | `min_p` in llama.cpp, vLLM, transformers |
# | repetition penalty | $z_v/\theta$ if $z_v>0$ else $z_v\theta$, for seen $v$ | `torch.where` on gathered logits | `repetition_penalty` (CTRL) |
# | sampling | $y \sim \operatorname{softmax}(z)$ | `torch.multinomial(softmax(z), 1, generator=g)` | every `do_sample=True` |
# | checking a sampler | $\chi^2 = \sum (c_v - Nq_v)^2 / (Nq_v)$ | `scipy.stats.chisquare` on many draws | testing decoders, speculative decoding |

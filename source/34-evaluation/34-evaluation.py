# %% [markdown]
# # 34 · Evaluation: perplexity with a sliding window, BLEU and ROUGE
#
# A language model is trained to minimise the cross-entropy of the next token (`16-gpt`), so its
# first and most honest report card is the same number read on held-out text, exponentiated into a
# *perplexity*; generated text is compared with human references by counting shared n-grams:
# BLEU for translation, ROUGE for summaries.
#
# $$\boxed{\;\mathrm{PPL} = \exp\Big(-\frac{1}{N}\sum_{t=1}^{N}\log p_\theta(x_t\mid x_{<t})\Big),
# \qquad
# \mathrm{BLEU} = \mathrm{BP}\cdot\exp\Big(\frac{1}{4}\sum_{n=1}^{4}\log p_n\Big),\quad
# \mathrm{BP} = \min\big(1,\, e^{\,1 - r/c}\big)\;}$$
#
# Why it matters for LLMs: every claim that one model is better than another rests on a metric, and
# each of these has a precise definition that published numbers depend on (the context each token
# sees, the tokenisation, the clipping of n-gram counts, corpus-level aggregation, smoothing).
# Getting one detail wrong produces numbers that look plausible and are not comparable with anyone
# else's; knowing what each metric misses keeps you from optimising the metric instead of the model.
#
# **What you will build**, calibrated against hand-computed cases and against the established
# implementations (`sacrebleu`, Google's `rouge-score`): per-token negative log-likelihoods and
# perplexity of the course model of `16-gpt`, with the sliding-window evaluation that long texts
# need; BLEU from its parts (n-gram counts, clipped precision, the brevity penalty, smoothing,
# corpus-level aggregation); ROUGE-N and ROUGE-L with the longest common subsequence; and the
# unbiased pass@k estimator of code benchmarks.

# %% [markdown]
# ## Prerequisites
#
# - `16-gpt`: the course model, a character-level GPT trained on Tiny Shakespeare, and its
#   next-token cross-entropy; `03-probability`: entropy, cross-entropy and KL divergence.
# - `12-tokenization` for why the unit you count in (characters, bytes, BPE tokens) changes every
#   number below; `30-decoding` for the generation whose output BLEU and ROUGE score.
#
# Packages: `torch`, `numpy`, `matplotlib`, `transformers` (the course model is a
# `GPT2LMHeadModel`), and as independent references `sacrebleu` (the standard BLEU implementation
# of Post, 2018) and `rouge-score` (Google's re-implementation of Lin's ROUGE). The course model
# (`course_model.py`, its weights and configuration), Tiny Shakespeare and its licence note
# (`DATA-LICENCE.md`) come with this notebook. Nothing is downloaded.
#
# **Notation.** $x_1, \dots, x_T$ a sequence of token ids; $\ell_t = -\log p_\theta(x_t\mid
# x_{<t})$ the negative log-likelihood (NLL) of token $t$, in nats; $V$ the vocabulary size (65
# here); $W$ the context window, $S$ the stride; for BLEU, $c$ the total length of the hypotheses
# (candidates) and $r$ the effective reference length, $p_n$ the modified n-gram precision.

# %%
import collections
import functools
import math
import os
import re
import sys
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

try:
    from course_model import config, decode, encode, load_course_model, new_model
except ModuleNotFoundError:   # a script run or the grader: course_model.py lies in the working directory, beside this notebook
    sys.path.insert(0, os.getcwd())
    from course_model import config, decode, encode, load_course_model, new_model


def read_text(path: str) -> str:
    """The whole of a UTF-8 text file beside this notebook."""
    with open(path, encoding="utf-8") as file:
        return file.read()


TEXT = read_text("tinyshakespeare.txt")   # Tiny Shakespeare, 1,115,394 characters (licence: DATA-LICENCE.md)
HELD_OUT = TEXT[int(0.9 * len(TEXT)):]    # the last 10 %, never seen in training (nanoGPT's split)
print("course model:", config())

# %% [markdown]
# ## 1 · Perplexity: the exponentiated cross-entropy
#
# A causal language model factorises the probability of a text by the chain rule,
# $p_\theta(x_1, \dots, x_T) = p(x_1)\prod_{t=2}^{T} p_\theta(x_t\mid x_{<t})$. The course model has
# no beginning-of-text token, so the first token is never predicted and we score the $N = T - 1$
# others. Their mean NLL is the cross-entropy of the model on this text, and perplexity is its
# exponential:
#
# $$H = \frac{1}{N}\sum_{t=2}^{T}\ell_t, \qquad \mathrm{PPL} = e^{H}
# = \Big(\prod_{t=2}^{T} p_\theta(x_t\mid x_{<t})\Big)^{-1/N}.$$
#
# What this means: perplexity is the geometric mean of the inverse probabilities the model gave to
# what actually came next, "the number of equally likely choices the model was hesitating between".
# A model that spreads its probability uniformly over $V$ tokens has $\ell_t = \log V$ for every
# token and perplexity exactly $V$; a perfect model has perplexity 1. Two properties make it the
# intrinsic metric of choice: it is the training loss itself (no extra assumptions), and it is a
# *proper scoring rule*: in expectation it is minimised only by the true distribution
# ($\mathbb{E}_{x\sim q}[-\log p(x)] = H(q) + \mathrm{KL}(q\,\|\,p)$, `03-probability`).
#
# **Bits per character.** Dividing the mean NLL by $\ln 2$ gives bits per token:
# $\mathrm{bpt} = H / \ln 2 = \log_2 \mathrm{PPL}$. For the course model a token *is* a character, so
# this is bits per character (bpc), the unit of the character-level literature (enwik8, text8) and
# of compression: an arithmetic coder driven by the model would store the text in about bpc bits per
# character. The course model's held-out loss, 1.576 nats, is 2.27 bits per character, perplexity
# 4.84: it hesitates between about five characters on average, where a uniform guess would hesitate
# between 65 and gzip needs about 2.9 bits.
#
# A worked example with numbers: the model gives the three characters it must predict probabilities
# 0.5, 0.25 and 0.125.

# %%
worked_probabilities = torch.tensor([0.5, 0.25, 0.125], dtype=torch.float64)
worked_nlls = -worked_probabilities.log()
print("NLL per token (nats):", worked_nlls.numpy().round(4))
print(f"mean NLL {worked_nlls.mean():.4f} nats = {worked_nlls.mean() / math.log(2):.1f} bits; perplexity {worked_nlls.mean().exp():.1f}")
print("perplexity as a geometric mean of 1/p:", float(torch.prod(1 / worked_probabilities) ** (1 / 3)))

# %% [markdown]
# **Per-token NLLs of a causal model.** One forward pass over $x_1, \dots, x_T$ gives logits at every
# position; the logits at position $t$ predict token $t + 1$. So the NLLs are a cross-entropy of
# `logits[:-1]` against `ids[1:]` (the shift of `29-dpo`), computed with `log_softmax` (never
# `softmax(...).log()`) and returned in float64 so that sums over thousands of tokens do not lose
# digits. The model sees at most `n_positions` tokens ($256$ for the course model; its position
# embedding has no row beyond), which is where the sliding window of section 2 comes in.
#
# Write `token_nlls` (about 5 minutes). Run the model under `torch.no_grad()`: evaluation needs no
# graph, and keeping one for a long text costs gigabytes.

# %% nbgrader={"grade": false, "grade_id": "token_nlls", "locked": false, "schema_version": 3, "solution": true, "task": false}
def token_nlls(model, ids: torch.Tensor) -> torch.Tensor:
    """-log p(ids[t] | ids[:t]) for t = 1 .. T - 1, from one forward pass of a causal language model.

    Args:
        model: a causal LM (a transformers GPT2LMHeadModel) whose model(ids[None]).logits has shape (1, T, V).
        ids: (T,) int64 token ids, 1 <= T <= the model's n_positions.

    Returns:
        (T - 1,) float64: entry t - 1 is the NLL in nats of token t given all the tokens before it.

    Example:
        >>> token_nlls(load_course_model(), encode("ROMEO:")).shape
        torch.Size([5])
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        logits = model(ids[None]).logits[0].double()                 # (T, V): logits[t] predict ids[t + 1]
    return F.cross_entropy(logits[:-1], ids[1:], reduction="none")   # (T - 1,)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "perplexity", "locked": false, "schema_version": 3, "solution": true, "task": false}
def perplexity(nlls: torch.Tensor) -> float:
    """exp of the mean NLL: the perplexity of a text whose scored tokens have these NLLs.

    Args:
        nlls: (N,) float, NLLs in nats, N >= 1.

    Returns:
        a float >= 1 for NLLs >= 0.

    Example (about 2 minutes):
        >>> perplexity(torch.tensor([math.log(65.0)] * 3, dtype=torch.float64))   # a uniform model over 65 tokens
        65.0...
    """
    ### BEGIN SOLUTION
    return float(torch.exp(nlls.double().mean()))
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "bits_per_token", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bits_per_token(nlls: torch.Tensor) -> float:
    """The mean NLL in bits (base-2 logarithm) instead of nats: log2 of the perplexity.

    Args:
        nlls: (N,) float, NLLs in nats, N >= 1.

    Returns:
        a float; for a character-level model this is bits per character.

    Example (about 2 minutes):
        >>> bits_per_token(torch.tensor([math.log(2.0), math.log(8.0)], dtype=torch.float64))   # 1 bit and 3 bits
        2.0...
    """
    ### BEGIN SOLUTION
    return float(nlls.double().mean() / math.log(2))
    ### END SOLUTION


# %%
from grader.testing import scenario


@scenario
def nll_run(ns, text, window=None, stride=None, uniform=False):
    """token_nlls (or sliding_window_nlls when window is given) of the course model in float64, or of a uniform model, on a text."""
    import torch
    from course_model import encode, load_course_model, new_model
    if uniform:   # all-zero logits (the embedding is tied to the output layer): a uniform distribution over the 65 tokens
        model = new_model(torch.float64).eval()
        with torch.no_grad():
            model.transformer.wte.weight.zero_()
    else:
        model = load_course_model(torch.float64)
    ids = encode(text)
    if window is None:
        got = ns.token_nlls(model, ids)
    else:
        got = ns.sliding_window_nlls(model, ids, window, stride)
    return got.detach() if isinstance(got, torch.Tensor) else got


@functools.lru_cache(maxsize=1)
def course_model_float64():
    """The course model in float64 for the judge's own computations (loaded once)."""
    return load_course_model(torch.float64)


def nlls_by_hand(text, starts):
    """The judge's own NLLs: token t (t >= 1) predicted from its own row text[starts[t - 1]:t], all rows in one right-padded batch."""
    model = course_model_float64()
    ids = encode(text)
    rows = [ids[starts[t - 1]:t] for t in range(1, len(ids))]
    batch = torch.zeros(len(rows), max(len(r) for r in rows), dtype=torch.long)
    for i, row in enumerate(rows):
        batch[i, :len(row)] = row   # right padding never reaches an earlier position of a causal model
    with torch.no_grad():
        logits = model(batch).logits.double()
    last = logits[torch.arange(len(rows)), torch.tensor([len(r) - 1 for r in rows])]   # (T - 1, V): the prediction after each row
    return F.cross_entropy(last, ids[1:], reduction="none")


SHORT_TEXT = "ROMEO:\nBut, soft! what light through yonder window breaks?\n"
LONG_TEXT = HELD_OUT[1000:1300]   # 300 held-out characters

# %% nbgrader={"grade": true, "grade_id": "token_nlls_correct", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""token_nlls gives -log p(token | all tokens before it) for every token but the first, in float64, on the course model and on a uniform model"""
from grader.testing import expect, learner

got = nll_run.learner(SHORT_TEXT)
expect.shape(got, (len(SHORT_TEXT) - 1,), what="token_nlls on a text of T characters", hint="one NLL per predicted token: T - 1 (the first token has no context)")
expect.dtype(got, torch.float64, what="token_nlls", hint="return float64 (cast the logits with .double() before the cross-entropy)")
expect.true(bool((got >= 0).all()), "token_nlls has negative entries: an NLL is -log p >= 0 (use log_softmax and negate)")
### BEGIN HIDDEN TESTS
starts = [0] * (len(SHORT_TEXT) - 1)
expect.close(got, nlls_by_hand(SHORT_TEXT, starts), atol=1e-9, rtol=1e-9, what="token_nlls of the course model (float64) against a separate row of context per token",
             hint="logits[t] predict ids[t + 1]: compare logits[:-1] with ids[1:]")
uniform = nll_run.learner("First Citizen:", uniform=True)
expect.shape(uniform, (13,), what="token_nlls of a uniform model on 14 characters")
expect.close(uniform, torch.full((13,), math.log(65.0), dtype=torch.float64), atol=1e-12, rtol=0,
             what="token_nlls of a model with all-zero logits over 65 tokens (each NLL must be log 65)", hint="use log_softmax over the vocabulary axis")
one = nll_run.learner("A")
expect.shape(one, (0,), what="token_nlls of a one-character text (nothing to predict)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "perplexity_and_bits", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""perplexity is exp of the mean NLL (uniform model: exactly V) and bits_per_token is the mean NLL divided by ln 2"""
from grader.testing import expect, learner

value = learner.perplexity(torch.tensor([math.log(65.0)] * 4, dtype=torch.float64))
expect.shape(value, (), what="perplexity", hint="return one float")
expect.close(value, 65.0, atol=1e-10, rtol=1e-12, what="perplexity of a uniform model over 65 tokens", hint="exp of the mean NLL, not of the sum")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(34)
nlls = torch.tensor(rng.exponential(1.5, size=257), dtype=torch.float64)
value = learner.perplexity(nlls)
expect.shape(value, (), what="perplexity of 257 NLLs")
expect.close(value, math.exp(float(nlls.mean())), atol=0, rtol=1e-12, what="perplexity of 257 random NLLs",
             hint="exp(mean NLL): the sum grows with the length of the text, the mean does not")
value = learner.perplexity(torch.tensor([2.0], dtype=torch.float64))
expect.shape(value, (), what="perplexity of a single NLL")
expect.close(value, math.exp(2.0), atol=0, rtol=1e-12, what="perplexity of a single NLL of 2 nats")
value = learner.perplexity(nlls.float())
expect.shape(value, (), what="perplexity of float32 NLLs")
expect.close(value, math.exp(float(nlls.float().double().mean())), atol=0, rtol=1e-6, what="perplexity of float32 NLLs")
bits = learner.bits_per_token(nlls)
expect.shape(bits, (), what="bits_per_token")
expect.close(bits, float(nlls.mean()) / math.log(2), atol=0, rtol=1e-12, what="bits_per_token of 257 random NLLs",
             hint="NLLs are in nats (natural logarithm): divide the mean by ln 2 to get bits")
bits = learner.bits_per_token(torch.tensor([math.log(2.0), math.log(8.0)], dtype=torch.float64))
expect.shape(bits, (), what="bits_per_token of two NLLs")
expect.close(bits, 2.0, atol=1e-12, rtol=0, what="bits_per_token of probabilities 1/2 and 1/8 (1 bit and 3 bits)")
### END HIDDEN TESTS

# %% [markdown]
# Your `token_nlls` on one line of the held-out text: the NLL of each character, in bits. The model
# is surprised at the start of words (which word comes next?) and almost certain inside them once a
# few letters fix the word; the spaces, capitals after a newline and the punctuation of the verse
# are cheap. Perplexity averages all of this into one number.

# %%
course = load_course_model()
try:
    surprise_text = HELD_OUT[3000:3080]
    surprise = token_nlls(course, encode(surprise_text)) / math.log(2)
    fig, ax = plt.subplots(figsize=(12, 3))
    ax.bar(np.arange(1, len(surprise_text)), surprise.numpy(), width=0.8)
    ax.set_xticks(np.arange(1, len(surprise_text)), [repr(ch)[1:-1] for ch in surprise_text[1:]], fontsize=7, family="monospace")
    ax.set(ylabel="bits", title=f"bits per character of each prediction (mean {float(surprise.mean()):.2f})")
    plt.tight_layout(); plt.show()
except NotImplementedError:
    print("write token_nlls to see this figure")

# %% [markdown]
# How much does context help? The figure is drawn with library code (one forward pass per window,
# `F.cross_entropy`): the mean NLL of the held-out text at each position of a 256-character window,
# that is, as a function of how many characters the model has seen before the one it predicts. The
# first characters of a window are predicted almost blind (a first character costs as much as a
# unigram model would); after a line or two of context the model knows the speaker, the metre and
# the word it is in the middle of. This curve is why the *way* a long text is cut into windows
# changes the perplexity you report.

# %%
def nll_by_position(model, text: str, window: int, n_windows: int) -> np.ndarray:
    """Mean NLL at each position of `n_windows` consecutive windows of `window` characters of `text` (library code)."""
    ids = encode(text[:n_windows * window]).view(n_windows, window)
    with torch.no_grad():
        logits = model(ids).logits.double()
    return F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none").mean(0).numpy()


by_position = nll_by_position(course, HELD_OUT, 256, 48)
fig, ax = plt.subplots(figsize=(8, 3.4))
ax.plot(np.arange(1, 256), by_position, lw=1, label="mean NLL over 48 held-out windows")
ax.axhline(math.log(65), color="gray", ls=":", label="uniform over 65 characters (log 65)")
ax.axhline(float(by_position[64:].mean()), color="k", ls="--", lw=0.8, label=f"mean from position 64 on: {by_position[64:].mean():.2f} nats")
ax.set(xscale="log", xlabel="characters of context before the predicted one", ylabel="NLL (nats)", title="the course model: more context, lower loss")
ax.legend(fontsize=8)
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 2 · Texts longer than the context: the sliding window
#
# A held-out text has far more than $W = 256$ tokens. The obvious evaluation, cutting it into
# disjoint chunks of $W$ and scoring each chunk alone, is cheap but pessimistic: the first tokens of
# every chunk are predicted with almost no context (the left of the figure above). The opposite
# extreme gives every token the full $W - 1$ tokens before it, one forward pass per token: the best
# number the model can achieve, $W$ times the cost.
#
# The **sliding window** of the Hugging Face perplexity guide interpolates. Windows of $W$ tokens
# start every $S$ tokens ($1 \le S \le W - 1$): window $k$ covers $[kS, \min(kS + W, T))$. Each
# token is scored exactly once, in the first window that reaches it: the first window scores tokens
# $1, \dots, W - 1$; window $k \ge 1$ scores only its last $S$ tokens, the ones the previous window
# did not reach, and uses the $W - S$ overlapping tokens before them as context only (in the
# Hugging Face guide, by setting their labels to $-100$, the index the cross-entropy ignores). The
# loop stops after the window that reaches the end of the text. So token $t$ is scored with context
# $x_{b(t)}, \dots, x_{t-1}$, where
#
# $$b(t) = \begin{cases} 0 & t < W \\ \big(\lfloor (t - W)/S \rfloor + 1\big)\,S & t \ge W \end{cases}
# \qquad\text{and}\qquad W - S \;\le\; t - b(t) \;\le\; W - 1 \text{ for } t \ge W.$$
#
# What this means: every token beyond the first window sees at least $W - S$ tokens of context.
# $S = W - 1$ is the cheapest choice (consecutive windows overlapping by one token: the way
# `course_model.json`'s held-out loss was measured, 1.576 nats); $S = 1$ is the most expensive and
# gives every token its full $W - 1$ tokens. The cost is about $T/S$ forward passes of $W$ tokens.
#
# Worked example, $T = 10$, $W = 4$, $S = 2$: windows $[0, 4)$, $[2, 6)$, $[4, 8)$, $[6, 10)$;
# window 0 scores tokens 1, 2, 3; window 1 scores 4, 5 (context from token 2 on); window 2 scores
# 6, 7; window 3 scores 8, 9. Every token from 1 to 9 once.

# %%
def window_plan(T: int, window: int, stride: int) -> list[tuple[int, int, list[int]]]:
    """(begin, end, tokens scored) of each window of the sliding-window evaluation: the bookkeeping alone."""
    plan, previous_end = [], 1
    for begin in range(0, T, stride):
        end = min(begin + window, T)
        plan.append((begin, end, list(range(previous_end, end))))
        previous_end = end
        if end == T:
            break
    return plan


for begin, end, scored in window_plan(10, 4, 2):
    print(f"window [{begin}, {end}) scores tokens {scored}, each with context starting at token {begin}")

# %% [markdown]
# A warning about the disjoint case. With $S = W$ the Hugging Face recipe silently drops one token
# per window: the first token of a chunk has no context inside its chunk, and the label shift inside
# the model discards it (their guide divides by the number of *valid* labels for that reason). Here
# $S \le W - 1$ is required, so every token from the second on is scored exactly once and the
# perplexities of different strides are comparable: they average over the same tokens.
#
# Write `sliding_window_nlls` (about 15 minutes) with your `token_nlls` on each window: from each
# window keep only the NLLs of the tokens it scores. The result has exactly the same layout as
# `token_nlls` of the whole text (entry $t - 1$ belongs to token $t$); when the text fits in one
# window the two must agree.

# %% nbgrader={"grade": false, "grade_id": "sliding_window_nlls", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sliding_window_nlls(model, ids: torch.Tensor, window: int, stride: int) -> torch.Tensor:
    """Per-token NLLs of a text of any length with windows of `window` tokens starting every `stride` tokens.

    Window k covers ids[k * stride : k * stride + window]; each token t >= 1 is scored once, in the first
    window that contains it, with the tokens of that window before it as context (window k >= 1 scores only
    the tokens past the end of window k - 1). Stop after the window that reaches the end of the text.

    Args:
        model: a causal LM, as for token_nlls.
        ids: (T,) int64 token ids, T >= 1 (any length).
        window: tokens per forward pass, 2 <= window <= the model's n_positions.
        stride: 1 <= stride <= window - 1.

    Returns:
        (T - 1,) float64: entry t - 1 is the NLL of token t given its context.

    Example:
        >>> sliding_window_nlls(load_course_model(), encode(HELD_OUT[:1000]), 256, 128).shape
        torch.Size([999])
    """
    ### BEGIN SOLUTION
    T = len(ids)
    pieces = []
    previous_end = 1                                         # token 0 is never scored
    for begin in range(0, T, stride):
        end = min(begin + window, T)
        nlls = token_nlls(model, ids[begin:end])             # nlls[j] scores token begin + 1 + j
        pieces.append(nlls[previous_end - begin - 1:])       # only the tokens no earlier window scored
        previous_end = end
        if end == T:
            break
    return torch.cat(pieces)
    ### END SOLUTION


# %%
def context_starts(T: int, window: int, stride: int) -> list[int]:
    """b(t) for t = 1 .. T - 1 from the closed form of section 2 (the judge's own, written without the window loop)."""
    return [0 if t < window else ((t - window) // stride + 1) * stride for t in range(1, T)]


# %% nbgrader={"grade": true, "grade_id": "sliding_window_fits_in_one", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""sliding_window_nlls equals token_nlls of the whole text when the text fits in one window"""
from grader.testing import expect, learner

got = nll_run.learner(SHORT_TEXT, window=128, stride=64)
expect.shape(got, (len(SHORT_TEXT) - 1,), what="sliding_window_nlls on a text shorter than the window", hint="one NLL per token from the second on, each scored once")
expect.dtype(got, torch.float64, what="sliding_window_nlls")
### BEGIN HIDDEN TESTS
expect.close(got, nlls_by_hand(SHORT_TEXT, [0] * (len(SHORT_TEXT) - 1)), atol=1e-9, rtol=1e-9,
             what="sliding_window_nlls on a text that fits in one window (it must equal one forward pass over the whole text)")
exact = nll_run.learner(SHORT_TEXT[:32], window=32, stride=8)
expect.shape(exact, (31,), what="sliding_window_nlls on a text of exactly one window",
             hint="stop after the window that reaches the end of the text: no second window")
expect.close(exact, nlls_by_hand(SHORT_TEXT[:32], [0] * 31), atol=1e-9, rtol=1e-9, what="sliding_window_nlls on a text of exactly one window")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "sliding_window_context", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""sliding_window_nlls scores each token once with exactly the prescribed context, against a separate row of context per token, for several windows and strides"""
from grader.testing import expect, learner

text = LONG_TEXT[:100]
got = nll_run.learner(text, window=32, stride=8)
expect.shape(got, (len(text) - 1,), what="sliding_window_nlls on 100 characters with window 32, stride 8",
             hint="each token from the second on is scored exactly once: keep only the last `stride` NLLs of every window after the first")
### BEGIN HIDDEN TESTS
expect.close(got, nlls_by_hand(text, context_starts(len(text), 32, 8)), atol=1e-9, rtol=1e-9,
             what="sliding_window_nlls (window 32, stride 8) against a separate row of context per token (the closed form b(t))",
             hint="window k starts at k * stride; its overlap with window k - 1 is context only, and each scored token sees the window's tokens before it")
for window, stride, length in [(16, 15, 70), (8, 1, 16), (24, 7, 80)]:
    piece = LONG_TEXT[100:100 + length]
    got = nll_run.learner(piece, window=window, stride=stride)
    expect.shape(got, (length - 1,), what=f"sliding_window_nlls on {length} characters with window {window}, stride {stride}",
                 hint="each token from the second on exactly once; stop after the window that reaches the end")
    expect.close(got, nlls_by_hand(piece, context_starts(length, window, stride)), atol=1e-9, rtol=1e-9,
                 what=f"sliding_window_nlls (window {window}, stride {stride}) against a separate row of context per token",
                 hint="the overlap of a window with the previous one is context, not scored again and not dropped")
### END HIDDEN TESTS

# %% [markdown]
# Your `sliding_window_nlls` on 2,000 held-out characters, against a batched implementation
# written with library code (all windows of one stride in one right-padded batch, the scored
# positions gathered from the plan of `window_plan`): the two must agree, and the batched one is
# what draws the figure below, because a per-window loop costs one forward pass per window. In
# float32 the two differ by about $10^{-5}$ per token (padding changes the shapes of the matrix
# products); in float64 they agree to $10^{-12}$.

# %%
def batched_sliding_window_nlls(model, ids: torch.Tensor, window: int, stride: int, batch_size: int = 128) -> torch.Tensor:
    """The NLLs of the sliding-window evaluation with every window of the plan in right-padded batches (library code)."""
    plan = window_plan(len(ids), window, stride)
    out = []
    for first in range(0, len(plan), batch_size):
        chunk = plan[first:first + batch_size]
        batch = torch.zeros(len(chunk), window, dtype=torch.long)
        for row, (begin, end, _) in enumerate(chunk):
            batch[row, :end - begin] = ids[begin:end]
        with torch.no_grad():
            log_probs = torch.log_softmax(model(batch).logits.double(), dim=-1)
        for row, (begin, end, scored) in enumerate(chunk):
            positions = torch.tensor(scored) - begin - 1          # the logits that predict the scored tokens
            out.append(-log_probs[row, positions, ids[torch.tensor(scored)]])
    return torch.cat(out)


check_ids = encode(HELD_OUT[:2000])
try:
    mine = sliding_window_nlls(course, check_ids, 256, 128)
    library = batched_sliding_window_nlls(course, check_ids, 256, 128)
    print(f"your sliding window: perplexity {perplexity(mine):.5f}, {bits_per_token(mine):.4f} bits per character; "
          f"batched: {math.exp(float(library.mean())):.5f}; largest difference per token {float((mine - library).abs().max()):.1e}")
except NotImplementedError:
    print("write token_nlls, perplexity, bits_per_token and sliding_window_nlls to compare")

# %% [markdown]
# The perplexity of 1,000 held-out characters as the stride shrinks from $W - 1$ (consecutive
# windows overlapping by one) towards 1 (full context for every token), for two windows. Smaller
# strides give more context and, on average, a lower perplexity, at a cost of $T/S$ forward passes;
# the curve flattens once every token has a line or two of context, which is why the Hugging Face
# guide settles on $S = W/2$. Two details to notice. The curve is not strictly monotone: more
# context helps *on average*, but on a given text a token can be predicted slightly worse with more
# context (on the first 1,500 held-out characters, window 64 gives 3.821 at $S = 4$ and 3.824 at $S = 1$). And
# the same model on the same text reports a perplexity several percent apart depending on an
# evaluation detail that papers often leave out. On the whole held-out text (111,539 predictions)
# $W = 256$, $S = 255$ gives 1.5774 nats per character, the 1.5759 of `course_model.json` measured
# with windows of 256 predictions: the same protocol up to one token per window.

# %%
figure_ids = encode(HELD_OUT[:1000])
fig, ax = plt.subplots(figsize=(7.5, 3.4))
for window, strides in [(64, [4, 8, 16, 32, 63]), (256, [16, 32, 64, 128, 255])]:
    values = [math.exp(float(batched_sliding_window_nlls(course, figure_ids, window, s).mean())) for s in strides]
    ax.plot(strides, values, "o-", label=f"window {window}")
ax.set(xscale="log", xlabel="stride S (tokens)", ylabel="perplexity of 1,000 held-out characters", title="perplexity against stride: more overlap, more context")
ax.legend(); plt.tight_layout(); plt.show()

# %% [markdown]
# ## 3 · Perplexity depends on the tokenisation
#
# Perplexity is "per token", and tokens differ between models. A character-level model and a BPE
# model with 4 characters per token can assign *the same* probability to a text and report very
# different perplexities: the total NLL of the text is the same, but it is divided by 4 times as many
# tokens. Only normalising by a unit every model shares makes numbers comparable:
#
# $$\text{bits per character} = \frac{\sum_t \ell_t}{N_{\text{chars}}\,\ln 2}, \qquad
# \text{bits per byte} = \frac{\sum_t \ell_t}{N_{\text{bytes}}\,\ln 2}, \qquad
# \mathrm{PPL}_{\text{token}} = \exp\Big(\frac{N_{\text{chars}}}{N_{\text{tokens}}}\,\ln 2\cdot\text{bpc}\Big).$$
#
# What this means: bits per byte (The Pile, GPT-NeoX, Llama's tech reports) is the
# tokeniser-independent version; word-level perplexity (the old Penn Treebank numbers) is another.
# Two perplexities computed with different tokenisers are not comparable, however close the numbers
# look. The cell below converts the course model's held-out loss into the numbers a model with a
# 4-characters-per-token tokeniser would report for the same probability of the same text.

# %%
held_out_nats_per_char = 1.5759213978309612   # course_model.json
for chars_per_token in (1, 2, 4):
    nats_per_token = held_out_nats_per_char * chars_per_token
    print(f"{chars_per_token} characters per token: {nats_per_token:.3f} nats/token, perplexity {math.exp(nats_per_token):7.2f}, "
          f"bits per character {held_out_nats_per_char / math.log(2):.3f} (unchanged)")

# %% [markdown]
# ## 4 · BLEU, part 1: clipped n-gram precision
#
# BLEU (Papineni et al., 2002) scores a machine translation (a *hypothesis*) against one or more
# human references by counting shared n-grams. Its first ingredient is the **modified n-gram
# precision**: count each n-gram of the hypothesis, but clip the count at the largest number of
# times it appears in any single reference,
#
# $$p_n = \frac{\sum_{g \in \text{n-grams}(h)} \min\big(\mathrm{count}_h(g),\; \max_{r}\mathrm{count}_r(g)\big)}
# {\sum_{g \in \text{n-grams}(h)} \mathrm{count}_h(g)}.$$
#
# What this means: plain precision rewards repetition. Papineni's example: the hypothesis "the the
# the the the the the" against "the cat is on the mat" and "there is a cat on the mat" has unigram
# precision $7/7$, since every word of it appears in a reference. Clipping at the reference count
# ("the" occurs at most twice in one reference) gives $2/7$. The maximum is over references, not
# their sum: two references with two "the" each still allow only two.
#
# The n-grams are tuples of consecutive tokens; BLEU counts them on whitespace-separated tokens
# after a tokeniser of its own (sacrebleu's `13a` splits punctuation off; here texts come
# pre-tokenised and are split on whitespace, sacrebleu's `tokenize="none"`).
#
# The worked example in code, with `collections.Counter` (a dict of counts whose `&` is exactly the
# clipped minimum): plain precision against clipped precision.

# %%
the_hypothesis = "the the the the the the the".split()
the_references = [r.split() for r in ["the cat is on the mat", "there is a cat on the mat"]]
plain = sum(1 for w in the_hypothesis if any(w in r for r in the_references))
best_counts = collections.Counter()
for ref in the_references:
    best_counts |= collections.Counter(ref)       # | keeps the larger count of each word: the max over references
clipped = sum((collections.Counter(the_hypothesis) & best_counts).values())   # & keeps the smaller: the clip
print(f"plain unigram precision {plain}/7, clipped {clipped}/7; the best reference count of 'the' is {best_counts['the']}")

# %% [markdown]
# Write `ngram_counts` and `modified_precision` (about 10 minutes). `modified_precision` returns the
# clipped count and the total, not their ratio: corpus BLEU (section 6) sums both over sentences.

# %% nbgrader={"grade": false, "grade_id": "ngram_counts", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ngram_counts(tokens: list[str], n: int) -> collections.Counter:
    """How often each n-gram (a tuple of n consecutive tokens) occurs in tokens.

    Args:
        tokens: a list of str; n >= 1.

    Returns:
        a Counter mapping tuple[str, ...] of length n to its count (empty when len(tokens) < n).

    Example:
        >>> ngram_counts("the cat the cat".split(), 2)
        Counter({('the', 'cat'): 2, ('cat', 'the'): 1})
    """
    ### BEGIN SOLUTION
    return collections.Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "modified_precision", "locked": false, "schema_version": 3, "solution": true, "task": false}
def modified_precision(hypothesis: list[str], references: list[list[str]], n: int) -> tuple[int, int]:
    """BLEU's clipped n-gram matches and the number of n-grams of the hypothesis.

    Args:
        hypothesis: a list of tokens; references: one or more lists of tokens; n >= 1.

    Returns:
        (matches, total): ints; matches = sum over the hypothesis' n-grams of min(count in hypothesis,
        max count in any one reference), total = the number of n-grams of the hypothesis.

    Example:
        >>> modified_precision("the the the the the the the".split(), ["the cat is on the mat".split(), "there is a cat on the mat".split()], 1)
        (2, 7)
    """
    ### BEGIN SOLUTION
    hypothesis_counts = ngram_counts(hypothesis, n)
    max_reference_counts = collections.Counter()
    for reference in references:
        for gram, count in ngram_counts(reference, n).items():
            max_reference_counts[gram] = max(max_reference_counts[gram], count)
    matches = sum(min(count, max_reference_counts[gram]) for gram, count in hypothesis_counts.items())
    return matches, sum(hypothesis_counts.values())
    ### END SOLUTION


# %%
def bleu_tokens(sentence: str) -> list[str]:
    """Papineni's examples lowercased with punctuation removed, then split on whitespace."""
    return re.sub(r"[^a-z0-9 ]+", " ", sentence.lower()).split()


PAPINENI_CANDIDATES = [
    "It is a guide to action which ensures that the military always obeys the commands of the party.",
    "It is to insure the troops forever hearing the activity guidebook that party direct.",
]
PAPINENI_REFERENCES = [
    "It is a guide to action that ensures that the military will forever heed Party commands.",
    "It is the guiding principle which guarantees the military forces always being under the command of the Party.",
    "It is the practical guide for the army always to heed the directions of the party.",
]
CAT_REFERENCES = ["the cat is on the mat", "there is a cat on the mat"]


@scenario
def counts_run(ns, sentence, n):
    """ngram_counts of a whitespace-split sentence, as sorted (n-gram joined by spaces, count) pairs."""
    counts = ns.ngram_counts(sentence.split(), n)
    return sorted((" ".join(gram), int(count)) for gram, count in dict(counts).items())


# %% nbgrader={"grade": true, "grade_id": "ngram_counts_correct", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""ngram_counts counts tuples of n consecutive tokens, with repetitions, and nothing for texts shorter than n"""
from grader.testing import expect, learner

expect.equal(counts_run.learner("the cat the cat", 2), [("cat the", 1), ("the cat", 2)], what="ngram_counts of 'the cat the cat' with n = 2",
             hint="tuples of n consecutive tokens, counted with collections.Counter")
### BEGIN HIDDEN TESTS
sentence = "a b a b a b c a b"
for n in (1, 2, 3, 4):
    tokens = sentence.split()
    want = sorted((" ".join(g), c) for g, c in collections.Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)).items())
    expect.equal(counts_run.learner(sentence, n), want, what=f"ngram_counts of a 9-token sentence with n = {n}",
                 hint="slide over every start position i = 0 .. len(tokens) - n")
expect.equal(counts_run.learner("a b", 3), [], what="ngram_counts of 2 tokens with n = 3 (no trigram)")
expect.equal(counts_run.learner("", 1), [], what="ngram_counts of no tokens")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "modified_precision_correct", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""modified_precision clips each n-gram count at its largest count in one reference, on Papineni et al.'s examples and against sacrebleu's statistics"""
from grader.testing import expect, learner

value = learner.modified_precision("the the the the the the the".split(), [r.split() for r in CAT_REFERENCES], 1)
expect.equal(tuple(value), (2, 7), what="modified unigram precision of 'the the the the the the the' (Papineni et al. 2002, 2/7)",
             hint="clip each n-gram's count at the largest count it has in any one reference")
### BEGIN HIDDEN TESTS
paper_references = [bleu_tokens(r) for r in PAPINENI_REFERENCES]
for candidate, n, want in [(0, 1, (17, 18)), (1, 1, (8, 14)), (0, 2, (10, 17)), (1, 2, (1, 13))]:
    value = learner.modified_precision(bleu_tokens(PAPINENI_CANDIDATES[candidate]), paper_references, n)
    expect.equal(tuple(value), want, what=f"modified {n}-gram precision of Papineni et al.'s candidate {candidate + 1} (the paper's values)",
                 hint="count matches with clipping, over all three references")
# the maximum over references, not the sum: two references with two 'the' each allow two, not four
value = learner.modified_precision("the the the the".split(), ["the cat the mat".split(), "on the mat the".split()], 1)
expect.equal(tuple(value), (2, 4), what="modified unigram precision with two references that contain 'the' twice each",
             hint="the clip is the maximum count over references, not their sum")
value = learner.modified_precision("a b".split(), ["a b".split()], 3)
expect.equal(tuple(value), (0, 0), what="modified trigram precision of a two-token hypothesis (no trigram at all)")
# sacrebleu's own sufficient statistics on a small corpus
from sacrebleu.metrics import BLEU
hyps = ["the cat sat on the mat the cat", "a dog is on the mat", "on the the mat cat a"]
refs = [["the cat is on the mat", "there is a cat on the mat"], ["the dog is on a mat", "a dog sat on the mat"], ["the cat on the mat", "a cat on a mat"]]
metric = BLEU(tokenize="none")
for hyp, rs in zip(hyps, refs):
    stats = metric._extract_corpus_statistics([hyp], [[r] for r in rs])[0]
    for n in range(1, 5):
        value = learner.modified_precision(hyp.split(), [r.split() for r in rs], n)
        expect.equal((int(value[0]), int(value[1])), (int(stats[1 + n]), int(stats[5 + n])),
                     what=f"modified {n}-gram precision against sacrebleu's statistics", hint="clipped matches and the number of hypothesis n-grams")
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · BLEU, part 2: the brevity penalty
#
# Precision alone rewards saying little: the hypothesis "the" has unigram precision 1 against any
# English reference. Recall would fix that, but with several references recall is ill-defined (a
# good translation need not contain the words of *all* references). BLEU instead multiplies by a
# **brevity penalty** that punishes hypotheses shorter than the references. With $c$ the hypothesis
# length and $r$ the *effective reference length*,
#
# $$\mathrm{BP} = \begin{cases} 1 & c \ge r \\ e^{\,1 - r/c} & 0 < c < r \\ 0 & c = 0\end{cases}$$
#
# and $r$ is the length of the reference **closest** to $c$ (sacrebleu, and the mteval script it
# replicates, break ties towards the *shorter* reference). At corpus level, $c$ and $r$ are sums over
# sentences of the hypothesis lengths and of each sentence's closest reference length.
#
# What this means: a hypothesis 10 % shorter than its reference loses $1 - e^{-0.11} \approx 10\%$
# of its score; longer hypotheses are not penalised by BP, they already lose precision. Taking the
# *shortest* reference (an early NIST variant) penalises less; the *longest* penalises good short
# translations. The figure shows BP against the length ratio $c/r$.

# %%
ratios = np.linspace(0.2, 1.6, 200)
fig, ax = plt.subplots(figsize=(6.5, 3.2))
ax.plot(ratios, np.where(ratios >= 1, 1.0, np.exp(1 - 1 / ratios)))
ax.set(xlabel="hypothesis length / reference length  c / r", ylabel="brevity penalty", title="BP = min(1, exp(1 - r/c))")
ax.grid(alpha=0.3); plt.tight_layout(); plt.show()

# %% [markdown]
# Write `closest_reference_length` and `brevity_penalty` (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "closest_reference_length", "locked": false, "schema_version": 3, "solution": true, "task": false}
def closest_reference_length(hypothesis_length: int, reference_lengths: list[int]) -> int:
    """The reference length closest to the hypothesis length; on a tie, the shorter one (sacrebleu's rule).

    Args:
        hypothesis_length: an int >= 0; reference_lengths: a non-empty list of ints >= 0.

    Returns:
        an int, one of reference_lengths.

    Example:
        >>> closest_reference_length(12, [10, 14, 17])
        10
    """
    ### BEGIN SOLUTION
    return min(reference_lengths, key=lambda length: (abs(length - hypothesis_length), length))
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "brevity_penalty", "locked": false, "schema_version": 3, "solution": true, "task": false}
def brevity_penalty(hypothesis_length: int, reference_length: int) -> float:
    """BLEU's brevity penalty: 1 if c >= r, exp(1 - r / c) if 0 < c < r, 0 if c = 0.

    Args:
        hypothesis_length: c, an int >= 0 (a corpus total at corpus level).
        reference_length: r, an int >= 0 (the effective reference length).

    Returns:
        a float in [0, 1].

    Example:
        >>> brevity_penalty(9, 10)     # exp(1 - 10 / 9)
        0.8948...
    """
    ### BEGIN SOLUTION
    if hypothesis_length >= reference_length:
        return 1.0
    if hypothesis_length == 0:
        return 0.0
    return math.exp(1 - reference_length / hypothesis_length)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "brevity_penalty_correct", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""closest_reference_length picks the closest reference (the shorter on a tie) and brevity_penalty is exp(1 - r/c) below r, 1 above, 0 for an empty hypothesis"""
from grader.testing import expect, learner

value = learner.brevity_penalty(9, 10)
expect.shape(value, (), what="brevity_penalty", hint="return one float")
expect.close(value, math.exp(1 - 10 / 9), atol=1e-14, rtol=0, what="brevity_penalty of a 9-token hypothesis against a 10-token reference")
### BEGIN HIDDEN TESTS
from sacrebleu.metrics import BLEU
for c, r in [(10, 10), (14, 10), (1, 7), (25, 26), (3, 1000)]:
    value = learner.brevity_penalty(c, r)
    expect.shape(value, (), what=f"brevity_penalty({c}, {r})")
    expect.close(value, BLEU.compute_bleu([1, 1, 1, 1], [1, 1, 1, 1], c, r).bp, atol=1e-14, rtol=1e-13,
                 what=f"brevity_penalty with c = {c}, r = {r}, against sacrebleu", hint="1 when c >= r, else exp(1 - r / c)")
value = learner.brevity_penalty(0, 5)
expect.shape(value, (), what="brevity_penalty of an empty hypothesis")
expect.close(value, 0.0, atol=0, rtol=0, what="brevity_penalty of an empty hypothesis (c = 0)", hint="exp(1 - r/0) is exp(-inf) = 0: handle c = 0 without dividing")
metric = BLEU(tokenize="none")
for c, lengths in [(12, [10, 14, 17]), (12, [13, 11]), (12, [20, 3, 30]), (5, [5, 9]), (40, [10, 14, 17]), (2, [9, 7, 8])]:
    want = metric._get_closest_ref_len(c, lengths)
    value = learner.closest_reference_length(c, lengths)
    expect.equal(int(value), want, what=f"closest_reference_length for a {c}-token hypothesis and references of {len(lengths)} lengths",
                 hint="the reference whose length is closest to the hypothesis length (not the longest or the shortest); on a tie the shorter")
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · BLEU, part 3: the geometric mean, smoothing and corpus-level aggregation
#
# BLEU combines the precisions of orders 1 to $N = 4$ by a geometric mean (the log-average) and
# multiplies by BP:
#
# $$\mathrm{BLEU} = \mathrm{BP}\cdot\exp\Big(\frac{1}{N}\sum_{n=1}^{N}\log p_n\Big), \qquad
# p_n = \frac{\sum_{s} \mathrm{matches}_n(s)}{\sum_s \mathrm{total}_n(s)}, \qquad
# c = \sum_s |h_s|, \quad r = \sum_s r_s.$$
#
# **Corpus level.** The sums run over all sentences $s$ of the test set *before* any division:
# BLEU is not the mean of sentence BLEUs. A sentence with no matching 4-gram has sentence BLEU 0 and
# would drag a mean down, while it only adds to the denominator of $p_4$ in corpus BLEU; long
# sentences weigh more in corpus BLEU, as they should in a translation of a document.
#
# **Smoothing.** One order with no match makes the geometric mean 0 (and $\log 0 = -\infty$): common
# for short sentences and 4-grams. sacrebleu implements Chen and Cherry's (2014) fixes, applied to
# the orders whose matches are 0 (with $t_n$ the total of order $n$):
#
# | method | a zero-match order $n$ gets | other orders |
# |---|---|---|
# | `none` | $p_n = 0$, so BLEU $= 0$ | $m_n / t_n$ |
# | `floor` | $p_n = k / t_n$ ($k = 0.1$) | $m_n / t_n$ |
# | `add-k` | every order $n \ge 2$ gets $(m_n + k)/(t_n + k)$ ($k = 1$), zero or not | $p_1 = m_1/t_1$ |
# | `exp` | $p_n = 1/(2^{j}\, t_n)$, $j$ = how many zero-match orders so far (1, 2, ...) | $m_n / t_n$ |
#
# plus three rules of sacrebleu that decide edge cases: if no n-gram of *any* order matches, BLEU
# is 0 whatever the smoothing; if an order has no n-gram at all ($t_n = 0$, a hypothesis shorter
# than $n$ tokens; with `add-k` only for $n = 1$, since $t_n + k > 0$), that order and all higher
# ones get precision 0, so BLEU is 0; and `exp` is sacrebleu's default (mteval's "NIST smoothing").
#
# What this means: BLEU $\in [0, 1]$ (reported ×100 in papers and by sacrebleu). The worked example
# below computes Papineni's candidate 1 by hand: all four precisions, BP, and the score.

# %%
worked_references = [bleu_tokens(r) for r in PAPINENI_REFERENCES]
worked_hypothesis = bleu_tokens(PAPINENI_CANDIDATES[0])
worked_stats = []
for n in range(1, 5):
    grams = collections.Counter(tuple(worked_hypothesis[i:i + n]) for i in range(len(worked_hypothesis) - n + 1))
    best = collections.Counter()
    for ref in worked_references:
        for g, k in collections.Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1)).items():
            best[g] = max(best[g], k)
    worked_stats.append((sum(min(k, best[g]) for g, k in grams.items()), sum(grams.values())))
c, lengths = len(worked_hypothesis), [len(r) for r in worked_references]
r = min(lengths, key=lambda length: (abs(length - c), length))
bp = 1.0 if c >= r else math.exp(1 - r / c)
score = bp * math.exp(sum(math.log(m / t) for m, t in worked_stats) / 4)
print("p_n =", [f"{m}/{t}" for m, t in worked_stats], f"c = {c}, reference lengths {lengths}, r = {r}, BP = {bp:.3f}, BLEU = {score:.4f}")

# %% [markdown]
# Write `smoothed_precisions` and `corpus_bleu` (about 20 minutes) with the functions above. The
# tests compare you with `sacrebleu.metrics.BLEU(tokenize="none", smooth_method=...)`, which reports
# $100\times$BLEU without rounding, to $10^{-12}$.

# %% nbgrader={"grade": false, "grade_id": "smoothed_precisions", "locked": false, "schema_version": 3, "solution": true, "task": false}
SMOOTHING_DEFAULTS = {"none": None, "floor": 0.1, "add-k": 1.0, "exp": None}


def smoothed_precisions(matches: list[int], totals: list[int], method: str = "none", k: float | None = None) -> list[float]:
    """The n-gram precisions p_1 .. p_N from corpus-level matches and totals, smoothed as sacrebleu does.

    Args:
        matches, totals: lists of N ints (order n at index n - 1), matches[i] <= totals[i].
        method: "none", "floor", "add-k" or "exp" (the table of section 6).
        k: the constant of "floor" and "add-k"; None for SMOOTHING_DEFAULTS[method].

    Returns:
        a list of N floats in [0, 1] (not x100). An order with totals == 0 (after add-k's k) and all higher
        orders get 0.

    Example:
        >>> smoothed_precisions([5, 3, 1, 0], [6, 5, 4, 3], "exp")     # the 4-gram order: 1 / (2 * 3)
        [0.8333..., 0.6, 0.25, 0.1666...]
    """
    ### BEGIN SOLUTION
    if k is None:
        k = SMOOTHING_DEFAULTS[method]
    precisions = [0.0] * len(matches)
    exp_factor = 1.0
    for n, (m, t) in enumerate(zip(matches, totals), start=1):
        if method == "add-k" and n > 1:
            m, t = m + k, t + k
        if t == 0:
            break                                  # no n-gram of this order: it and every higher order stay 0
        if m > 0:
            precisions[n - 1] = m / t
        elif method == "exp":
            exp_factor *= 2
            precisions[n - 1] = 1 / (exp_factor * t)
        elif method == "floor":
            precisions[n - 1] = k / t
    return precisions
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "corpus_bleu", "locked": false, "schema_version": 3, "solution": true, "task": false}
def corpus_bleu(hypotheses: list[str], references: list[list[str]], max_n: int = 4, smoothing: str = "none",
                k: float | None = None) -> float:
    """Corpus BLEU in [0, 1] of whitespace-tokenised hypotheses against their references.

    Args:
        hypotheses: S strings; references: S lists of one or more strings (references[s] belong to hypotheses[s]).
        max_n: the highest n-gram order N. smoothing, k: as for smoothed_precisions.

    Returns:
        a float: BP(c, r) * exp(mean over n of log p_n), with matches, totals, c and r summed over all sentences
        (r from each sentence's closest reference); 0.0 if no n-gram of any order matches or some p_n is 0.

    Example:
        >>> corpus_bleu(["the cat sat on the mat"], [["the cat is on the mat"]], smoothing="exp")   # sacrebleu: 37.99
        0.3799...
    """
    ### BEGIN SOLUTION
    matches, totals = [0] * max_n, [0] * max_n
    hypothesis_length = reference_length = 0
    for hypothesis, refs in zip(hypotheses, references):
        h = hypothesis.split()
        rs = [ref.split() for ref in refs]
        for n in range(1, max_n + 1):
            m, t = modified_precision(h, rs, n)
            matches[n - 1] += m
            totals[n - 1] += t
        hypothesis_length += len(h)
        reference_length += closest_reference_length(len(h), [len(ref) for ref in rs])
    if sum(matches) == 0:
        return 0.0
    precisions = smoothed_precisions(matches, totals, smoothing, k)
    if min(precisions) == 0:
        return 0.0
    log_mean = sum(math.log(p) for p in precisions) / max_n
    return brevity_penalty(hypothesis_length, reference_length) * math.exp(log_mean)
    ### END SOLUTION


# %%
def sacrebleu_score(hypotheses, references, smoothing="none", k=None, max_n=4):
    """sacrebleu's corpus BLEU / 100 on whitespace-tokenised text; references[s] holds sentence s's references."""
    from sacrebleu.metrics import BLEU
    n_refs = len(references[0])
    streams = [[refs[j] for refs in references] for j in range(n_refs)]
    metric = BLEU(tokenize="none", smooth_method=smoothing, smooth_value=k, max_ngram_order=max_n)
    return metric.corpus_score(hypotheses, streams).score / 100


BLEU_HYPOTHESES = [
    "the cat sat on the mat",
    "a dog is on the mat",
    "there is a cat on the mat today",
    "the mat",
    "my cat likes the warm mat",
]
BLEU_REFERENCES = [
    ["the cat is on the mat", "there is a cat on the mat"],
    ["the dog is on a mat", "a dog sat on the mat"],
    ["the cat is on the mat", "there is a cat on the mat"],
    ["the cat is on the mat", "a cat is on the mat"],
    ["my cat likes the mat", "the cat likes a warm mat"],
]

# %% nbgrader={"grade": true, "grade_id": "smoothed_precisions_correct", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""smoothed_precisions implements sacrebleu's none, floor, add-k and exp smoothing, against sacrebleu's own precisions"""
from grader.testing import expect, learner

value = learner.smoothed_precisions([5, 3, 1, 0], [6, 5, 4, 3], "exp")
expect.shape(value, (4,), what="smoothed_precisions of 4 orders", hint="one precision per order, in [0, 1]")
expect.close(value, [5 / 6, 3 / 5, 1 / 4, 1 / 6], atol=1e-14, rtol=0, what="smoothed_precisions with exp smoothing (one zero order)",
             hint="a zero-match order gets 1 / (2^j * total), j counting the zero orders so far")
### BEGIN HIDDEN TESTS
from sacrebleu.metrics import BLEU
cases = [([5, 3, 1, 0], [6, 5, 4, 3]), ([7, 0, 0, 0], [8, 7, 6, 5]), ([9, 4, 0, 1], [10, 9, 8, 7]), ([3, 0, 0, 0], [3, 2, 1, 0]),
         ([12, 7, 3, 2], [13, 12, 11, 10]), ([4, 2, 0, 0], [4, 3, 2, 1]), ([2, 0], [2, 1])]
for method, k in [("none", None), ("floor", None), ("floor", 0.3), ("add-k", None), ("add-k", 0.5), ("exp", None)]:
    for matches, totals in cases:
        want = [p / 100 for p in BLEU.compute_bleu(list(matches), list(totals), 10, 10, smooth_method=method, smooth_value=k, max_ngram_order=len(matches)).precisions]
        value = learner.smoothed_precisions(list(matches), list(totals), method, k)
        expect.shape(value, (len(matches),), what=f"smoothed_precisions ({method})")
        if sum(matches) > 0:   # sacrebleu stops before smoothing when nothing matches
            expect.close(value, want, atol=1e-14, rtol=1e-13, what=f"smoothed_precisions with method {method!r}, k = {k}, against sacrebleu",
                         hint="see the table: add-k changes every order from 2 on; exp doubles its divisor at each zero order; an order with no n-gram and the higher ones are 0")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "corpus_bleu_hand_computed", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""corpus_bleu on hand-computed cases: Papineni's candidate, a perfect match, a short hypothesis, nothing matching"""
from grader.testing import expect, learner

value = learner.corpus_bleu(["the cat is on the mat"], [["the cat is on the mat"]])
expect.shape(value, (), what="corpus_bleu", hint="return one float in [0, 1]")
expect.close(value, 1.0, atol=1e-12, rtol=0, what="corpus_bleu of a hypothesis identical to its reference")
### BEGIN HIDDEN TESTS
candidate = " ".join(bleu_tokens(PAPINENI_CANDIDATES[0]))
references = [" ".join(bleu_tokens(r)) for r in PAPINENI_REFERENCES]
value = learner.corpus_bleu([candidate], [references])
expect.shape(value, (), what="corpus_bleu of Papineni's candidate 1")
expect.close(value, math.exp((math.log(17 / 18) + math.log(10 / 17) + math.log(7 / 16) + math.log(4 / 15)) / 4), atol=1e-12, rtol=0,
             what="corpus_bleu of Papineni's candidate 1 against its three references (BP = 1: a reference has its length)")
# a hypothesis shorter than its reference: every n-gram matches, only BP is left
value = learner.corpus_bleu(["the cat is on the"], [["the cat is on the mat"]])
expect.shape(value, (), what="corpus_bleu of a prefix of the reference")
expect.close(value, math.exp(1 - 6 / 5), atol=1e-12, rtol=0, what="corpus_bleu of a 5-token prefix of a 6-token reference (all precisions 1)",
             hint="multiply by the brevity penalty exp(1 - r / c) when the hypothesis is shorter")
value = learner.corpus_bleu(["a b c d"], [["e f g h"]], smoothing="exp")
expect.shape(value, (), what="corpus_bleu with nothing matching")
expect.close(value, 0.0, atol=0, rtol=0, what="corpus_bleu when no n-gram matches (0 whatever the smoothing)")
value = learner.corpus_bleu(["the cat sat on the mat"], [["the cat is on the mat"]])
expect.shape(value, (), what="corpus_bleu without smoothing and no matching 4-gram")
expect.close(value, 0.0, atol=0, rtol=0, what="corpus_bleu without smoothing when no 4-gram matches (the geometric mean is 0)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "corpus_bleu_matches_sacrebleu", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""corpus_bleu equals sacrebleu's corpus BLEU (tokenize='none') for every smoothing method, several references and corpus-level sums"""
from grader.testing import expect, learner

value = learner.corpus_bleu(BLEU_HYPOTHESES[:1], BLEU_REFERENCES[:1], smoothing="exp")
expect.shape(value, (), what="corpus_bleu", hint="return one float in [0, 1] (not x100)")
expect.true(0 <= float(value) <= 1, "corpus_bleu must lie in [0, 1]: report BLEU itself, not 100 x BLEU")
### BEGIN HIDDEN TESTS
for method, k in [("exp", None), ("floor", None), ("add-k", None), ("add-k", 0.25), ("none", None)]:
    value = learner.corpus_bleu(BLEU_HYPOTHESES, BLEU_REFERENCES, smoothing=method, k=k)
    expect.shape(value, (), what=f"corpus_bleu of 5 sentences ({method})")
    expect.close(value, sacrebleu_score(BLEU_HYPOTHESES, BLEU_REFERENCES, method, k), atol=1e-12, rtol=1e-12,
                 what=f"corpus_bleu of 5 sentences with 2 references each, smoothing {method!r}, against sacrebleu",
                 hint="sum matches, totals, c and r over sentences first, then take precisions, their geometric mean and BP (not a mean of sentence BLEUs)")
# a corpus where the brevity penalty and the closest reference matter
short = ["the cat", "a dog on the mat", "there is a cat"]
refs = [["the cat is on the mat", "the cat sat"], ["a dog is on the mat", "the dog is on a big red mat"], ["there is a cat on the mat", "a cat"]]
for method in ("exp", "floor"):
    value = learner.corpus_bleu(short, refs, smoothing=method)
    expect.shape(value, (), what="corpus_bleu of short hypotheses")
    expect.close(value, sacrebleu_score(short, refs, method), atol=1e-12, rtol=1e-12,
                 what=f"corpus_bleu of hypotheses shorter than their references ({method}), against sacrebleu",
                 hint="r is the sum over sentences of the reference length closest to each hypothesis (ties: the shorter); BP = exp(1 - r/c) when c < r")
value = learner.corpus_bleu(short, refs, max_n=2, smoothing="exp")
expect.shape(value, (), what="corpus_bleu with max_n = 2")
expect.close(value, sacrebleu_score(short, refs, "exp", max_n=2), atol=1e-12, rtol=1e-12, what="corpus_bleu with max_n = 2 against sacrebleu",
             hint="the geometric mean runs over orders 1 .. max_n")
# Shakespeare: a corrupted copy of held-out lines against the lines themselves (one reference each)
lines = [line for line in HELD_OUT[2000:6000].split("\n") if len(line.split()) >= 4][:20]
rng = np.random.default_rng(7)
corrupted = []
for line in lines:
    words = line.split()
    keep = [w for w in words if rng.random() > 0.25]
    corrupted.append(" ".join(keep if keep else words[:1]))
value = learner.corpus_bleu(corrupted, [[line] for line in lines], smoothing="exp")
expect.shape(value, (), what="corpus_bleu of 20 corrupted Shakespeare lines")
expect.close(value, sacrebleu_score(corrupted, [[line] for line in lines], "exp"), atol=1e-12, rtol=1e-12,
             what="corpus_bleu of 20 Shakespeare lines with words dropped, against sacrebleu")
### END HIDDEN TESTS

# %% [markdown]
# **What BLEU measures, and what it misses.** The figure uses sacrebleu on 40 held-out Shakespeare
# lines and three corruptions of increasing severity: dropping words (hurts precision little and BP
# a lot), shuffling the words of each line (keeps unigram precision at 100 % and destroys the
# higher orders) and replacing words by synonyms of the same length (a human would accept it; BLEU
# punishes it like an error). BLEU is a precision of surface forms: it cannot see meaning,
# paraphrase or fluency beyond four words. Its correlation with human judgement is good at the level
# of systems on a whole test set (what it was designed for) and poor for single sentences; and once
# a metric is optimised directly (minimum-risk training, reranking by BLEU) it stops tracking
# quality: Goodhart's law. Modern MT evaluation adds learned metrics (chrF, COMET, BLEURT) and
# human evaluation.

# %%
from sacrebleu.metrics import BLEU as SacreBLEU

figure_lines = [line for line in HELD_OUT[10000:20000].split("\n") if len(line.split()) >= 5][:40]
rng = np.random.default_rng(0)
drop_rates = np.linspace(0, 0.6, 7)
dropped, shuffled = [], []
for rate in drop_rates:
    corrupted = []
    for line in figure_lines:
        kept = [w for w in line.split() if rng.random() >= rate]
        corrupted.append(" ".join(kept if kept else line.split()[:1]))
    score = SacreBLEU(tokenize="none").corpus_score(corrupted, [figure_lines])
    dropped.append((score.score, score.bp))
    swapped = []
    for line in figure_lines:
        words = line.split()
        for i in range(len(words) - 1):
            if rng.random() < rate:
                words[i], words[i + 1] = words[i + 1], words[i]
        swapped.append(" ".join(words))
    shuffled.append(SacreBLEU(tokenize="none").corpus_score(swapped, [figure_lines]).precisions)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
axes[0].plot(drop_rates, [s for s, _ in dropped], "o-", label="BLEU x 100")
axes[0].plot(drop_rates, [100 * bp for _, bp in dropped], "s--", label="100 x brevity penalty")
axes[0].set(xlabel="share of words dropped", ylabel="score", title="dropping words: BP does most of the damage"); axes[0].legend(fontsize=8)
for n in range(4):
    axes[1].plot(drop_rates, [p[n] for p in shuffled], "o-", label=f"p_{n + 1}")
axes[1].set(xlabel="probability of swapping each adjacent pair", ylabel="precision (%)", title="swapping words: p_1 stays at 100 %"); axes[1].legend(fontsize=8)
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 7 · ROUGE-N: n-gram recall for summaries
#
# ROUGE (Lin, 2004) was built for summarisation, where the question is the opposite of BLEU's: how
# much of the reference summary's content did the candidate cover? ROUGE-N counts the clipped
# overlap of n-grams between candidate and reference,
#
# $$\mathrm{overlap}_n = \sum_{g} \min\big(\mathrm{count}_{\text{cand}}(g), \mathrm{count}_{\text{ref}}(g)\big),\quad
# R_n = \frac{\mathrm{overlap}_n}{\#\text{n-grams(ref)}},\quad
# P_n = \frac{\mathrm{overlap}_n}{\#\text{n-grams(cand)}},\quad
# F_n = \frac{2 P_n R_n}{P_n + R_n}.$$
#
# What this means: recall divides by the *reference's* n-grams (what should have been said),
# precision by the candidate's (what was said). Recall alone rewards long candidates (copying the
# whole document has high recall), so papers report F1. The conventions of Google's `rouge-score`
# (used by Hugging Face `evaluate` and most LLM papers): a count of 0 n-grams is replaced by 1 in
# the divisions (an empty text scores 0, not NaN), and F is 0 when $P + R = 0$.
#
# **Tokenisation.** `rouge-score` lowercases, replaces everything outside `[a-z0-9]` by a space and
# splits on whitespace (and stems with Porter's stemmer if asked; not here). `rouge_tokenize`
# below does the same, so your functions take token lists and agree with the library.
#
# A worked example by hand: candidate "the cat sat on the mat", reference "the cat is on the mat".
# Bigrams of the candidate: the cat, cat sat, sat on, on the, the mat (5); of the reference: the
# cat, cat is, is on, on the, the mat (5); shared: the cat, on the, the mat (3). So $P_2 = R_2 =
# 3/5$ and $F_2 = 0.6$; ROUGE-1 shares 5 of 6 words ("the" twice), $P_1 = R_1 = 5/6$.
#
# Write `rouge_n` (about 5 minutes).

# %%
def rouge_tokenize(text: str) -> list[str]:
    """rouge-score's tokeniser without stemming: lowercase, non-alphanumerics to spaces, split."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


print(rouge_tokenize("ROMEO: But, soft! What light through yonder window breaks?"))

# %% nbgrader={"grade": false, "grade_id": "rouge_n", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rouge_n(candidate: list[str], reference: list[str], n: int) -> tuple[float, float, float]:
    """ROUGE-N precision, recall and F1 of a candidate against one reference (rouge-score's conventions).

    Args:
        candidate, reference: lists of tokens; n >= 1.

    Returns:
        (precision, recall, f1): overlap / max(#cand n-grams, 1), overlap / max(#ref n-grams, 1), and
        2 P R / (P + R) (0 when P + R = 0), with overlap the clipped count of shared n-grams.

    Example:
        >>> rouge_n("the cat sat on the mat".split(), "the cat is on the mat".split(), 2)
        (0.6, 0.6, 0.6)
    """
    ### BEGIN SOLUTION
    candidate_counts, reference_counts = ngram_counts(candidate, n), ngram_counts(reference, n)
    overlap = sum(min(count, candidate_counts[gram]) for gram, count in reference_counts.items())
    precision = overlap / max(sum(candidate_counts.values()), 1)
    recall = overlap / max(sum(reference_counts.values()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1
    ### END SOLUTION


# %%
ROUGE_PAIRS = [   # (candidate, reference)
    ("The cat sat on the mat.", "The cat is on the mat."),
    ("police killed the gunman", "the gunman was shot down by police"),
    ("the gunman police killed", "the gunman was shot down by police"),
    ("O Romeo, Romeo! wherefore art thou Romeo?", "Romeo, Romeo, wherefore art thou, Romeo? Deny thy father."),
    ("the the the the", "the cat and the hat"),
    ("A summary that says nothing relevant at all", "The king is dead; long live the king"),
    ("short", "a much longer reference summary of the whole document"),
    ("Cat!", "The cat sat."),
    ("The cat sat.", "cat"),
]


def rouge_score_reference(candidate: str, reference: str) -> dict:
    """Google's rouge-score (no stemmer): {"rouge1": (p, r, f), "rouge2": ..., "rougeL": ...}. Note its argument order: target first."""
    from rouge_score import rouge_scorer
    scores = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False).score(reference, candidate)
    return {name: (s.precision, s.recall, s.fmeasure) for name, s in scores.items()}


# %% nbgrader={"grade": true, "grade_id": "rouge_n_correct", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""rouge_n gives clipped n-gram precision, recall (over the reference's n-grams) and F1, against Google's rouge-score"""
from grader.testing import expect, learner

value = learner.rouge_n("the cat sat on the mat".split(), "the cat is on the mat".split(), 2)
expect.shape(value, (3,), what="rouge_n", hint="return (precision, recall, f1)")
expect.close(value, (0.6, 0.6, 0.6), atol=1e-14, rtol=0, what="ROUGE-2 of 'the cat sat on the mat' against 'the cat is on the mat'")
### BEGIN HIDDEN TESTS
for candidate, reference in ROUGE_PAIRS:
    want = rouge_score_reference(candidate, reference)
    for n in (1, 2):
        value = learner.rouge_n(rouge_tokenize(candidate), rouge_tokenize(reference), n)
        expect.shape(value, (3,), what=f"rouge_n with n = {n}")
        expect.close(value, want[f"rouge{n}"], atol=1e-14, rtol=1e-13, what=f"ROUGE-{n} (precision, recall, f1) against rouge-score",
                     hint="recall divides the clipped overlap by the reference's n-grams, precision by the candidate's; clip each shared n-gram at the smaller count")
value = learner.rouge_n([], "a b c".split(), 1)
expect.shape(value, (3,), what="rouge_n of an empty candidate")
expect.close(value, (0.0, 0.0, 0.0), atol=0, rtol=0, what="rouge_n of an empty candidate", hint="divide by max(count, 1) and return F = 0 when P + R = 0")
value = learner.rouge_n("a b c".split(), "a b c".split(), 4)
expect.shape(value, (3,), what="rouge_n with n larger than both texts")
expect.close(value, (0.0, 0.0, 0.0), atol=0, rtol=0, what="ROUGE-4 of two 3-token texts (no 4-gram)")
### END HIDDEN TESTS

# %% [markdown]
# ## 8 · ROUGE-L: the longest common subsequence
#
# ROUGE-N ignores word order beyond $n$ tokens. ROUGE-L uses the **longest common subsequence**
# (LCS): the longest sequence of tokens that appears in both texts in the same order, not
# necessarily contiguously. "police killed the gunman" and "the gunman was shot down by police"
# share the subsequence "the gunman" (2); "the gunman police killed" shares "the gunman police" (3),
# and ROUGE-L prefers it, although both have the same unigrams. The LCS length follows from a
# dynamic programme over prefixes, $O(|a|\,|b|)$:
#
# $$L[i][j] = \begin{cases} 0 & i = 0 \text{ or } j = 0\\ L[i-1][j-1] + 1 & a_i = b_j \\
# \max(L[i-1][j],\, L[i][j-1]) & \text{otherwise}\end{cases}$$
#
# and ROUGE-L's precision, recall and F1 are $P = L/|\text{cand}|$, $R = L/|\text{ref}|$,
# $F = 2PR/(P + R)$ ($\beta = 1$, rouge-score's choice; Lin's paper weights recall with a large
# $\beta$), all 0 if either text is empty.
#
# What this means: a subsequence rewards in-order matches anywhere in the sentence, without a fixed
# $n$. It is *not* the longest common substring (contiguous): "a b c d" and "a x b y c" have LCS 3
# ("a b c") but longest common substring 1.
#
# The worked example with the reference implementation (`rouge-score`, library code): the two
# gunman sentences have identical unigrams and share the same single bigram ("the gunman") with the
# reference, so ROUGE-1 and ROUGE-2 cannot tell them apart; ROUGE-L can, and prefers the one whose
# words come in the reference's order.

# %%
for candidate in ("police killed the gunman", "the gunman police killed"):
    scores = rouge_score_reference(candidate, "the gunman was shot down by police")
    print(f"{candidate!r:28}", "  ".join(f"{name} F1 {f:.3f}" for name, (_, _, f) in scores.items()))

# %% [markdown]
# Write `lcs_length` and `rouge_l` (about 10 minutes).

# %% nbgrader={"grade": false, "grade_id": "lcs_length", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lcs_length(a: list[str], b: list[str]) -> int:
    """The length of the longest common subsequence of two token lists (dynamic programming, O(len(a) len(b))).

    Example:
        >>> lcs_length("a b c d".split(), "a x b y c".split())
        3
    """
    ### BEGIN SOLUTION
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table[-1][-1]
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "rouge_l", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rouge_l(candidate: list[str], reference: list[str]) -> tuple[float, float, float]:
    """ROUGE-L precision, recall and F1 (beta = 1) from the longest common subsequence; (0, 0, 0) if either is empty.

    Example:
        >>> rouge_l("police killed the gunman".split(), "the gunman was shot down by police".split())
        (0.5, 0.2857..., 0.3636...)
    """
    ### BEGIN SOLUTION
    if not candidate or not reference:
        return 0.0, 0.0, 0.0
    common = lcs_length(candidate, reference)
    precision, recall = common / len(candidate), common / len(reference)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1
    ### END SOLUTION


# %%
def lcs_by_brute_force(a, b):
    """The judge's own LCS for short lists: the longest subsequence of a (by decreasing length) that is also one of b."""
    import itertools

    def is_subsequence(small, big):
        it = iter(big)
        return all(token in it for token in small)

    for size in range(min(len(a), len(b)), 0, -1):
        for positions in itertools.combinations(range(len(a)), size):
            if is_subsequence([a[i] for i in positions], b):
                return size
    return 0


# %% nbgrader={"grade": true, "grade_id": "lcs_length_correct", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""lcs_length is the longest common subsequence (not substring), against exhaustive search on short random token lists"""
from grader.testing import expect, learner

value = learner.lcs_length("a b c d".split(), "a x b y c".split())
expect.equal(int(value), 3, what="lcs_length of 'a b c d' and 'a x b y c'", hint="a subsequence need not be contiguous: 'a b c'")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(2002)
for trial in range(25):
    a = [str(t) for t in rng.integers(0, 4, size=int(rng.integers(0, 9)))]
    b = [str(t) for t in rng.integers(0, 4, size=int(rng.integers(0, 9)))]
    expect.equal(int(learner.lcs_length(a, b)), lcs_by_brute_force(a, b), what="lcs_length of two random token lists against exhaustive search",
                 hint="L[i][j] = L[i-1][j-1] + 1 on a match, else max(L[i-1][j], L[i][j-1])")
expect.equal(int(learner.lcs_length([], "a b".split())), 0, what="lcs_length with an empty list")
long_a = [str(t) for t in rng.integers(0, 20, size=300)]
long_b = [str(t) for t in rng.integers(0, 20, size=300)]
from rouge_score.rouge_scorer import _lcs_table
expect.equal(int(learner.lcs_length(long_a, long_b)), _lcs_table(long_a, long_b)[-1][-1], what="lcs_length of two 300-token lists against rouge-score's table",
             hint="dynamic programming over prefixes, O(len(a) len(b)); recursion without memoisation is exponential")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "rouge_l_correct", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""rouge_l is the LCS precision, recall and F1 of rouge-score (beta = 1), with 0 for empty texts"""
from grader.testing import expect, learner

value = learner.rouge_l("police killed the gunman".split(), "the gunman was shot down by police".split())
expect.shape(value, (3,), what="rouge_l", hint="return (precision, recall, f1)")
expect.close(value, (2 / 4, 2 / 7, 2 * (2 / 4) * (2 / 7) / (2 / 4 + 2 / 7)), atol=1e-14, rtol=0, what="ROUGE-L of 'police killed the gunman' (LCS 'the gunman')")
### BEGIN HIDDEN TESTS
for candidate, reference in ROUGE_PAIRS:
    value = learner.rouge_l(rouge_tokenize(candidate), rouge_tokenize(reference))
    expect.shape(value, (3,), what="rouge_l")
    expect.close(value, rouge_score_reference(candidate, reference)["rougeL"], atol=1e-14, rtol=1e-13, what="ROUGE-L (precision, recall, f1) against rouge-score",
                 hint="P = LCS / len(candidate), R = LCS / len(reference), F = 2PR / (P + R)")
value = learner.rouge_l([], "a b".split())
expect.shape(value, (3,), what="rouge_l of an empty candidate")
expect.close(value, (0.0, 0.0, 0.0), atol=0, rtol=0, what="rouge_l of an empty candidate", hint="return (0, 0, 0) when either text is empty")
value = learner.rouge_l("a b".split(), [])
expect.shape(value, (3,), what="rouge_l against an empty reference")
expect.close(value, (0.0, 0.0, 0.0), atol=0, rtol=0, what="rouge_l against an empty reference")
### END HIDDEN TESTS

# %% [markdown]
# ## 9 · Beyond n-grams: how LLMs are evaluated today, and pass@k
#
# Perplexity, BLEU and ROUGE are *intrinsic* or *reference-based* metrics: cheap, reproducible,
# and only loosely tied to what users want. Modern LLM evaluation is mostly *extrinsic*: measure the
# task itself.
#
# - **Held-out benchmarks** with exact answers: multiple choice (MMLU: the option with the highest
#   log-likelihood, or the letter the model generates), grade-school maths (GSM8K: the final number),
#   code (HumanEval, MBPP: run unit tests). Details move numbers by points: the prompt template, the
#   number of few-shot examples, length normalisation of log-likelihoods, the answer extraction.
# - **Contamination**: a benchmark that leaked into the pre-training data measures memorisation.
#   Detection compares n-gram overlap with the training corpus (GPT-3's 13-gram filter), or the
#   model's perplexity on the benchmark against a freshly written paraphrase; the remedy is
#   held-out, dated or private test sets (LiveCodeBench, SEAL).
# - **LLM-as-a-judge** (MT-Bench, AlpacaEval, Arena-Hard): a strong model compares or grades
#   answers. It correlates well with human preferences at system level and has known biases:
#   position (prefers the first answer; swap and average), verbosity (prefers longer answers:
#   AlpacaEval's length-controlled win rate), and self-preference. Human pairwise comparisons with an
#   Elo or Bradley-Terry fit (Chatbot Arena, the model of `27-reward-model`) remain the reference.
#
# **pass@k** (Chen et al., 2021, HumanEval): the probability that at least one of $k$ sampled
# programs passes the tests. Estimating it as $1 - (1 - \hat p)^k$ with $\hat p = c/n$ from $n$
# samples of which $c$ pass is *biased* (by Jensen's inequality it overestimates). The unbiased
# estimator draws $k$ of the $n$ samples without replacement:
#
# $$\widehat{\text{pass@}k} = 1 - \frac{\binom{n - c}{k}}{\binom{n}{k}} = 1 - \prod_{i = n - c + 1}^{n}\Big(1 - \frac{k}{i}\Big),$$
#
# and 1 when $n - c < k$ (every draw of $k$ contains a passing sample). The product form avoids the
# huge binomial coefficients. Write `pass_at_k` (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "pass_at_k", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimate of pass@k from n samples of which c pass (Chen et al., 2021).

    Args:
        n: samples drawn, n >= 1; c: samples that pass, 0 <= c <= n; k: 1 <= k <= n.

    Returns:
        a float in [0, 1]: 1 - C(n - c, k) / C(n, k).

    Example:
        >>> pass_at_k(10, 1, 5)      # one passing sample in 10: half the 5-subsets contain it
        0.5
    """
    ### BEGIN SOLUTION
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "pass_at_k_correct", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""pass_at_k is the unbiased estimator 1 - C(n-c, k) / C(n, k), exact against Python's integer binomials"""
from grader.testing import expect, learner

value = learner.pass_at_k(10, 1, 5)
expect.shape(value, (), what="pass_at_k", hint="return one float")
expect.close(value, 0.5, atol=1e-12, rtol=0, what="pass_at_k(10, 1, 5)")
### BEGIN HIDDEN TESTS
from fractions import Fraction
for n, c, k in [(10, 3, 1), (10, 5, 5), (8, 3, 5), (20, 5, 10), (200, 13, 100), (200, 0, 10), (5, 5, 1), (100, 96, 5), (50, 1, 1), (1000, 37, 10)]:
    value = learner.pass_at_k(n, c, k)
    expect.shape(value, (), what=f"pass_at_k({n}, {c}, {k})")
    want = float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))
    expect.close(value, want, atol=1e-12, rtol=1e-10, what=f"pass_at_k with n = {n}, c = {c}, k = {k}, against exact binomials",
                 hint="draws of k samples without replacement: 1 - C(n - c, k) / C(n, k), not 1 - (1 - c/n)^k; 1 when n - c < k")
### END HIDDEN TESTS

# %% [markdown]
# The figure: pass@k of a model whose samples pass with probability 0.1, estimated from $n = 20$
# samples in each of 2,000 simulated runs. The naive estimate $1 - (1 - c/n)^k$ sits above the truth
# $1 - 0.9^k$ for every $k > 1$; the unbiased one is centred on it.

# %%
rng = np.random.default_rng(21)
ks = np.arange(1, 21)
passes = rng.binomial(20, 0.1, size=2000)
unbiased = np.array([[1.0 if 20 - c < k else 1.0 - np.prod(1.0 - k / np.arange(20 - c + 1, 21)) for k in ks] for c in passes]).mean(0)
naive = np.array([[1 - (1 - c / 20) ** k for k in ks] for c in passes]).mean(0)
fig, ax = plt.subplots(figsize=(6.5, 3.3))
ax.plot(ks, 1 - 0.9 ** ks, "k-", label="true pass@k = 1 - 0.9^k")
ax.plot(ks, unbiased, "o", ms=4, label="mean of the unbiased estimator")
ax.plot(ks, naive, "s", ms=4, label="mean of 1 - (1 - c/n)^k")
ax.set(xlabel="k", ylabel="pass@k", title="pass@k from n = 20 samples, 2,000 runs"); ax.legend(fontsize=8)
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 10 · Practical considerations
#
# - **Report the evaluation protocol with the number**: the window and stride of a perplexity, the
#   tokeniser (or report bits per byte), whether the first token of each document is scored. The
#   course model's 4.84 is "perplexity per character of the last 10 % of Tiny Shakespeare in windows
#   of 256 overlapping by one".
# - **Perplexity in float64 sums**, `log_softmax` before `gather`, `torch.no_grad()` and `eval()`
#   (dropout on during evaluation raises the loss). Document boundaries: do not let a window's context
#   run across two unrelated documents unless the model was trained that way.
# - **Lower perplexity is not always a better model**: it does not measure instruction following,
#   and after RLHF (`28`, `29`) perplexity on web text rises while users prefer the model.
# - **BLEU: use sacrebleu and report its signature** (`nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.x`):
#   tokenisation alone moves BLEU by several points. Corpus BLEU, never an average of sentence BLEUs;
#   for sentence-level scores use smoothing and expect noise.
# - **ROUGE: say which one** (ROUGE-1/2/L, F1 or recall, stemming on or off, ROUGE-Lsum splitting
#   summaries into sentences on newlines); the Porter stemmer and the tokeniser change scores by points.
# - **Metrics are proxies.** A metric that becomes a training target (BLEU in minimum-risk training,
#   a reward model in RLHF, an LLM judge) gets exploited: length, repetition of reference n-grams,
#   flattery of the judge. Always read samples.
#
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | per-token NLL | $\ell_t = -\log p_\theta(x_t\mid x_{<t})$ | `F.cross_entropy(logits[:-1], ids[1:], reduction="none")` | training loss, every intrinsic evaluation |
# | perplexity, bits | $e^{\bar\ell}$, $\bar\ell/\ln 2$ | `exp(nlls.mean())`, `nlls.mean() / log(2)` | LM papers, scaling laws, compression (bits per byte) |
# | sliding window | token $t$ with context $x_{b(t)..t-1}$, $t - b(t) \ge W - S$ | windows every $S$, score only the last $S$ (labels $-100$) | perplexity of long documents (HF guide, lm-eval-harness rolling windows) |
# | modified precision | $\sum_g \min(c_h(g), \max_r c_r(g)) / \sum_g c_h(g)$ | `Counter` of n-gram tuples, clip, sum | BLEU, n-gram contamination checks |
# | brevity penalty | $\min(1, e^{1 - r/c})$, $r$ closest reference | `exp(1 - r / c)` | BLEU |
# | corpus BLEU | $\mathrm{BP}\exp(\frac1N\sum\log p_n)$, sums over sentences | sacrebleu `BLEU(tokenize=..., smooth_method=...)` | machine translation, early summarisation and captioning |
# | ROUGE-N / ROUGE-L | overlap / #ref n-grams; LCS$/|$ref$|$ | clipped overlap; LCS dynamic programme | summarisation benchmarks (CNN/DailyMail, XSum) |
# | pass@k | $1 - \binom{n-c}{k}/\binom{n}{k}$ | product $\prod(1 - k/i)$ | HumanEval, MBPP, code and maths RL |
# | modern evaluation | held-out tasks, contamination checks, judges | harnesses (lm-eval-harness, HELM), LLM-as-judge with swaps | model cards, leaderboards, Chatbot Arena |

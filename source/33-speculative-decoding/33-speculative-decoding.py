# %% [markdown]
# # 33 · Speculative decoding: draft, verify, and keep the target's distribution
#
# A large model generates one token per forward pass, and each pass is limited by how fast the
# weights stream from memory, not by arithmetic. Speculative decoding (Leviathan, Kalman and Matias
# 2023; Chen et al. 2023) lets a cheap *draft* model $q$ propose $\gamma$ tokens, scores all of
# them with the expensive *target* model $p$ in one pass, and keeps each proposed token $x$ with
# probability
#
# $$\boxed{\;\Pr[\text{accept } x] = \min\Big(1, \frac{p(x)}{q(x)}\Big), \qquad
# \text{on rejection sample from } \; r(x) = \frac{\max\big(0,\, p(x) - q(x)\big)}{\sum_{y}\max\big(0,\, p(y) - q(y)\big)}\;}$$
#
# The output is then distributed *exactly* as the target's own samples, while each target pass
# yields on average $\frac{1 - \alpha^{\gamma+1}}{1 - \alpha}$ tokens instead of one, with
# $\alpha = \sum_x \min(p(x), q(x))$ the draft's acceptance rate. Why it matters for LLMs: it is
# the one inference speed-up that changes neither the model nor its outputs, which is why every
# serving stack ships it (vLLM, TensorRT-LLM, SGLang, llama.cpp, Hugging Face's "assisted
# generation"), often as 2 to 3 times lower latency.
#
# **What you will build**: the acceptance probability and the residual distribution, with a proof
# (and an exact test) that together they reproduce $p$; one accept-or-resample decision; a
# speculative decoding step that drafts $\gamma$ tokens, verifies them in **one** target call and
# adds a bonus token; generation from repeated steps, checked by a chi-square test of the joint
# distribution of the tokens it produces; the greedy special case, token for token equal to the
# course model's greedy decoding; and the speed-up model: acceptance rate, expected tokens per
# target call, speed-up with the draft's cost, the best $\gamma$, compared with simulation and
# measured on the course model of `16-gpt` with a bigram draft.

# %% [markdown]
# ## Prerequisites
#
# - `30-decoding`: sampling the next token from a distribution, greedy decoding.
# - `31-kv-cache`: why a decoding step is memory-bound (this notebook recomputes the prefix in
#   every call, without a cache, to stay short; section 10 says what changes with one).
# - `16-gpt`: the course model, a character-level GPT (`GPT2LMHeadModel`, 65 characters).
# - `03-probability`: total variation distance, the chi-square goodness-of-fit test.
#
# Packages: `torch`, `numpy`, `scipy` (the chi-square test), `matplotlib`, `transformers` (the
# course model). The course model (`course_model.py`, its weights and configuration), Tiny
# Shakespeare and its licence note (`DATA-LICENCE.md`) come with this notebook. Nothing is
# downloaded.
#
# **Notation.** $p(\cdot \mid s)$ the target's next-token distribution after the sequence $s$,
# $q(\cdot \mid s)$ the draft's; $V$ the vocabulary size; $\gamma$ the number of drafted tokens
# per step; $\alpha$ the acceptance rate; $c$ the cost of one draft call relative to one target
# call. A *probability function* is a callable `f(tokens)` taking a sequence `(T,)` int64 and
# returning `(T, V)` float64 whose row `t` is the next-token distribution after `tokens[: t + 1]`:
# what one forward pass of a causal language model gives for all positions at once.

# %%
import copy
import math
import os
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

try:
    from course_model import config, decode, encode, load_course_model
except ModuleNotFoundError:   # a script run or the grader: course_model.py lies in the working directory, beside this notebook
    sys.path.insert(0, os.getcwd())
    from course_model import config, decode, encode, load_course_model

torch.set_grad_enabled(False)   # nothing here is trained


def read_text(path: str) -> str:
    """The whole of a UTF-8 text file beside this notebook."""
    with open(path, encoding="utf-8") as file:
        return file.read()


TEXT = read_text("tinyshakespeare.txt")   # Tiny Shakespeare, 1,115,394 characters (licence: DATA-LICENCE.md)
print("course model:", config())

# %% [markdown]
# ## 1 · Why one token per forward pass wastes the hardware
#
# Generating a token from a model with $N$ parameters costs about $2N$ floating-point operations
# but reads all $N$ weights (and the KV cache) from memory. A 7-billion-parameter model in bfloat16
# is 14 GB; an H100 reads about 3.35 TB/s and computes about 990 TFLOP/s in bfloat16. One token:
#
# $$t_{\text{memory}} \approx \frac{14\ \text{GB}}{3.35\ \text{TB/s}} \approx 4.2\ \text{ms}, \qquad
# t_{\text{compute}} \approx \frac{2 \cdot 7\cdot 10^{9}}{990\cdot 10^{12}\ \text{FLOP/s}} \approx 0.014\ \text{ms}.$$
#
# The arithmetic units idle 99.7 % of the time. Scoring $k$ positions in one pass reads the same
# weights once and does $k$ times the arithmetic, so up to $k \approx 300$ (the ratio of the two
# rates, the "ridge point" of the roofline) a pass over $k$ tokens costs about as much as a pass
# over one. Autoregressive decoding cannot use this: token $t+1$ depends on token $t$. But
# *checking* $\gamma$ guessed tokens is parallel: one pass returns the target's distribution at
# every guessed position. Speculative decoding turns cheap guesses plus one parallel check into
# several tokens per pass.
#
# What this means: the target model is run once per *step* instead of once per *token*; the draft
# model does the sequential work, and it is cheap because it is small (or a table, or a few extra
# heads). How many tokens a step yields depends only on how often the draft agrees with the target.
#
# The figure measures this on the course model, without a KV cache: the time of one forward pass
# over a prefix of 128 characters plus $k$ new positions is nearly flat in $k$ (here because the
# prefix dominates; with a KV cache on a GPU, because the weights dominate).

# %%
def time_forward(model, length: int, repeats: int = 5) -> float:
    """Median seconds of one forward pass of `model` over `length` tokens of Shakespeare."""
    tokens = encode(TEXT[:length])[None]
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(tokens)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


course_model = load_course_model()
extra_positions = [1, 2, 4, 8, 16]
forward_ms = [1000 * time_forward(course_model, 128 + k) for k in extra_positions]
plt.figure(figsize=(5, 3.2))
plt.plot(extra_positions, forward_ms, "o-")
plt.ylim(0, 1.3 * max(forward_ms))
plt.xlabel("new positions scored in the pass (k)")
plt.ylabel("ms per forward pass")
plt.title("one pass over 128 + k characters")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 2 · The acceptance rule and why it preserves the target distribution
#
# Fix one position. The draft samples $x \sim q$; we accept it with probability
# $a(x) = \min(1, p(x)/q(x))$; if we reject, we sample a replacement from the residual $r$ of the
# box above. The probability that the step outputs a token $x$ is the sum of two paths:
#
# $$\Pr[\text{out} = x] = \underbrace{q(x)\, \min\Big(1, \frac{p(x)}{q(x)}\Big)}_{\text{drafted } x \text{ and accepted}}
# + \underbrace{\Big(1 - \sum_y q(y)\min\Big(1, \frac{p(y)}{q(y)}\Big)\Big)}_{\text{rejected (any draft)}}\; r(x).$$
#
# **The proof, in four lines.** (i) $q(x)\min(1, p(x)/q(x)) = \min(q(x), p(x))$. (ii) So the
# total acceptance probability is $\alpha = \sum_y \min(p(y), q(y))$ and rejection happens with
# probability $1 - \alpha$. (iii) Since $\min(p, q) + \max(0, p - q) = p$ elementwise and
# $\sum_y p(y) = 1$, the residual's normaliser is $\sum_y \max(0, p(y) - q(y)) = 1 - \alpha$.
# (iv) Therefore
#
# $$\Pr[\text{out} = x] = \min(p(x), q(x)) + (1 - \alpha)\,\frac{\max(0, p(x) - q(x))}{1 - \alpha} = p(x). \qquad\blacksquare$$
#
# What this means: where the draft *under*-proposes a token ($q(x) < p(x)$) it is always
# accepted, and the missing mass $p(x) - q(x)$ is supplied by the residual; where the draft
# *over*-proposes ($q(x) > p(x)$) the surplus is rejected just often enough. It is rejection
# sampling with a twist: the rejected mass is not thrown away and redrawn from $q$, it is redrawn
# from exactly the part of $p$ that $q$ missed, so one draft always produces one token.
# The acceptance rate is the overlap of the two distributions, $\alpha = 1 - \mathrm{TV}(p, q)$,
# with $\mathrm{TV}(p, q) = \frac{1}{2}\sum_x |p(x) - q(x)|$ the total variation distance.
#
# Two corner cases. If $q(x) = 0$ the draft never proposes $x$: define $a(x) = 1$ there (any value
# would do; 1 keeps the formula $\min(p, q)/q$ finite). If $p = q$ nothing is ever rejected and the
# residual is $0/0$: return $p$ there, a harmless convention (it is never sampled).
#
# A worked example with $V = 4$:

# %%
p_demo = torch.tensor([0.5, 0.3, 0.2, 0.0], dtype=torch.float64)
q_demo = torch.tensor([0.2, 0.5, 0.1, 0.2], dtype=torch.float64)
overlap_demo = torch.minimum(p_demo, q_demo)
excess_demo = (p_demo - q_demo).clamp(min=0)
print("min(p, q)           ", overlap_demo.tolist(), " alpha =", float(overlap_demo.sum()))
print("accept prob min(1,p/q)", (p_demo / q_demo).clamp(max=1).tolist())
print("residual            ", (excess_demo / excess_demo.sum()).tolist(), " 1 - alpha =", float(excess_demo.sum()))
print("min(p,q) + (1-alpha) r =", (overlap_demo + excess_demo).tolist(), "= p")

fig, ax = plt.subplots(figsize=(7, 3.2))
positions = np.arange(4)
ax.bar(positions - 0.3, p_demo.numpy(), 0.2, label="target p", color="C0")
ax.bar(positions - 0.1, q_demo.numpy(), 0.2, label="draft q", color="C1")
ax.bar(positions + 0.1, overlap_demo.numpy(), 0.2, label="accepted: min(p, q)", color="C2")
ax.bar(positions + 0.3, excess_demo.numpy(), 0.2, label="resampled: (1-α) r = max(0, p-q)", color="C3")
ax.set_xticks(positions, ["x0", "x1", "x2", "x3"]); ax.set_ylabel("probability")
ax.set_title("the two paths add up to p"); ax.legend(fontsize=8)
plt.tight_layout(); plt.show()

# %% [markdown]
# Write `acceptance_probability`, `residual_distribution` and `acceptance_rate` (about 10 minutes).
# All three work on the last axis, so a batch of distributions `(..., V)` is handled at once.
# Keep float64: the tests compare with tolerances of 1e-12.

# %% nbgrader={"grade": false, "grade_id": "acceptance_probability", "locked": false, "schema_version": 3, "solution": true, "task": false}
def acceptance_probability(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The probability of accepting each drafted token: min(1, p / q), and 1 where q == 0.

    Args:
        p: (..., V) float64, target distributions (each row sums to 1).
        q: (..., V) float64, draft distributions of the same shape.

    Returns:
        (..., V) float64 in [0, 1], finite everywhere (also where q == 0).

    Example:
        >>> acceptance_probability(torch.tensor([0.5, 0.3, 0.2, 0.0], dtype=torch.float64),
        ...                        torch.tensor([0.2, 0.5, 0.1, 0.2], dtype=torch.float64))
        tensor([1.0000, 0.6000, 1.0000, 0.0000], dtype=torch.float64)
    """
    ### BEGIN SOLUTION
    ratio = torch.where(q > 0, p / q, torch.ones_like(p))
    return ratio.clamp(max=1.0)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "residual_distribution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def residual_distribution(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The distribution to resample from after a rejection: max(0, p - q), normalised to sum to 1; p itself where p == q.

    Args:
        p: (..., V) float64, target distributions.
        q: (..., V) float64, draft distributions of the same shape.

    Returns:
        (..., V) float64, each row non-negative and summing to 1.

    Example:
        >>> residual_distribution(torch.tensor([0.5, 0.3, 0.2, 0.0], dtype=torch.float64),
        ...                       torch.tensor([0.2, 0.5, 0.1, 0.2], dtype=torch.float64))
        tensor([0.7500, 0.0000, 0.2500, 0.0000], dtype=torch.float64)
    """
    ### BEGIN SOLUTION
    excess = (p - q).clamp(min=0.0)
    total = excess.sum(dim=-1, keepdim=True)            # = 1 - alpha
    return torch.where(total > 0, excess / total, p)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "acceptance_rate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def acceptance_rate(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """alpha = sum_x min(p(x), q(x)) = 1 - TV(p, q): the probability that a token drafted from q is accepted.

    Args:
        p, q: (..., V) float64 distributions.

    Returns:
        (...) float64 in [0, 1] (a 0-dimensional tensor for one pair).

    Example:
        >>> acceptance_rate(torch.tensor([0.5, 0.3, 0.2, 0.0], dtype=torch.float64),
        ...                 torch.tensor([0.2, 0.5, 0.1, 0.2], dtype=torch.float64))
        tensor(0.6000, dtype=torch.float64)
    """
    ### BEGIN SOLUTION
    return torch.minimum(p, q).sum(dim=-1)
    ### END SOLUTION

# %%
from grader.testing import scenario


def random_distributions(seed: int, shape: tuple, zeros: float = 0.2) -> torch.Tensor:
    """Random distributions (*shape, V) float64 from a fixed seed, with about `zeros` of the entries exactly 0 (never a whole row)."""
    generator = torch.Generator().manual_seed(seed)
    weights = torch.rand(shape, generator=generator, dtype=torch.float64) ** 2
    drop = torch.rand(shape, generator=generator, dtype=torch.float64) < zeros
    drop[..., 0] = False
    weights = torch.where(drop, torch.zeros_like(weights), weights + 1e-3)
    return weights / weights.sum(dim=-1, keepdim=True)


P_HAND = torch.tensor([0.5, 0.3, 0.2, 0.0], dtype=torch.float64)   # the docstrings' example
Q_HAND = torch.tensor([0.2, 0.5, 0.1, 0.2], dtype=torch.float64)


@scenario
def acceptance_run(ns, p, q):
    """acceptance_probability, residual_distribution and acceptance_rate of the learner on the same (p, q)."""
    import torch
    p = torch.as_tensor(p, dtype=torch.float64)
    q = torch.as_tensor(q, dtype=torch.float64)
    return {"accept": ns.acceptance_probability(p.clone(), q.clone()), "residual": ns.residual_distribution(p.clone(), q.clone()),
            "alpha": ns.acceptance_rate(p.clone(), q.clone())}


# %% nbgrader={"grade": true, "grade_id": "acceptance_and_residual_correct", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""acceptance_probability is min(1, p/q) (1 where q = 0) and residual_distribution is max(0, p - q) normalised (p where p = q), on a hand-made case and on batches of random distributions with zeros"""
from grader.testing import expect, learner

got = acceptance_run.learner(P_HAND, Q_HAND)
expect.shape(got["accept"], (4,), what="acceptance_probability of one pair over 4 tokens")
expect.dtype(got["accept"], torch.float64, what="acceptance_probability")
expect.close(got["accept"], torch.tensor([1.0, 0.6, 1.0, 0.0], dtype=torch.float64), atol=1e-12, what="acceptance_probability of the docstring's example",
             hint="min(1, p(x) / q(x)): a token the draft under-proposes is always accepted")
expect.shape(got["residual"], (4,), what="residual_distribution of one pair over 4 tokens")
expect.close(got["residual"], torch.tensor([0.75, 0.0, 0.25, 0.0], dtype=torch.float64), atol=1e-12, what="residual_distribution of the docstring's example")
### BEGIN HIDDEN TESTS
# batches with exact zeros in p and in q: the judge's formulas
p_batch, q_batch = random_distributions(1, (3, 7, 6)), random_distributions(2, (3, 7, 6))
got = acceptance_run.learner(p_batch, q_batch)
expect.shape(got["accept"], (3, 7, 6), what="acceptance_probability on a (3, 7, 6) batch", hint="work elementwise on the last axis")
expect.shape(got["residual"], (3, 7, 6), what="residual_distribution on a (3, 7, 6) batch", hint="normalise along the last axis only")
expect.finite(got["accept"], what="acceptance_probability where q has zeros", hint="where q(x) = 0 the ratio p/q is infinite or 0/0: return 1 there (torch.where)")
expect.true(float(got["accept"].min()) >= 0.0 and float(got["accept"].max()) <= 1.0, "acceptance_probability must lie in [0, 1]: clamp p / q at 1")
want_accept = torch.where(q_batch > 0, torch.minimum(torch.ones_like(p_batch), p_batch / q_batch), torch.ones_like(p_batch))
expect.close(got["accept"], want_accept, atol=1e-12, rtol=1e-12, what="acceptance_probability on random distributions with zeros",
             hint="min(1, p / q) for the drafted token, 1 where q = 0; the acceptance depends on both p and q")
expect.finite(got["residual"], what="residual_distribution on random distributions")
expect.close(got["residual"].sum(-1), torch.ones(3, 7, dtype=torch.float64), atol=1e-12, what="the row sums of residual_distribution",
             hint="max(0, p - q) sums to 1 - alpha, not 1: divide by its sum")
excess_batch = (p_batch - q_batch).clamp(min=0)
expect.close(got["residual"], excess_batch / excess_batch.sum(-1, keepdim=True), atol=1e-12, rtol=1e-10, what="residual_distribution on random distributions with zeros",
             hint="resample from max(0, p - q) normalised: the part of p the draft missed, not p itself")
# p == q: no rejection can happen; the residual is p by convention
same = acceptance_run.learner(p_batch[0], p_batch[0])
expect.shape(same["residual"], (7, 6), what="residual_distribution when p equals q")
expect.finite(same["residual"], what="residual_distribution when p equals q", hint="max(0, p - q) is all zeros: return p where its sum is 0, do not divide 0 by 0")
expect.close(same["residual"], p_batch[0], atol=1e-12, what="residual_distribution when p equals q (the convention: p)")
expect.close(same["accept"], torch.ones(7, 6, dtype=torch.float64), atol=1e-12, what="acceptance_probability when p equals q")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "acceptance_rate_correct", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""acceptance_rate is sum_x min(p, q) = 1 - TV(p, q): a hand-computed case, identical and disjoint distributions, and batches against scipy-free total variation"""
from grader.testing import expect, learner

got = acceptance_run.learner(P_HAND, Q_HAND)
expect.shape(got["alpha"], (), what="acceptance_rate of one pair", hint="sum over the last axis: one number per pair")
expect.close(got["alpha"], 0.6, atol=1e-12, what="acceptance_rate of the docstring's example",
             hint="alpha = sum_x min(p(x), q(x)); not sum p q and not the largest entry")
### BEGIN HIDDEN TESTS
p_batch, q_batch = random_distributions(3, (4, 9)), random_distributions(4, (4, 9))
got = acceptance_run.learner(p_batch, q_batch)
expect.shape(got["alpha"], (4,), what="acceptance_rate on a batch of 4 pairs")
expect.close(got["alpha"], 1.0 - 0.5 * (p_batch - q_batch).abs().sum(-1), atol=1e-12, what="acceptance_rate against 1 - total variation",
             hint="alpha = sum_x min(p(x), q(x)) = 1 - TV(p, q)")
same = acceptance_run.learner(p_batch, p_batch)
expect.shape(same["alpha"], (4,), what="acceptance_rate of identical distributions")
expect.close(same["alpha"], torch.ones(4, dtype=torch.float64), atol=1e-12, what="acceptance_rate when the draft equals the target")
disjoint = acceptance_run.learner(torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 0.0, 0.3, 0.7], dtype=torch.float64))
expect.shape(disjoint["alpha"], (), what="acceptance_rate of disjoint distributions")
expect.close(disjoint["alpha"], 0.0, atol=1e-12, what="acceptance_rate of distributions with disjoint supports")
### END HIDDEN TESTS

# %% [markdown]
# The proof turned into a test: for every pair, the two paths of section 2 computed from *your*
# functions add up to $p$, to rounding error. This deterministic check is sharper than any
# sampling test (it sees an error of $10^{-12}$; a million samples see about $10^{-3}$).

# %% nbgrader={"grade": true, "grade_id": "acceptance_preserves_target_exactly", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the two paths, q(x) a(x) (drafted and accepted) plus (1 - sum_y q(y) a(y)) r(x) (rejected and resampled), add up to p(x) exactly, with a and r from the learner's functions"""
from grader.testing import expect, learner

got = acceptance_run.learner(P_HAND, Q_HAND)
expect.shape(got["accept"], (4,), what="acceptance_probability of one pair")
expect.shape(got["residual"], (4,), what="residual_distribution of one pair")
accepted_path = Q_HAND * got["accept"]
output = accepted_path + (1.0 - accepted_path.sum()) * got["residual"]
expect.close(output, P_HAND, atol=1e-12, what="Pr[output = x] on the docstring's example (accept path + reject path)",
             hint="the output must be distributed as p: accept with min(1, p/q), resample from the normalised max(0, p - q)")
### BEGIN HIDDEN TESTS
for seed in (5, 6):
    p_batch, q_batch = random_distributions(seed, (50, 5)), random_distributions(seed + 100, (50, 5), zeros=0.4)
    got = acceptance_run.learner(p_batch, q_batch)
    expect.shape(got["accept"], (50, 5), what="acceptance_probability on 50 random pairs")
    expect.shape(got["residual"], (50, 5), what="residual_distribution on 50 random pairs")
    expect.finite(got["residual"], what="residual_distribution on 50 random pairs")
    accepted_path = q_batch * got["accept"]
    output = accepted_path + (1.0 - accepted_path.sum(-1, keepdim=True)) * got["residual"]
    expect.close(output, p_batch, atol=1e-12, what=f"Pr[output = x] on 50 random pairs with zeros (seed {seed})",
                 hint="accepting with probability p(x) alone, or resampling from p instead of the residual, over-produces the tokens the draft likes")
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · One decision: accept, or resample from the residual
#
# A single verification needs two uniform numbers: $u$ decides acceptance ($u < a(x)$ accepts,
# which happens with probability $a(x)$), and $v$ samples the replacement by inverting the
# residual's cumulative distribution: the replacement is the smallest $i$ with
# $\sum_{j \le i} r_j > v$ (`torch.searchsorted(cdf, v, right=True)`). Passing $u$ and $v$ in makes
# the function deterministic, which is what lets the tests check each decision exactly; the
# caller draws them from a `torch.Generator`.
#
# By hand on the example of section 2, with the library's pieces: drafting $x_1$ (where the
# draft over-proposes, $a = 0.3/0.5 = 0.6$), a $u$ of 0.59 accepts and a $u$ of 0.61 rejects; the
# residual's CDF is $(0.75, 0.75, 1, 1)$, so $v = 0.9$ picks $x_2$ and $v = 0.5$ picks $x_0$.

# %%
cdf_demo = torch.cumsum(excess_demo / excess_demo.sum(), dim=0)
print("a(x1) =", float((p_demo / q_demo)[1].clamp(max=1)), " residual CDF =", cdf_demo.tolist())
for v in (0.5, 0.9):
    print(f"v = {v}: resampled token x{int(torch.searchsorted(cdf_demo, torch.tensor([v], dtype=torch.float64), right=True))}")

# %% [markdown]
# Write `accept_or_resample` (about 5 minutes), with your two functions above.

# %% nbgrader={"grade": false, "grade_id": "accept_or_resample", "locked": false, "schema_version": 3, "solution": true, "task": false}
def accept_or_resample(p: torch.Tensor, q: torch.Tensor, token: int, u: float, v: float) -> tuple[bool, int]:
    """Verify one drafted token: accept it if u < min(1, p[token] / q[token]), else resample from the residual with v.

    Args:
        p: (V,) float64, the target's distribution at this position.
        q: (V,) float64, the draft's distribution at this position (token was drawn from it).
        token: the drafted token id.
        u: a uniform number in [0, 1) for the acceptance decision.
        v: a uniform number in [0, 1) for the resampling: the smallest i with cumsum(residual)[i] > v.

    Returns:
        (accepted, token): (True, the drafted token) or (False, the resampled token), as a Python bool and int.

    Example:
        >>> p, q = torch.tensor([0.5, 0.3, 0.2, 0.0], dtype=torch.float64), torch.tensor([0.2, 0.5, 0.1, 0.2], dtype=torch.float64)
        >>> accept_or_resample(p, q, 1, 0.59, 0.9), accept_or_resample(p, q, 1, 0.61, 0.9)   # a(1) = 0.6; residual [0.75, 0, 0.25, 0]
        ((True, 1), (False, 2))
    """
    ### BEGIN SOLUTION
    if u < float(acceptance_probability(p, q)[token]):
        return True, int(token)
    cdf = torch.cumsum(residual_distribution(p, q), dim=-1)
    resampled = torch.searchsorted(cdf, torch.tensor([v], dtype=cdf.dtype), right=True)
    return False, int(resampled.clamp(max=len(cdf) - 1))
    ### END SOLUTION

# %%
@scenario
def decisions_run(ns, p, q, cases):
    """accept_or_resample on a list of (token, u, v) cases: one (accepted, token) pair per case."""
    import torch
    p = torch.as_tensor(p, dtype=torch.float64)
    q = torch.as_tensor(q, dtype=torch.float64)
    out = []
    for token, u, v in cases:
        accepted, new_token = ns.accept_or_resample(p.clone(), q.clone(), int(token), float(u), float(v))
        out.append([bool(accepted), int(new_token)])
    return out


def decisions_by_hand(p, q, cases):
    """The judge's decisions: accept iff u < min(1, p/q) (1 where q = 0); else the smallest i with cdf(residual)[i] > v."""
    accept = torch.where(q > 0, torch.minimum(torch.ones_like(p), p / q), torch.ones_like(p))
    excess = (p - q).clamp(min=0)
    residual = excess / excess.sum() if float(excess.sum()) > 0 else p
    cdf = torch.cumsum(residual, 0).tolist()
    out = []
    for token, u, v in cases:
        if u < float(accept[token]):
            out.append([True, int(token)])
        else:
            out.append([False, min(next((i for i, c in enumerate(cdf) if c > v), len(cdf) - 1), len(cdf) - 1)])
    return out


# %% nbgrader={"grade": true, "grade_id": "accept_or_resample_correct", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""accept_or_resample accepts exactly when u < min(1, p/q) and otherwise returns the residual's inverse-CDF sample at v, checked decision by decision on a grid of u and v"""
from grader.testing import expect, learner

got = decisions_run.learner(P_HAND, Q_HAND, [[1, 0.59, 0.9], [1, 0.61, 0.9]])
expect.equal(len(got), 2, what="the number of decisions returned for 2 cases")
expect.equal(got, [[True, 1], [False, 2]], what="accept_or_resample on the docstring's two cases",
             hint="accept when u < min(1, p/q) = 0.6; after a rejection take the smallest i with cumsum(residual)[i] > v")
### BEGIN HIDDEN TESTS
for seed in (7, 8, 9):
    p_one, q_one = random_distributions(seed, (6,)), random_distributions(seed + 50, (6,), zeros=0.3)
    accept = torch.where(q_one > 0, torch.minimum(torch.ones_like(p_one), p_one / q_one), torch.ones_like(p_one))
    cases = []
    for token in range(6):
        a = float(accept[token])
        for u in (0.0, a - 1e-9, a + 1e-9, 0.999999):                 # either side of the threshold
            if 0.0 <= u < 1.0:
                for v in np.linspace(0.0005, 0.9995, 40):              # the residual's CDF, inverted
                    cases.append([token, u, float(v)])
    got = decisions_run.learner(p_one, q_one, cases)
    expect.equal(len(got), len(cases), what=f"the number of decisions returned (seed {seed})")
    want = decisions_by_hand(p_one, q_one, cases)
    wrong_accept = sum(g[0] != w[0] for g, w in zip(got, want))
    expect.true(wrong_accept == 0, f"accept_or_resample (seed {seed}) accepts or rejects wrongly in {wrong_accept} of {len(cases)} cases: "
                "accept exactly when u < min(1, p[token] / q[token]), the ratio of target to draft probability")
    wrong_token = sum(g != w for g, w in zip(got, want))
    expect.true(wrong_token == 0, f"accept_or_resample (seed {seed}) returns a wrong token in {wrong_token} of {len(cases)} cases: "
                "return the drafted token on acceptance; after a rejection sample the normalised max(0, p - q) by its CDF at v")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · A speculative step: draft $\gamma$, verify in one call, add a bonus token
#
# One step from a sequence $s$ of length $T$:
#
# 1. **Draft.** For $i = 1..\gamma$: $q_i = q(\cdot \mid s, x_1, \dots, x_{i-1})$, sample
#    $x_i \sim q_i$. That is $\gamma$ draft calls, sequential but cheap.
# 2. **Verify.** One target call on $(s, x_1, \dots, x_\gamma)$, length $T + \gamma$, gives the
#    $\gamma + 1$ distributions $p_i = p(\cdot \mid s, x_{<i})$ in rows $T-1, \dots, T+\gamma-1$.
#    Row $T - 1 + i - 1$ is the distribution *of* $x_i$: the one-token shift of every causal model.
# 3. **Accept.** For $i = 1..\gamma$ in order: `accept_or_resample(p_i, q_i, x_i, u, v)`. On the
#    first rejection, append the resampled token and **stop**: the later drafts were conditioned
#    on a token that is no longer there.
# 4. **Bonus.** If all $\gamma$ drafts were accepted, sample one more token from $p_{\gamma+1}$,
#    which the verification call computed anyway.
#
# A step therefore yields between 1 and $\gamma + 1$ tokens for exactly one target call, and never
# fewer than plain decoding would. Why the whole sequence is distributed as $p$: by section 2 the
# first output token is distributed as $p_1$; given it equals $x_1$ (accepted), the next decision
# uses $p_2 = p(\cdot \mid s, x_1)$, the right conditional; given it was resampled, the step ends
# and the next step starts from the true prefix. By induction every token has the target's
# conditional distribution given the tokens before it.
#
# Write `speculative_step` (about 15 minutes). Draw the draft samples with
# `torch.multinomial(q_i, 1, generator=generator)`, the two uniforms of each decision with
# `torch.rand(2, generator=generator, dtype=torch.float64)`, the bonus token with
# `torch.multinomial`. Call `target_probs` exactly once.

# %% nbgrader={"grade": false, "grade_id": "speculative_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def speculative_step(target_probs, draft_probs, tokens: torch.Tensor, gamma: int, generator: torch.Generator) -> tuple[torch.Tensor, int]:
    """One step of speculative sampling after `tokens`: draft gamma tokens, verify them with one target call, accept a prefix.

    Args:
        target_probs, draft_probs: probability functions, tokens (T,) int64 -> (T, V) float64, row t the
            next-token distribution after tokens[: t + 1].
        tokens: (T,) int64, the sequence so far (T >= 1); not modified.
        gamma: the number of draft tokens, >= 1.
        generator: the torch.Generator every random draw uses.

    Returns:
        new_tokens: (n,) int64 with 1 <= n <= gamma + 1, the tokens to append: the accepted drafts, then either
            the resampled token at the first rejection or the bonus token when all gamma were accepted.
        n_accepted: int, the number of accepted draft tokens (n - 1).

    Example:
        >>> table = torch.full((4, 4), 0.25, dtype=torch.float64)        # a uniform Markov chain over 4 tokens
        >>> new, n = speculative_step(lambda t: table[t], lambda t: table[t], torch.tensor([0]), 3, torch.Generator().manual_seed(0))
        >>> len(new), n                                                   # draft == target: all accepted, plus the bonus
        (4, 3)
    """
    ### BEGIN SOLUTION
    sequence = tokens.clone()
    draft_distributions = []
    for _ in range(gamma):                                         # 1. draft, one token at a time
        q = draft_probs(sequence)[-1]
        drafted = torch.multinomial(q, 1, generator=generator)
        draft_distributions.append(q)
        sequence = torch.cat([sequence, drafted])
    start = len(tokens)
    target_rows = target_probs(sequence)[start - 1:]               # 2. verify: (gamma + 1, V) from ONE call
    new_tokens = []
    for i in range(gamma):                                         # 3. accept a prefix
        u, v = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        accepted, token = accept_or_resample(target_rows[i], draft_distributions[i], int(sequence[start + i]), u, v)
        new_tokens.append(token)
        if not accepted:                                           # later drafts depend on a rejected token
            return torch.tensor(new_tokens, dtype=torch.long), i
    bonus = torch.multinomial(target_rows[gamma], 1, generator=generator)   # 4. all accepted: one more for free
    return torch.tensor(new_tokens + [int(bonus)], dtype=torch.long), gamma
    ### END SOLUTION

# %% [markdown]
# A trace of five steps on the course model with a bigram draft: what the draft proposed, and
# what the step kept.
#
# The draft for the course model: a **bigram table** of Tiny Shakespeare, $q(y \mid x) \propto$
# count of $x$ followed by $y$ (plus a small pseudo-count). It shares the course model's
# vocabulary (the same 65 characters), costs a table lookup, and agrees with the course model's
# argmax on about 40 % of held-out positions. We also tried the course model cut to its first one,
# two or three transformer blocks (with the final layer norm and head kept, the "logit lens"):
# argmax agreement 14 %, 26 % and 52 %, at a quarter, half and three quarters of the target's cost.
# The bigram wins: a draft must be *cheap* relative to how often it is right.

# %%
def bigram_table(text: str, pseudo_count: float = 0.01) -> torch.Tensor:
    """(65, 65) float64: row x is the distribution of the character after x in `text`, smoothed by pseudo_count."""
    ids = encode(text)
    counts = torch.zeros(65, 65, dtype=torch.float64)
    counts.index_put_((ids[:-1], ids[1:]), torch.ones(len(ids) - 1, dtype=torch.float64), accumulate=True)
    counts += pseudo_count
    return counts / counts.sum(dim=-1, keepdim=True)


def model_probs(model):
    """A probability function of a GPT2LMHeadModel: tokens (T,) -> (T, 65) float64 softmax of its logits (one forward pass)."""
    def probs(tokens: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model(tokens[None]).logits[0].double(), dim=-1)
    return probs


def trace_steps(prompt: str, steps: int = 5, gamma: int = 4, seed: int = 0) -> None:
    """Print the drafted and the kept characters of `steps` speculative steps of the course model with a bigram draft."""
    table = bigram_table(TEXT[:int(0.9 * len(TEXT))])
    model_fn = model_probs(course_model)
    seen = {}

    def target_fn(tokens):
        seen["verified"] = tokens          # the prefix plus the gamma drafts, scored in one call
        return model_fn(tokens)

    generator = torch.Generator().manual_seed(seed)
    sequence = encode(prompt)
    for _ in range(steps):
        new, n = speculative_step(target_fn, lambda t: table[t], sequence, gamma, generator)
        print(f"drafted {decode(seen['verified'][len(sequence):])!r:10} kept {n} of {gamma}, then 1 more: {decode(new)!r}")
        sequence = torch.cat([sequence, new])
    print(repr(decode(sequence)))


try:
    trace_steps("ROMEO:\nWhat light ")
except NotImplementedError:
    print("write speculative_step first")

# %% [markdown]
# Test tables: a Markov chain over a few tokens, where the next-token distribution depends only
# on the last token. `table[tokens]` is then a probability function (row $t$ is
# `table[tokens[t]]`), and the target's distribution of any output is known in closed form.

# %%
def markov_tables(seed: int, vocab: int = 5) -> torch.Tensor:
    """A (2, vocab, vocab) float64 tensor: a target and a draft transition table (rows sum to 1, some exact zeros), fixed by the seed."""
    target = random_distributions(seed, (vocab, vocab), zeros=0.2)
    draft = 0.5 * target + 0.5 * random_distributions(seed + 1000, (vocab, vocab), zeros=0.3)   # a draft that roughly agrees
    return torch.stack([target, draft])


def constant_alpha_tables(p_row, q_row) -> torch.Tensor:
    """(2, V, V): target and draft rows that are rotations of p_row and q_row, so alpha is the same after every token."""
    p_row, q_row = torch.as_tensor(p_row, dtype=torch.float64), torch.as_tensor(q_row, dtype=torch.float64)
    return torch.stack([torch.stack([p_row.roll(s) for s in range(len(p_row))]), torch.stack([q_row.roll(s) for s in range(len(q_row))])])


@scenario
def step_statistics(ns, tables, prefix, gamma, steps, seed):
    """speculative_step `steps` times from the same prefix on Markov tables: counts and structural checks, aggregated."""
    import torch
    target_table, draft_table = torch.as_tensor(tables[0], dtype=torch.float64), torch.as_tensor(tables[1], dtype=torch.float64)
    calls = {"target": 0, "draft": 0, "last_target_input": None}

    def target_probs(tokens):
        calls["target"] += 1
        calls["last_target_input"] = torch.as_tensor(tokens).clone()
        return target_table[torch.as_tensor(tokens)].clone()

    def draft_probs(tokens):
        calls["draft"] += 1
        return draft_table[torch.as_tensor(tokens)].clone()

    generator = torch.Generator().manual_seed(seed)
    prefix = torch.tensor(prefix, dtype=torch.long)
    vocab = target_table.shape[0]
    first = torch.zeros(vocab, dtype=torch.long)
    lengths = torch.zeros(gamma + 2, dtype=torch.long)
    report = {"target_calls": [], "draft_calls": [], "n_is_length_minus_one": True, "accepted_are_drafts": True,
              "prefix_kept": True, "dtype": None, "ndim": None, "bad_length": 0}
    for _ in range(steps):
        before_target, before_draft = calls["target"], calls["draft"]
        given = prefix.clone()
        new, n = ns.speculative_step(target_probs, draft_probs, given, gamma, generator)
        new = torch.as_tensor(new)
        report["dtype"], report["ndim"] = str(new.dtype), new.dim()
        new = new.reshape(-1).long()
        report["target_calls"].append(calls["target"] - before_target)
        report["draft_calls"].append(calls["draft"] - before_draft)
        report["prefix_kept"] &= bool(torch.equal(given, prefix))
        if not 1 <= len(new) <= gamma + 1 or int(new.min()) < 0 or int(new.max()) >= vocab:
            report["bad_length"] += 1
            continue
        report["n_is_length_minus_one"] &= int(n) == len(new) - 1
        seen = calls["last_target_input"]
        drafted = seen[len(prefix):] if seen is not None else torch.zeros(0, dtype=torch.long)
        report["accepted_are_drafts"] &= bool(torch.equal(new[:int(n)], drafted[:int(n)])) if int(n) <= len(drafted) else False
        first[int(new[0])] += 1
        lengths[len(new)] += 1
    report["target_calls"] = sorted(set(report["target_calls"]))
    report["draft_calls"] = sorted(set(report["draft_calls"]))
    report["first"], report["lengths"] = first, lengths
    return report


def chi_square_p_value(counts, probabilities) -> float:
    """The p-value of scipy's chi-square goodness-of-fit test of counts against probabilities; 0 if a probability-0 cell was hit."""
    counts = np.asarray(counts, dtype=np.float64).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    possible = probabilities > 0
    if counts[~possible].sum() > 0:
        return 0.0
    expected = probabilities[possible] / probabilities[possible].sum() * counts.sum()
    return float(stats.chisquare(counts[possible], expected).pvalue)


P_THRESHOLD = 1e-4   # a correct implementation fails a test at this threshold once in 10,000 seeds


# %% nbgrader={"grade": true, "grade_id": "speculative_step_structure", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""speculative_step calls the target once and the draft gamma times, returns 1 to gamma + 1 int64 tokens that start with the accepted drafts, adds the bonus token when every draft is accepted, and stops at the first rejection"""
from grader.testing import expect, learner

uniform = torch.full((2, 4, 4), 0.25, dtype=torch.float64)
got = step_statistics.learner(uniform, [0], 3, 20, 0)
expect.equal(got["bad_length"], 0, what="the number of steps that returned no tokens, more than gamma + 1, or ids outside the vocabulary")
expect.equal(got["target_calls"], [1], what="the target calls per step (the set over 20 steps)", hint="verify every draft token with ONE call of target_probs on the prefix plus all gamma drafts")
expect.equal(got["draft_calls"], [3], what="the draft calls per step with gamma=3")
expect.equal(got["dtype"], "torch.int64", what="the dtype of the new tokens")
### BEGIN HIDDEN TESTS
# a draft that always proposes a token the target never produces: every step is one resampled token
tables = markov_tables(11, 5)
impossible = tables.clone()
impossible[0, :, 4] = 0.0
impossible[0] = impossible[0] / impossible[0].sum(-1, keepdim=True)
impossible[1] = 0.0
impossible[1, :, 4] = 1.0
rejected = step_statistics.learner(impossible, [2, 0], 4, 300, 1)
mixed = step_statistics.learner(tables, [1], 3, 300, 2)
expect.equal(got["ndim"], 1, what="the number of dimensions of the new tokens")
expect.equal(got["lengths"].tolist(), [0, 0, 0, 0, 20], what="the number of tokens per step when the draft equals the target (gamma=3)",
             hint="with q = p every draft is accepted; then sample the bonus token from the target's last row: gamma + 1 tokens")
expect.true(got["prefix_kept"], "speculative_step modified the tokens it was given: work on a copy")
got = rejected
expect.equal(got["bad_length"], 0, what="the number of malformed steps when every draft is rejected")
expect.equal(got["target_calls"], [1], what="the target calls per step when every draft is rejected")
expect.equal(got["lengths"].tolist(), [0, 300, 0, 0, 0, 0], what="the number of tokens per step when the first draft is always rejected (gamma=4)",
             hint="stop at the first rejection and return the resampled token: the later drafts were conditioned on the rejected token")
expect.shape(got["first"], (5,), what="the counts of the first new token when every draft is rejected")
expect.true(int(got["first"][4]) == 0, "speculative_step returned a token the target gives probability 0: after a rejection resample from the residual, not from q")
expect.true(got["n_is_length_minus_one"], "n_accepted must be the number of accepted drafts, len(new_tokens) - 1")
# mixed acceptance: the accepted tokens are the drafted ones, in order
got = mixed
expect.equal(got["bad_length"], 0, what="the number of malformed steps on random tables")
expect.equal(got["target_calls"], [1], what="the target calls per step on random tables", hint="one call of target_probs per step, on the prefix plus all gamma drafts")
expect.equal(got["draft_calls"], [3], what="the draft calls per step on random tables", hint="always draft gamma tokens first, then verify")
expect.true(got["n_is_length_minus_one"], "n_accepted must be the number of accepted drafts, len(new_tokens) - 1")
expect.true(got["accepted_are_drafts"], "the first n_accepted new tokens must be the drafted tokens that were verified, in order")
expect.shape(got["lengths"], (5,), what="the histogram of tokens per step on random tables (gamma=3)")
expect.true(0 < int(got["lengths"][1]) < 300 and int(got["lengths"][4]) > 0,
            "on tables where the draft roughly agrees with the target, some steps must stop early and some accept all 3 drafts plus the bonus")
### END HIDDEN TESTS

# %% [markdown]
# The statistical test. Run many independent steps from the same prefix and count the first new
# token: by section 2 it must be distributed as the target's row. A chi-square goodness-of-fit
# test compares the counts with $N p(x)$; a p-value below $10^{-4}$ fails. The seed is fixed, so the
# reference passes reproducibly; a correct solution that draws its random numbers in another order
# sees another sample and fails with probability $10^{-4}$. The wrong rules of this notebook that
# change the distribution give p-values from $10^{-5}$ down to $10^{-100}$ and below on these tables
# with 2,000 samples; the joint test of section 5 and the exact test of section 2 catch the rest.

# %% grader={"time_limit": 40} nbgrader={"grade": true, "grade_id": "speculative_step_preserves_distribution", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""the first token of speculative_step is distributed as the target's next-token distribution: a chi-square test over 2,000 steps on each of three Markov tables, one with zeros the draft does not share"""
from grader.testing import expect, learner

tables = markov_tables(21, 5)
got = step_statistics.learner(tables, [3], 2, 2000, 3)
expect.equal(got["bad_length"], 0, what="the number of malformed steps")
expect.shape(got["first"], (5,), what="the counts of the first new token")
p_value = chi_square_p_value(got["first"], tables[0, 3])
expect.true(p_value > P_THRESHOLD, f"the first token of speculative_step is not distributed as the target (chi-square p-value {p_value:.1e}): "
            "accept with min(1, p/q) and resample from the normalised max(0, p - q)")
### BEGIN HIDDEN TESTS
for seed, prefix, gamma in ((22, [0, 1], 4), (23, [2], 1)):
    tables = markov_tables(seed, 5)
    got = step_statistics.learner(tables, prefix, gamma, 2000, seed)
    expect.equal(got["bad_length"], 0, what=f"the number of malformed steps (gamma={gamma})")
    expect.shape(got["first"], (5,), what=f"the counts of the first new token (gamma={gamma})")
    p_value = chi_square_p_value(got["first"], tables[0, prefix[-1]])
    expect.true(p_value > P_THRESHOLD, f"with gamma={gamma} the first token of speculative_step is not distributed as the target (chi-square p-value {p_value:.1e}): "
                "is the draft token verified against the target's row for ITS position (row len(tokens) - 1), and the acceptance min(1, p/q)?")
### END HIDDEN TESTS

# %% [markdown]
# The empirical distribution of the first token against the target and the draft, from your
# `speculative_step` (5,000 steps, about 2 seconds): the bars follow the target, not the draft.

# %%
def first_token_frequencies(tables: torch.Tensor, last_token: int, gamma: int, steps: int, seed: int = 0) -> torch.Tensor:
    """Frequencies (V,) of the first new token over `steps` speculative steps after the one-token prefix [last_token]."""
    generator = torch.Generator().manual_seed(seed)
    counts = torch.zeros(tables.shape[-1], dtype=torch.float64)
    for _ in range(steps):
        new, _ = speculative_step(lambda t: tables[0][t], lambda t: tables[1][t], torch.tensor([last_token]), gamma, generator)
        counts[int(new[0])] += 1
    return counts / steps


try:
    demo_tables = markov_tables(21, 5)
    frequencies = first_token_frequencies(demo_tables, 3, 2, 5000)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    positions = np.arange(5)
    ax.bar(positions - 0.25, demo_tables[0, 3].numpy(), 0.25, label="target p")
    ax.bar(positions, demo_tables[1, 3].numpy(), 0.25, label="draft q")
    ax.bar(positions + 0.25, frequencies.numpy(), 0.25, label="speculative output (5,000 steps)")
    ax.set_xticks(positions, [f"x{i}" for i in range(5)]); ax.set_ylabel("probability"); ax.legend(fontsize=8)
    ax.set_title(f"first token: chi-square p-value {chi_square_p_value((frequencies * 5000).round().numpy(), demo_tables[0, 3].numpy()):.2f}")
    plt.tight_layout(); plt.show()
except NotImplementedError:
    print("write speculative_step first")

# %% [markdown]
# ## 5 · Generation: steps after steps
#
# `speculative_generate` repeats `speculative_step`, appending its tokens, until `max_new_tokens`
# new tokens exist (the last step may overshoot: cut the surplus). It returns the tokens and the
# number of accepted drafts of every step, the raw material of the speed-up measurements.
# The joint distribution of the first two new tokens is the real test of the stopping rule and the
# bonus token: after a rejection the next step must start from the *corrected* sequence.
#
# Write `speculative_generate` (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "speculative_generate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def speculative_generate(target_probs, draft_probs, tokens: torch.Tensor, max_new_tokens: int, gamma: int,
                         generator: torch.Generator) -> tuple[torch.Tensor, list[int]]:
    """Speculative sampling of max_new_tokens tokens after `tokens`, by repeated speculative_step.

    Args:
        target_probs, draft_probs: probability functions, tokens (T,) int64 -> (T, V) float64.
        tokens: (T,) int64, the prompt (T >= 1).
        max_new_tokens: how many tokens to add, >= 1.
        gamma: draft tokens per step, >= 1.
        generator: the torch.Generator for every random draw.

    Returns:
        sequence: (T + max_new_tokens,) int64, the prompt followed by exactly max_new_tokens new tokens.
        accepted: list of int, the n_accepted of every step, in order (one entry per target call).

    Example:
        >>> table = torch.full((4, 4), 0.25, dtype=torch.float64)
        >>> sequence, accepted = speculative_generate(lambda t: table[t], lambda t: table[t], torch.tensor([0]), 10, 3, torch.Generator().manual_seed(0))
        >>> sequence.shape, accepted                                     # 4 + 4 + 4 tokens, cut to 10
        (torch.Size([11]), [3, 3, 3])
    """
    ### BEGIN SOLUTION
    sequence = tokens.clone()
    accepted = []
    while len(sequence) < len(tokens) + max_new_tokens:
        new_tokens, n_accepted = speculative_step(target_probs, draft_probs, sequence, gamma, generator)
        sequence = torch.cat([sequence, new_tokens])
        accepted.append(int(n_accepted))
    return sequence[:len(tokens) + max_new_tokens], accepted
    ### END SOLUTION

# %%
@scenario
def generate_statistics(ns, tables, prefix, max_new_tokens, gamma, runs, seed):
    """speculative_generate `runs` times from one prefix on Markov tables: counts of the new tokens' tuples, calls, shapes."""
    import torch
    target_table, draft_table = torch.as_tensor(tables[0], dtype=torch.float64), torch.as_tensor(tables[1], dtype=torch.float64)
    calls = {"target": 0}

    def target_probs(tokens):
        calls["target"] += 1
        return target_table[torch.as_tensor(tokens)].clone()

    generator = torch.Generator().manual_seed(seed)
    prefix = torch.tensor(prefix, dtype=torch.long)
    vocab = target_table.shape[0]
    counts = torch.zeros(vocab ** max_new_tokens, dtype=torch.long)
    report = {"bad_shape": 0, "prefix_kept": True, "calls_match_steps": True, "accepted_consistent": True, "steps": 0, "new_tokens": 0}
    for _ in range(runs):
        before = calls["target"]
        sequence, accepted = ns.speculative_generate(target_probs, lambda t: draft_table[torch.as_tensor(t)].clone(), prefix.clone(),
                                                     max_new_tokens, gamma, generator)
        sequence = torch.as_tensor(sequence)
        accepted = [int(a) for a in accepted]
        if sequence.dim() != 1 or len(sequence) != len(prefix) + max_new_tokens or int(sequence.min()) < 0 or int(sequence.max()) >= vocab:
            report["bad_shape"] += 1
            continue
        report["prefix_kept"] &= bool(torch.equal(sequence[:len(prefix)], prefix))
        report["calls_match_steps"] &= calls["target"] - before == len(accepted)
        produced = sum(a + 1 for a in accepted)
        report["accepted_consistent"] &= produced >= max_new_tokens and produced - (accepted[-1] + 1 if accepted else 0) < max_new_tokens
        report["steps"] += len(accepted)
        report["new_tokens"] += produced
        index = 0
        for token in sequence[len(prefix):].tolist():
            index = index * vocab + int(token)
        counts[index] += 1
    report["counts"] = counts
    return report


def joint_distribution(tables: torch.Tensor, last_token: int, length: int) -> torch.Tensor:
    """The target chain's probability of each tuple of `length` next tokens after last_token, flattened (first token most significant)."""
    target = tables[0]
    joint = target[last_token]
    for _ in range(length - 1):   # extend every tuple by one token; the tuple's last token is its index mod V
        joint = (joint[:, None] * target[torch.arange(len(joint)) % target.shape[0]]).reshape(-1)
    return joint


# %% grader={"time_limit": 40} nbgrader={"grade": true, "grade_id": "speculative_generate_joint_distribution", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""speculative_generate returns the prompt and exactly max_new_tokens tokens, one step per target call, and the joint distribution of its first two (and three) new tokens is the target chain's: chi-square tests over 2,000 runs"""
from grader.testing import expect, learner

tables = markov_tables(31, 5)
got = generate_statistics.learner(tables, [1], 2, 2, 2000, 4)
expect.equal(got["bad_shape"], 0, what="the number of runs whose sequence is not (T + max_new_tokens,) with valid ids", hint="cut the last step's surplus tokens")
expect.true(got["prefix_kept"], "the returned sequence must start with the prompt")
expect.shape(got["counts"], (25,), what="the counts of the pairs of new tokens")
p_value = chi_square_p_value(got["counts"], joint_distribution(tables, 1, 2))
expect.true(p_value > P_THRESHOLD, f"the pair of the first two new tokens is not distributed as the target chain's (chi-square p-value {p_value:.1e}): "
            "stop at the first rejection, and sample the bonus token from the target's last row")
### BEGIN HIDDEN TESTS
expect.true(got["calls_match_steps"], "speculative_generate must make exactly one target call per step, and return one n_accepted per step")
expect.true(got["accepted_consistent"], "the accepted counts do not add up: each step yields n_accepted + 1 tokens, and steps stop once max_new_tokens exist")
tables = markov_tables(32, 4)
got = generate_statistics.learner(tables, [0, 2], 3, 3, 2000, 5)
expect.equal(got["bad_shape"], 0, what="the number of malformed sequences for 3 new tokens")
expect.shape(got["counts"], (64,), what="the counts of the triples of new tokens")
p_value = chi_square_p_value(got["counts"], joint_distribution(tables, 2, 3))
expect.true(p_value > P_THRESHOLD, f"the triple of the first three new tokens is not distributed as the target chain's (chi-square p-value {p_value:.1e}): "
            "after a rejection the step must end; continuing to accept later drafts keeps tokens drafted after a rejected one")
expect.true(got["calls_match_steps"], "speculative_generate must make exactly one target call per step")
expect.shape(got["steps"], (), what="the number of steps of 2,000 runs")
expect.true(got["steps"] < 2000 * 3, "speculative_generate needed one target call per token or more: accepted drafts must save target calls")
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · The greedy special case
#
# With greedy decoding the target "distribution" is the point mass on $\arg\max p$, and the draft's
# is the point mass on $\arg\max q$. Put one-hot distributions into the rule of section 2:
# $\min(1, p(x)/q(x))$ is 1 if the drafted token is the target's argmax and 0 otherwise, and the
# residual of a rejection is the point mass on the target's argmax. So greedy speculative decoding
# is: draft $\gamma$ argmax tokens, verify in one call, keep drafts while they equal the target's
# argmax at their position, then append the target's argmax (a correction at the first mismatch,
# or the bonus after $\gamma$ matches). The output is the target's greedy decoding **token for
# token**, whatever the draft: a bad draft only costs speed. This is what Hugging Face's
# `generate(..., assistant_model=draft)` does with `do_sample=False`.
#
# In exact arithmetic. In floating point, scoring $\gamma + 1$ positions in one call and one position
# per call can round differently, and when the two best logits are within rounding of each other
# the argmax may flip (a known source of "speculative decoding changed my output" reports in
# float16). The tests use float64, where this does not happen on our prompts.
#
# Write `greedy_speculative_generate` (about 10 minutes).

# %% nbgrader={"grade": false, "grade_id": "greedy_speculative_generate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def greedy_speculative_generate(target_probs, draft_probs, tokens: torch.Tensor, max_new_tokens: int, gamma: int) -> tuple[torch.Tensor, list[int]]:
    """Greedy speculative decoding: the target's greedy continuation of `tokens`, with one target call per step.

    Args:
        target_probs, draft_probs: probability functions, tokens (T,) int64 -> (T, V) float64 (or logits: only argmax is used).
        tokens: (T,) int64, the prompt (T >= 1).
        max_new_tokens: how many tokens to add, >= 1.
        gamma: draft tokens per step, >= 1.

    Returns:
        sequence: (T + max_new_tokens,) int64, equal to greedy decoding of the target (argmax at every position).
        accepted: list of int, the number of accepted drafts of every step (one entry per target call).

    Example:
        >>> table = torch.tensor([[0.1, 0.9], [0.8, 0.2]], dtype=torch.float64)          # greedy: 0 -> 1 -> 0 -> 1 ...
        >>> greedy_speculative_generate(lambda t: table[t], lambda t: table[t], torch.tensor([0]), 5, 2)
        (tensor([0, 1, 0, 1, 0, 1]), [2, 2])
    """
    ### BEGIN SOLUTION
    sequence = tokens.clone()
    accepted = []
    while len(sequence) < len(tokens) + max_new_tokens:
        start = len(sequence)
        drafted = sequence
        for _ in range(gamma):                                             # draft gamma argmax tokens
            drafted = torch.cat([drafted, draft_probs(drafted)[-1].argmax().reshape(1)])
        choices = target_probs(drafted)[start - 1:].argmax(dim=-1)         # (gamma + 1,) the target's argmax after each prefix
        n = 0
        while n < gamma and int(drafted[start + n]) == int(choices[n]):
            n += 1
        sequence = torch.cat([sequence, choices[:n + 1]])                  # n matches, then the target's own token
        accepted.append(n)
    return sequence[:len(tokens) + max_new_tokens], accepted
    ### END SOLUTION

# %%
def plain_greedy(model, tokens: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy decoding, one forward pass per token: the judge's reference for greedy speculative decoding."""
    sequence = tokens.clone()
    with torch.no_grad():
        for _ in range(max_new_tokens):
            sequence = torch.cat([sequence, model(sequence[None]).logits[0, -1].argmax().reshape(1)])
    return sequence


TRAIN_TEXT = TEXT[:int(0.9 * len(TEXT))]   # the course model's training split; the bigram draft is counted on it


@scenario
def greedy_on_tables(ns, tables, prefix, max_new_tokens, gamma):
    """greedy_speculative_generate on Markov tables, with the target calls counted."""
    import torch
    target_table, draft_table = torch.as_tensor(tables[0], dtype=torch.float64), torch.as_tensor(tables[1], dtype=torch.float64)
    calls = {"target": 0}

    def target_probs(tokens):
        calls["target"] += 1
        return target_table[torch.as_tensor(tokens)].clone()

    sequence, accepted = ns.greedy_speculative_generate(target_probs, lambda t: draft_table[torch.as_tensor(t)].clone(),
                                                        torch.tensor(prefix, dtype=torch.long), max_new_tokens, gamma)
    return {"sequence": torch.as_tensor(sequence), "accepted": [int(a) for a in accepted], "target_calls": calls["target"]}


@scenario
def greedy_on_course_model(ns, runs, max_new_tokens):
    """greedy_speculative_generate with the course model (float64) as target and a bigram table of the training text as draft, for each (prompt, gamma) of runs."""
    import torch
    from course_model import encode, load_course_model
    target = load_course_model(torch.float64)
    with open("tinyshakespeare.txt", encoding="utf-8") as file:
        text = file.read()
    ids = encode(text[:int(0.9 * len(text))])
    counts = torch.full((65, 65), 0.01, dtype=torch.float64)
    counts.index_put_((ids[:-1], ids[1:]), torch.ones(len(ids) - 1, dtype=torch.float64), accumulate=True)
    bigram = counts / counts.sum(-1, keepdim=True)
    calls = {"target": 0}

    def target_probs(tokens):
        calls["target"] += 1
        with torch.no_grad():
            return torch.softmax(target(torch.as_tensor(tokens)[None]).logits[0], dim=-1)

    out = []
    for prompt, gamma in runs:
        calls["target"] = 0
        sequence, accepted = ns.greedy_speculative_generate(target_probs, lambda t: bigram[torch.as_tensor(t)].clone(), encode(prompt), max_new_tokens, int(gamma))
        out.append({"sequence": torch.as_tensor(sequence), "accepted": [int(a) for a in accepted], "target_calls": calls["target"]})
    return out


def greedy_chain(table: torch.Tensor, prefix: list, max_new_tokens: int) -> torch.Tensor:
    """The judge's greedy decoding of a Markov table."""
    sequence = list(prefix)
    for _ in range(max_new_tokens):
        sequence.append(int(table[sequence[-1]].argmax()))
    return torch.tensor(sequence, dtype=torch.long)


# %% grader={"time_limit": 40} nbgrader={"grade": true, "grade_id": "greedy_matches_target_greedy", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""greedy_speculative_generate reproduces the target's greedy decoding token for token, on Markov tables with good and useless drafts and on the course model with a bigram draft, with one target call per step and fewer calls than tokens"""
from grader.testing import expect, learner

tables = markov_tables(41, 5)
got = greedy_on_tables.learner(tables, [0], 12, 3)
expect.shape(got["sequence"], (13,), what="the sequence of greedy_speculative_generate for a prompt of 1 and 12 new tokens")
expect.equal(got["sequence"], greedy_chain(tables[0], [0], 12), what="greedy speculative decoding on a Markov table against greedy decoding of the target",
             hint="keep drafts while they equal the target's argmax at their position, then append the target's argmax")
### BEGIN HIDDEN TESTS
expect.equal(got["target_calls"], len(got["accepted"]), what="the target calls against the steps reported", hint="one target call per step")
for seed, gamma in ((42, 1), (43, 4), (44, 6)):
    tables = markov_tables(seed, 6)
    for draft_kind in ("good", "useless", "perfect"):
        used = tables.clone()
        if draft_kind == "useless":
            used[1] = torch.roll(torch.eye(6, dtype=torch.float64)[tables[0].argmax(-1)], 1, dims=-1)   # never the target's argmax
        if draft_kind == "perfect":
            used[1] = tables[0]
        got = greedy_on_tables.learner(used, [1, 3], 15, gamma)
        expect.shape(got["sequence"], (17,), what=f"the greedy sequence (gamma={gamma}, {draft_kind} draft)", hint="return exactly max_new_tokens new tokens")
        expect.equal(got["sequence"], greedy_chain(tables[0], [1, 3], 15), what=f"greedy speculative decoding with a {draft_kind} draft (gamma={gamma})",
                     hint="compare each draft token with the target's argmax of the row BEFORE it (row start - 1 + i); at a mismatch append the target's token, not the draft's")
        expect.equal(got["target_calls"], len(got["accepted"]), what=f"target calls against steps ({draft_kind} draft, gamma={gamma})")
        if draft_kind == "perfect":
            expect.equal(got["accepted"][:-1], [gamma] * (len(got["accepted"]) - 1), what=f"accepted drafts per step with a perfect draft (gamma={gamma})")
            expect.equal(got["target_calls"], math.ceil(15 / (gamma + 1)), what=f"the target calls for 15 tokens with a perfect draft (gamma={gamma})",
                         hint="when every draft matches, append the bonus token (the target's argmax after the last draft): gamma + 1 tokens per call")
        if draft_kind == "useless":
            expect.equal(got["accepted"], [0] * 15, what=f"accepted drafts per step with a draft that is never right (gamma={gamma})")
# the course model, float64, bigram draft
runs = greedy_on_course_model.learner([["ROMEO:\nI will ", 3], ["First Citizen:\nWe are", 5]], 30)
expect.equal(len(runs), 2, what="the number of course-model runs returned")
target_model = load_course_model(torch.float64)
for (prompt, gamma), got in zip([["ROMEO:\nI will ", 3], ["First Citizen:\nWe are", 5]], runs):
    expect.shape(got["sequence"], (len(prompt) + 30,), what=f"the greedy sequence of the course model (gamma={gamma})")
    want = plain_greedy(target_model, encode(prompt), 30)
    expect.equal(got["sequence"], want, what=f"greedy speculative decoding of the course model with a bigram draft (gamma={gamma}) against its plain greedy decoding")
    expect.equal(got["target_calls"], len(got["accepted"]), what=f"target calls against steps on the course model (gamma={gamma})")
    expect.shape(got["target_calls"], (), what=f"the number of target calls on the course model (gamma={gamma})")
    expect.true(got["target_calls"] < 30, f"the course model needed {got['target_calls']} target calls for 30 tokens: accepted drafts must save calls")
### END HIDDEN TESTS

# %% [markdown]
# ## 7 · How many tokens per target call, and the speed-up
#
# Assume each draft token is accepted with the same probability $\alpha$, independently (exact when
# $\alpha$ does not depend on the context, a good approximation otherwise). A step yields
# $1 + K$ tokens where $K$, the number of accepted drafts, is a geometric variable truncated at
# $\gamma$: $\Pr[K \ge k] = \alpha^k$ for $k \le \gamma$. So
#
# $$\mathbb{E}[\text{tokens per step}] = 1 + \sum_{k=1}^{\gamma}\Pr[K \ge k]
# = \sum_{k=0}^{\gamma}\alpha^k = \frac{1 - \alpha^{\gamma+1}}{1 - \alpha}
# \quad(\gamma + 1 \text{ when } \alpha = 1).$$
#
# One step costs one target call plus $\gamma$ draft calls, each costing $c$ target calls, so the
# expected speed-up over plain decoding (one target call per token) is
#
# $$S(\alpha, \gamma, c) = \frac{1 - \alpha^{\gamma+1}}{(1 - \alpha)(\gamma c + 1)}.$$
#
# What this means: the tokens per step saturate at $1/(1-\alpha)$ however large $\gamma$ is, while
# the draft's cost grows linearly in $\gamma$, so there is a best $\gamma$: large for a good and
# cheap draft, small (or 0, no speculation) for a poor or expensive one. With $\alpha = 0.8$ and
# $c = 0.05$: $\gamma = 3$ gives $2.95 / 1.15 = 2.57$, and $\gamma = 8$ gives $4.33/1.40 = 3.09$.
# The acceptance rate is what matters most: at $\alpha = 0.5$ no $\gamma$ exceeds 2 tokens per call.
#
# The figure draws $S$ for several $\gamma$ (with numpy, before any stub is written).

# %%
alphas = np.linspace(0, 0.99, 100)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for gamma in (1, 2, 4, 8, 16):
    tokens_per_step = (1 - alphas ** (gamma + 1)) / (1 - alphas)
    axes[0].plot(alphas, tokens_per_step, label=f"γ={gamma}")
    axes[1].plot(alphas, tokens_per_step / (gamma * 0.05 + 1), label=f"γ={gamma}")
axes[0].set(xlabel="acceptance rate α", ylabel="tokens per target call", title="E = (1 - α^(γ+1)) / (1 - α)")
axes[1].axhline(1, color="gray", lw=0.8)
axes[1].set(xlabel="acceptance rate α", ylabel="speed-up", title="S = E / (γc + 1), draft cost c = 0.05")
axes[0].legend(); axes[1].legend(); plt.tight_layout(); plt.show()

# %% [markdown]
# Write `expected_tokens_per_step`, `expected_speedup` and `best_gamma` (about 10 minutes).
# `expected_tokens_per_step` must work at $\alpha = 1$ (the closed form divides 0 by 0 there; the sum
# $\sum_{k=0}^{\gamma}\alpha^k$ does not) and for a tensor of $\alpha$ values.

# %% nbgrader={"grade": false, "grade_id": "expected_tokens_per_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def expected_tokens_per_step(alpha, gamma: int):
    """The expected number of tokens one speculative step yields: sum_{k=0}^{gamma} alpha^k = (1 - alpha^(gamma+1)) / (1 - alpha).

    Args:
        alpha: a float or a float64 tensor of any shape, acceptance rates in [0, 1] (1 included).
        gamma: draft tokens per step, >= 0.

    Returns:
        the same type and shape as alpha.

    Example:
        >>> expected_tokens_per_step(0.5, 2), expected_tokens_per_step(1.0, 4)
        (1.75, 5.0)
    """
    ### BEGIN SOLUTION
    return sum(alpha ** k for k in range(gamma + 1))
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "expected_speedup", "locked": false, "schema_version": 3, "solution": true, "task": false}
def expected_speedup(alpha, gamma: int, cost_ratio: float):
    """The expected speed-up over plain decoding: tokens per step / (gamma * cost_ratio + 1).

    Args:
        alpha: a float or float64 tensor, acceptance rates in [0, 1].
        gamma: draft tokens per step, >= 0.
        cost_ratio: the cost of one draft call in target calls, c >= 0.

    Returns:
        the same type and shape as alpha.

    Example:
        >>> round(expected_speedup(0.8, 3, 0.05), 4)     # 2.952 / 1.15
        2.567
    """
    ### BEGIN SOLUTION
    return expected_tokens_per_step(alpha, gamma) / (gamma * cost_ratio + 1)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "best_gamma", "locked": false, "schema_version": 3, "solution": true, "task": false}
def best_gamma(alpha: float, cost_ratio: float, max_gamma: int = 32) -> int:
    """The gamma in 0..max_gamma with the largest expected speed-up (the smallest such gamma on a tie); 0 means: do not speculate.

    Args:
        alpha: the acceptance rate, a float in [0, 1].
        cost_ratio: the cost of one draft call in target calls, >= 0.
        max_gamma: the largest gamma considered.

    Returns:
        an int.

    Example:
        >>> best_gamma(0.8, 0.05), best_gamma(0.3, 0.5)
        (8, 0)
    """
    ### BEGIN SOLUTION
    speedups = [expected_speedup(alpha, gamma, cost_ratio) for gamma in range(max_gamma + 1)]
    return int(np.argmax(speedups))
    ### END SOLUTION

# %%
@scenario
def speedup_run(ns, alpha, gamma, cost_ratio):
    """expected_tokens_per_step and expected_speedup for a float alpha and for a tensor of alphas."""
    import torch
    alphas = torch.linspace(0, 1, 11, dtype=torch.float64)
    return {"tokens": float(ns.expected_tokens_per_step(float(alpha), int(gamma))),
            "speedup": float(ns.expected_speedup(float(alpha), int(gamma), float(cost_ratio))),
            "tokens_tensor": torch.as_tensor(ns.expected_tokens_per_step(alphas.clone(), int(gamma))),
            "speedup_tensor": torch.as_tensor(ns.expected_speedup(alphas.clone(), int(gamma), float(cost_ratio)))}


def speedup_by_hand(alpha, gamma, cost_ratio):
    """The judge's closed forms, with the alpha = 1 limit."""
    tokens = gamma + 1.0 if alpha == 1.0 else (1.0 - alpha ** (gamma + 1)) / (1.0 - alpha)
    return tokens, tokens / (gamma * cost_ratio + 1.0)


# %% nbgrader={"grade": true, "grade_id": "expected_speedup_correct", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""expected_tokens_per_step is (1 - alpha^(gamma+1)) / (1 - alpha) (gamma + 1 at alpha = 1), expected_speedup divides it by gamma c + 1, and best_gamma maximises it over 0..max_gamma"""
from grader.testing import expect, learner

got = speedup_run.learner(0.5, 2, 0.0)
expect.close(got["tokens"], 1.75, atol=1e-12, what="expected_tokens_per_step(0.5, 2)", hint="1 + alpha + alpha^2: the first token always comes")
expect.close(got["speedup"], 1.75, atol=1e-12, what="expected_speedup(0.5, 2, 0.0)")
value = learner.best_gamma(0.8, 0.05)
expect.equal(value, 8, what="best_gamma(0.8, 0.05) of the docstring")
### BEGIN HIDDEN TESTS
for alpha, gamma, cost_ratio in ((0.0, 3, 0.1), (1.0, 4, 0.0), (1.0, 7, 0.2), (0.8, 3, 0.05), (0.37, 1, 0.5), (0.93, 12, 0.02), (0.6, 0, 0.3)):
    got = speedup_run.learner(alpha, gamma, cost_ratio)
    tokens, speedup = speedup_by_hand(alpha, gamma, cost_ratio)
    expect.finite(got["tokens"], what=f"expected_tokens_per_step({alpha}, {gamma})", hint="at alpha = 1 the closed form is 0/0: sum the powers alpha^0 .. alpha^gamma instead")
    expect.close(got["tokens"], tokens, atol=1e-12, rtol=1e-12, what=f"expected_tokens_per_step({alpha}, {gamma})",
                 hint="the sum runs over k = 0 .. gamma: gamma + 1 terms, the first token (resampled or bonus) always comes")
    expect.close(got["speedup"], speedup, atol=1e-12, rtol=1e-12, what=f"expected_speedup({alpha}, {gamma}, {cost_ratio})",
                 hint="one step costs one target call plus gamma draft calls of cost c each: divide by gamma * c + 1")
    expect.shape(got["tokens_tensor"], (11,), what=f"expected_tokens_per_step on a tensor of 11 alphas (gamma={gamma})")
    expect.shape(got["speedup_tensor"], (11,), what=f"expected_speedup on a tensor of 11 alphas (gamma={gamma})")
    want = torch.tensor([speedup_by_hand(a, gamma, cost_ratio)[0] for a in torch.linspace(0, 1, 11, dtype=torch.float64).tolist()], dtype=torch.float64)
    expect.close(got["tokens_tensor"], want, atol=1e-12, rtol=1e-12, what=f"expected_tokens_per_step on alphas 0, 0.1, ..., 1 (gamma={gamma})")
    expect.close(got["speedup_tensor"], want / (gamma * cost_ratio + 1.0), atol=1e-12, rtol=1e-12, what=f"expected_speedup on alphas 0, 0.1, ..., 1 (gamma={gamma})")
for alpha, cost_ratio, max_gamma in ((0.8, 0.05, 32), (0.3, 0.5, 32), (0.95, 0.01, 10), (0.6, 0.1, 32), (0.9, 0.0, 20), (0.0, 0.0, 5)):
    speedups = [speedup_by_hand(alpha, g, cost_ratio)[1] for g in range(max_gamma + 1)]
    best = max(range(max_gamma + 1), key=lambda g: (speedups[g] > max(speedups) - 1e-12, -g))
    value = learner.best_gamma(alpha, cost_ratio, max_gamma)
    expect.equal(int(value), best, what=f"best_gamma({alpha}, {cost_ratio}, max_gamma={max_gamma})",
                 hint="search gamma = 0 .. max_gamma (0: no speculation, speed-up 1) and keep the smallest gamma with the largest expected speed-up")
### END HIDDEN TESTS

# %% [markdown]
# The formula against your simulation. Target rows $p = (0.6, 0.4, 0, 0)$ and drafts
# $q_t = (1 - t)\,p + t\,(0, 0, 0.5, 0.5)$ (both rotated with the last token) have
# $\mathrm{TV}(p, q_t) = t$, so $\alpha = 1 - t$ after every token; 400 steps per point.

# %%
def simulated_tokens_per_step(alpha: float, gamma: int, steps: int = 400, seed: int = 0) -> float:
    """Mean tokens per speculative_step on rotated tables with acceptance rate exactly alpha."""
    p_row = torch.tensor([0.6, 0.4, 0.0, 0.0], dtype=torch.float64)
    q_row = alpha * p_row + (1 - alpha) * torch.tensor([0.0, 0.0, 0.5, 0.5], dtype=torch.float64)
    tables = constant_alpha_tables(p_row, q_row)
    generator = torch.Generator().manual_seed(seed)
    total = 0
    for _ in range(steps):
        new, _ = speculative_step(lambda t: tables[0][t], lambda t: tables[1][t], torch.tensor([0]), gamma, generator)
        total += len(new)
    return total / steps


try:
    alpha_grid = [0.0, 0.2, 0.4, 0.6, 0.8, 0.95]
    plt.figure(figsize=(5.5, 3.4))
    for gamma in (2, 5):
        plt.plot(alpha_grid, [float(expected_tokens_per_step(a, gamma)) for a in alpha_grid], "-", label=f"formula, γ={gamma}")
        plt.plot(alpha_grid, [simulated_tokens_per_step(a, gamma) for a in alpha_grid], "o", label=f"speculative_step, γ={gamma}")
    plt.xlabel("acceptance rate α"); plt.ylabel("tokens per target call"); plt.legend(fontsize=8)
    plt.title("expected tokens per step: formula and simulation")
    plt.tight_layout(); plt.show()
except NotImplementedError:
    print("write speculative_step and expected_tokens_per_step first")

# %% [markdown]
# The formula against simulation: on tables where $\alpha$ is the same after every token, the mean
# number of tokens per step of your `speculative_step` must match $\sum_{k \le \gamma}\alpha^k$
# within sampling error (the test allows 4.5 standard errors).

# %% grader={"time_limit": 40} nbgrader={"grade": true, "grade_id": "simulation_matches_formula", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""on tables with the same acceptance rate after every token, the mean tokens per step of speculative_step matches (1 - alpha^(gamma+1)) / (1 - alpha) within 4.5 standard errors, for three (alpha, gamma)"""
from grader.testing import expect, learner

tables = constant_alpha_tables([0.5, 0.3, 0.2, 0.0], [0.2, 0.5, 0.1, 0.2])
got = step_statistics.learner(tables, [0], 3, 1000, 6)
expect.equal(got["bad_length"], 0, what="the number of malformed steps")
expect.shape(got["lengths"], (5,), what="the histogram of tokens per step for gamma=3")
lengths = got["lengths"].double()
mean = float((lengths * torch.arange(5)).sum() / lengths.sum())
want, _ = speedup_by_hand(0.6, 3, 0.0)
expect.true(abs(mean - want) < 0.15, f"the mean tokens per step of speculative_step is {mean:.3f}, far from what alpha = 0.6 and gamma = 3 give: "
            "a step yields the accepted drafts plus one token (resampled, or the bonus)")
### BEGIN HIDDEN TESTS
for p_row, q_row, gamma, seed in (([0.4, 0.4, 0.1, 0.1, 0.0], [0.1, 0.4, 0.4, 0.0, 0.1], 4, 7), ([0.7, 0.2, 0.1], [0.6, 0.2, 0.2], 5, 8), ([0.25, 0.25, 0.5], [0.5, 0.25, 0.25], 2, 9)):
    tables = constant_alpha_tables(p_row, q_row)
    alpha = float(torch.minimum(tables[0, 0], tables[1, 0]).sum())
    got = step_statistics.learner(tables, [1], gamma, 1500, seed)
    expect.equal(got["bad_length"], 0, what=f"the number of malformed steps (gamma={gamma})")
    expect.shape(got["lengths"], (gamma + 2,), what=f"the histogram of tokens per step for gamma={gamma}")
    lengths = got["lengths"].double()
    steps = float(lengths.sum())
    values = torch.arange(gamma + 2, dtype=torch.float64)
    mean = float((lengths * values).sum() / steps)
    # the exact distribution of tokens per step: Pr[1 + K = k + 1] = alpha^k (1 - alpha) for k < gamma, alpha^gamma for k = gamma
    probabilities = torch.tensor([0.0] + [alpha ** k * (1 - alpha) for k in range(gamma)] + [alpha ** gamma], dtype=torch.float64)
    want = float((probabilities * values).sum())
    spread = math.sqrt(float((probabilities * (values - want) ** 2).sum()) / steps)
    expect.true(abs(mean - want) < 4.5 * spread, f"the mean tokens per step ({mean:.3f}) over {int(steps)} steps with gamma={gamma} is more than 4.5 standard errors "
                "from sum_k alpha^k: no bonus token after gamma acceptances, or accepting after a rejection, shifts it")
    p_value = chi_square_p_value(got["lengths"], probabilities)
    expect.true(p_value > P_THRESHOLD, f"the histogram of tokens per step (gamma={gamma}) is not the truncated geometric of the acceptance rate (chi-square p-value {p_value:.1e})")
### END HIDDEN TESTS

# %% [markdown]
# ## 8 · Measured on the course model
#
# Target: the course model; draft: the bigram table. We measure the acceptance rate position by
# position ($\alpha_t = \sum_x \min(p_t, q_t)$ along a held-out passage, with your
# `acceptance_rate`), then run speculative *sampling* and count target calls and wall-clock time
# against plain sampling (one target call per token). Neither uses a KV cache: every call
# recomputes the prefix, so a target call costs the same whether it scores 1 or $\gamma + 1$ new
# positions, the situation of section 1.

# %%
def held_out_acceptance(model, draft: torch.Tensor, windows: int = 4, length: int = 256) -> torch.Tensor:
    """alpha_t of the bigram draft against the model at every position of `windows` held-out windows, flattened."""
    data = encode(TEXT[int(0.9 * len(TEXT)):][:windows * length]).view(windows, length)
    p = torch.softmax(model(data).logits.double(), dim=-1)
    return acceptance_rate(p, draft[data]).reshape(-1)


def plain_sampling(target_probs, tokens: torch.Tensor, max_new_tokens: int, generator: torch.Generator) -> torch.Tensor:
    """Ordinary sampling, one target call per token."""
    sequence = tokens.clone()
    for _ in range(max_new_tokens):
        sequence = torch.cat([sequence, torch.multinomial(target_probs(sequence)[-1], 1, generator=generator)])
    return sequence


try:
    draft_table = bigram_table(TRAIN_TEXT)
    alpha_positions = held_out_acceptance(course_model, draft_table)
    alpha_mean = float(alpha_positions.mean())
    print(f"bigram draft against the course model: mean acceptance rate {alpha_mean:.3f} over {len(alpha_positions)} held-out positions")
    target_fn, draft_fn = model_probs(course_model), (lambda t: draft_table[t])
    prompt = encode("ROMEO:\n")
    measurements = {}
    for gamma in (1, 2, 4, 8):
        start = time.process_time()   # CPU time of this process: steadier than wall-clock time on a shared machine
        sequence, accepted = speculative_generate(target_fn, draft_fn, prompt, 200, gamma, torch.Generator().manual_seed(0))
        measurements[gamma] = {"seconds": time.process_time() - start, "calls": len(accepted), "accepted": accepted}
    start = time.process_time()
    plain = plain_sampling(target_fn, prompt, 200, torch.Generator().manual_seed(0))
    plain_seconds = time.process_time() - start
    print(f"plain sampling: 200 target calls, {plain_seconds:.2f} s")
    for gamma, m in measurements.items():
        print(f"gamma={gamma}: {m['calls']:3d} target calls ({200 / m['calls']:.2f} tokens per call; formula at the mean alpha "
              f"{float(expected_tokens_per_step(alpha_mean, gamma)):.2f}), {m['seconds']:.2f} s, time speed-up {plain_seconds / m['seconds']:.2f}")
    print(decode(speculative_generate(target_fn, draft_fn, prompt, 200, 4, torch.Generator().manual_seed(1))[0]))
except NotImplementedError:
    print("write the stubs first")

# %% [markdown]
# On our runs the bigram's mean acceptance rate is about 0.45, and the measured tokens per call
# (about 1.5 for $\gamma = 1$ up to about 1.9 for $\gamma = 8$, from 200 tokens, so $\pm 0.1$ of noise)
# land close to the formula at the mean $\alpha$. That agreement is not guaranteed: the formula
# assumes the same $\alpha$ at every position, but the acceptance rate varies a lot along the text
# (left panel): inside a common word or after a space the bigram is nearly right, at the start of a
# word it is nearly useless, and over runs of consecutive positions $\mathbb{E}[\prod_i \alpha_i]$
# is not $\bar\alpha^k$. Measure tokens per call; do not trust $\bar\alpha$ alone. The time speed-up
# is below the tokens per call even with a free draft: each target call scores $\gamma$ more
# positions and each step has Python overhead. With $\alpha \approx 0.45$ the saturation
# $1/(1 - \alpha) \approx 1.8$ is the ceiling: a better draft (section 9) matters more than a larger
# $\gamma$.

# %%
try:
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
    axes[0].hist(alpha_positions.numpy(), bins=40)
    axes[0].set(xlabel="acceptance rate α at a position", ylabel="positions", title=f"bigram vs course model (mean {alpha_mean:.2f})")
    gammas = list(measurements)
    axes[1].plot(gammas, [200 / measurements[g]["calls"] for g in gammas], "o-", label="measured tokens per call")
    axes[1].plot(gammas, [float(expected_tokens_per_step(alpha_mean, g)) for g in gammas], "s--", label="formula at mean α")
    axes[1].plot(gammas, [plain_seconds / measurements[g]["seconds"] for g in gammas], "^-", label="measured time speed-up")
    axes[1].set(xlabel="γ", title="course model + bigram draft"); axes[1].legend(fontsize=8)
    accepted_4 = measurements[4]["accepted"]
    axes[2].hist(accepted_4, bins=np.arange(-0.5, 5.5, 1), rwidth=0.8)
    axes[2].set(xlabel="accepted drafts in a step (γ = 4)", ylabel="steps", title="accepted tokens per step")
    plt.tight_layout(); plt.show()
except NameError:
    print("write the stubs first")

# %% [markdown]
# ## 9 · Beyond a separate draft model
#
# - **Choosing the draft.** The classic pairing is a small model of the same family and tokenizer
#   (Chinchilla 70B with a 4B draft in Chen et al.: 2 to 2.5 times faster; T5-XXL with T5-small
#   in Leviathan et al.). The draft must share the vocabulary exactly: $p$ and $q$ are compared
#   token by token.
# - **Medusa** (Cai et al. 2024): no draft model; a few extra heads on the target's last hidden
#   state predict tokens $t+2, t+3, \dots$ directly, and a *tree* of candidates is verified in one
#   pass with a tree attention mask. **EAGLE** (Li et al. 2024, EAGLE-2 and -3) drafts at the
#   feature level: a one-layer model predicts the target's next hidden state from its current one,
#   reaching acceptance lengths of 3 to 4 tokens per pass.
# - **Lookahead decoding** (Fu et al. 2024) drafts with no model at all, from n-grams that Jacobi
#   iterations of the target itself produce; **prompt lookup** copies n-grams from the prompt
#   (excellent for summarisation and code editing, where the output repeats the input).
# - **Self-speculative decoding** (Draft & Verify, Zhang et al. 2024; LayerSkip, Elhoushi et al.
#   2024): the draft is the target with layers skipped, sharing weights and KV cache. Our
#   truncated course model is a crude version; LayerSkip trains the model with early exits so the
#   shallow layers' predictions are good.
# - **Tree verification** (SpecInfer, Miao et al. 2024; Sequoia): several candidate continuations
#   share one verification pass; the acceptance rule generalises to multiple drafts (recursive
#   rejection sampling) and still preserves $p$.
#
# ## 10 · Practical considerations
#
# - **Sampling settings apply to both.** Temperature, top-k and top-p change $p$: apply them to the
#   target's logits before the acceptance test, and the draft should sample from its own
#   transformed distribution $q$ (the rule is exact for any $q$, but $\alpha$ is higher when $q$ is
#   transformed the same way). Greedy is the limit of temperature 0 (section 6).
# - **KV cache bookkeeping.** With a cache (`31-kv-cache`) the target appends $\gamma$ entries per
#   verification and must *roll back* the entries of rejected drafts; the draft model's cache too.
#   Off-by-one errors here silently corrupt later tokens without any error message.
# - **Batching erodes the gain.** The free verification of section 1 exists because decoding is
#   memory-bound. At large batch sizes decoding becomes compute-bound, verifying $\gamma + 1$
#   positions per sequence costs real arithmetic, and rejected drafts are wasted work: serving
#   systems turn speculation off or shrink $\gamma$ under load.
# - **Measure, then choose $\gamma$.** $\alpha$ depends on the task (code and retrieval-heavy text
#   are very predictable, creative sampling at high temperature is not); dynamic-$\gamma$ schemes
#   stop drafting when the draft's own confidence drops.
# - **Numerics.** With float16 or bfloat16 logits the batched verification pass and the one-token
#   pass round differently; greedy outputs can differ at near-ties, and a distribution test needs
#   the probabilities in float32 or better. Divide by $q(x)$ only for drafted tokens, for which
#   $q(x) > 0$.
# - **The common bugs**, each a known-wrong implementation in this course's tests: accepting with
#   probability $p(x)$ instead of $p(x)/q(x)$; resampling from $p$ (or $q$) instead of the
#   residual; forgetting to normalise the residual; accepting later drafts after a rejection; no
#   bonus token; verifying each draft with its own target call; the target row off by one.
#
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | memory-bound decoding | time per pass ≈ bytes of weights / bandwidth | score $\gamma+1$ positions in one `model(seq)` call | why speculation is nearly free on a GPU |
# | acceptance rule | accept with $\min(1, p(x)/q(x))$ | `torch.where(q > 0, p / q, 1).clamp(max=1)` | every speculative sampler (vLLM, TensorRT-LLM, HF assisted generation) |
# | residual | $r = \max(0, p - q)/(1 - \alpha)$ | `(p - q).clamp(min=0)`, normalised | resampling after a rejection |
# | distribution preserved | $\min(p, q) + (1-\alpha) r = p$ | exact check, chi-square on samples | lossless acceleration: same outputs as the target |
# | speculative step | draft $\gamma$, verify in one call, stop at the first rejection, bonus token | `target_probs(seq)[T - 1:]` rows for the drafts | Leviathan et al. 2023, Chen et al. 2023 |
# | greedy case | accept iff draft = target argmax | compare `argmax` rows, append target's argmax | `generate(assistant_model=...)`, prompt lookup |
# | acceptance rate | $\alpha = \sum_x\min(p, q) = 1 - \mathrm{TV}(p, q)$ | `torch.minimum(p, q).sum(-1)` | choosing a draft model |
# | tokens per call | $\frac{1-\alpha^{\gamma+1}}{1-\alpha}$ | `sum(alpha ** k for k in range(gamma + 1))` | predicting the speed-up |
# | speed-up, best $\gamma$ | $S = E/(\gamma c + 1)$, argmax over $\gamma$ | search $\gamma = 0..\gamma_{\max}$ | tuning $\gamma$ per model pair and load |
# | beyond a draft model | heads, features, n-grams, skipped layers | Medusa, EAGLE, lookahead, LayerSkip | state-of-the-art serving |

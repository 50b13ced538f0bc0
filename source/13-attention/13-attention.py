# %% [markdown]
# # 13 · Attention: scaled dot-product, masks and multi-head attention
#
# Attention lets every position of a sequence read from every other position. Each position
# sends out a **query**; every position offers a **key** (what it contains, as an address) and a
# **value** (what it hands over). A query is compared with all keys, the comparisons become
# weights through a softmax, and the answer is the weighted average of the values:
#
# $$\boxed{\operatorname{Attention}(Q, K, V) \;=\; \operatorname{softmax}\!\Big(\frac{Q K^\top}{\sqrt{d_k}} + M\Big)\, V,
# \qquad M_{ij} = \begin{cases} 0 & \text{query } i \text{ may attend to key } j \\ -\infty & \text{otherwise} \end{cases}}$$
#
# Why it matters for LLMs: in a transformer the feed-forward layers work on each token alone;
# attention is the **only** place where information moves between tokens. Every "in-context"
# ability of a language model (copying a name seen earlier, following an instruction, resolving
# "it") is computed by the operation you write here, dozens of layers and heads deep.
#
# **What you will build:** a numerically stable masked softmax, scaled dot-product attention that
# returns its attention weights, causal and padding masks, splitting and merging heads, and
# multi-head attention with the exact parameter layout of `torch.nn.MultiheadAttention`, so your
# function and PyTorch's module give the same numbers from the same weights.

# %% [markdown]
# ## Prerequisites
#
# - `03-probability`: softmax, logsumexp, why we subtract the maximum.
# - `08-pytorch`: broadcasting, `view`/`reshape` versus `transpose`, batched matrix products.
# - `10-rnn` (optional): additive (Bahdanau) attention, the ancestor of what follows.
#
# Packages: `torch` (CPU is enough), `numpy`, `matplotlib`. Every tensor in the tests is
# `float64`, so your results can be compared with PyTorch's own attention to about $10^{-12}$.
#
# **Shapes used throughout.** $B$ batch size, $H$ number of heads, $L$ number of queries (target
# length), $S$ number of keys and values (source length), $D$ model width, $d_k$ query/key width,
# $d_v$ value width, $d_h = D/H$ width of one head. In self-attention $L = S$; in
# cross-attention (a decoder reading an encoder) they differ.

# %%
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

DTYPE = torch.float64  # the course tests attention in float64: exact enough to compare to 1e-12

# %% [markdown]
# ## 1 · Attention is a soft dictionary lookup
#
# A Python `dict` answers a query by finding the one key that matches exactly and returning its
# value. Attention does the same thing *softly*. For one query $q \in \mathbb{R}^{d_k}$ and $S$
# key/value pairs $(k_j, v_j)$:
#
# $$s_j = q \cdot k_j, \qquad \alpha_j = \frac{e^{s_j}}{\sum_{l=1}^{S} e^{s_l}}, \qquad
# o = \sum_{j=1}^{S} \alpha_j\, v_j .$$
#
# With $L$ queries stacked as the rows of $Q \in \mathbb{R}^{L \times d_k}$, keys
# $K \in \mathbb{R}^{S\times d_k}$ and values $V \in \mathbb{R}^{S \times d_v}$, all queries are
# answered by three matrix operations: scores $QK^\top$ ($L\times S$), a softmax along each row,
# and a product with $V$ ($L \times d_v$).
#
# **What this means.** The dot product measures how well a key matches the query; the softmax
# turns the matches into non-negative weights that sum to one; the output is a weighted average
# of the values, so it always lies inside their convex hull. When one score is much larger than
# the others the weights become (nearly) one-hot and attention *is* a hard dictionary lookup.
#
# A worked example with three key/value pairs:

# %%
keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=DTYPE)     # S = 3 keys, d_k = 2
values = torch.tensor([[10.0, 0.0], [0.0, 10.0], [5.0, 5.0]], dtype=DTYPE)  # S = 3 values, d_v = 2
query = torch.tensor([2.0, -1.0], dtype=DTYPE)                              # "first axis, not second"

for sharpness in [1.0, 10.0]:
    scores = (sharpness * query) @ keys.T           # (S,)
    weights = torch.softmax(scores, dim=-1)          # (S,), non-negative, sums to 1
    output = weights @ values                        # (d_v,)
    print(f"sharpness {sharpness:4}: scores {scores.tolist()}, weights {np.round(weights.numpy(), 4)}, "
          f"output {np.round(output.numpy(), 3)}")

# %% [markdown]
# Key 1 matches the query best (score 2), key 3 partly (score 1), key 2 not at all (score -1).
# At sharpness 1 the output is a blend of all three values, dominated by value 1; at sharpness 10
# nearly all the weight is on key 1 and the output is nearly value 1 itself: a hard lookup. Note how nothing here is
# learned yet: in a transformer the queries, keys and values are linear projections of the token
# representations (section 7), and training shapes what "matching" means.

# %% [markdown]
# ## 2 · Softmax with a mask, and why we subtract the maximum
#
# Often some keys must be invisible to some queries: future tokens in a language model, padding
# in a batch. A **mask** $m_{ij} \in \{\text{True}, \text{False}\}$ says whether query $i$ may
# attend to key $j$ (True means "may attend", the convention of
# `torch.nn.functional.scaled_dot_product_attention`). The masked softmax renormalises over the
# allowed keys only:
#
# $$\alpha_{ij} = \frac{m_{ij}\, e^{s_{ij}}}{\sum_{l} m_{il}\, e^{s_{il}}}
# = \operatorname{softmax}_j\big(s_{ij} + M_{ij}\big), \qquad M_{ij} = 0 \text{ if } m_{ij} \text{ else } -\infty,$$
#
# because $e^{-\infty} = 0$. Masked positions get **exactly** zero weight, not "almost zero".
#
# **Stability.** Softmax does not change when the same constant is subtracted from every score of
# a row: $\frac{e^{s_j - c}}{\sum_l e^{s_l - c}} = \frac{e^{s_j}}{\sum_l e^{s_l}}$. Choosing
# $c = \max_l s_l$ makes every exponent $\le 0$ (no overflow) and the largest term exactly
# $e^0 = 1$, so the denominator is at least 1 (no division by zero). Without it,
# $e^{s}$ overflows to `inf` for $s > 709.8$ in float64 and for $s > 11.1$ in float16, and
# `inf / inf` is `NaN`.
#
# **A row with every key masked** has no distribution at all ($0/0$). It happens in practice: a
# sequence of length zero in a padded batch, or a query whose allowed window is empty. We define
# its weights to be all zeros (so its output is the zero vector), which is what recent versions
# of `F.scaled_dot_product_attention` return too. One `NaN` row must never poison a whole batch:
# `NaN * 0` is still `NaN`, so masking the loss afterwards does not remove it from the gradients.

# %%
big = torch.tensor([1000.0, 999.0, -5.0], dtype=DTYPE)
naive = torch.exp(big) / torch.exp(big).sum()
shifted = torch.exp(big - big.max()) / torch.exp(big - big.max()).sum()
print("naive softmax of [1000, 999, -5]:  ", naive.tolist())
print("shifted softmax of [1000, 999, -5]:", shifted.tolist())
print("float16 overflows already at exp(12):", torch.exp(torch.tensor(12.0, dtype=torch.float16)).item())

masked_scores = torch.where(torch.tensor([True, True, False]), big, float("-inf"))
print("scores with the last key masked:", masked_scores.tolist(),
      "-> weights", torch.softmax(masked_scores, dim=-1).tolist())

# %% [markdown]
# Now write the masked softmax yourself (no `torch.softmax` inside: the point is to see the
# two subtleties, the maximum and the fully masked row, with your own eyes). `torch.where`
# combines a boolean mask with scores and broadcasts both.

# %% nbgrader={"grade": false, "grade_id": "masked_softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last axis, where masked positions get exactly zero probability.

    Args:
        scores: float tensor (..., L, S), the attention logits (any float dtype).
        mask:   optional bool tensor broadcastable to scores' shape. True = "may attend"
                (keep the position), False = masked out. None = nothing is masked.

    Returns:
        A tensor of the broadcast shape of scores and mask and of scores' dtype. Every row (last
        axis) is a probability distribution over its allowed positions: non-negative, sums to 1,
        exactly 0 at masked positions. A row whose positions are all masked is all zeros (never
        NaN). Stays finite for scores as large as 1e4: subtract each row's maximum first.

    Example:
        >>> masked_softmax(torch.tensor([[0.0, math.log(3.0), 5.0]]), torch.tensor([[True, True, False]]))
        tensor([[0.2500, 0.7500, 0.0000]])
    """
    ### BEGIN SOLUTION
    if mask is not None:
        scores = torch.where(mask, scores, float("-inf"))  # e^{-inf} = 0: masked keys vanish
    row_max = scores.amax(dim=-1, keepdim=True)
    # A fully masked row has maximum -inf, and -inf - (-inf) is NaN: shift such rows by 0 instead.
    row_max = torch.where(torch.isfinite(row_max), row_max, 0.0)
    exps = torch.exp(scores - row_max)
    total = exps.sum(dim=-1, keepdim=True)
    # Every row with an allowed key has total >= 1 (its maximum contributes e^0 = 1). Only fully
    # masked rows have total 0; dividing their zeros by a tiny positive number keeps them 0.
    return exps / total.clamp_min(torch.finfo(scores.dtype).tiny)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "masked_softmax_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""masked softmax gives the hand-computed weights on two small rows and keeps shape and dtype"""
from grader.testing import learner, expect

scores = torch.tensor([[0.0, math.log(3.0), 5.0], [1.0, 1.0, 1.0]], dtype=DTYPE)
mask = torch.tensor([[True, True, False], [True, True, True]])
weights = learner.masked_softmax(scores, mask)
expect.shape(weights, (2, 3), what="masked_softmax(scores, mask)")
expect.dtype(weights, DTYPE, what="masked_softmax(scores, mask)", hint="keep the dtype of the scores")
expect.close(weights, torch.tensor([[0.25, 0.75, 0.0], [1 / 3, 1 / 3, 1 / 3]], dtype=DTYPE), atol=1e-12,
             what="masked_softmax of [[0, log 3, 5 (masked)], [1, 1, 1]]",
             hint="each row should be e^s over the sum of e^s across the allowed positions of that row (last axis)")
expect.close(learner.masked_softmax(torch.zeros(2, 4, dtype=DTYPE)), torch.full((2, 4), 0.25, dtype=DTYPE), atol=1e-12,
             what="masked_softmax of zeros without a mask", hint="mask=None means every position is allowed")

# %% nbgrader={"grade": true, "grade_id": "masked_softmax_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""masked softmax is a distribution over the last axis: it matches torch.softmax, gives masked positions exactly zero weight, broadcasts a mask, and returns zeros (not NaN) for a fully masked row"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(0)
scores = torch.randn(2, 3, 4, 5, generator=gen, dtype=DTYPE)
weights = learner.masked_softmax(scores)
expect.close(weights.sum(-1), torch.ones(2, 3, 4, dtype=DTYPE), atol=1e-12, what="row sums of masked_softmax(scores)",
             hint="rows must sum to 1: normalise over the last axis (the keys), not over the queries")
### BEGIN HIDDEN TESTS
expect.close(learner.masked_softmax(scores, None), torch.softmax(scores, dim=-1), atol=1e-14, rtol=1e-12, what="masked_softmax(scores) without a mask",
             hint="softmax over the last axis: exp(s - max) / sum of exp(s - max)")

# a random mask with at least one allowed key per row, same shape as the scores
mask = torch.rand(2, 3, 4, 5, generator=gen) < 0.6
mask[..., 2] = True
probs = learner.masked_softmax(scores, mask)
expect.close(probs, torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1), atol=1e-14, rtol=1e-12,
             what="masked_softmax(scores, mask)", hint="renormalise over the allowed positions only (True = may attend)")
expect.true(bool((probs[~mask] == 0).all()),
            "some masked positions get a non-zero weight: masked scores must become -inf (or their weights exactly 0), "
            "not merely a large negative number added to finite scores")

# a (L, S) mask broadcast over the batch and head axes
mask_2d = torch.rand(4, 5, generator=gen) < 0.5
mask_2d[:, 0] = True
probs = learner.masked_softmax(scores, mask_2d)
expect.shape(probs, (2, 3, 4, 5), what="masked_softmax(scores of shape (2, 3, 4, 5), mask of shape (4, 5))",
             hint="the mask broadcasts against the scores: torch.where(mask, scores, -inf) does it")
expect.close(probs, torch.softmax(scores.masked_fill(~mask_2d, float("-inf")), dim=-1), atol=1e-14, rtol=1e-12,
             what="masked_softmax with a broadcast (L, S) mask")

# adding a constant to a whole row changes nothing
expect.close(learner.masked_softmax(scores + 50.0, mask), learner.masked_softmax(scores, mask), atol=1e-13,
             what="masked_softmax(scores + 50) compared with masked_softmax(scores)",
             hint="softmax is invariant to adding a constant to every score of a row")

# a fully masked row gives zeros, the other rows are untouched
mask = torch.ones(3, 4, dtype=torch.bool)
mask[1] = False
probs = learner.masked_softmax(scores[0, 0, :3, :4], mask)
expect.finite(probs, what="masked_softmax with a fully masked row",
              hint="a row with every position masked has max -inf; shift it by 0 instead, and divide by a sum clamped above 0")
expect.close(probs[1], torch.zeros(4, dtype=DTYPE), atol=0, what="the fully masked row",
             hint="a row with no allowed position must be all zeros")
expect.close(probs[[0, 2]], torch.softmax(scores[0, 0, [0, 2], :4], dim=-1), atol=1e-14, rtol=1e-12,
             what="the rows next to a fully masked row")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "masked_softmax_large_logits", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""masked softmax stays finite and exact for logits as large as 1e4 (no overflow)"""
from grader.testing import learner, expect

expect.finite(learner.masked_softmax(torch.tensor([[1e4, 0.0, -1e4]], dtype=DTYPE)), what="masked_softmax of [1e4, 0, -1e4]",
              hint="exp(1e4) overflows: subtract each row's maximum before exponentiating")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(1)
scores = torch.cat([
    torch.tensor([[1e4, 0.0, -1e4, 1e4 - 1.0], [-1e4, -1e4, -1e4, -1e4]], dtype=DTYPE),
    1e4 * torch.randn(6, 4, generator=gen, dtype=DTYPE),
])
mask = torch.ones(8, 4, dtype=torch.bool)
mask[3, 1] = False
probs = learner.masked_softmax(scores, mask)
expect.finite(probs, what="masked_softmax of scores around 1e4", hint="no overflow allowed: shift each row by its maximum first")
expect.close(probs.sum(-1), torch.ones(8, dtype=DTYPE), atol=1e-12, what="row sums for scores around 1e4")
expect.close(probs, torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1), atol=1e-12,
             what="masked_softmax of scores around 1e4", hint="subtract the row maximum, then exponentiate")
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · Scaled dot-product attention, and why $1/\sqrt{d_k}$
#
# Suppose the entries of a query and a key are independent with mean 0 and variance 1 (what a
# well-initialised network produces). Their dot product is a sum of $d_k$ independent products,
# each with mean 0 and variance $\operatorname{Var}(q_i k_i) = \mathbb{E}[q_i^2]\,\mathbb{E}[k_i^2] = 1$:
#
# $$\operatorname{Var}(q \cdot k) = \sum_{i=1}^{d_k} \operatorname{Var}(q_i k_i) = d_k ,
# \qquad\text{so}\qquad \operatorname{Var}\Big(\frac{q\cdot k}{\sqrt{d_k}}\Big) = 1 .$$
#
# **What this means.** Without the scaling, the scores of a 128-wide head have a standard
# deviation of about 11: the softmax of such scores is almost one-hot. A one-hot softmax has
# almost zero gradient, since $\partial \alpha_j / \partial s_l = \alpha_j(\delta_{jl} - \alpha_l)$
# vanishes when every $\alpha$ is 0 or 1, so the queries and keys stop learning. Dividing by
# $\sqrt{d_k}$ keeps the scores at unit scale for any head width. The full operation is
#
# $$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\Big(\frac{QK^\top}{\sqrt{d_k}} + M\Big) V,
# \qquad Q \in \mathbb{R}^{\cdots\times L\times d_k},\; K \in \mathbb{R}^{\cdots\times S \times d_k},\;
# V \in \mathbb{R}^{\cdots\times S\times d_v}.$$
#
# The plot below measures it on random vectors: the standard deviation of the scores and the
# average largest attention weight over 32 keys, as the width grows.

# %%
torch.manual_seed(0)
widths = [2 ** p for p in range(1, 11)]
n_keys, n_trials = 32, 128
rows = {"unscaled": ([], []), "scaled by 1/sqrt(d_k)": ([], [])}
for d_k in widths:
    q_demo = torch.randn(n_trials, 1, d_k, dtype=DTYPE)
    k_demo = torch.randn(n_trials, n_keys, d_k, dtype=DTYPE)
    raw = (q_demo @ k_demo.transpose(-2, -1)).squeeze(1)          # (n_trials, n_keys)
    for name, s in [("unscaled", raw), ("scaled by 1/sqrt(d_k)", raw / math.sqrt(d_k))]:
        rows[name][0].append(s.std().item())
        rows[name][1].append(torch.softmax(s, dim=-1).max(dim=-1).values.mean().item())

fig, (ax_std, ax_max) = plt.subplots(1, 2, figsize=(10, 3.5))
for name, (stds, maxes) in rows.items():
    ax_std.plot(widths, stds, marker="o", label=name)
    ax_max.plot(widths, maxes, marker="o", label=name)
ax_std.set(xscale="log", yscale="log", xlabel="$d_k$", ylabel="std of the scores", title="score scale grows like $\\sqrt{d_k}$")
ax_max.axhline(1 / n_keys, color="grey", ls=":", label="uniform (1/32)")
ax_max.set(xscale="log", xlabel="$d_k$", ylabel="mean of the largest weight", title="softmax saturates without scaling")
ax_max.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Write the whole operation. It works for any number of leading (batch, head) axes because
# `@` and `transpose(-2, -1)` act on the last two axes only. Return the attention weights as well
# as the output: they are what you plot to understand a model. (Production code does not keep
# them: `F.scaled_dot_product_attention` never materialises the $L \times S$ matrix in memory,
# see `32-flash-attention`.)

# %% nbgrader={"grade": false, "grade_id": "scaled_dot_product_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d_k), masked) v, and the attention weights.

    Args:
        q: queries, float tensor (..., L, d_k).
        k: keys, float tensor (..., S, d_k), same leading axes, dtype and device as q.
        v: values, float tensor (..., S, d_v), same leading axes, dtype and device as q.
        mask: optional bool tensor broadcastable to (..., L, S); True = query i may attend to
              key j (the convention of F.scaled_dot_product_attention's boolean attn_mask).

    Returns:
        (output, weights): output (..., L, d_v) and weights (..., L, S), both of q's dtype and
        device. Each row of weights sums to 1 over the allowed keys and is exactly 0 at masked
        keys; a query with no allowed key gets all-zero weights and a zero output.

    Example:
        >>> q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
        >>> out, w = scaled_dot_product_attention(q, k, v)   # out (2, 3, 6), w (2, 3, 5)
    """
    ### BEGIN SOLUTION
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., L, S)
    weights = masked_softmax(scores, mask)              # normalised over the keys
    return weights @ v, weights
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "attention_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""attention returns an output of shape (..., L, d_v) and weights of shape (..., L, S), averages the values for a zero query, and divides the scores by sqrt(d_k) on a hand-computed case"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(2, *shape, generator=gen, dtype=DTYPE) for shape in [(3, 4), (5, 4), (5, 6)])
out, weights = learner.scaled_dot_product_attention(q, k, v)
expect.shape(out, (2, 3, 6), what="the output for q (2, 3, 4), k (2, 5, 4), v (2, 5, 6)", hint="output is weights @ v: (..., L, d_v)")
expect.shape(weights, (2, 3, 5), what="the weights for q (2, 3, 4), k (2, 5, 4)", hint="weights are (..., L, S): one row per query")
expect.dtype(out, DTYPE, what="the output", hint="keep the dtype of the inputs")

# a zero query scores every key 0: uniform weights, the output is the mean of the values
out, weights = learner.scaled_dot_product_attention(torch.zeros(1, 4, dtype=DTYPE), k[0], v[0])
expect.close(out, v[0].mean(0, keepdim=True), atol=1e-12, what="the output for a zero query",
             hint="equal scores give equal weights, so the output is the plain mean of the values")

# d_k = 4: q.k = (2, 0) is divided by sqrt(4) = 2, giving scores (1, 0)
q = torch.tensor([[2.0, 0.0, 0.0, 0.0]], dtype=DTYPE)
k = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=DTYPE)
v = torch.tensor([[1.0], [0.0]], dtype=DTYPE)
out, weights = learner.scaled_dot_product_attention(q, k, v)
e = math.e
expect.close(weights, torch.tensor([[e / (e + 1), 1 / (e + 1)]], dtype=DTYPE), atol=1e-12,
             what="the weights for q=(2,0,0,0), keys (1,0,0,0) and 0",
             hint="scores are q.k / sqrt(d_k) with d_k = 4, so the scores here are 1 and 0")

# %% nbgrader={"grade": true, "grade_id": "attention_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""attention matches torch.nn.functional.scaled_dot_product_attention on batched, multi-head, cross-attention (L != S), d_v != d_k, batch-of-one and single-key inputs, with weights that sum to one"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(2)
q, k, v = (torch.randn(*shape, generator=gen, dtype=DTYPE) for shape in [(2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)])
out, weights = learner.scaled_dot_product_attention(q, k, v)
expect.close(weights.sum(-1), torch.ones(2, 3, 5, dtype=DTYPE), atol=1e-12, what="row sums of the attention weights",
             hint="each query's weights must sum to 1: softmax over the last axis (the keys)")
### BEGIN HIDDEN TESTS
hint = "scores are q @ k.transpose(-2, -1) / sqrt(d_k), softmax over the keys (last axis), then weights @ v"
expect.close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-12, rtol=1e-10,
             what="the output on (B=2, H=3, L=5, S=7, d_k=8, d_v=4) inputs", hint=hint)
expect.close(weights, torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8), dim=-1), atol=1e-12, rtol=1e-10,
             what="the weights on (B=2, H=3, L=5, S=7, d_k=8) inputs", hint=hint)

for shapes, case in [
    ([(1, 4, 16), (1, 9, 16), (1, 9, 3)], "a batch of one with L=4, S=9, d_k=16"),
    ([(3, 6, 2), (3, 2, 2), (3, 2, 5)], "more queries than keys, L=6, S=2"),
    ([(2, 1, 3), (2, 6, 3), (2, 6, 3)], "a single query, L=1"),
    ([(5, 3), (5, 3), (5, 3)], "plain matrices without batch axes"),
]:
    q, k, v = (torch.randn(*shape, generator=gen, dtype=DTYPE) for shape in shapes)
    got_out, got_w = learner.scaled_dot_product_attention(q, k, v)
    expect.close(got_out, F.scaled_dot_product_attention(q, k, v), atol=1e-12, rtol=1e-10, what=f"the output for {case}", hint=hint)

# a single key takes all the weight, whatever the scores
q, k, v = (torch.randn(*shape, generator=gen, dtype=DTYPE) for shape in [(2, 4, 3), (2, 1, 3), (2, 1, 5)])
got_out, got_w = learner.scaled_dot_product_attention(q, k, v)
expect.close(got_w, torch.ones(2, 4, 1, dtype=DTYPE), atol=1e-12, what="the weights with a single key (S=1)",
             hint="with one key every query must put all its weight on it: is the softmax over the keys axis?")
expect.close(got_out, v.expand(2, 4, 5), atol=1e-12, what="the output with a single key (S=1)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "attention_with_masks_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""attention with a boolean mask matches F.scaled_dot_product_attention with the same attn_mask (True = may attend), gives masked keys exactly zero weight, and equals is_causal=True with a lower-triangular mask"""
from grader.testing import learner, expect

# two keys with equal scores; masking the second leaves all the weight on the first
out, weights = learner.scaled_dot_product_attention(torch.zeros(1, 2, dtype=DTYPE), torch.zeros(2, 2, dtype=DTYPE),
                                                    torch.tensor([[1.0], [3.0]], dtype=DTYPE), torch.tensor([[True, False]]))
expect.close(weights, torch.tensor([[1.0, 0.0]], dtype=DTYPE), atol=1e-12, what="the weights when the second of two keys is masked",
             hint="True = may attend: a masked key gets weight exactly 0 and the allowed keys share all the weight")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(3)
q, k, v = (torch.randn(*shape, generator=gen, dtype=DTYPE) for shape in [(2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 3)])
hint = "masked keys must get weight exactly 0 and the softmax renormalises over the allowed keys (True = may attend)"

for mask_shape, case in [((5, 6), "an (L, S) mask"), ((2, 1, 5, 6), "a (B, 1, L, S) mask"), ((2, 3, 1, 6), "a (B, H, 1, S) mask")]:
    mask = torch.rand(*mask_shape, generator=gen) < 0.5
    mask[..., 1] = True  # every query keeps at least one key
    out, weights = learner.scaled_dot_product_attention(q, k, v, mask)
    expect.close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-12, rtol=1e-10,
                 what=f"the output with {case}", hint=hint)
    expect.shape(weights, (2, 3, 5, 6), what=f"the weights with {case}")
    expect.true(bool((weights.masked_select(~mask.expand(2, 3, 5, 6)) == 0).all()),
                f"with {case}, some masked keys get a non-zero weight: masked scores must become -inf before the softmax")

# is_causal=True in PyTorch means the lower-triangular mask (top-left aligned when L != S)
for L, S in [(6, 6), (4, 7)]:
    q, k, v = (torch.randn(2, n, 4, generator=gen, dtype=DTYPE) for n in (L, S, S))
    causal = torch.ones(L, S, dtype=torch.bool).tril()
    out, weights = learner.scaled_dot_product_attention(q, k, v, causal)
    expect.close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-12, rtol=1e-10,
                 what=f"the output with a causal mask, L={L}, S={S}", hint=hint)
    expect.close(weights.sum(-1), torch.ones(2, L, dtype=DTYPE), atol=1e-12, what=f"row sums with a causal mask, L={L}, S={S}")

# a query with no allowed key gets zero weights and a zero output
mask = torch.ones(5, 6, dtype=torch.bool)
mask[2] = False
q, k, v = (torch.randn(*shape, generator=gen, dtype=DTYPE) for shape in [(5, 4), (6, 4), (6, 3)])
out, weights = learner.scaled_dot_product_attention(q, k, v, mask)
expect.finite(out, what="the output when one query has no allowed key",
              hint="a fully masked row must give zero weights, not NaN (see masked_softmax)")
expect.close(out[2], torch.zeros(3, dtype=DTYPE), atol=0, what="the output of the query with no allowed key")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "attention_large_logits", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""attention stays finite, with rows of weights summing to one, when the scores are around 1e4"""
from grader.testing import learner, expect

out, _ = learner.scaled_dot_product_attention(torch.tensor([[200.0, 0.0, 0.0, 0.0]], dtype=DTYPE),
                                              torch.tensor([[100.0, 0.0, 0.0, 0.0], [-100.0, 0.0, 0.0, 0.0]], dtype=DTYPE),
                                              torch.tensor([[1.0], [2.0]], dtype=DTYPE))
expect.finite(out, what="the output for scores of +-1e4", hint="subtract each row's maximum score before exponentiating")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(4)
# entries of size 100 and d_k = 4: scores q.k / 2 of the order of 1e4
q, k, v = (100.0 * torch.randn(*shape, generator=gen, dtype=DTYPE) for shape in [(2, 5, 4), (2, 7, 4), (2, 7, 3)])
v = v / 100.0
mask = torch.ones(5, 7, dtype=torch.bool).tril()
for m, case in [(None, "without a mask"), (mask, "with a causal mask")]:
    out, weights = learner.scaled_dot_product_attention(q, k, v, m)
    expect.finite(out, what=f"the output for scores around 1e4 {case}",
                  hint="exp of a score around 1e4 overflows: subtract each row's maximum before exponentiating")
    expect.shape(weights, (2, 5, 7), what=f"the weights for scores around 1e4 {case}")
    expect.close(weights.sum(-1), torch.ones(2, 5, dtype=DTYPE), atol=1e-12, what=f"row sums for scores around 1e4 {case}")
    scores = q @ k.transpose(-2, -1) / 2.0
    want = torch.softmax(scores if m is None else scores.masked_fill(~m, float("-inf")), dim=-1)
    expect.close(weights, want, atol=1e-12, rtol=1e-9, what=f"the weights for scores around 1e4 {case}, compared with torch.softmax",
                 hint="the largest score of a row gets almost all the weight: is the maximum subtracted row by row (last axis)?")
    expect.close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=m), atol=1e-9, rtol=1e-9,
                 what=f"the output for scores around 1e4 {case}")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · The causal mask: no peeking at the future
#
# A language model factorises the probability of a text as
# $p(x_1, \dots, x_T) = \prod_t p(x_t \mid x_1, \dots, x_{t-1})$. In training, all $T$ positions
# are predicted **in parallel** from one forward pass, and the representation at position $i$
# is used to predict token $i+1$. That is only honest if position $i$ cannot see positions after
# it. The causal mask allows query $i$ to attend to key $j$ exactly when $j \le i$:
#
# $$m_{ij} = [\,j \le i\,] \quad\Longleftrightarrow\quad m = \operatorname{tril}(\mathbf{1}_{L\times S}).$$
#
# **What this means.** Row $i$ of the weights may be non-zero only on and left of the diagonal.
# The diagonal itself is allowed: a token may look at itself (it knows which token it is; it is
# predicting the *next* one). Two off-by-one bugs are classic:
#
# - *excluding the diagonal* ($j < i$): the first token has no key at all, and every token loses
#   sight of itself;
# - *allowing one future step* ($j \le i + 1$): position $i$ sees token $i+1$, which is exactly the
#   label it must predict. The training loss drops towards zero, and generation, where the future
#   does not exist yet, produces rubbish. The model looks brilliant in training and is useless.
#
# When $L \ne S$ we align the mask at the top-left corner, $m_{ij} = [j \le i]$, as
# `F.scaled_dot_product_attention(..., is_causal=True)` does. (With a key/value cache, the $L$ new
# queries are the *last* $L$ of $S$ positions and the mask is aligned at the bottom-right,
# $[j \le i + S - L]$, i.e. `tril(diagonal=S - L)`; see `31-kv-cache`.)
#
# A worked example: the rule $j \le i$ by broadcasting a column of query positions against a row of
# key positions, the additive mask $M$ it gives, and the softmax of all-equal scores under it.
# Row $i$ spreads its weight evenly over its $i + 1$ visible keys.

# %%
query_pos = torch.arange(4)[:, None]    # (L, 1)
key_pos = torch.arange(4)[None, :]      # (1, S)
additive = torch.where(key_pos <= query_pos, 0.0, float("-inf"))
print("additive mask M:\n", additive)
print("softmax(0 + M) row by row:\n", torch.softmax(torch.zeros(4, 4) + additive, dim=-1))

# %% nbgrader={"grade": false, "grade_id": "causal_mask", "locked": false, "schema_version": 3, "solution": true, "task": false}
def causal_mask(L: int, S: int | None = None, device: str | torch.device | None = None) -> torch.Tensor:
    """The causal (lower-triangular) attention mask.

    Args:
        L: number of queries. S: number of keys (default: L). device: where to create it.

    Returns:
        A bool tensor (L, S) with True where key j may be attended by query i, i.e. j <= i
        (diagonal included, top-left aligned: the same as is_causal=True in
        F.scaled_dot_product_attention).

    Example:
        >>> causal_mask(3)
        tensor([[ True, False, False],
                [ True,  True, False],
                [ True,  True,  True]])
    """
    ### BEGIN SOLUTION
    S = L if S is None else S
    return torch.ones(L, S, dtype=torch.bool, device=device).tril()
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "causal_mask_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the causal mask of size 3 is a boolean lower triangle, diagonal included"""
from grader.testing import learner, expect

mask = learner.causal_mask(3)
expect.dtype(mask, torch.bool, what="causal_mask(3)", hint="return a bool tensor (True = may attend)")
expect.equal(mask, torch.tensor([[True, False, False], [True, True, False], [True, True, True]]), what="causal_mask(3)",
             hint="query i may attend to keys j <= i: the diagonal is allowed, everything above it is not")

# %% nbgrader={"grade": true, "grade_id": "causal_mask_hides_the_future", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the causal mask is tril of ones for square and rectangular sizes, reproduces is_causal=True, and changing future keys and values leaves earlier outputs unchanged"""
from grader.testing import learner, scenario, expect

expect.shape(learner.causal_mask(2, 3), (2, 3), what="causal_mask(2, 3)", hint="the mask has one row per query and one column per key: (L, S)")


@scenario
def future_changes(ns):
    """Outputs at positions 0..3 with the causal mask, before and after changing keys/values at 4 and 5."""
    gen = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(2, 6, 4, generator=gen, dtype=torch.float64) for _ in range(3))
    mask = ns.causal_mask(6)
    before, weights = ns.scaled_dot_product_attention(q, k, v, mask)
    k2, v2 = k.clone(), v.clone()
    k2[:, 4:] += 3.0
    v2[:, 4:] -= 5.0
    after, _ = ns.scaled_dot_product_attention(q, k2, v2, mask)
    return {"before": before[:, :4], "after": after[:, :4], "full": before, "weights": weights}


### BEGIN HIDDEN TESTS
hint = "allow exactly the keys j <= i: tril of ones, diagonal included (not j < i, not j <= i + 1)"
for L, S in [(1, 1), (5, 5), (3, 6), (6, 3)]:
    mask = learner.causal_mask(L, S)
    expect.dtype(mask, torch.bool, what=f"causal_mask({L}, {S})")
    expect.equal(mask, torch.ones(L, S, dtype=torch.bool).tril(), what=f"causal_mask({L}, {S})", hint=hint)
expect.equal(learner.causal_mask(4), torch.ones(4, 4, dtype=torch.bool).tril(), what="causal_mask(4) with S left out", hint=hint)


got = future_changes.learner()
expect.close(got["after"], got["before"], atol=1e-12, what="outputs at positions 0-3 after changing keys and values at positions 4-5",
             hint="the future leaks into the past: position i must not attend to any key after i")
gen = torch.Generator().manual_seed(5)
q, k, v = (torch.randn(2, 6, 4, generator=gen, dtype=DTYPE) for _ in range(3))
expect.close(got["full"], F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-12, rtol=1e-10,
             what="attention with your causal mask compared with is_causal=True", hint=hint)
future = ~torch.ones(6, 6, dtype=torch.bool).tril()
expect.close(got["weights"], torch.softmax((q @ k.transpose(-2, -1) / 2.0).masked_fill(future, float("-inf")), dim=-1),
             atol=1e-12, rtol=1e-10, what="the weights with your causal mask, compared with a masked torch.softmax",
             hint="the weights are part of the answer: each row is a softmax over the allowed keys, exactly 0 on the future")
### END HIDDEN TESTS

# %% [markdown]
# What the causal mask looks like, and what it does to the weights of random queries and keys
# (white = may attend; each row of weights spreads over the allowed keys only):

# %%
torch.manual_seed(0)
n_pos = 8
q_demo, k_demo, v_demo = (torch.randn(n_pos, 4, dtype=DTYPE) for _ in range(3))
_, causal_weights = scaled_dot_product_attention(q_demo, k_demo, v_demo, causal_mask(n_pos))

fig, (ax_mask, ax_w) = plt.subplots(1, 2, figsize=(9, 4))
ax_mask.imshow(causal_mask(n_pos), cmap="gray", vmin=0, vmax=1)
ax_mask.set(title="causal_mask(8): True = may attend", xlabel="key position j", ylabel="query position i")
image = ax_w.imshow(causal_weights, cmap="viridis", vmin=0, vmax=1)
ax_w.set(title="weights with the causal mask", xlabel="key position j", ylabel="query position i")
fig.colorbar(image, ax=ax_w, fraction=0.046)
fig.tight_layout()
plt.show()
print("row sums:", causal_weights.sum(-1).numpy().round(12))

# %% [markdown]
# ## 5 · The padding mask: batches of sequences of different lengths
#
# To batch sequences of lengths $\ell_1, \dots, \ell_B$ we pad them to a common length $S$ with a
# filler token. The filler must not be attended to, or a sentence's representation would depend
# on how long the *other* sentences in its batch are. The padding mask hides the **keys** beyond
# each sequence's length:
#
# $$m_{b, i, j} = [\, j < \ell_b \,], \qquad \text{shape } (B, 1, S) \text{, broadcast over the queries } i.$$
#
# **What this means.** The mask has one row per sequence and the same row for every query,
# hence the axis of size 1. Padded *queries* are not masked: their rows still attend to the real
# keys and produce finite outputs, which the loss later ignores (the loss, not the attention,
# masks padded positions; see `26-instruction-tuning`). A sequence of length 0 masks every key, so
# all its rows are fully masked and, by our convention, get zero weights and zero outputs.
#
# Masks combine with a logical *and*: a decoder on a padded batch uses
# `causal_mask(S) & padding_mask(lengths, S)`, and broadcasting turns $(S, S)$ and $(B, 1, S)$
# into $(B, S, S)$. A worked example of the rule $j < \ell_b$ with `arange` and broadcasting:

# %%
lengths_demo = torch.tensor([3, 1])
positions = torch.arange(4)                        # key positions 0..3
print("positions[None, :] < lengths[:, None] ->\n", positions[None, :] < lengths_demo[:, None])

# %% nbgrader={"grade": false, "grade_id": "padding_mask", "locked": false, "schema_version": 3, "solution": true, "task": false}
def padding_mask(lengths: torch.Tensor, S: int) -> torch.Tensor:
    """The key padding mask of a batch of right-padded sequences.

    Args:
        lengths: int64 tensor (B,), the true length of each sequence (0 <= lengths[b] <= S).
        S: the padded length (number of keys).

    Returns:
        A bool tensor (B, 1, S): entry [b, 0, j] is True when key j is a real token of sequence
        b (j < lengths[b]) and False for padding. It broadcasts against attention scores
        (B, L, S); insert a head axis, mask.unsqueeze(1), for (B, H, L, S). A sequence of length 0
        masks all its keys: its rows are fully masked and attention gives them zero weights and
        zero outputs.

    Example:
        >>> padding_mask(torch.tensor([2, 3]), 4)
        tensor([[[ True,  True, False, False]],
                [[ True,  True,  True, False]]])
    """
    ### BEGIN SOLUTION
    positions = torch.arange(S, device=lengths.device)  # (S,)
    return (positions[None, :] < lengths[:, None]).unsqueeze(1)  # (B, 1, S)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "padding_mask_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the padding mask of lengths (2, 3) with S = 4 has shape (B, 1, S) and hides the keys past each length"""
from grader.testing import learner, expect

mask = learner.padding_mask(torch.tensor([2, 3]), 4)
expect.dtype(mask, torch.bool, what="padding_mask([2, 3], 4)", hint="return a bool tensor (True = real token, may attend)")
expect.shape(mask, (2, 1, 4), what="padding_mask([2, 3], 4)",
             hint="one row per sequence with an axis of size 1 for the queries: (B, 1, S), so it hides keys, not queries")
expect.equal(mask, torch.tensor([[[True, True, False, False]], [[True, True, True, False]]]), what="padding_mask([2, 3], 4)",
             hint="key j of sequence b is real when j < lengths[b]")

# %% nbgrader={"grade": true, "grade_id": "padding_mask_hides_padded_keys", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""with the padding mask, padded keys get zero weight, the values stored in padding cannot change any output, every query still gets a finite output, and a sequence of length 0 gives zeros"""
from grader.testing import learner, scenario, expect

expect.shape(learner.padding_mask(torch.tensor([1, 2, 0]), 5), (3, 1, 5), what="padding_mask([1, 2, 0], 5)",
             hint="(B, 1, S): the size-1 axis broadcasts over the queries")


@scenario
def padding_changes(ns):
    """Self-attention on a padded batch, before and after overwriting the padded positions of k and v."""
    gen = torch.Generator().manual_seed(6)
    lengths = torch.tensor([2, 5, 4])
    q, k, v = (torch.randn(3, 5, 4, generator=gen, dtype=torch.float64) for _ in range(3))
    mask = ns.padding_mask(lengths, 5)
    before, weights = ns.scaled_dot_product_attention(q, k, v, mask)
    pad = torch.arange(5)[None, :] >= lengths[:, None]   # (B, S) True at padding
    k2, v2 = k.clone(), v.clone()
    k2[pad] = 50.0
    v2[pad] = -1e3
    after, _ = ns.scaled_dot_product_attention(q, k2, v2, mask)
    empty_out, empty_weights = ns.scaled_dot_product_attention(q[:1], k[:1], v[:1], ns.padding_mask(torch.tensor([0]), 5))
    return {"before": before, "after": after, "weights": weights, "empty_out": empty_out, "empty_weights": empty_weights}


### BEGIN HIDDEN TESTS
hint = "the padding mask hides keys (last axis) j >= lengths[b] for every query: shape (B, 1, S), not (B, S, 1)"
lengths = torch.tensor([5, 1, 3, 6])
mask = learner.padding_mask(lengths, 6)
expect.shape(mask, (4, 1, 6), what="padding_mask(lengths=[5, 1, 3, 6], S=6)", hint=hint)
expect.equal(mask, (torch.arange(6)[None, :] < lengths[:, None]).unsqueeze(1), what="padding_mask(lengths=[5, 1, 3, 6], S=6)", hint=hint)


got = padding_changes.learner()
expect.shape(got["weights"], (3, 5, 5), what="the weights on a padded batch (B=3, L=S=5)")
pad = torch.arange(5)[None, :] >= torch.tensor([2, 5, 4])[:, None]
gen = torch.Generator().manual_seed(6)
q, k, v = (torch.randn(3, 5, 4, generator=gen, dtype=DTYPE) for _ in range(3))
expect.close(got["before"], F.scaled_dot_product_attention(q, k, v, attn_mask=~pad[:, None, :]), atol=1e-12, rtol=1e-10,
             what="outputs on a padded batch, compared with F.scaled_dot_product_attention", hint="the output is weights @ v: " + hint)
expect.close(got["weights"], torch.softmax((q @ k.transpose(-2, -1) / 2.0).masked_fill(pad[:, None, :], float("-inf")), dim=-1),
             atol=1e-12, rtol=1e-10, what="the weights on a padded batch, compared with a masked torch.softmax", hint=hint)
expect.true(bool((got["weights"].transpose(1, 2)[pad] == 0).all()),
            "some queries give non-zero weight to padded keys: " + hint)
expect.finite(got["before"], what="outputs on a padded batch",
              hint="padded queries must still attend to the real keys: mask keys, not queries")
expect.close(got["after"], got["before"], atol=1e-12, what="outputs after overwriting the keys and values stored in padding",
             hint="padding leaks into the outputs: " + hint)
expect.close(got["weights"].sum(-1), torch.ones(3, 5, dtype=DTYPE), atol=1e-12,
             what="row sums of the weights on a padded batch (padded queries included)",
             hint="every query, padded or not, still attends to the real keys of its sequence: " + hint)
expect.finite(got["empty_out"], what="the output for a sequence of length 0", hint="a fully masked row must give zeros, not NaN")
expect.close(got["empty_out"], torch.zeros(1, 5, 4, dtype=DTYPE), atol=0, what="the output for a sequence of length 0")
expect.close(got["empty_weights"], torch.zeros(1, 5, 5, dtype=DTYPE), atol=0, what="the weights for a sequence of length 0")
### END HIDDEN TESTS

# %% [markdown]
# The masks of a padded batch with lengths 6, 4 and 2, alone and combined with the causal mask
# as a decoder uses them (white = may attend):

# %%
lengths_demo = torch.tensor([6, 4, 2])
pad_demo = padding_mask(lengths_demo, 6)                 # (3, 1, 6)
combined_demo = causal_mask(6) & pad_demo                # (3, 6, 6) by broadcasting
fig, axes = plt.subplots(2, 3, figsize=(9, 6))
for b in range(3):
    axes[0, b].imshow(pad_demo[b].expand(6, 6), cmap="gray", vmin=0, vmax=1)
    axes[0, b].set(title=f"padding, length {lengths_demo[b].item()}", xlabel="key j", ylabel="query i")
    axes[1, b].imshow(combined_demo[b], cmap="gray", vmin=0, vmax=1)
    axes[1, b].set(title="causal & padding", xlabel="key j", ylabel="query i")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6 · Reading attention maps
#
# An attention map is the matrix of weights of one head: row $i$ shows where query $i$ reads
# from. Two hand-built heads show the two ways a query can find its keys.
#
# - A **previous-token head** addresses by *position*: query $i$ is the one-hot vector of
#   position $i-1$, key $j$ the one-hot vector of position $j$, so $q_i \cdot k_j$ is large only
#   for $j = i - 1$. Trained models contain such heads; they are half of the "induction head"
#   circuit that lets a model continue a pattern it saw earlier in the context.
# - A **same-token head** addresses by *content*: query and key are the one-hot vector of the
#   token, so a token finds earlier occurrences of itself wherever they are. We mask the diagonal
#   and the future (strictly earlier keys only), so the very first token has no key at all: its
#   row is fully masked and comes out as zeros; first occurrences of other tokens, having no match,
#   spread their weight uniformly over the past.

# %%
tokens = "the cat sat on the mat and the cat ran".split()
n_tok = len(tokens)
vocab = sorted(set(tokens))
sharp = 6.0 * math.sqrt(n_tok)        # after division by sqrt(d_k) the matching score is 6
position = torch.eye(n_tok, dtype=DTYPE)
q_prev = sharp * torch.cat([torch.zeros(1, n_tok, dtype=DTYPE), position[:-1]])   # query i looks for position i-1
token_onehot = torch.eye(len(vocab), dtype=DTYPE)[[vocab.index(t) for t in tokens]]
d_pad = n_tok - len(vocab)            # pad the token one-hots to width T so both heads share d_k
token_keys = torch.cat([token_onehot, torch.zeros(n_tok, d_pad, dtype=DTYPE)], dim=1)

strictly_earlier = causal_mask(n_tok) & ~torch.eye(n_tok, dtype=torch.bool)
_, prev_weights = scaled_dot_product_attention(q_prev, position, position, causal_mask(n_tok))
_, same_weights = scaled_dot_product_attention(sharp * token_keys, token_keys, token_keys, strictly_earlier)

fig, axes = plt.subplots(1, 2, figsize=(12, 5))
for ax, w, title in [(axes[0], prev_weights, "previous-token head (position)"), (axes[1], same_weights, "same-token head (content)")]:
    image = ax.imshow(w, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n_tok), tokens, rotation=60)
    ax.set_yticks(range(n_tok), tokens)
    ax.set(title=title, xlabel="key (attended to)", ylabel="query (attending)")
fig.colorbar(image, ax=axes, fraction=0.025)
plt.show()

# %% [markdown]
# Read the right map row by row: the second "the" puts almost all its weight on the first one,
# the last "the" splits it between the two earlier ones, the second "cat" finds the first "cat".
# The top row (the first token, no earlier key) is all zeros, exactly our convention for a fully
# masked row.

# %% [markdown]
# ## 7 · Multi-head attention
#
# One attention can only produce one weighted average per query. **Multi-head attention** runs
# $H$ attentions side by side, each in its own $d_h = D/H$-dimensional subspace, and mixes their
# results. For inputs $X_q \in \mathbb{R}^{B\times L\times D}$ (the queries' tokens) and
# $X_{kv} \in \mathbb{R}^{B\times S\times D}$ (the tokens read from; $X_{kv} = X_q$ in
# self-attention):
#
# $$Q = X_q W_Q^\top + b_Q,\quad K = X_{kv} W_K^\top + b_K,\quad V = X_{kv} W_V^\top + b_V
# \qquad (W_Q, W_K, W_V \in \mathbb{R}^{D\times D}),$$
#
# $$\text{head}_h = \operatorname{Attention}\big(Q_{[:,\,h d_h:(h+1)d_h]},\; K_{[:,\,h d_h:(h+1)d_h]},\; V_{[:,\,h d_h:(h+1)d_h]}\big),
# \qquad \operatorname{MHA} = \operatorname{Concat}(\text{head}_1, \dots, \text{head}_H)\, W_O^\top + b_O .$$
#
# **What this means.** Head $h$ owns the columns $h d_h$ to $(h+1) d_h$ of $Q$, $K$ and $V$.
# One head can track the previous token, another the subject of the sentence, another a matching
# bracket, all in the same layer. The cost is that of a single head of width $D$: $H$ heads of
# width $D/H$. The layer has $4D^2 + 4D$ parameters, whatever $H$ is.
#
# **Parameter layout.** We use the layout of `torch.nn.MultiheadAttention`:
# `in_proj_weight` $(3D, D)$ is $[W_Q; W_K; W_V]$ stacked by rows, `in_proj_bias` $(3D)$ is
# $[b_Q; b_K; b_V]$, `out_proj.weight` $(D, D)$ is $W_O$ and `out_proj.bias` $(D)$ is $b_O$. Weights
# are (out, in), as in every `nn.Linear`, hence the transposes above.
#
# **Splitting heads needs a transpose.** To run all heads at once with the batched attention of
# section 3, reshape $Q$ from $(B, L, D)$ to $(B, L, H, d_h)$, which cuts each token's $D$ features
# into $H$ chunks, then swap axes to $(B, H, L, d_h)$ so that the head axis is a batch axis.
# Reshaping straight to $(B, H, L, d_h)$ gives the right *shape* and the wrong *content*: it
# reinterprets the row-major buffer, so "head 0" receives the first $L/H$ tokens with all their
# features. A worked example with $L = 2$ tokens of width $D = 4$ and $H = 2$ heads:

# %%
x_demo = torch.arange(8).reshape(1, 2, 4)          # (B=1, L=2, D=4): token 0 = [0 1 2 3], token 1 = [4 5 6 7]
right = x_demo.reshape(1, 2, 2, 2).transpose(1, 2)  # (B, L, H, d_h) -> (B, H, L, d_h)
wrong = x_demo.reshape(1, 2, 2, 2)                  # same shape, read as (B, H, L, d_h) directly
print("x:", x_demo[0].tolist())
print("right split, head 0:", right[0, 0].tolist(), " head 1:", right[0, 1].tolist())
print("wrong split, head 0:", wrong[0, 0].tolist(), " head 1:", wrong[0, 1].tolist())

# %% [markdown]
# With the right split, head 0 holds features 0-1 of both tokens and head 1 features 2-3. With the
# wrong one, head 0 holds all of token 0 and head 1 all of token 1: the heads no longer see every
# token. Merging must undo the split exactly: transpose back to $(B, L, H, d_h)$, then reshape to
# $(B, L, D)$ (`reshape` copies if the transposed tensor is not contiguous; `view` would refuse).

# %% nbgrader={"grade": false, "grade_id": "split_merge_heads", "locked": false, "schema_version": 3, "solution": true, "task": false}
def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Cut the model width into heads and move the head axis next to the batch axis.

    Args:
        x: tensor (B, T, D). n_heads: H, must divide D.

    Returns:
        A tensor (B, H, T, D // H) whose [b, h, t, :] is x[b, t, h*d_h:(h+1)*d_h], d_h = D // H.

    Raises:
        ValueError if D is not divisible by n_heads.

    Example:
        >>> split_heads(torch.zeros(2, 5, 12), 3).shape
        torch.Size([2, 3, 5, 4])
    """
    ### BEGIN SOLUTION
    B, T, D = x.shape
    if D % n_heads != 0:
        raise ValueError(f"model width {D} is not divisible by {n_heads} heads")
    return x.reshape(B, T, n_heads, D // n_heads).transpose(1, 2)
    ### END SOLUTION


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Undo split_heads: concatenate the heads' features of each position.

    Args:
        x: tensor (B, H, T, d_h).

    Returns:
        A tensor (B, T, H * d_h) whose [b, t, h*d_h:(h+1)*d_h] is x[b, h, t, :];
        merge_heads(split_heads(x, H)) equals x.

    Example:
        >>> merge_heads(torch.zeros(2, 3, 5, 4)).shape
        torch.Size([2, 5, 12])
    """
    ### BEGIN SOLUTION
    B, H, T, d_h = x.shape
    return x.transpose(1, 2).reshape(B, T, H * d_h)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "split_merge_heads_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""split_heads turns (B, T, D) into (B, H, T, D/H), merge_heads turns it back, and merging a split gives the input back"""
from grader.testing import learner, expect

x = torch.randn(2, 5, 12, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
heads = learner.split_heads(x, 3)
expect.shape(heads, (2, 3, 5, 4), what="split_heads(x of shape (2, 5, 12), 3)", hint="the result is (B, H, T, D // H)")
expect.shape(learner.merge_heads(heads), (2, 5, 12), what="merge_heads of a (2, 3, 5, 4) tensor", hint="the result is (B, T, H * d_h)")
expect.close(learner.merge_heads(heads), x, atol=0, what="merge_heads(split_heads(x, 3))", hint="merging must undo splitting exactly")

# %% nbgrader={"grade": true, "grade_id": "split_heads_layout", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""head h holds features h*d_h to (h+1)*d_h of every token, merge_heads concatenates the heads in order, and a width not divisible by the number of heads is refused"""
from grader.testing import learner, expect

x = torch.arange(8.0, dtype=DTYPE).reshape(1, 2, 4)   # token 0 = [0, 1, 2, 3], token 1 = [4, 5, 6, 7]
expect.close(learner.split_heads(x, 2)[0, 0], torch.tensor([[0.0, 1.0], [4.0, 5.0]], dtype=DTYPE), atol=0,
             what="head 0 of split_heads(arange(8).reshape(1, 2, 4), 2)",
             hint="head 0 holds features 0-1 of every token: reshape to (B, T, H, d_h), then transpose to (B, H, T, d_h)")
### BEGIN HIDDEN TESTS
hint = ("head h must hold features h*d_h:(h+1)*d_h of every token: reshape to (B, T, H, d_h) and then transpose "
        "to (B, H, T, d_h); a reshape straight to (B, H, T, d_h) mixes tokens into heads")
x = torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(7), dtype=DTYPE)
for n_heads in [1, 2, 3, 6]:
    d_h = 6 // n_heads
    expected = torch.stack([x[:, :, h * d_h:(h + 1) * d_h] for h in range(n_heads)], dim=1)
    expect.close(learner.split_heads(x, n_heads), expected, atol=0, what=f"split_heads(x of shape (3, 4, 6), {n_heads})", hint=hint)
heads = torch.randn(2, 3, 5, 2, generator=torch.Generator().manual_seed(8), dtype=DTYPE)
expect.close(learner.merge_heads(heads), torch.cat([heads[:, h] for h in range(3)], dim=-1), atol=0,
             what="merge_heads of a (2, 3, 5, 2) tensor",
             hint="position t must get the concatenation head 0, head 1, ... of its own features: transpose back before reshaping")
expect.raises("ValueError", learner.split_heads, x, 4)
### END HIDDEN TESTS

# %% [markdown]
# Now assemble multi-head attention from plain tensors, so that a test can copy the weights out of
# `nn.MultiheadAttention` and compare. The mask is the same for every head: insert a head axis
# with `mask.unsqueeze(-3)` so that an $(L, S)$, $(B, 1, S)$ or $(B, L, S)$ mask broadcasts against
# scores of shape $(B, H, L, S)$.

# %% nbgrader={"grade": false, "grade_id": "multi_head_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def multi_head_attention(
    x_q: torch.Tensor,
    x_kv: torch.Tensor,
    in_proj_weight: torch.Tensor,
    in_proj_bias: torch.Tensor,
    out_proj_weight: torch.Tensor,
    out_proj_bias: torch.Tensor,
    n_heads: int,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-head attention with the parameter layout of torch.nn.MultiheadAttention (batch_first).

    Args:
        x_q: (B, L, D) the inputs that make the queries.
        x_kv: (B, S, D) the inputs that make the keys and values (pass x_q for self-attention).
        in_proj_weight: (3D, D), the rows [W_Q; W_K; W_V]   (nn.MultiheadAttention.in_proj_weight).
        in_proj_bias: (3D,), [b_Q; b_K; b_V]                  (nn.MultiheadAttention.in_proj_bias).
        out_proj_weight: (D, D), W_O                          (nn.MultiheadAttention.out_proj.weight).
        out_proj_bias: (D,), b_O                              (nn.MultiheadAttention.out_proj.bias).
        n_heads: H, must divide D.
        mask: optional bool tensor, at least 2-D, broadcastable to (B, L, S); True = may attend.
              The same mask is used by every head.

    Returns:
        (output, weights): output (B, L, D) and the per-head attention weights (B, H, L, S),
        in the dtype of x_q. With the same weights, output equals nn.MultiheadAttention's output
        and weights its weights with average_attn_weights=False.

    Example:
        >>> mha = nn.MultiheadAttention(8, 2, batch_first=True)
        >>> x = torch.randn(2, 5, 8)
        >>> out, w = multi_head_attention(x, x, mha.in_proj_weight, mha.in_proj_bias,
        ...                               mha.out_proj.weight, mha.out_proj.bias, 2)  # (2, 5, 8), (2, 2, 5, 5)
    """
    ### BEGIN SOLUTION
    W_q, W_k, W_v = in_proj_weight.chunk(3, dim=0)
    b_q, b_k, b_v = in_proj_bias.chunk(3)
    q = split_heads(x_q @ W_q.T + b_q, n_heads)    # (B, H, L, d_h)
    k = split_heads(x_kv @ W_k.T + b_k, n_heads)   # (B, H, S, d_h)
    v = split_heads(x_kv @ W_v.T + b_v, n_heads)   # (B, H, S, d_h)
    if mask is not None:
        mask = mask.unsqueeze(-3)                  # a head axis: the same mask for every head
    heads, weights = scaled_dot_product_attention(q, k, v, mask)
    output = merge_heads(heads) @ out_proj_weight.T + out_proj_bias
    return output, weights
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "multi_head_attention_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""multi-head attention returns an output (B, L, D) and per-head weights (B, H, L, S) whose rows sum to one"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(0)
D, H = 8, 2
x_q, x_kv = torch.randn(2, 3, D, generator=gen, dtype=DTYPE), torch.randn(2, 5, D, generator=gen, dtype=DTYPE)
params = [torch.randn(*shape, generator=gen, dtype=DTYPE) / math.sqrt(D) for shape in [(3 * D, D), (3 * D,), (D, D), (D,)]]
out, weights = learner.multi_head_attention(x_q, x_kv, *params, H)
expect.shape(out, (2, 3, D), what="the output for x_q (2, 3, 8), x_kv (2, 5, 8), 2 heads", hint="one D-wide output per query: (B, L, D)")
expect.shape(weights, (2, H, 3, 5), what="the weights for x_q (2, 3, 8), x_kv (2, 5, 8), 2 heads", hint="per-head weights: (B, H, L, S)")
expect.close(weights.sum(-1), torch.ones(2, H, 3, dtype=DTYPE), atol=1e-12, what="row sums of the weights")

# %% [markdown]
# Check yourself against PyTorch: copy the weights out of an `nn.MultiheadAttention` and compare.
# Its boolean `attn_mask` uses the *opposite* convention (True = blocked), hence the `~`.

# %%
torch.manual_seed(0)
mha = nn.MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True, dtype=DTYPE)
x_demo = torch.randn(2, 5, 8, dtype=DTYPE)
with torch.no_grad():
    want, want_weights = mha(x_demo, x_demo, x_demo, attn_mask=~causal_mask(5), average_attn_weights=False)
    got, got_weights = multi_head_attention(x_demo, x_demo, mha.in_proj_weight, mha.in_proj_bias,
                                            mha.out_proj.weight, mha.out_proj.bias, 2, causal_mask(5))
print("largest difference from nn.MultiheadAttention, output:", (got - want).abs().max().item(),
      " weights:", (got_weights - want_weights).abs().max().item())

# %% nbgrader={"grade": true, "grade_id": "multi_head_attention_matches_torch_self_attention", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""multi-head self-attention equals torch.nn.MultiheadAttention with the same weights (output and per-head weights), for 1, 2 and D heads and a batch of one"""
from grader.testing import learner, expect


def torch_mha(D, H, seed):
    """An nn.MultiheadAttention in float64 with random (non-zero) biases, and its parameters as plain tensors."""
    torch.manual_seed(seed)
    module = nn.MultiheadAttention(D, H, batch_first=True, dtype=DTYPE)
    with torch.no_grad():
        module.in_proj_bias.normal_(0.0, 0.5)
        module.out_proj.bias.normal_(0.0, 0.5)
    params = [p.detach().clone() for p in (module.in_proj_weight, module.in_proj_bias, module.out_proj.weight, module.out_proj.bias)]
    return module, params


hint = ("project with x @ W.T + b using the rows [W_Q; W_K; W_V] of in_proj_weight, split heads with a transpose, "
        "attend per head with scaling 1/sqrt(d_h), merge the heads, then apply the output projection")
module, params = torch_mha(8, 2, seed=0)
x = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(9), dtype=DTYPE)
out, weights = learner.multi_head_attention(x, x, *params, 2)
with torch.no_grad():
    want, want_weights = module(x, x, x, need_weights=True, average_attn_weights=False)
expect.shape(weights, (2, 2, 5, 5), what="the per-head weights, B=2, T=5, H=2", hint="return per-head weights (B, H, L, S)")
expect.close(weights.mean(1), want_weights.mean(1), atol=1e-10, what="the weights averaged over heads, D=8, H=2", hint=hint)
### BEGIN HIDDEN TESTS
expect.close(out, want, atol=1e-12, rtol=1e-10, what="the output of self-attention, B=2, T=5, D=8, H=2", hint=hint)
expect.close(weights, want_weights, atol=1e-12, rtol=1e-10, what="the per-head weights, B=2, T=5, D=8, H=2", hint=hint)
for D, H, B, T, case in [(6, 1, 2, 4, "a single head"), (4, 4, 2, 3, "one feature per head (H = D)"),
                         (12, 3, 1, 7, "a batch of one, H=3"), (8, 4, 3, 1, "a single token")]:
    ref_module, ref_params = torch_mha(D, H, seed=D + H)
    tokens_in = torch.randn(B, T, D, generator=torch.Generator().manual_seed(10 + D), dtype=DTYPE)
    got_out, got_w = learner.multi_head_attention(tokens_in, tokens_in, *ref_params, H)
    ref_out, ref_w = (t.detach() for t in ref_module(tokens_in, tokens_in, tokens_in, average_attn_weights=False))
    expect.close(got_out, ref_out, atol=1e-12, rtol=1e-10, what=f"the output with {case}", hint=hint)
    expect.close(got_w, ref_w, atol=1e-12, rtol=1e-10, what=f"the per-head weights with {case}", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "multi_head_attention_matches_torch_cross_attention_and_masks", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""multi-head attention equals torch.nn.MultiheadAttention in cross-attention (L != S), with a causal mask, with a key padding mask and with both"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(0)
x = torch.randn(2, 4, 8, generator=gen, dtype=DTYPE)
params = [torch.randn(*shape, generator=gen, dtype=DTYPE) / math.sqrt(8) for shape in [(24, 8), (24,), (8, 8), (8,)]]
_, weights = learner.multi_head_attention(x, x, *params, 2, torch.ones(4, 4, dtype=torch.bool).tril())
expect.shape(weights, (2, 2, 4, 4), what="the weights with a causal (4, 4) mask, B=2, H=2",
             hint="insert a head axis into the mask (mask.unsqueeze(-3)) so it broadcasts against (B, H, L, S)")
expect.true(bool((weights[..., ~torch.ones(4, 4, dtype=torch.bool).tril()] == 0).all()),
            "with a causal mask some heads attend to future keys: every head must use the mask")
### BEGIN HIDDEN TESTS
hint = ("the mask (True = may attend) is shared by all heads: insert a head axis with mask.unsqueeze(-3); "
        "nn.MultiheadAttention's attn_mask and key_padding_mask use True = blocked")
torch.manual_seed(11)
ref_module = nn.MultiheadAttention(8, 2, batch_first=True, dtype=DTYPE)
nn.init.normal_(ref_module.in_proj_bias, std=0.5)      # non-zero biases, so that bias mistakes show
nn.init.normal_(ref_module.out_proj.bias, std=0.5)
ref_params = [t.detach().clone() for t in (ref_module.in_proj_weight, ref_module.in_proj_bias,
                                           ref_module.out_proj.weight, ref_module.out_proj.bias)]


def torch_answer(x_query, x_source, **torch_kwargs):
    """nn.MultiheadAttention's output and per-head weights, detached."""
    result = ref_module(x_query, x_source, x_source, average_attn_weights=False, **torch_kwargs)
    return result[0].detach(), result[1].detach()


gen = torch.Generator().manual_seed(12)
# cross-attention: 3 queries read 6 keys/values
x_q, x_kv = torch.randn(2, 3, 8, generator=gen, dtype=DTYPE), torch.randn(2, 6, 8, generator=gen, dtype=DTYPE)
got_out, got_w = learner.multi_head_attention(x_q, x_kv, *ref_params, 2)
ref_out, ref_w = torch_answer(x_q, x_kv)
expect.close(got_out, ref_out, atol=1e-12, rtol=1e-10, what="the output of cross-attention, L=3, S=6",
             hint="queries come from x_q, keys and values from x_kv")
expect.close(got_w, ref_w, atol=1e-12, rtol=1e-10, what="the weights of cross-attention, L=3, S=6")

# self-attention on a padded batch with a causal mask
x_self = torch.randn(3, 5, 8, generator=gen, dtype=DTYPE)
lengths = torch.tensor([5, 2, 4])
causal = torch.ones(5, 5, dtype=torch.bool).tril()
padding = (torch.arange(5)[None, :] < lengths[:, None])          # (B, S) True = real token
for mask, torch_kwargs, case in [
    (causal, {"attn_mask": ~causal}, "a causal (L, S) mask"),
    (padding[:, None, :], {"key_padding_mask": ~padding}, "a (B, 1, S) key padding mask"),
    (causal & padding[:, None, :], {"attn_mask": ~causal, "key_padding_mask": ~padding}, "causal and padding masks combined"),
]:
    got_out, got_w = learner.multi_head_attention(x_self, x_self, *ref_params, 2, mask)
    ref_out, ref_w = torch_answer(x_self, x_self, **torch_kwargs)
    expect.close(got_out, ref_out, atol=1e-12, rtol=1e-10, what=f"the output with {case}", hint=hint)
    expect.close(got_w, ref_w, atol=1e-12, rtol=1e-10, what=f"the weights with {case}", hint=hint)

# cross-attention with padding in the source only
x_source = torch.randn(3, 6, 8, generator=gen, dtype=DTYPE)
source_padding = torch.arange(6)[None, :] < torch.tensor([6, 3, 1])[:, None]
x_query = x_q[:1].expand(3, 3, 8)
got_out, _ = learner.multi_head_attention(x_query, x_source, *ref_params, 2, source_padding[:, None, :])
ref_out, _ = torch_answer(x_query, x_source, key_padding_mask=~source_padding)
expect.close(got_out, ref_out, atol=1e-12, rtol=1e-10, what="the output of cross-attention with a padded source", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 8 · What attention costs
#
# For $B$ sequences, $L$ queries, $S$ keys and width $D$, the score and weighted-sum products take
# about $4 B L S D$ floating-point operations and the projections $8 B L D^2$ (self-attention,
# $L = S$). The weights take $B H L S$ numbers of memory: for a context of 8192 tokens, 32 heads and
# 2-byte floats that is 4 GiB **per sequence and per layer**. Attention is the only part of a
# transformer whose cost grows with the square of the context length. Two later assignments attack
# it: `31-kv-cache` stops recomputing keys and values of past tokens during generation, and
# `32-flash-attention` computes exactly the same output in tiles without ever storing the
# $L \times S$ weights.

# %% [markdown]
# ## Practical considerations
#
# **Numerical stability.**
# - Always subtract the row maximum before `exp` (or use `torch.softmax`, which does). In float16
#   `exp` overflows above 11.1, so mixed-precision code computes the softmax in float32:
#   `torch.autocast` does it for `F.softmax`, and fused attention kernels accumulate in float32.
# - Mask with $-\infty$ (or `torch.finfo(dtype).min`), not with a hand-picked "large" number: $-10^9$
#   is fine in float32 but becomes $-\infty$ in float16, and $-10^4$ is not large next to scores
#   that can reach $10^4$. With $-\infty$, masked weights are exactly zero.
# - Decide what a fully masked row gives. Older PyTorch and many hand-written kernels return
#   `NaN` there, which spreads through the whole batch in the backward pass.
#
# **Mask conventions differ between libraries**, the most common source of silent bugs:
#
# | API | what `True` (or 1) means |
# |---|---|
# | `F.scaled_dot_product_attention(attn_mask=bool)`, this notebook | may attend |
# | `nn.MultiheadAttention(attn_mask=bool)`, `nn.Transformer*` | **blocked** |
# | `nn.MultiheadAttention(key_padding_mask=bool)` | **padding, ignore** |
# | Hugging Face `attention_mask` (0/1 ints) | real token, may attend |
# | float masks everywhere | added to the scores (0 or $-\infty$) |
#
# **Common bugs, and how the tests here catch them.** Forgetting $1/\sqrt{d_k}$ (outputs differ from
# `F.scaled_dot_product_attention`); softmax over the queries axis instead of the keys (rows do not
# sum to 1); a causal mask that excludes the diagonal or lets in one future token (future keys change
# past outputs); a padding mask applied to queries instead of keys (padding leaks into real tokens'
# outputs); splitting heads with a reshape but no transpose (right shapes, wrong numbers: only a
# comparison with `nn.MultiheadAttention` or an explicit per-head slice reveals it); `exp` without
# subtracting the maximum (`NaN` for large scores).
#
# **Hyperparameters and variants that matter.**
# - Head width $d_h = D/H$ is usually 64 or 128; more heads of smaller width give more independent
#   lookups but each one is a lower-rank comparison.
# - Attention dropout (on the weights) was standard in early transformers and is 0 in most current
#   LLMs.
# - Keys and values are often shared between groups of query heads (multi-query and grouped-query
#   attention, `18-llama`): this shrinks the KV cache without changing the maths above.
# - Positions: attention itself is blind to order (permute the keys and values together and the
#   output does not change); `14-positions` adds sinusoidal, learned, rotary and ALiBi positions.
# - Some models replace $1/\sqrt{d_k}$ by $1/d_k$ (μP) or normalise queries and keys (QK-norm) to keep
#   scores bounded in very large models.
# - In production call `F.scaled_dot_product_attention`: it dispatches to fused kernels (FlashAttention,
#   memory-efficient attention) and never materialises the weights. Keep the explicit version for
#   inspection and teaching, as here.
#
# **On a GPU.** The test below (tagged `gpu`, run only where CUDA is present) runs your attention on
# CUDA in float32, float16 and bfloat16, and compares it with a float64 reference within a tolerance
# set by the precision of each dtype: float16 has about 3 significant decimal digits, bfloat16 about 2.

# %% nbgrader={"grade": true, "grade_id": "attention_on_cuda_low_precision", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["gpu"]
"""on a CUDA GPU, attention in float32, float16 and bfloat16 stays on the GPU in the input's dtype, gives masked keys exactly zero weight, and matches a float64 reference within the precision of the dtype"""
from grader.testing import needs_gpu; needs_gpu()
from grader.testing import scenario, expect


@scenario
def attention_on_cuda(ns, dtype_name):
    """Causal attention on CUDA in the given dtype, with inputs drawn in float64 on the CPU."""
    dtype = getattr(torch, dtype_name)
    gen = torch.Generator().manual_seed(13)
    q, k, v = (torch.randn(2, 4, n, 32, generator=gen, dtype=torch.float64) for n in (16, 24, 24))
    mask = torch.ones(16, 24, dtype=torch.bool).tril()
    out, weights = ns.scaled_dot_product_attention(q.to("cuda", dtype), k.to("cuda", dtype), v.to("cuda", dtype), mask.to("cuda"))
    return {"where": f"{out.device.type}/{weights.device.type}", "dtypes": f"{out.dtype}/{weights.dtype}",
            "out": out.double().cpu(), "weights": weights.double().cpu()}


gen = torch.Generator().manual_seed(13)  # the scenario's inputs, recreated here
q, k, v = (torch.randn(2, 4, n, 32, generator=gen, dtype=DTYPE) for n in (16, 24, 24))
mask = torch.ones(16, 24, dtype=torch.bool).tril()
results = {}
for dtype_name in ["float32", "float16", "bfloat16"]:
    got = results[dtype_name] = attention_on_cuda.learner(dtype_name)
    expect.equal(got["where"], "cuda/cuda", what=f"the devices of the output and weights in {dtype_name}",
                 hint="create masks and intermediate tensors on the inputs' device (device=q.device)")
    expect.equal(got["dtypes"], f"torch.{dtype_name}/torch.{dtype_name}", what=f"the dtypes of the output and weights in {dtype_name}",
                 hint="keep the inputs' dtype: avoid float64 constants and tensors created without dtype=")
    expect.finite(got["out"], what=f"the output in {dtype_name}", hint="subtract the row maximum before exp: float16 overflows above 11")
    expect.true(bool((got["weights"][..., ~mask] == 0).all()), f"in {dtype_name}, some masked keys get a non-zero weight")
### BEGIN HIDDEN TESTS
for dtype_name, got in results.items():
    low = getattr(torch, dtype_name)
    # the reference sees the inputs rounded to the dtype, exactly as the GPU did, and computes in float64
    rounded = [t.to(low).double() for t in (q, k, v)]
    want = F.scaled_dot_product_attention(*rounded, attn_mask=mask)
    # device-aware tolerance: some units in the last place of the dtype (float32 sums 32-term dot
    # products in its own precision; float16/bfloat16 errors are dominated by the final roundings),
    # or 4x the error of PyTorch's own fused attention on this GPU in the same dtype, if larger
    fused = F.scaled_dot_product_attention(*(t.to("cuda", low) for t in (q, k, v)), attn_mask=mask.to("cuda"))
    fused_error = (fused.double().cpu() - want).abs().max().item()
    ulps = {"float32": 32, "float16": 8, "bfloat16": 8}[dtype_name]
    tolerance = max(ulps * torch.finfo(low).eps, 4 * fused_error)
    expect.close(got["out"], want, atol=tolerance, rtol=tolerance, what=f"the output in {dtype_name} on CUDA",
                 hint="scores q @ k^T / sqrt(d_k), a softmax that subtracts the row maximum, then weights @ v, all in the input dtype")
    expect.close(got["weights"].sum(-1), torch.ones(2, 4, 16, dtype=DTYPE), atol=16 * torch.finfo(low).eps,
                 what=f"row sums of the weights in {dtype_name}")
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | attention as a soft lookup | $o_i = \sum_j \alpha_{ij} v_j,\ \alpha_{ij} = \operatorname{softmax}_j(q_i\cdot k_j)$ | `torch.softmax(q @ k.T, -1) @ v` | every attention layer: the only place tokens exchange information |
# | stable masked softmax | $\operatorname{softmax}(s - \max s)$, masked $s = -\infty$, empty row $\to 0$ | `torch.where(mask, s, -inf)`, subtract `amax`, `exp`, normalise | every attention layer; fused kernels do the same in float32 |
# | scaling | $\operatorname{Var}(q\cdot k) = d_k \Rightarrow$ divide by $\sqrt{d_k}$ | `q @ k.transpose(-2, -1) / math.sqrt(d_k)` | keeps softmax gradients alive at any head width |
# | causal mask | $m_{ij} = [j \le i]$ | `torch.ones(L, S, dtype=torch.bool).tril()` | decoder-only LMs (GPT, LLaMA): parallel training of next-token prediction |
# | padding mask | $m_{bj} = [j < \ell_b]$, shape $(B, 1, S)$ | `(arange(S)[None] < lengths[:, None]).unsqueeze(1)` | batched training and inference on sequences of different lengths |
# | split / merge heads | $(B, L, D) \to (B, L, H, d_h) \to (B, H, L, d_h)$ | `reshape(B, L, H, d_h).transpose(1, 2)` and back | every multi-head layer; GQA shares K/V heads (`18-llama`) |
# | multi-head attention | $\operatorname{Concat}(\text{head}_1..\text{head}_H) W_O^\top + b_O$ | `in_proj_weight.chunk(3)`, SDPA per head, `out_proj` | self-attention in every block, cross-attention in encoder-decoders |
# | cost | $O(BLSD)$ time, $O(BHLS)$ memory for weights | `F.scaled_dot_product_attention` in production | the quadratic context cost that KV caches and FlashAttention address |

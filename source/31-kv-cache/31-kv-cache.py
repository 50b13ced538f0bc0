# %% [markdown]
# # 31 · The key/value cache: incremental decoding without recomputation
#
# A decoder generates text one token at a time, and at every step the new token attends to all
# the tokens before it. Their keys and values do not change when a token is appended (causal
# attention never lets an old token see a new one), so a model can compute them once, keep them,
# and at step $t$ run the network on the *one* new token only. In layer $\ell$, with $x_t$ the new
# token's input to the attention:
#
# $$\boxed{\;K^{(\ell)}_{1:t} = \big[K^{(\ell)}_{1:t-1};\; x_t W_K^{(\ell)}\big],\quad
# V^{(\ell)}_{1:t} = \big[V^{(\ell)}_{1:t-1};\; x_t W_V^{(\ell)}\big],\quad
# o_t = \operatorname{softmax}\!\Big(\frac{q_t K_{1:t}^{(\ell)\top}}{\sqrt{d_h}}\Big) V^{(\ell)}_{1:t},
# \qquad \text{memory} = 2\,L\,B\,T\,H_{kv}\,d_h\cdot\text{bytes}\;}$$
#
# Why it matters for LLMs: every production inference engine (transformers' `DynamicCache`,
# vLLM's paged attention, TensorRT-LLM, llama.cpp) decodes this way, because it turns the cost of
# a generation step from a forward pass over the whole text into a forward pass over one token.
# The price is memory: for long contexts and large batches the cache, not the weights, fills the
# GPU, and most of the architecture changes of recent models (multi-query and grouped-query
# attention, sliding windows, multi-head latent attention) exist to shrink it.
#
# **What you will build**, on the course model of `16-gpt` (a `GPT2LMHeadModel`): attention of a
# few new queries against cached keys with the causal mask at the right offset; a small `KVCache`;
# your own GPT-2 forward, module by module on the model's own weights, that consumes and fills the
# cache; greedy generation with it, token for token identical to the uncached model and to
# `model.generate`; the cache's memory formula, checked against real tensors and real models
# (Llama 2 7B and 70B, Llama 3 8B, GPT-2); and the speedup, measured.

# %% [markdown]
# ## Prerequisites
#
# - `13-attention`: scaled dot-product attention, the causal mask, heads as a reshape.
# - `14-positions`: learned position embeddings (GPT-2's `wpe`): a new token at position $s$ needs
#   the embedding of $s$, not of 0.
# - `16-gpt`: the course model and its blocks (pre-norm, `ln_1`, attention, `ln_2`, MLP, `ln_f`).
# - `18-llama`: grouped-query attention, which this notebook shows is above all a cache saving.
# - `22-memory`: memory bandwidth against FLOPs, and why decoding one token is memory-bound.
# - `30-decoding`: greedy decoding (here the decoding rule stays greedy; what changes is the cost).
#
# Packages: `torch` (a CPU is enough), `numpy`, `matplotlib`, `transformers` (the course model is
# a `GPT2LMHeadModel`; its `generate` and its own cache serve as independent references). The
# course model (`course_model.py`, its weights and configuration), Tiny Shakespeare and its
# licence note (`DATA-LICENCE.md`) come with this notebook. Nothing is downloaded.
#
# **Notation.** $B$ batch size, $L$ number of layers, $H$ query heads, $H_{kv}$ key/value heads
# ($H_{kv} = H$ in GPT-2), $d_h$ head dimension, $D = H d_h$ the model width, $T$ tokens in the
# cache, $S$ keys an attention call sees, $n$ new tokens fed in one call (1 while decoding, the
# prompt length at prefill).

# %%
import math
import os
import sys
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from course_model import config, decode, encode, load_course_model, new_model
except ModuleNotFoundError:   # a script run or the grader: course_model.py lies in the working directory, beside this notebook
    sys.path.insert(0, os.getcwd())
    from course_model import config, decode, encode, load_course_model, new_model

TINY = dict(n_layer=2, n_embd=32, n_head=2)   # a small random GPT2LMHeadModel for quick experiments: new_model(**TINY)
print("course model:", config())

# %% [markdown]
# ## 1 · What generation recomputes, and what it need not
#
# **Uncached generation.** The plainest greedy decoder feeds the whole text to the model at every
# step and keeps the last position's logits:
#
# ```
# for step in range(n_new):
#     logits = model(tokens).logits          # (B, T, V): T positions computed ...
#     tokens = cat(tokens, logits[:, -1].argmax(-1))   # ... one of them used
# ```
#
# At step $t$ it runs every layer on $t$ tokens. In a causal model the hidden state of position
# $i$ depends only on tokens $1..i$, so the first $t-1$ rows of that computation are *exactly* the
# rows it computed at the previous step. Only one row is new.
#
# **What must be kept.** Follow the new token through a layer. Layer norms, the MLP and the
# projections act on each position separately: the new row needs only the new token's input. The
# one place where positions meet is attention, where the new query $q_t$ needs the keys $k_1..k_t$
# and values $v_1..v_t$ of the same layer. Those are the **key/value cache**: per layer, two tensors
# of shape $(B, H_{kv}, T, d_h)$ that grow by one row per step. The queries of old tokens are never
# needed again (nothing asks old questions), nor are their MLP activations or residual streams.
#
# **Prefill and decode.** Generation then has two phases. *Prefill* runs the prompt of $P$ tokens
# through the model in one call, as in training (all positions in parallel, a causal mask), and
# stores the $P$ keys and values of every layer. *Decode* then feeds one token per call: its query
# attends to the $T$ cached keys plus its own. Prefill is a big matrix product (compute-bound);
# each decode step is a matrix-*vector* product per weight matrix (memory-bound: section 6).
#
# **The cost.** Count the multiply-adds per layer for the token at position $t$, width $D$: the
# projections and MLP cost about $12D^2$ (section 6 of `20-scaling-laws`), the attention scores and
# weighted sum $2tD$. Uncached, step $t$ redoes all $t$ rows: about $12D^2 t + 2Dt^2$ per layer.
# Cached, it does one row: $12D^2 + 2Dt$. Summed over a generation of $T$ tokens, the uncached
# cost grows as $T^2$ (and $T^3$ for the attention part), the cached one as $T$ (and $T^2$).
#
# The figure counts both for the course model's width, and shows the attention mask of a cached
# step: the $n$ new queries are the *last* $n$ rows of the full causal mask.

# %%
def step_flops(t: np.ndarray, width: int, n_layer: int, cached: bool) -> np.ndarray:
    """Multiply-adds of one generation step at position t: per layer 12 D^2 per row computed plus 2 D per (query, key) pair."""
    rows = np.ones_like(t) if cached else t
    pairs = t if cached else t * (t + 1) / 2
    return n_layer * (12 * width**2 * rows + 2 * width * pairs)


positions_demo = np.arange(1, 257, dtype=np.float64)
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
for cached, style in ((False, "-"), (True, "--")):
    per_step = step_flops(positions_demo, 128, 4, cached)
    axes[0].plot(positions_demo, per_step, style, label="cached" if cached else "uncached")
    axes[1].plot(positions_demo, np.cumsum(per_step), style, label="cached" if cached else "uncached")
axes[0].set(xlabel="position t of the new token", ylabel="multiply-adds", title="one step (course model)", yscale="log")
axes[1].set(xlabel="tokens generated T", ylabel="multiply-adds", title="a whole generation", yscale="log")
axes[0].legend(); axes[1].legend()
full_mask = torch.ones(8, 8).tril()
axes[2].imshow(full_mask, cmap="Greys", vmin=0, vmax=1.6)
axes[2].add_patch(plt.Rectangle((-0.5, 4.5), 8, 3, fill=False, edgecolor="tab:red", lw=2.5))
axes[2].set(xlabel="key j (cached + new)", ylabel="query i", title="3 new queries = the last 3 rows")
plt.tight_layout(); plt.show()
print(f"course model, 256 tokens: uncached/cached multiply-adds = {step_flops(positions_demo, 128, 4, False).sum() / step_flops(positions_demo, 128, 4, True).sum():.0f}x")

# %% [markdown]
# transformers does exactly this when `generate` is called with `use_cache=True` (the default):
# the model returns `past_key_values`, a `DynamicCache` holding one key and one value tensor per
# layer, and the next call feeds only the new token together with that cache. With
# `use_cache=False` it re-runs the whole text. Both give the same tokens; here is the time (under a
# second; the numbers depend on the machine and on what else runs on it).

# %%
demo_model = load_course_model()
demo_prompt = encode("ROMEO:\nI will")[None]
with torch.no_grad():
    seconds = {}
    for use_cache in (True, False):
        start = time.perf_counter()
        generated = demo_model.generate(demo_prompt, max_new_tokens=64, do_sample=False, use_cache=use_cache)
        seconds[use_cache] = time.perf_counter() - start
        print(f"use_cache={use_cache!s:5}: {seconds[use_cache]:.2f} s for 64 tokens, {decode(generated[0, demo_prompt.shape[1]:])!r}")
print(f"transformers' own cache: {seconds[False] / seconds[True]:.1f}x faster on 64 tokens")
past = demo_model(demo_prompt, use_cache=True).past_key_values
print(type(past).__name__, "with", len(past.layers), "layers; layer 0 keys:", tuple(past.layers[0].keys.shape), "= (B, H, T, d_h)")

# %% [markdown]
# ## 2 · Attention of new queries against cached keys
#
# At one call the attention of a layer sees $S$ keys and values (the $T$ cached ones followed by
# the $n$ new ones, $S = T + n$) and $n$ queries, those of the new tokens. New query $i$
# ($0 \le i < n$) sits at absolute position $T + i = S - n + i$ and may attend to every key up to
# and including its own position:
#
# $$o_i = \sum_{j=0}^{S-1} \operatorname{softmax}_j\!\Big(\frac{q_i \cdot k_j}{\sqrt{d_h}} + m_{ij}\Big) v_j,
# \qquad m_{ij} = \begin{cases} 0 & j \le i + S - n\\ -\infty & \text{otherwise}\end{cases}$$
#
# What this means: the mask is the bottom-right corner of the $S \times S$ causal mask, the lower
# triangle shifted right by $S - n$ (`torch.ones(n, S).tril(diagonal=S - n)`). Two cases are
# familiar: $n = S$ (prefill, empty cache) is the ordinary causal mask, and $n = 1$ (a decode step)
# masks nothing, since the newest token may see everything. The case in between, *chunked prefill*
# ($1 < n < S$: a long prompt fed in pieces, or several draft tokens verified at once in
# `33-speculative-decoding`), is where the offset matters.
#
# **The classic bug.** `F.scaled_dot_product_attention(q, k, v, is_causal=True)` aligns its mask
# to the *top-left* corner: query $i$ sees keys $0..i$, whatever $S$ is. For $n = S$ that is right;
# for a decode step ($n = 1$) it lets the new token attend only to the first token of the text.
# (PyTorch's `torch.nn.attention.bias.causal_lower_right` builds the bottom-right variant; here
# build the boolean mask yourself.) The worked example shows the two masks for $n = 3$, $S = 7$:

# %%
n_demo, s_demo = 3, 7
print("bottom-right (right):\n", torch.ones(n_demo, s_demo).tril(diagonal=s_demo - n_demo).int())
print("top-left (is_causal=True, wrong here):\n", torch.ones(n_demo, s_demo).tril().int())

# %% [markdown]
# The course's helpers to move between the model's layout $(B, n, D)$ and the heads' layout
# $(B, H, n, d_h)$ (as in `13-attention`):

# %%
def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, n, D) -> (B, H, n, D / H): head h holds columns h*d_h .. (h+1)*d_h - 1."""
    batch, length, width = x.shape
    return x.view(batch, length, n_head, width // n_head).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, n, d_h) -> (B, n, H * d_h), the inverse of split_heads."""
    batch, n_head, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, n_head * head_dim)


# %% [markdown]
# Write `cached_attention` (about 10 minutes): scores, the bottom-right causal mask, a softmax over
# the keys, the weighted sum of values. Keep the dtype of the inputs (float64 in the tests).

# %% nbgrader={"grade": false, "grade_id": "cached_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cached_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal attention of the n newest tokens' queries against all S keys and values (cached ones first, the new ones last).

    Args:
        q: (B, H, n, d_h) float, queries of the n new tokens, at absolute positions S - n .. S - 1.
        k: (B, H, S, d_h), keys of every token so far (S >= n >= 1); the last n rows belong to the new tokens.
        v: (B, H, S, d_h), the values, in the same order.

    Returns:
        (B, H, n, d_h), same dtype as q: row i = softmax(q_i k^T / sqrt(d_h) over keys j <= S - n + i) v.

    Example:
        >>> q, k, v = torch.randn(1, 2, 1, 8), torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
        >>> cached_attention(q, k, v).shape        # one decode step against 5 keys: no key is masked
        torch.Size([1, 2, 1, 8])
    """
    ### BEGIN SOLUTION
    n, s, head_dim = q.shape[-2], k.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)                                   # (B, H, n, S)
    allowed = torch.ones(n, s, dtype=torch.bool, device=q.device).tril(diagonal=s - n)       # key j <= i + S - n
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
    ### END SOLUTION

# %%
from grader.testing import scenario


def random_qkv(batch: int, heads: int, n: int, s: int, head_dim: int, seed: int):
    """Float64 queries (B, H, n, d) and keys, values (B, H, s, d) from a fixed seed."""
    generator = torch.Generator().manual_seed(seed)
    shape = lambda length: (batch, heads, length, head_dim)
    return (torch.randn(shape(n), generator=generator, dtype=torch.float64), torch.randn(shape(s), generator=generator, dtype=torch.float64),
            torch.randn(shape(s), generator=generator, dtype=torch.float64))


def attention_by_sdpa(q, k, v):
    """The judge's attention: the last n rows of full causal attention over all S positions (PyTorch's fused kernel).

    The S - n earlier queries are random fillers: causal attention's row i never depends on another row's query.
    """
    n, s = q.shape[-2], k.shape[-2]
    filler = torch.zeros(*q.shape[:-2], s - n, q.shape[-1], dtype=q.dtype)
    return F.scaled_dot_product_attention(torch.cat([filler, q], dim=-2), k, v, is_causal=True)[..., s - n:, :]


# %% nbgrader={"grade": true, "grade_id": "cached_attention_correct", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""cached_attention equals the last n rows of causal attention over all S positions: the causal mask aligned to the bottom right (query i sees keys up to S - n + i), for a prefill, a decode step and a chunk in between"""
from grader.testing import expect, learner

q, k, v = random_qkv(1, 2, 4, 4, 8, 0)          # prefill: n = S, the ordinary causal mask
got = learner.cached_attention(q, k, v)
expect.shape(got, (1, 2, 4, 8), what="cached_attention on a prefill of 4 tokens", hint="the output has one row per query: (B, H, n, d_h)")
expect.dtype(got, torch.float64, what="cached_attention on float64 inputs", hint="keep the inputs' dtype")
expect.close(got, attention_by_sdpa(q, k, v), atol=1e-12, rtol=1e-10, what="cached_attention on a prefill (n = S = 4)",
             hint="scale the scores by 1/sqrt(d_h), mask keys j > i, softmax over the keys (the last axis)")
### BEGIN HIDDEN TESTS
q, k, v = random_qkv(1, 2, 1, 6, 8, 1)          # one decode step: the new token sees all 6 keys
got = learner.cached_attention(q, k, v)
expect.shape(got, (1, 2, 1, 8), what="cached_attention on a decode step (n = 1, S = 6)")
expect.close(got, attention_by_sdpa(q, k, v), atol=1e-12, rtol=1e-10, what="cached_attention on a decode step (n = 1 query against S = 6 keys)",
             hint="the newest token sits at position S - 1 and may attend to every key; a mask aligned to the top left (is_causal=True, tril() without an offset) lets it see only key 0")
for batch, heads, n, s, head_dim, seed in ((2, 3, 3, 7, 4, 2), (1, 1, 5, 9, 16, 3), (3, 2, 2, 3, 8, 4)):
    q, k, v = random_qkv(batch, heads, n, s, head_dim, seed)
    got = learner.cached_attention(q, k, v)
    expect.shape(got, (batch, heads, n, head_dim), what=f"cached_attention on a chunk of n = {n} new tokens after {s - n} cached ones")
    want = attention_by_sdpa(q, k, v)
    expect.close(got, want, atol=1e-12, rtol=1e-10, what=f"cached_attention on a chunk of n = {n} new tokens after {s - n} cached ones (B={batch}, H={heads}, d_h={head_dim})",
                 hint="new query i sits at position S - n + i: it sees keys j <= S - n + i (tril(diagonal=S - n)), never a later new token")
# the mask is causal: a change in the last key moves only the last query's output
q, k, v = random_qkv(1, 2, 3, 5, 8, 5)
before = learner.cached_attention(q, k, v)
k_changed = k.clone(); k_changed[..., -1, :] += 3.0
after = learner.cached_attention(q, k_changed, v)
expect.shape(before, (1, 2, 3, 8), what="cached_attention on a chunk of 3 after 2 cached")
expect.shape(after, (1, 2, 3, 8), what="cached_attention with the last key changed")
expect.close(after[..., :-1, :], before[..., :-1, :], atol=1e-12, what="the outputs of the earlier new tokens when only the newest key changes",
             hint="the newest key belongs to the newest token: earlier tokens must not attend to it (a causal mask inside the chunk)")
# large scores: a stable softmax
q, k, v = random_qkv(1, 1, 2, 4, 8, 6)
got = learner.cached_attention(q * 300.0, k * 300.0, v)
expect.shape(got, (1, 1, 2, 8), what="cached_attention on scores of thousands")
expect.finite(got, what="cached_attention on scores of thousands", hint="use torch.softmax (it subtracts the maximum) and -inf, not a large negative number added after exp")
expect.close(got, attention_by_sdpa(q * 300.0, k * 300.0, v), atol=1e-10, rtol=1e-8, what="cached_attention on scores of thousands")
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · The cache itself
#
# A cache holds, for each layer, the keys and the values of every token seen so far, in the
# layout attention consumes, $(B, H_{kv}, T, d_h)$, the time axis third. One operation matters:
# `update(layer, k_new, v_new)` appends the new tokens' keys and values along the time axis and
# returns the layer's *whole* keys and values for the attention call. Its length $T$ (the number
# of tokens it holds, the same in every layer once a forward pass is done) is where the next token
# goes: its position id.
#
# **Concatenate or preallocate.** The simplest cache concatenates (`torch.cat`), which allocates a
# new tensor and copies the whole cache at every step and every layer: $O(T)$ bytes moved per step,
# harmless on a CPU model this size, and what transformers' `DynamicCache` does. Serving systems
# preallocate a buffer of the maximum length and write into it (`StaticCache`, which also lets
# `torch.compile` see fixed shapes), or allocate it in fixed-size pages (vLLM, section 7). The
# interface is the same; write the concatenating one (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "KVCache", "locked": false, "schema_version": 3, "solution": true, "task": false}
class KVCache:
    """Keys and values of every layer, for every token fed so far.

    Attributes:
        keys, values: lists of n_layer entries, each None (nothing cached yet) or a (B, H_kv, T, d_h) tensor.

    Example:
        >>> cache = KVCache(2)
        >>> k, v = cache.update(0, torch.zeros(1, 4, 3, 32), torch.zeros(1, 4, 3, 32))
        >>> cache.length, tuple(k.shape)          # layer 0 now holds 3 tokens
        (3, (1, 4, 3, 32))
    """

    def __init__(self, n_layer: int):
        ### BEGIN SOLUTION
        self.keys: list[torch.Tensor | None] = [None] * n_layer
        self.values: list[torch.Tensor | None] = [None] * n_layer
        ### END SOLUTION

    @property
    def length(self) -> int:
        """T, the number of tokens cached (in layer 0): 0 for an empty cache."""
        ### BEGIN SOLUTION
        return 0 if self.keys[0] is None else self.keys[0].shape[-2]
        ### END SOLUTION

    def update(self, layer: int, k_new: torch.Tensor, v_new: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append k_new, v_new (B, H_kv, n, d_h) to the layer's cache along the time axis; return its keys and values (B, H_kv, T + n, d_h)."""
        ### BEGIN SOLUTION
        if self.keys[layer] is None:
            self.keys[layer], self.values[layer] = k_new, v_new
        else:
            self.keys[layer] = torch.cat([self.keys[layer], k_new], dim=-2)
            self.values[layer] = torch.cat([self.values[layer], v_new], dim=-2)
        return self.keys[layer], self.values[layer]
        ### END SOLUTION

# %%
def cache_inputs(n_layer: int, lengths: list[int], seed: int) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Random float64 (k_new, v_new) of shape (2, 3, n, 4) for every length and layer, in the order they are fed: [step][layer]."""
    generator = torch.Generator().manual_seed(seed)
    return [[(torch.randn(2, 3, n, 4, generator=generator, dtype=torch.float64), torch.randn(2, 3, n, 4, generator=generator, dtype=torch.float64))
             for _ in range(n_layer)] for n in lengths]


@scenario
def cache_updates(ns, n_layer, lengths, seed):
    """Feed cache_inputs to every layer of a KVCache, step by step; record what update returns, the length, and the final keys and values."""
    cache = ns.KVCache(n_layer)
    returned, lengths_seen = [], [int(cache.length)]
    for step in ns.cache_inputs(n_layer, lengths, seed):
        for layer, (k_new, v_new) in enumerate(step):
            k, v = cache.update(layer, k_new, v_new)
            returned.append((k.clone(), v.clone()))
        lengths_seen.append(int(cache.length))
    return {"returned": returned, "lengths": lengths_seen,
            "keys": [None if t is None else t.clone() for t in cache.keys], "values": [None if t is None else t.clone() for t in cache.values]}


# %% nbgrader={"grade": true, "grade_id": "kv_cache_appends", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""KVCache.update appends the new keys and values along the time axis of their own layer and returns the whole layer; length counts the tokens cached"""
from grader.testing import expect, learner

got = cache_updates.learner(1, [3], 0)
expect.equal(got["lengths"], [0, 3], what="KVCache.length before and after caching 3 tokens", hint="length is the size of the time axis (dim -2) of layer 0's keys, 0 when empty")
expect.shape(got["returned"][0][0], (2, 3, 3, 4), what="the keys update returns after the first 3 tokens")
### BEGIN HIDDEN TESTS
got = cache_updates.learner(3, [4, 1, 2, 1], 1)
expect.equal(got["lengths"], [0, 4, 5, 7, 8], what="KVCache.length after caching 4, 1, 2 and 1 tokens",
             hint="each update adds k_new.shape[-2] tokens to its layer; length reads layer 0")
fed = cache_inputs(3, [4, 1, 2, 1], 1)
for layer in range(3):
    want_k = torch.cat([step[layer][0] for step in fed], dim=-2)
    want_v = torch.cat([step[layer][1] for step in fed], dim=-2)
    expect.shape(got["keys"][layer], (2, 3, 8, 4), what=f"the keys of layer {layer} after 8 tokens",
                 hint="concatenate along the time axis (dim=-2), layout (B, H, T, d_h)")
    expect.shape(got["values"][layer], (2, 3, 8, 4), what=f"the values of layer {layer} after 8 tokens")
    expect.close(got["keys"][layer], want_k, atol=0, rtol=0, what=f"the keys of layer {layer} after 4 updates",
                 hint="each layer keeps its own keys, oldest first; append, do not overwrite or prepend")
    expect.close(got["values"][layer], want_v, atol=0, rtol=0, what=f"the values of layer {layer} after 4 updates",
                 hint="values are stored beside keys, in the same order (not the keys twice)")
for step, n_so_far in enumerate([4, 5, 7, 8]):
    for layer in range(3):
        k, v = got["returned"][3 * step + layer]
        expect.shape(k, (2, 3, n_so_far, 4), what=f"the keys update returns at step {step} in layer {layer}",
                     hint="update returns the layer's whole cache after appending, old tokens and new")
        expect.shape(v, (2, 3, n_so_far, 4), what=f"the values update returns at step {step} in layer {layer}")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · A GPT-2 forward pass that reads and fills the cache
#
# Now your own forward pass of the course model, on its own weights, one module at a time. The
# course model is a transformers `GPT2LMHeadModel`; its parts, for `model` of it:
#
# | part | module | what it computes, on (B, n, D) |
# |---|---|---|
# | token embedding | `model.transformer.wte` | ids (B, n) -> (B, n, D) |
# | position embedding | `model.transformer.wpe` | position ids (n,) -> (n, D) |
# | block $\ell$ | `model.transformer.h[l]` | pre-norm: `ln_1`, attention, residual; `ln_2`, `mlp`, residual |
# | attention in | `block.attn.c_attn` | (B, n, D) -> (B, n, 3D): $[q \mid k \mid v]$, split with `.split(D, dim=-1)` |
# | attention out | `block.attn.c_proj` | (B, n, D) -> (B, n, D) |
# | final norm, head | `model.transformer.ln_f`, `model.lm_head` | (B, n, D) -> (B, n, V) |
#
# (`c_attn` and `c_proj` are GPT-2's `Conv1D`, a linear layer whose weight is stored as
# (in, out); calling the module handles that.) The block, with the cache, for the $n$ new tokens:
#
# $$h = \mathrm{LN}_1(x),\quad [q \mid k \mid v] = h W_{\text{attn}} + b,\quad
# (K, V) = \text{cache.update}(\ell, k, v),\quad x \leftarrow x + \text{c\_proj}\big(\text{merge}(\text{attention}(q, K, V))\big),\quad
# x \leftarrow x + \mathrm{MLP}(\mathrm{LN}_2(x)).$$
#
# **Positions.** The new tokens sit at positions $T, \dots, T + n - 1$, where $T$ is the cache's
# length *before* this call; their position embeddings are `wpe(arange(T, T + n))`. Read $T$
# before the first layer's update: after it, layer 0 already holds the new tokens.
#
# What this means: the only differences from an uncached forward are the position offset, the
# `update` call and the bottom-right mask. With an empty cache the function is an ordinary
# forward pass and must give `model(ids).logits` exactly; after any split of a text into a prefill
# and later calls, the logits of the pieces, concatenated, must equal the logits of the whole.
#
# Write `forward_with_cache` (about 15 minutes). The tests compare it to `model(ids).logits` in
# float64 (`load_course_model(torch.float64)`), where the two agree to about $10^{-13}$.

# %% nbgrader={"grade": false, "grade_id": "forward_with_cache", "locked": false, "schema_version": 3, "solution": true, "task": false}
def forward_with_cache(model: nn.Module, ids: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """The logits of n new tokens given the tokens already in the cache; appends the new keys and values to the cache.

    Args:
        model: a GPT2LMHeadModel (the course model or new_model(...)), in eval mode; its modules are used one by one.
        ids: (B, n) int64, the new tokens, at positions cache.length .. cache.length + n - 1.
        cache: a KVCache of model.config.n_layer layers, empty or holding the earlier tokens; updated in place.

    Returns:
        (B, n, V) logits in the model's dtype: equal to model(all_tokens).logits[:, -n:] for all_tokens = the cached tokens + ids.

    Example:
        >>> model, cache = load_course_model(), KVCache(4)
        >>> forward_with_cache(model, encode("ROMEO:")[None], cache).shape, cache.length
        (torch.Size([1, 6, 65]), 6)
    """
    ### BEGIN SOLUTION
    transformer, n_head, width = model.transformer, model.config.n_head, model.config.n_embd
    start = cache.length                                                     # read before layer 0 appends the new tokens
    positions = torch.arange(start, start + ids.shape[1], device=ids.device)
    x = transformer.wte(ids) + transformer.wpe(positions)
    for layer, block in enumerate(transformer.h):
        q, k, v = block.attn.c_attn(block.ln_1(x)).split(width, dim=-1)
        keys, values = cache.update(layer, split_heads(k, n_head), split_heads(v, n_head))
        x = x + block.attn.c_proj(merge_heads(cached_attention(split_heads(q, n_head), keys, values)))
        x = x + block.mlp(block.ln_2(x))
    return model.lm_head(transformer.ln_f(x))
    ### END SOLUTION

# %%
def judge_model(model_seed, dtype=torch.float64):
    """The course model (model_seed None) or a small random GPT2LMHeadModel of TINY's shape, in dtype, eval mode."""
    if model_seed is None:
        return load_course_model(dtype)
    torch.manual_seed(model_seed)
    return new_model(**TINY).to(dtype).eval()


@scenario
def cached_forward_run(ns, texts, chunks, model_seed=None, dtype="float64"):
    """Feed the texts (same length) to forward_with_cache in chunks of the given sizes; the logits of every chunk and the cache."""
    import torch
    from course_model import encode, load_course_model, new_model
    torch_dtype = getattr(torch, dtype)
    if model_seed is None:
        model = load_course_model(torch_dtype)
    else:
        torch.manual_seed(model_seed)
        model = new_model(n_layer=2, n_embd=32, n_head=2).to(torch_dtype).eval()
    ids = torch.stack([encode(t) for t in texts])
    cache = ns.KVCache(model.config.n_layer)
    logits, lengths, start = [], [], 0
    with torch.no_grad():
        for n in chunks:
            logits.append(ns.forward_with_cache(model, ids[:, start:start + n], cache).detach().clone())
            lengths.append(int(cache.length))
            start += n
    return {"logits": logits, "lengths": lengths, "ids": ids,
            "keys": [t.detach().clone() for t in cache.keys], "values": [t.detach().clone() for t in cache.values]}


def logits_of_model(ids, model_seed=None, dtype=torch.float64):
    """The judge's logits: transformers' own forward over the whole sequence."""
    with torch.no_grad():
        return judge_model(model_seed, dtype)(ids).logits


# %% grader={"time_limit": 45} nbgrader={"grade": true, "grade_id": "forward_prefill_matches_model", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""forward_with_cache on an empty cache is the model's own forward: logits equal model(ids).logits (float64, 1e-10), and the cache holds exactly the keys and values of transformers' past_key_values"""
from grader.testing import expect, learner

got = cached_forward_run.learner(["ROMEO:\nI will"], [13])
expect.shape(got["logits"][0], (1, 13, 65), what="forward_with_cache on a prefill of 13 tokens", hint="(B, n, V): logits for every new token")
expect.dtype(got["logits"][0], torch.float64, what="the logits of the float64 course model", hint="compute in the model's dtype")
expect.equal(got["lengths"], [13], what="cache.length after a prefill of 13 tokens", hint="forward_with_cache must update the cache of every layer")
### BEGIN HIDDEN TESTS
expect.close(got["logits"][0], logits_of_model(got["ids"]), atol=1e-10, rtol=1e-10, what="forward_with_cache on a prefill (empty cache) of the float64 course model",
             hint="pre-norm blocks: x + c_proj(attention(ln_1(x))), then x + mlp(ln_2(x)); ln_f before lm_head; positions 0..n-1 from wpe")
batch = cached_forward_run.learner(["First Citizen:", "MENENIUS: Why,", "KING RICHARD!!"], [14], 7)
expect.shape(batch["logits"][0], (3, 14, 65), what="forward_with_cache on a batch of 3 with a small random model")
expect.close(batch["logits"][0], logits_of_model(batch["ids"], 7), atol=1e-10, rtol=1e-10, what="forward_with_cache on a batch of 3, a random model with 2 layers and 2 heads",
             hint="read the number of heads and the width from model.config, do not hard-code the course model's 4 heads")
with torch.no_grad():
    past = judge_model(None)(got["ids"], use_cache=True).past_key_values
expect.equal(len(got["keys"]), len(past.layers), what="the number of layers in the cache")
for layer in range(len(past.layers)):
    expect.shape(got["keys"][layer], tuple(past.layers[layer].keys.shape), what=f"the cached keys of layer {layer}", hint="layout (B, H, T, d_h), like transformers' cache")
    expect.shape(got["values"][layer], tuple(past.layers[layer].values.shape), what=f"the cached values of layer {layer}")
    expect.close(got["keys"][layer], past.layers[layer].keys, atol=1e-10, rtol=1e-10, what=f"the cached keys of layer {layer} against transformers' past_key_values",
                 hint="cache the keys of the layer's own input after ln_1, split into heads: the k third of c_attn's output")
    expect.close(got["values"][layer], past.layers[layer].values, atol=1e-10, rtol=1e-10, what=f"the cached values of layer {layer} against transformers' past_key_values",
                 hint="values are the last third of c_attn's output")
### END HIDDEN TESTS

# %% grader={"time_limit": 45} nbgrader={"grade": true, "grade_id": "forward_incremental_matches_model", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""a prefill followed by single-token steps, and a prefill in chunks, give exactly the logits of the uncached model on the whole text (float64 to 1e-10, float32 to 2e-5), for a batch of one and of several"""
from grader.testing import expect, learner

got = cached_forward_run.learner(["ROMEO:\nI will"], [10, 1, 1, 1])
expect.equal([tuple(t.shape) for t in got["logits"]], [(1, 10, 65), (1, 1, 65), (1, 1, 65), (1, 1, 65)], what="the logits' shapes of a prefill of 10 and three steps")
expect.equal(got["lengths"], [10, 11, 12, 13], what="cache.length after a prefill of 10 and after each of three steps")
### BEGIN HIDDEN TESTS
want = logits_of_model(got["ids"])
expect.close(got["logits"][0], want[:, :10], atol=1e-10, rtol=1e-10, what="the prefill's logits (float64 course model)",
             hint="the prefill is an ordinary causal forward pass")
expect.close(torch.cat(got["logits"][1:], dim=1), want[:, 10:], atol=1e-10, rtol=1e-10, what="the logits of three single-token steps after a prefill of 10 (float64 course model)",
             hint="a new token at position cache.length needs wpe(cache.length), not wpe(0); its query attends to every cached key and its own")
chunked = cached_forward_run.learner(["ROMEO:\nI will", "JULIET:\nO Rom"], [3, 4, 1, 5])
expect.equal([tuple(t.shape) for t in chunked["logits"]], [(2, 3, 65), (2, 4, 65), (2, 1, 65), (2, 5, 65)], what="the logits' shapes of chunks of 3, 4, 1 and 5 tokens, batch of 2")
expect.close(torch.cat(chunked["logits"], dim=1), logits_of_model(chunked["ids"]), atol=1e-10, rtol=1e-10,
             what="the logits of a batch of 2 fed in chunks of 3, 4, 1 and 5 tokens (float64 course model)",
             hint="inside a chunk of n tokens after T cached ones, new token i sees keys j <= T + i: the causal mask shifted by the cache length")
tiny = cached_forward_run.learner(["And if thou", "Good morrow"], [4, 1, 1, 2, 1, 2], 11)
expect.equal([tuple(t.shape) for t in tiny["logits"]], [(2, 4, 65), (2, 1, 65), (2, 1, 65), (2, 2, 65), (2, 1, 65), (2, 2, 65)],
             what="the logits' shapes of a random model fed in 6 chunks")
expect.close(torch.cat(tiny["logits"], dim=1), logits_of_model(tiny["ids"], 11), atol=1e-10, rtol=1e-10,
             what="the logits of a random 2-layer, 2-head model fed in chunks of 4, 1, 1, 2, 1, 2 (batch of 2)")
single = cached_forward_run.learner(["ROMEO:\nI will"], [8, 1, 1, 1, 1, 1], None, "float32")
expect.equal([tuple(t.shape) for t in single["logits"]], [(1, 8, 65)] + [(1, 1, 65)] * 5, what="the logits' shapes of a prefill of 8 and five steps")
expect.dtype(single["logits"][0], torch.float32, what="the logits of the float32 course model")
expect.close(torch.cat(single["logits"], dim=1), logits_of_model(single["ids"], None, torch.float32), atol=2e-5, rtol=1e-5,
             what="the logits of the float32 course model, a prefill of 8 and five steps (float32 rounding allows 2e-5)")
### END HIDDEN TESTS

# %% [markdown]
# A first check of your forward, the same one the tests make: feed a line in pieces and compare
# each piece's logits with the model's own logits on the whole line.

# %%
check_model = load_course_model(torch.float64)
check_ids = encode("KING RICHARD III:\nNow is the winter")[None]
try:
    check_cache = KVCache(check_model.config.n_layer)
    with torch.no_grad():
        pieces = [forward_with_cache(check_model, check_ids[:, a:b], check_cache) for a, b in ((0, 18), (18, 19), (19, 25), (25, 35))]
        full = check_model(check_ids).logits
    print(f"largest difference over {check_ids.shape[1]} positions: {float((torch.cat(pieces, dim=1) - full).abs().max()):.2e}; cache length {check_cache.length}")
except NotImplementedError:
    print("write cached_attention, KVCache and forward_with_cache first")

# %% [markdown]
# ## 5 · Greedy generation with the cache
#
# With the forward pass, generation is a prefill and a loop of single-token steps:
#
# 1. `logits = forward_with_cache(model, prompt, cache)`: the whole prompt at once; the cache now
#    holds $P$ tokens, and `logits[:, -1]` predicts the first new token;
# 2. append its argmax; feed *only that token* to `forward_with_cache`, whose last logits give the
#    next one; repeat until `n_new` tokens are generated.
#
# Each token is fed exactly once: the prompt at prefill, each generated token once, in the step
# after it was chosen (the last one is never fed: nothing follows it). What this means for the
# tests: the tokens must be *identical* to those of the uncached loop and of
# `model.generate(do_sample=False)`, since both compute the same logits. Greedy decoding is the
# rule of `30-decoding`; any other rule (sampling, top-p) uses the same loop with a different
# choice of the next token.
#
# The uncached loop, for comparison (and for the timings below):

# %%
def generate_uncached(model: nn.Module, prompt: torch.Tensor, n_new: int) -> torch.Tensor:
    """Greedy decoding that re-runs the model on the whole text at every step: (B, P) -> (B, P + n_new)."""
    tokens = prompt
    with torch.no_grad():
        for _ in range(n_new):
            next_token = model(tokens).logits[:, -1].argmax(dim=-1, keepdim=True)
            tokens = torch.cat([tokens, next_token], dim=1)
    return tokens


# %% [markdown]
# Write `generate_cached` (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "generate_cached", "locked": false, "schema_version": 3, "solution": true, "task": false}
def generate_cached(model: nn.Module, prompt: torch.Tensor, n_new: int) -> torch.Tensor:
    """Greedy decoding with a KV cache: a prefill of the prompt, then one single-token forward_with_cache per new token.

    Args:
        model: a GPT2LMHeadModel in eval mode.
        prompt: (B, P) int64, P >= 1 (every row the same length).
        n_new: tokens to generate, >= 0, with P + n_new <= model.config.n_positions.

    Returns:
        (B, P + n_new) int64: the prompt followed by the greedy tokens, equal to generate_uncached(model, prompt, n_new).

    Example:
        >>> decode(generate_cached(load_course_model(), encode("ROMEO:")[None], 10)[0])
        'ROMEO:\\nAnd the c'    # the course model's greedy continuation, as generate_uncached gives it
    """
    ### BEGIN SOLUTION
    tokens = prompt
    if n_new == 0:
        return tokens
    cache = KVCache(model.config.n_layer)
    with torch.no_grad():
        logits = forward_with_cache(model, prompt, cache)                      # prefill: the whole prompt once
        for step in range(n_new):
            next_token = logits[:, -1].argmax(dim=-1, keepdim=True)            # (B, 1)
            tokens = torch.cat([tokens, next_token], dim=1)
            if step < n_new - 1:
                logits = forward_with_cache(model, next_token, cache)          # decode: only the new token
    return tokens
    ### END SOLUTION

# %%
@scenario
def generation_run(ns, texts, n_new, model_seed=None):
    """generate_cached on the course model (or a small random one) from prompts of equal length."""
    import torch
    from course_model import encode, load_course_model, new_model
    if model_seed is None:
        model = load_course_model()
    else:
        torch.manual_seed(model_seed)
        model = new_model(n_layer=2, n_embd=32, n_head=2).eval()
    prompt = torch.stack([encode(t) for t in texts])
    return {"tokens": ns.generate_cached(model, prompt, n_new), "prompt": prompt}


def tokens_of_transformers(prompt, n_new, model_seed=None):
    """The judge's greedy tokens: transformers' generate, do_sample=False, with its own cache."""
    model = judge_model(model_seed, torch.float32)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.generate(prompt, max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False,
                              attention_mask=torch.ones_like(prompt))


# %% grader={"time_limit": 60} nbgrader={"grade": true, "grade_id": "generate_cached_matches_uncached", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""generate_cached produces exactly the greedy tokens of the uncached model and of transformers' generate(do_sample=False), for a batch of one and of three, and n_new = 0 and 1"""
from grader.testing import expect, learner

got = generation_run.learner(["ROMEO:\n"], 12)
expect.shape(got["tokens"], (1, 19), what="generate_cached from a prompt of 7 tokens, 12 new", hint="return the prompt followed by the new tokens: (B, P + n_new)")
expect.dtype(got["tokens"], torch.int64, what="the tokens generate_cached returns", hint="token ids are int64 (argmax returns int64)")
expect.equal(got["tokens"][:, :7], got["prompt"], what="the first 7 tokens (the prompt) of generate_cached's output")
### BEGIN HIDDEN TESTS
expect.equal(got["tokens"], generate_uncached(judge_model(None, torch.float32), got["prompt"], 12), what="generate_cached's 12 greedy tokens against the uncached model (course model)",
             hint="prefill the prompt once, then feed each new token once, alone: never the whole sequence again, never the last prompt token twice")
batch = generation_run.learner(["First Citizen:\n", "MENENIUS:\nWhat ", "KING RICHARD:\nO"], 20)
expect.shape(batch["tokens"], (3, 35), what="generate_cached on a batch of 3 prompts of 15 tokens, 20 new")
expect.equal(batch["tokens"], tokens_of_transformers(batch["prompt"], 20), what="generate_cached on a batch of 3 against transformers' generate(do_sample=False)",
             hint="each new token is the argmax of the last position's logits; every row keeps its own cache rows")
tiny = generation_run.learner(["To be, or not"], 15, 5)
expect.shape(tiny["tokens"], (1, 28), what="generate_cached with a small random model, 15 new tokens")
expect.equal(tiny["tokens"], tokens_of_transformers(tiny["prompt"], 15, 5), what="generate_cached with a small random model against transformers' generate")
one = generation_run.learner(["ROMEO:"], 1)
expect.shape(one["tokens"], (1, 7), what="generate_cached with n_new = 1", hint="one new token comes from the prefill's last logits")
expect.equal(one["tokens"], tokens_of_transformers(one["prompt"], 1), what="generate_cached with n_new = 1")
# up to the full context: P + n_new = n_positions = 256, so no forward call may go past the last token
full_context = generation_run.learner(["First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\nFirst Citizen:\n"
                                       "You are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\nFirst Citizen:\n"
                                       "First, you know Caius Marcius is chief enemy to the people.\n"], 6)
expect.shape(full_context["tokens"], (1, 256), what="generate_cached from a prompt of 250 tokens, 6 new (the full context of 256)")
expect.equal(full_context["tokens"], tokens_of_transformers(full_context["prompt"], 6), what="generate_cached up to the full context of 256 positions",
             hint="the last new token is never fed to the model: nothing follows it, and position 256 does not exist")
none = generation_run.learner(["ROMEO:"], 0)
expect.shape(none["tokens"], (1, 6), what="generate_cached with n_new = 0", hint="n_new = 0 returns the prompt unchanged")
expect.equal(none["tokens"], none["prompt"], what="generate_cached with n_new = 0")
### END HIDDEN TESTS

# %% [markdown]
# ### The speedup, measured
#
# Now time both decoders on the course model, from the same prompt, to the full context of 256
# characters, and record the time of every single step (about 3 seconds). The uncached step
# re-runs the model on all $t$ tokens; the cached one runs it on one token and attends to $t$
# cached keys. On a model this small, the fixed cost of a forward call (Python and PyTorch
# overhead of a few dozen small operations) is a large part of a cached step, so the measured ratio
# is smaller than the FLOP ratio of section 1; on a GPU with a large model it is the reading of
# the weights (section 6).

# %%
def time_steps(model: nn.Module, prompt: torch.Tensor, n_new: int, cached: bool) -> tuple[torch.Tensor, np.ndarray]:
    """Greedy decoding, cached or not, with the wall time of every step (s); returns (tokens, seconds per step)."""
    tokens, seconds = prompt, []
    cache = KVCache(model.config.n_layer)
    with torch.no_grad():
        for step in range(n_new):
            start = time.perf_counter()
            if cached:
                logits = forward_with_cache(model, tokens if step == 0 else tokens[:, -1:], cache)
            else:
                logits = model(tokens).logits
            tokens = torch.cat([tokens, logits[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
            seconds.append(time.perf_counter() - start)
    return tokens, np.array(seconds)


speed_model = load_course_model()
speed_prompt = encode("ROMEO:\n")[None]
try:
    uncached_tokens, uncached_seconds = time_steps(speed_model, speed_prompt, 249, cached=False)
    cached_tokens, cached_seconds = time_steps(speed_model, speed_prompt, 249, cached=True)
    print("identical tokens:", torch.equal(uncached_tokens, cached_tokens))
    print(f"uncached {uncached_seconds.sum():.2f} s, cached {cached_seconds.sum():.2f} s for 249 tokens: "
          f"speedup {uncached_seconds.sum() / cached_seconds.sum():.1f}x "
          f"({249 / uncached_seconds.sum():.0f} vs {249 / cached_seconds.sum():.0f} tokens/s)")
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    axes[0].plot(np.arange(7, 256), 1e3 * uncached_seconds, label="uncached: model(all tokens)", alpha=0.8)
    axes[0].plot(np.arange(7, 256), 1e3 * cached_seconds, label="cached: forward_with_cache(one token)", alpha=0.8)
    axes[0].set(xlabel="position of the token fed last", ylabel="ms per step", title="time of one step"); axes[0].legend()
    axes[1].plot(np.arange(7, 256), np.cumsum(uncached_seconds), label="uncached")
    axes[1].plot(np.arange(7, 256), np.cumsum(cached_seconds), label="cached")
    axes[1].set(xlabel="position", ylabel="seconds", title="total time so far"); axes[1].legend()
    plt.tight_layout(); plt.show()
except NotImplementedError:
    print("write forward_with_cache first")

# %% [markdown]
# Read the left panel: the uncached step time grows with the position (the whole text is
# re-processed; linear at this size, quadratic once attention dominates), the cached one is
# nearly flat (one token, plus an attention over $t$ keys that is cheap next to the matrix
# products). The first cached step is the prefill. The total (right) is quadratic against
# linear, which is why no one serves a model without a cache.
#
# On the two-core CPU that wrote this notebook the reference ran 249 tokens in 1.78 s uncached and
# 0.38 s cached: a speedup of **4.7x** (140 against 660 tokens/s), far below the 122x of the
# multiply-add count, because a 0.8M-parameter model spends most of a cached step in per-call
# overhead. transformers' own cache gave only 2.1x in section 1, on a text of at most 77 tokens,
# where re-running the model costs little; the ratio grows with the length generated and with the
# size of the model.

# %% [markdown]
# ## 6 · How much memory the cache takes
#
# Each layer caches a key and a value vector for every key/value head, every token and every
# sequence of the batch:
#
# $$\boxed{\;\text{bytes} = 2 \cdot L \cdot B \cdot T \cdot H_{kv} \cdot d_h \cdot b\;}, \qquad d_h = D / H,$$
#
# with $b$ bytes per number (2 in float16 or bfloat16, 1 in int8 or FP8). The 2 counts keys *and*
# values. Note $H_{kv}$, not $H$: with grouped-query attention (`18-llama`) the $H$ query heads
# share $H_{kv}$ key/value heads, and only those are cached; the head dimension is still $D/H$.
#
# **Worked example: Llama 2 7B** ($L = 32$, $H = H_{kv} = 32$, $D = 4096$, $d_h = 128$, float16):
# $2 \cdot 32 \cdot 32 \cdot 128 \cdot 2 = 524\,288$ bytes, **0.5 MiB per token**. Its full context
# of 4096 tokens is 2 GiB per sequence; a batch of 16 such sequences holds 32 GiB of cache, more
# than the 13.5 GB of weights. **Llama 2 70B** ($L = 80$, $H = 64$, $H_{kv} = 8$, $D = 8192$):
# $2 \cdot 80 \cdot 8 \cdot 128 \cdot 2 = 327\,680$ bytes, 320 KiB per token, *less* than the 7B
# model thanks to GQA; with $H_{kv} = 64$ it would be 2.5 MiB. **GPT-2 small** ($L = 12$, $H = 12$,
# $D = 768$): 36 KiB per token in float16. The course model: $2 \cdot 4 \cdot 128 \cdot 4$ bytes =
# 4 KiB per token in float32, 1 MiB for its whole context.
#
# Write `kv_cache_bytes` (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "kv_cache_bytes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def kv_cache_bytes(model_config: dict, seq_len: int, batch: int, bytes_per_element: int) -> int:
    """The bytes a KV cache of seq_len tokens for batch sequences takes: 2 * n_layer * batch * seq_len * n_kv_head * head_dim * bytes.

    Args:
        model_config: {"n_layer": L, "n_head": H, "n_embd": D} and optionally "n_kv_head": H_kv (default H, no GQA);
            head_dim = D // H.
        seq_len: T >= 0 tokens cached per sequence; batch: B >= 0 sequences.
        bytes_per_element: 4 float32, 2 float16 / bfloat16, 1 int8 / FP8.

    Returns:
        An int.

    Example:
        >>> kv_cache_bytes({"n_layer": 32, "n_head": 32, "n_embd": 4096}, 1, 1, 2)     # Llama 2 7B, float16
        524288
    """
    ### BEGIN SOLUTION
    n_kv_head = model_config.get("n_kv_head", model_config["n_head"])
    head_dim = model_config["n_embd"] // model_config["n_head"]
    return 2 * model_config["n_layer"] * batch * seq_len * n_kv_head * head_dim * bytes_per_element
    ### END SOLUTION

# %%
LLAMA2_7B = {"n_layer": 32, "n_head": 32, "n_embd": 4096}
LLAMA2_70B = {"n_layer": 80, "n_head": 64, "n_kv_head": 8, "n_embd": 8192}
LLAMA3_8B = {"n_layer": 32, "n_head": 32, "n_kv_head": 8, "n_embd": 4096}
GPT2_SMALL = {"n_layer": 12, "n_head": 12, "n_embd": 768}
FALCON_7B = {"n_layer": 32, "n_head": 71, "n_kv_head": 1, "n_embd": 4544}       # multi-query attention, d_h = 64


@scenario
def cache_nbytes_run(ns, text, dtype):
    """The bytes of the learner's KVCache after a prefill of text on the course model, and kv_cache_bytes for the same sizes."""
    import torch
    from course_model import config, encode, load_course_model
    model = load_course_model(getattr(torch, dtype))
    cache = ns.KVCache(model.config.n_layer)
    with torch.no_grad():
        ns.forward_with_cache(model, encode(text)[None].repeat(2, 1), cache)
    held = sum(t.element_size() * t.nelement() for t in cache.keys + cache.values)
    formula = ns.kv_cache_bytes(config(), len(text), 2, torch.tensor([], dtype=getattr(torch, dtype)).element_size())
    return {"held": int(held), "formula": formula}


# %% nbgrader={"grade": true, "grade_id": "kv_cache_bytes_correct", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""kv_cache_bytes is 2 L B T H_kv d_h bytes: Llama 2 7B's 0.5 MiB per token, grouped-query Llama 2 70B and Llama 3 8B, multi-query Falcon 7B, GPT-2, and the bytes of a real cache"""
from grader.testing import expect, learner

value = learner.kv_cache_bytes(LLAMA2_7B, 1, 1, 2)
expect.equal(value, 524288, what="kv_cache_bytes of Llama 2 7B for one token in float16 (the docstring's example)", hint="2 (keys and values) * layers * heads * head_dim * bytes")
### BEGIN HIDDEN TESTS
expect.true(isinstance(value, (int, np.integer)), f"kv_cache_bytes returned a {type(value).__name__}: return an int (a count of bytes)")
expect.equal(learner.kv_cache_bytes(LLAMA2_7B, 4096, 16, 2), 2 * 32 * 16 * 4096 * 32 * 128 * 2, what="kv_cache_bytes of Llama 2 7B, 16 sequences of 4096 tokens",
             hint="multiply by the batch and the sequence length")
expect.equal(learner.kv_cache_bytes(LLAMA2_70B, 1, 1, 2), 327680, what="kv_cache_bytes of Llama 2 70B (GQA, 8 of 64 heads cache keys and values) per token",
             hint="only the n_kv_head key/value heads are cached; the head dimension is n_embd // n_head")
expect.equal(learner.kv_cache_bytes(LLAMA3_8B, 8192, 1, 2), 2 * 32 * 8192 * 8 * 128 * 2, what="kv_cache_bytes of Llama 3 8B (GQA) at 8192 tokens")
expect.equal(learner.kv_cache_bytes(FALCON_7B, 2048, 4, 1), 2 * 32 * 4 * 2048 * 1 * 64 * 1, what="kv_cache_bytes of multi-query Falcon 7B in 8-bit, batch 4")
expect.equal(learner.kv_cache_bytes(GPT2_SMALL, 1024, 1, 4), 2 * 12 * 1024 * 768 * 4, what="kv_cache_bytes of GPT-2 small, full context in float32")
expect.equal(learner.kv_cache_bytes(GPT2_SMALL, 0, 8, 2), 0, what="kv_cache_bytes of an empty cache")
real = cache_nbytes_run.learner("ROMEO:\nI will", "float32")
expect.equal(real["formula"], real["held"], what="kv_cache_bytes for the course model against the bytes of the KVCache tensors after a prefill of 13 tokens, batch 2",
             hint="the formula and your cache must agree: 2 tensors per layer of (B, H, T, d_h) elements")
expect.equal(real["held"], 2 * 4 * 2 * 13 * 128 * 4, what="the bytes your KVCache holds after a prefill of 13 tokens, batch 2, float32",
             hint="each layer holds one key and one value tensor of (B, H, T, d_h); nothing else, no copies")
### END HIDDEN TESTS

# %% [markdown]
# The cache of several real models against the context length, at batch 1 and in 16-bit, beside
# the memory of their weights (dashed). For a 7B model the cache of one 32k-token conversation
# outweighs the model itself without GQA; Llama 3 8B and Mistral 7B, with 8 key/value heads, pay a
# quarter of that.

# %%
try:
    contexts = np.array([512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072])
    models = {"Llama 2 7B (MHA)": (LLAMA2_7B, 6.7e9), "Llama 3 8B (GQA 8)": (LLAMA3_8B, 8.0e9),
              "Llama 2 70B (GQA 8)": (LLAMA2_70B, 69e9), "Falcon 7B (MQA)": (FALCON_7B, 7.2e9), "GPT-2 small": (GPT2_SMALL, 0.124e9)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for (name, (cfg, n_params)), color in zip(models.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        gib = [kv_cache_bytes(cfg, int(t), 1, 2) / 2**30 for t in contexts]
        axes[0].plot(contexts, gib, "o-", color=color, label=name, ms=3)
        axes[0].axhline(2 * n_params / 2**30, color=color, ls="--", lw=0.8)
    axes[0].set(xscale="log", yscale="log", xlabel="context length T", ylabel="GiB (16-bit)", title="KV cache, batch 1 (dashed: weights)")
    axes[0].legend(fontsize=8)
    batches = np.arange(1, 65)
    for name in ("Llama 2 7B (MHA)", "Llama 3 8B (GQA 8)"):
        cfg, n_params = models[name]
        axes[1].plot(batches, [(2 * n_params + kv_cache_bytes(cfg, 4096, int(b), 2)) / 2**30 for b in batches], label=name)
    axes[1].axhline(80, color="k", lw=0.8); axes[1].text(2, 82, "one 80 GB GPU")
    axes[1].set(xlabel="batch (sequences of 4096 tokens)", ylabel="GiB: weights + cache", title="how many users fit"); axes[1].legend(fontsize=8)
    plt.tight_layout(); plt.show()
except NotImplementedError:
    print("write kv_cache_bytes first")

# %% [markdown]
# ### Why decoding is memory-bound
#
# A decode step multiplies each weight matrix by one vector per sequence: $2N$ FLOPs per token for
# $N$ parameters, but all $N$ parameters must be *read* from memory ($2N$ bytes in 16-bit), plus the
# whole cache of the sequence. Arithmetic intensity (FLOPs per byte read) is therefore about
# $B$ for a batch of $B$ sequences, against the hundreds an accelerator needs to be compute-bound
# (`22-memory`: an H100 does about 990 TFLOP/s in bf16 and reads 3.35 TB/s, a ratio of about 300).
#
# Worked example, Llama 2 7B on an H100 at batch 1: reading 13.5 GB of weights takes
# $13.5 / 3350 \approx 4$ ms, the 14 GFLOPs take 0.014 ms. Decoding runs at about 250 tokens/s
# whatever the arithmetic does, and the GPU computes 0.3 % of the time. Batching more sequences
# reads the weights once for all of them (that is why servers batch), but each sequence's cache
# is its own: at $T = 4096$ every sequence adds 2 GiB to read per step, as much as 15 % of the
# weights. At large batch and long context, the cache, not the weights, sets the speed, and its
# size sets how many users fit. Prefill is different: $P$ tokens share one read of the weights,
# so it is compute-bound, and serving systems schedule the two phases separately (chunked prefill,
# disaggregated prefill and decode).

# %%
def decode_step_time(n_params: float, cfg: dict, context: int, batch: int, bandwidth: float = 3.35e12, flops: float = 989e12) -> tuple[float, float]:
    """A lower bound on one decode step, in seconds: (time to read weights + caches, time to compute), 16-bit numbers."""
    read = 2 * n_params + (kv_cache_bytes(cfg, context, batch, 2) if context else 0)
    compute = 2 * n_params * batch + 4 * batch * context * cfg["n_layer"] * cfg["n_embd"]
    return read / bandwidth, compute / flops


try:
    for batch in (1, 16, 64, 256):
        read_s, compute_s = decode_step_time(6.7e9, LLAMA2_7B, 4096, batch)
        print(f"Llama 2 7B, H100, T=4096, batch {batch:3d}: read {1e3 * read_s:6.1f} ms, compute {1e3 * compute_s:5.2f} ms "
              f"-> at most {batch / max(read_s, compute_s):7.0f} tokens/s")
except NotImplementedError:
    print("write kv_cache_bytes first")

# %% [markdown]
# ## 7 · Making the cache smaller, and managing it
#
# **Fewer key/value heads.** Multi-query attention (Shazeer 2019, PaLM, Falcon) caches one head,
# grouped-query attention (Ainslie et al. 2023, Llama 2 70B, Llama 3, Mistral) $H_{kv} = 8$:
# the cache shrinks by $H/H_{kv}$ (8 for Llama 3 8B) at a small cost in quality, and uptraining an
# MHA checkpoint to GQA takes about 5 % of the pretraining compute. Multi-head latent attention
# (DeepSeek-V2) caches one low-rank latent of 512 numbers per token and layer instead of the keys
# and values, and re-expands it inside attention.
#
# **Fewer tokens.** A sliding window of $w$ tokens (Mistral 7B, Gemma 2 and 3 in alternate layers)
# keeps only the last $w$ keys in a ring buffer: memory $O(w)$ instead of $O(T)$ (`14-positions`;
# a layer still reaches further through the layers below it). StreamingLLM (Xiao et al. 2023)
# keeps the first few "attention sink" tokens plus a window; H2O and SnapKV evict the keys that
# received little attention.
#
# **Fewer bits.** The cache quantises well: 8-bit (FP8 or int8 with a scale per head and token) is
# routine in vLLM and TensorRT-LLM and halves the memory; KIVI (Liu et al. 2024) goes to 2 bits,
# quantising keys per channel (keys have outlier channels) and values per token (`25-quantization`).
#
# **Less waste: paged attention.** A server does not know in advance how long each answer will be.
# Preallocating the maximum length per request wastes most of it; Kwon et al. (2023, vLLM) store
# the cache in fixed blocks of 16 tokens anywhere in memory, with a block table per sequence, like
# an operating system's virtual memory. Fragmentation drops from 60-80 % to under 4 %, and
# sequences that share a prefix (a system prompt, the beams of a beam search, parallel samples)
# share its blocks copy-on-write. **Prefix caching** (vLLM, SGLang's RadixAttention) keeps the
# cache of common prompts between requests, so a shared system prompt is prefilled once.
#
# ## 8 · Failure modes practitioners hit
#
# - **Positions restart at 0.** A step that feeds one token without `position_ids = cache length`
#   encodes every new token as position 0 (learned tables) or rotates it by angle 0 (RoPE, where
#   the cache stores keys *after* rotation, `14-positions`). The output stays fluent-looking for a
#   few tokens and then degrades; only a comparison of logits with the uncached model finds it.
# - **A mask with the wrong offset.** `is_causal=True` with fewer queries than keys (top-left
#   alignment), or no mask at all on the grounds that "a decode step has one query": right for
#   decode, wrong for chunked prefill and speculative verification.
# - **Re-feeding the prefix.** Calling the model on the whole sequence *and* passing the cache
#   duplicates every key (the cache grows quadratically), shifts positions, and changes the output;
#   feeding the last prompt token again after the prefill duplicates one key.
# - **Padding in a batch.** Prompts of different lengths are padded on the *left* for generation
#   (so that every row's next token is at the same index), with an attention mask that hides the
#   pad keys in every later step too, and position ids that start at each row's first real token
#   (`attention_mask.cumsum(-1) - 1`); right padding would put pad tokens between the prompt and
#   the generated text. Here every prompt of a batch has the same length.
# - **Beam search and the cache.** When beams are reordered, the cache rows must be reordered with
#   them (`cache.reorder_cache(beam_idx)` in transformers); a beam that keeps another beam's cache
#   continues a text it never wrote. Sharing one tensor between beams without copying is fine
#   until one of them writes.
# - **Cache memory is the real limit.** Out-of-memory errors in serving come from the cache at long
#   contexts, not from the weights; plan with the formula of section 6 (and `max_num_seqs`,
#   `gpu_memory_utilization` in vLLM).
# - **Numerics.** A cached and an uncached forward compute the same function with different
#   kernels, so in float16 their logits differ in the last bits, and a greedy decoder can pick a
#   different token at a near-tie. Compare in float64 (as the tests do) before blaming the cache.
#
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | what is cached | per layer $K, V \in \mathbb{R}^{B\times H_{kv}\times T\times d_h}$; queries never | `cache.update(layer, k, v)` with `torch.cat(..., dim=-2)` | every decoder at inference |
# | mask of a cached call | query $i$ sees $j \le i + S - n$ | `torch.ones(n, S).tril(diagonal=S - n)` | decode, chunked prefill, speculative verification |
# | positions | new tokens at $T..T+n-1$ | `wpe(arange(T, T + n))`, RoPE at the same offsets | every cached step |
# | prefill and decode | prompt at once (compute-bound), then one token per step (memory-bound) | `forward(prompt)`, then `forward(next_token)` | every serving engine |
# | cost | uncached $O(T^2)$ rows per generation, cached $O(T)$ | time per step flat instead of growing | why generation is affordable |
# | memory | $2 L B T H_{kv} d_h b$ | `kv_cache_bytes(cfg, T, B, 2)` | batch size and context limits of a server |
# | making it smaller | GQA/MQA, sliding windows, 8-bit, paged blocks | `n_kv_head`, ring buffer, FP8 cache, block tables | Llama 3, Mistral, vLLM, TensorRT-LLM |

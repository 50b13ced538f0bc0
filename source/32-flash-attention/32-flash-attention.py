# %% [markdown]
# # 32 · FlashAttention: online softmax, tiling and recomputation
#
# Attention (`13-attention`) computes $O = \operatorname{softmax}(QK^\top/\sqrt d)\,V$. Written
# naively it materialises the $N\times N$ score matrix in memory, although the output is only
# $N\times d$. FlashAttention (Dao et al., 2022) never forms that matrix: it walks over blocks of
# keys and keeps, for each query row, a running maximum $m$, a running softmax denominator $\ell$
# and a running (unnormalised) output $\tilde o$, rescaling all three whenever the maximum grows.
# For a new block of scores $s_{j}$ with values $V_j$:
#
# $$\boxed{\;m' = \max\big(m,\ \max_k s_{jk}\big),\qquad
# \ell' = e^{\,m - m'}\,\ell + \sum_k e^{\,s_{jk} - m'},\qquad
# \tilde o' = e^{\,m - m'}\,\tilde o + \sum_k e^{\,s_{jk} - m'}\, v_k,\qquad
# O = \tilde o / \ell\;}$$
#
# The result is *exactly* softmax attention (not an approximation), with $O(N)$ extra memory
# instead of $O(N^2)$, and with far fewer bytes moved between the GPU's main memory and its
# on-chip memory. Why it matters for LLMs: every modern training and inference stack (PyTorch's
# `F.scaled_dot_product_attention`, vLLM, Megatron, llama.cpp) runs attention this way; it is
# what made context lengths of 32k to 1M tokens affordable, and its backward pass (recompute, do
# not store) is the pattern behind activation checkpointing.
#
# **What you will build:** the HBM-traffic count that explains why attention is memory-bound; an
# online softmax and the associative merge of two softmax states; a tiled attention forward that
# returns the output and the log-sum-exp of every row, equal to `F.scaled_dot_product_attention`
# to $10^{-5}$ in float32, causal or not; its peak extra memory, measured against the naive
# version; the blockwise backward pass recomputed from the saved log-sum-exp, checked against
# autograd and `torch.autograd.gradcheck`; the course model of `16-gpt` running on your attention;
# and, for those with a GPU, the same forward pass as a Triton kernel.

# %% [markdown]
# ## Prerequisites
#
# - `13-attention`: scaled dot-product attention, the stable softmax (subtract the maximum), the
#   causal mask, heads as batch dimensions.
# - `22-memory`: bytes of activations, arithmetic intensity and the roofline
#   $\text{attainable FLOP/s} = \min(\text{peak}, \text{bandwidth} \times \text{intensity})$.
# - `03-probability`: log-sum-exp. `05-autograd`: vector-Jacobian products.
#
# Packages: `torch` (a CPU is enough for everything except the last, GPU-tagged, section),
# `numpy`, `matplotlib`, `transformers` (the course model is a `GPT2LMHeadModel`). The Triton
# section needs `pip install triton` and a CUDA GPU; nothing else depends on it. The course
# model (`course_model.py`, its weights and configuration), Tiny Shakespeare and its licence note
# (`DATA-LICENCE.md`) come with this notebook. Nothing is downloaded.
#
# **Notation.** One attention head: queries $Q\in\mathbb{R}^{N\times d}$, keys and values
# $K, V\in\mathbb{R}^{S\times d}$ ($S = N$ in self-attention), scale $\tau = 1/\sqrt d$, scores
# $S_{ik} = \tau\, q_i\cdot k_k$ (we write $s$ for a row of scores to avoid a clash with the
# length $S$), probabilities $P = \operatorname{softmax}(S)$ row by row, output $O = PV$.
# Blocks: $B_q$ query rows and $B_k$ key rows at a time; $T_q = \lceil N/B_q\rceil$ query blocks.
# The log-sum-exp of row $i$ is $L_i = \log\sum_k e^{S_{ik}}$, so that $P_{ik} = e^{S_{ik} - L_i}$.
# Leading batch and head dimensions `(..., N, d)` are carried along unchanged.

# %%
import functools
import math
import os
import sys
import time
import warnings
import weakref

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

try:
    from course_model import encode, load_course_model
except ModuleNotFoundError:   # a script run or the grader: course_model.py lies in the working directory, beside this notebook
    sys.path.insert(0, os.getcwd())
    from course_model import encode, load_course_model


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v with the whole (..., N, S) score matrix in memory; causal keeps key j <= query i."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        allowed = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
        scores = scores.masked_fill(~allowed, -math.inf)
    return torch.softmax(scores, dim=-1) @ v


class LiveTensorBytes(TorchDispatchMode):
    """Counts the bytes of the tensors torch creates while the mode is active, and their peak while alive.

    Every tensor an operation returns is recorded by its storage (views share their base's); a
    storage counts until the last Python tensor on it is garbage-collected. On a CPU this is the
    only reliable view of torch's allocations (tracemalloc does not see them).
    """

    def __init__(self):
        super().__init__()
        self.bytes_of, self.tensors_on = {}, {}
        self.now = self.peak = 0

    def _release(self, key):
        self.tensors_on[key] -= 1
        if self.tensors_on[key] == 0:
            del self.tensors_on[key]
            self.now -= self.bytes_of.pop(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in (out if isinstance(out, (tuple, list)) else [out]):
            if isinstance(tensor, torch.Tensor):
                storage = tensor.untyped_storage()
                key = storage.data_ptr()
                if key not in self.bytes_of:
                    self.bytes_of[key], self.tensors_on[key] = storage.nbytes(), 0
                    self.now += storage.nbytes()
                    self.peak = max(self.peak, self.now)
                self.tensors_on[key] += 1
                weakref.finalize(tensor, self._release, key)
        return out


def peak_extra_bytes(function, *args, **kwargs) -> int:
    """The peak bytes of the tensors `function(*args, **kwargs)` creates (its result included), without autograd."""
    with torch.no_grad(), LiveTensorBytes() as counter:
        result = function(*args, **kwargs)
        del result
    return counter.peak


SHAKESPEARE = "ROMEO:\nBut, soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n"

# %% [markdown]
# ## 1 · Why attention is memory-bound
#
# A GPU has two memories that matter here. **HBM** (high-bandwidth memory) is large (80 GB on an
# H100) and slow-ish: about 3.35 TB/s. **SRAM** (the shared memory and registers of the streaming
# multiprocessors) is tiny (about 228 KB per SM, some 30 MB in all) and an order of magnitude
# faster. Every operation reads its inputs from HBM into SRAM, computes, and writes its result
# back to HBM. From `22-memory`, an operation that does $F$ FLOPs while moving $B$ bytes has
# arithmetic intensity $I = F/B$, and runs at
#
# $$\text{attainable FLOP/s} = \min\big(\text{peak},\ \text{bandwidth}\times I\big).$$
#
# The ridge point of an H100 in bf16 is $989\cdot 10^{12} / 3.35\cdot 10^{12} \approx 295$ FLOP
# per byte: anything less intense is limited by memory, not by arithmetic.
#
# **Standard attention** (Algorithm 0 of the FlashAttention paper) runs as three kernels, each
# going through HBM:
#
# 1. read $Q, K$ ($2Nd$ elements), compute $S = \tau QK^\top$, write $S$ ($N^2$);
# 2. read $S$ ($N^2$), compute $P = \operatorname{softmax}(S)$, write $P$ ($N^2$);
# 3. read $P$ and $V$ ($N^2 + Nd$), compute $O = PV$, write $O$ ($Nd$).
#
# That is $4Nd + 4N^2$ elements. The matrix products do $2N^2d + 2N^2d = 4N^2d$ FLOPs, so the
# intensity is about $\frac{4N^2 d}{4N^2 \cdot 2\text{ bytes}} = d/2$ FLOP per byte in bf16: 32 to
# 64 for the usual head widths, far below the ridge. The softmax kernel alone (a handful of FLOPs
# per element, 4 bytes moved per element) has an intensity near 1. Standard attention spends its
# time moving the $N\times N$ matrix, not multiplying.
#
# **FlashAttention** (the FlashAttention-2 loop order, which we follow) fuses all three steps into
# one kernel. For each block of $B_q$ query rows it reads $Q_i$ once, streams every block of $K$
# and $V$ through SRAM, and writes $O_i$ and the log-sum-exp $L_i$ once. $S$ and $P$ only ever
# exist as $B_q\times B_k$ tiles in SRAM:
#
# $$\text{elements moved} = \underbrace{Nd}_{Q} + \underbrace{T_q \cdot 2 S d}_{K, V \text{ once per query block}} + \underbrace{Nd}_{O},
# \qquad T_q = \lceil N / B_q \rceil,$$
#
# plus the $N$ log-sum-exp values, stored in float32 (4 bytes each) even when $Q, K, V$ are
# bf16. With $B_q$ chosen as large as SRAM allows ($B_q \approx M/(4d)$ for an SRAM of $M$ elements
# in the paper's analysis), the $N^2$ term becomes $\Theta(N^2 d^2/M)$: for $d = 64$ to $128$ and
# $M \approx 100$k elements that is many times fewer bytes than $4N^2$.
#
# **What this means.** The speed-up of FlashAttention does not come from doing fewer FLOPs (it
# does slightly *more*: the backward pass recomputes $S$). It comes from not writing and reading
# the $N\times N$ matrix. On GPUs the arithmetic has become so cheap that bytes are the cost.
#
# Worked example: one head of a GPT-2-small-sized layer, $N = 1024$, $d = 64$, bf16.

# %%
N_EXAMPLE, D_EXAMPLE = 1024, 64
standard_elements = 4 * N_EXAMPLE * D_EXAMPLE + 4 * N_EXAMPLE ** 2
print(f"standard attention moves {standard_elements * 2 / 2**20:.2f} MiB per head, "
      f"{standard_elements * 2 * 12 * 32 / 2**30:.2f} GiB for 12 heads x batch 32")
print(f"the N x N scores are {N_EXAMPLE**2 / standard_elements:.0%} of those elements; "
      f"intensity {4 * N_EXAMPLE**2 * D_EXAMPLE / (standard_elements * 2):.0f} FLOP/byte against a ridge of 295 on an H100")

# %% [markdown]
# Write `attention_hbm_traffic` (about 5 minutes): the bytes standard attention and
# FlashAttention move between HBM and SRAM for one head's forward pass, by the two counts above.

# %% nbgrader={"grade": false, "grade_id": "attention_hbm_traffic", "locked": false, "schema_version": 3, "solution": true, "task": false}
def attention_hbm_traffic(n: int, d: int, block_q: int, bytes_per_element: int = 2, s: int | None = None) -> dict:
    """HBM bytes read plus written by one head's attention forward pass, standard against FlashAttention(-2).

    Args:
        n: number of queries N.
        d: head width d (of queries, keys and values).
        block_q: FlashAttention's query block B_q (the last block may be partial).
        bytes_per_element: bytes of one element of Q, K, V, S, P, O (2 for bf16 and fp16).
        s: number of keys and values S; None means S = N (self-attention).

    Returns:
        {"standard": int, "flash": int}, in bytes. standard: Q and K read, S written, S read, P written,
        P read, V read, O written, each element bytes_per_element. flash: Q read once, K and V read once per
        query block (ceil(N / B_q) times), O written once, each element bytes_per_element, plus 4 bytes
        (float32) for each of the N log-sum-exp values written.

    Example:
        >>> attention_hbm_traffic(1024, 64, 128)
        {'standard': 8912896, 'flash': 2363392}
    """
    ### BEGIN SOLUTION
    s = n if s is None else s
    standard = (n * d + s * d) + n * s        # step 1: read Q and K, write S
    standard += n * s + n * s                 # step 2: read S, write P
    standard += n * s + s * d + n * d         # step 3: read P and V, write O
    query_blocks = math.ceil(n / block_q)
    flash = n * d + query_blocks * 2 * s * d + n * d
    return {"standard": standard * bytes_per_element, "flash": flash * bytes_per_element + 4 * n}
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "attention_hbm_traffic_correct", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""attention_hbm_traffic counts 4Nd + 4N^2 elements for standard attention and Nd + ceil(N/B_q) * 2Sd + Nd elements plus 4N log-sum-exp bytes for FlashAttention"""
from grader.testing import expect, learner

got = learner.attention_hbm_traffic(1024, 64, 128)
expect.true(isinstance(got, dict) and set(got) == {"standard", "flash"}, "attention_hbm_traffic returns a dict with the keys 'standard' and 'flash'")
expect.equal(int(got["standard"]), 8912896, what="standard attention's bytes for N=1024, d=64 in bf16 (the docstring's example)",
             hint="Q, K read; S written, read; P written, read; V read; O written: 4Nd + 4N^2 elements of 2 bytes")
### BEGIN HIDDEN TESTS
expect.equal(int(got["flash"]), 2363392, what="FlashAttention's bytes for N=1024, d=64, B_q=128 in bf16 (the docstring's example)",
             hint="Q read once, K and V read once per query block, O written once, plus 4 bytes of float32 log-sum-exp per row")
for n, d, block_q, size, s in [(1000, 64, 128, 2, None), (4096, 128, 64, 2, None), (7, 16, 3, 4, None), (100, 32, 16, 2, 300), (1, 8, 64, 4, 1)]:
    got = learner.attention_hbm_traffic(n, d, block_q, size, s)
    expect.true(isinstance(got, dict) and set(got) == {"standard", "flash"}, f"attention_hbm_traffic({n}, {d}, {block_q}, {size}, {s}) returns a dict with the keys 'standard' and 'flash'")
    keys = n if s is None else s
    expect.equal(int(got["standard"]), (2 * n * d + 2 * keys * d + 4 * n * keys) * size, what=f"standard attention's bytes for N={n}, S={keys}, d={d}, {size} bytes per element",
                 hint="read Q (Nd), K (Sd), V (Sd); write and read S and P (4NS); write O (Nd)")
    expect.equal(int(got["flash"]), (2 * n * d + math.ceil(n / block_q) * 2 * keys * d) * size + 4 * n,
                 what=f"FlashAttention's bytes for N={n}, S={keys}, d={d}, B_q={block_q}, {size} bytes per element",
                 hint="K and V are streamed once for every query block, ceil(N / B_q) of them (the last block may be partial); the log-sum-exp is float32")
### END HIDDEN TESTS

# %% [markdown]
# The counts against the sequence length for $d = 64$, $B_q = 128$, bf16, and the arithmetic
# intensity $4N^2d$ FLOPs over those bytes, against the ridge points of an A100 and an H100. For
# long sequences the standard kernels saturate at $d/2 = 32$ FLOP per byte and FlashAttention at
# about $4N^2d / (\lceil N/B_q\rceil\, 2Nd \cdot 2) \approx B_q = 128$: four times closer to the
# ridge, and on real hardware the tiles are also reused from L2 cache, so measured FlashAttention
# kernels run at 50 to 75 % of peak FLOP/s where the standard ones reach 10 to 30 %.

# %%
lengths = 2 ** np.arange(7, 17)
traffic = [attention_hbm_traffic(int(n), 64, 128) for n in lengths]
flops = 4.0 * lengths ** 2 * 64
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].loglog(lengths, [t["standard"] for t in traffic], "o-", label="standard: $(4Nd + 4N^2)\\cdot 2$ B")
axes[0].loglog(lengths, [t["flash"] for t in traffic], "s-", label="FlashAttention-2, $B_q = 128$")
axes[0].set(xlabel="sequence length N", ylabel="HBM bytes per head", title="bytes moved")
axes[0].legend()
axes[1].semilogx(lengths, flops / [t["standard"] for t in traffic], "o-", label="standard")
axes[1].semilogx(lengths, flops / [t["flash"] for t in traffic], "s-", label="FlashAttention-2")
for ridge, name in [(312 / 2.039, "A100 ridge"), (989 / 3.35, "H100 ridge")]:
    axes[1].axhline(ridge, ls="--", c="grey")
    axes[1].text(lengths[0], ridge * 1.03, name, color="grey")
axes[1].set(xlabel="sequence length N", ylabel="FLOP per byte", title="arithmetic intensity")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2 · The online softmax
#
# The obstacle to tiling is the softmax: its denominator needs *every* score of the row before
# the first probability is known, and the stable version needs the row maximum first as well.
# Computed naively that is three passes over the row (maximum, sum, normalise). Milakov and
# Gimelshein (2018) noticed that the first two fuse into one pass. Keep, after seeing the first
# $t$ scores,
#
# $$m_t = \max_{k\le t} s_k, \qquad \ell_t = \sum_{k\le t} e^{s_k - m_t}.$$
#
# When score $s_{t+1}$ arrives, the new maximum is $m_{t+1} = \max(m_t, s_{t+1})$, and every old
# term $e^{s_k - m_t}$ must become $e^{s_k - m_{t+1}} = e^{s_k - m_t}\, e^{m_t - m_{t+1}}$. So
#
# $$\ell_{t+1} = e^{\,m_t - m_{t+1}}\,\ell_t + e^{\,s_{t+1} - m_{t+1}},$$
#
# and at the end $\operatorname{softmax}(s)_k = e^{s_k - m_n}/\ell_n$. The correction factor
# $e^{m_t - m_{t+1}} \le 1$ is exactly 1 while the maximum stays put and shrinks the old sum when
# a larger score appears. Every exponent is $\le 0$, so nothing overflows, even for scores of
# $10^4$. The same update works for a whole block of scores at once: replace $s_{t+1}$ by the
# block's maximum in $m$ and by the block's sum of exponentials in $\ell$.
#
# **What this means.** $(m, \ell)$ is a two-number summary of any set of scores, enough to
# normalise them later. Summaries of disjoint sets combine:
#
# $$(m_1, \ell_1) \oplus (m_2, \ell_2) = \big(m,\ e^{m_1 - m}\ell_1 + e^{m_2 - m}\ell_2\big),
# \quad m = \max(m_1, m_2),$$
#
# and $\oplus$ is associative and commutative with the identity $(-\infty, 0)$ (the summary of no
# scores). Associativity is what lets a GPU split a row among threads, thread blocks or even
# different GPUs (ring attention, split-K "flash-decoding") and merge the pieces in any grouping.
# $m + \log \ell$ is the log-sum-exp of the set.
#
# Worked example: the running maximum and sum along one row, computed here with library
# cumulative operations ($m_t$ by `cummax`, $\ell_t = e^{\text{logcumsumexp}_t - m_t}$). Every jump
# of the maximum (dashed lines) shrinks the running sum, by $e^{m_t - m_{t+1}}$.

# %%
gen = torch.Generator().manual_seed(2)
row = torch.randn(40, generator=gen, dtype=torch.float64)
row[[5, 17, 30]] += torch.tensor([2.5, 3.5, 2.0], dtype=torch.float64)
running_max = torch.cummax(row, 0).values
running_sum = torch.exp(torch.logcumsumexp(row, 0) - running_max)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
axes[0].plot(row, ".", label="score $s_t$")
axes[0].step(range(40), running_max, where="post", label="running max $m_t$")
axes[0].set(xlabel="position t", title="scores and running maximum")
axes[0].legend()
axes[1].step(range(40), running_sum, where="post", c="C2", label="running sum $\\ell_t$")
for t in torch.nonzero(running_max[1:] > running_max[:-1]).flatten() + 1:
    axes[1].axvline(int(t), ls="--", c="grey", lw=0.8)
axes[1].set(xlabel="position t", title="$\\ell_t = e^{m_{t-1} - m_t}\\,\\ell_{t-1} + e^{s_t - m_t}$")
axes[1].legend()
plt.tight_layout()
plt.show()
print(f"final m + log l = {float(running_max[-1] + running_sum[-1].log()):.12f},  torch.logsumexp = {float(row.logsumexp(0)):.12f}")

# %% [markdown]
# Write `online_softmax` (about 10 minutes): walk along the last axis in blocks of `block_size`,
# updating $(m, \ell)$ with the rescaled sum, then normalise. Keep $m$ and $\ell$ in the input's
# dtype; start from $m = -\infty$, $\ell = 0$. A row may begin with masked scores ($-\infty$): while
# the maximum is still $-\infty$, exponentiate against 0 instead of against $m$ (the guard below).
# Write `merge_softmax_states` (about 5 minutes):
# the $\oplus$ above, elementwise on tensors of states. Careful with two empty states: $m_1 = m_2
# = -\infty$ gives $e^{-\infty - (-\infty)} = e^{\text{NaN}}$; the merge of nothing with nothing is
# $(-\infty, 0)$. (This is the "fully masked row" of a padded or causal batch, and a classic source
# of NaN in attention kernels.)

# %% nbgrader={"grade": false, "grade_id": "online_softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def online_softmax(x: torch.Tensor, block_size: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Softmax over the last axis in one pass over blocks of `block_size` columns, keeping a running max and sum.

    Args:
        x: (..., n) float tensor of scores (entries may be -inf, but not a whole row); n >= 1.
        block_size: columns read per step (the last block may be shorter).

    Returns:
        (p, m, l): p (..., n) the softmax of x over its last axis; m (...) the row maxima; l (...) the
        sums of exp(x - m) over each row. All in x's dtype.

    Example:
        >>> p, m, l = online_softmax(torch.tensor([[1.0, 3.0, 2.0]]), block_size=2)
        >>> m, l     # 3 and e^-2 + 1 + e^-1
        (tensor([3.]), tensor([1.5032]))
    """
    ### BEGIN SOLUTION
    m = torch.full(x.shape[:-1], -math.inf, dtype=x.dtype)
    l = torch.zeros(x.shape[:-1], dtype=x.dtype)
    for start in range(0, x.shape[-1], block_size):
        block = x[..., start:start + block_size]
        m_new = torch.maximum(m, block.amax(dim=-1))
        shift = torch.where(m_new == -math.inf, torch.zeros_like(m_new), m_new)   # nothing seen yet but -inf: keep (-inf, 0), not NaN
        l = torch.exp(m - shift) * l + torch.exp(block - shift.unsqueeze(-1)).sum(dim=-1)   # rescale the old sum to the new max
        m = m_new
    return torch.exp(x - m.unsqueeze(-1)) / l.unsqueeze(-1), m, l
    ### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "merge_softmax_states", "locked": false, "schema_version": 3, "solution": true, "task": false}
def merge_softmax_states(m1: torch.Tensor, l1: torch.Tensor, m2: torch.Tensor, l2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The softmax state (max, sum of exp(x - max)) of the union of two disjoint sets of scores.

    Args:
        m1, l1: (...) float, the state of the first set (m1 = -inf, l1 = 0 for an empty set).
        m2, l2: (...) float, the state of the second set, same shape and dtype.

    Returns:
        (m, l): (...) each, with m = max(m1, m2) and l = l1 exp(m1 - m) + l2 exp(m2 - m); (-inf, 0) where both are empty.

    Example:
        >>> merge_softmax_states(torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([1.0]))
        (tensor([1.]), tensor([1.3679]))
    """
    ### BEGIN SOLUTION
    m = torch.maximum(m1, m2)
    finite_m = torch.where(m == -math.inf, torch.zeros_like(m), m)   # both empty: exp(-inf - 0) = 0, not exp(nan)
    return m, l1 * torch.exp(m1 - finite_m) + l2 * torch.exp(m2 - finite_m)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "online_softmax_correct", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""online_softmax equals torch.softmax for every block size, returns the row maximum and the rescaled sum, and stays finite for scores of 1e4"""
from grader.testing import expect, learner

p, m, l = learner.online_softmax(torch.tensor([[1.0, 3.0, 2.0]], dtype=torch.float64), 2)
expect.shape(p, (1, 3), what="the probabilities of the docstring's example")
expect.shape(m, (1,), what="the running max of the docstring's example", hint="one maximum per row: the last axis is reduced")
expect.shape(l, (1,), what="the running sum of the docstring's example")
expect.close(m, torch.tensor([3.0], dtype=torch.float64), atol=1e-12, what="the maximum of [1, 3, 2]")
### BEGIN HIDDEN TESTS
expect.close(l, torch.tensor([math.exp(-2) + 1 + math.exp(-1)], dtype=torch.float64), atol=1e-12, what="the sum of exp(x - max) of [1, 3, 2] read in blocks of 2",
             hint="when the maximum grows from 1 to 3, multiply the old sum by exp(m_old - m_new) before adding the new block")
gen = torch.Generator().manual_seed(32)
x = 3 * torch.randn(4, 5, 37, generator=gen, dtype=torch.float64)
rising = torch.linspace(-5, 20, 26, dtype=torch.float64).reshape(2, 13)   # the maximum grows at every step
for scores, name in [(x, "random scores of shape (4, 5, 37)"), (rising, "rows whose maximum grows at every position")]:
    for block in (1, 4, 13, 64):
        p, m, l = learner.online_softmax(scores, block)
        expect.shape(p, tuple(scores.shape), what=f"the probabilities of {name}, block_size={block}")
        expect.shape(m, tuple(scores.shape[:-1]), what=f"the maxima of {name}, block_size={block}")
        expect.shape(l, tuple(scores.shape[:-1]), what=f"the sums of {name}, block_size={block}")
        expect.dtype(p, torch.float64, what=f"the probabilities of {name} in float64")
        expect.close(m, scores.amax(-1), atol=1e-12, what=f"the row maxima of {name}, block_size={block}")
        expect.close(l, torch.exp(scores - scores.amax(-1, keepdim=True)).sum(-1), atol=1e-10, rtol=1e-12, what=f"the running sums of {name}, block_size={block}",
                     hint="l is the sum of exp(x - final max): rescale the running sum by exp(m_old - m_new) whenever the maximum grows")
        expect.close(p, torch.softmax(scores, -1), atol=1e-12, rtol=1e-10, what=f"online_softmax of {name}, block_size={block}, against torch.softmax")
huge = torch.tensor([[1e4, 0.0, -1e4, 1e4 + 1.0], [-1e4, -1e4 - 2.0, -1e4 - 1.0, -1e4 - 3.0]], dtype=torch.float64)
for block in (1, 3):
    p, m, l = learner.online_softmax(huge, block)
    expect.shape(p, (2, 4), what=f"online_softmax of scores of +-1e4, block_size={block}")
    expect.finite(p, what=f"online_softmax of scores of +-1e4, block_size={block}", hint="subtract the running maximum inside every exponential: exp(1e4) overflows")
    expect.close(p, torch.softmax(huge, -1), atol=1e-12, what=f"online_softmax of scores of +-1e4, block_size={block}")
masked = torch.tensor([[-math.inf, 1.0, -math.inf, 2.0, 0.5]], dtype=torch.float64)
p, m, l = learner.online_softmax(masked, 1)
expect.shape(p, (1, 5), what="online_softmax of a row starting with -inf")
expect.close(p, torch.softmax(masked, -1), atol=1e-12, what="online_softmax of a row with masked (-inf) entries, the first one among them",
             hint="start from m = -inf, l = 0; exp(-inf - m) is 0 once m is finite")
p32, m32, l32 = learner.online_softmax(x.float(), 8)
expect.dtype(p32, torch.float32, what="the probabilities of a float32 input", hint="create m and l in x.dtype")
expect.close(p32, torch.softmax(x.float(), -1), atol=1e-6, what="online_softmax in float32")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "merge_softmax_states_correct", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""merge_softmax_states gives the state of the concatenated scores, is associative and commutative, has (-inf, 0) as identity and merges two empty states without NaN"""
from grader.testing import expect, learner


def state_of(scores):
    """(max, sum of exp(x - max)) over the last axis, by library operations."""
    top = scores.amax(-1)
    return top, torch.exp(scores - top.unsqueeze(-1)).sum(-1)


m, l = learner.merge_softmax_states(torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([1.0]))
expect.shape(m, (1,), what="the merged max of the docstring's example")
expect.shape(l, (1,), what="the merged sum of the docstring's example")
expect.close(m, torch.tensor([1.0]), atol=1e-6, what="the merged max of the docstring's example")
### BEGIN HIDDEN TESTS
expect.close(l, torch.tensor([1 + math.exp(-1)]), atol=1e-6, what="the merged sum of the docstring's example", hint="l1 * exp(m1 - m) + l2 * exp(m2 - m)")
gen = torch.Generator().manual_seed(320)
parts = [4 * torch.randn(6, n, generator=gen, dtype=torch.float64) for n in (3, 9, 5)]
parts[1][:3] += 10.0    # the maximum sits in different parts for different rows
states = [state_of(part) for part in parts]
m, l = learner.merge_softmax_states(*states[0], *states[1])
expect.shape(m, (6,), what="the merged max of two states of 6 rows")
expect.shape(l, (6,), what="the merged sum of two states of 6 rows")
want = state_of(torch.cat(parts[:2], -1))
expect.close(m, want[0], atol=1e-12, what="the merged max against the max of the concatenated scores")
expect.close(l, want[1], atol=1e-10, rtol=1e-12, what="the merged sum against the sum of the concatenated scores",
             hint="rescale both sums to the common maximum: l1 * exp(m1 - m) + l2 * exp(m2 - m)")
left = learner.merge_softmax_states(*learner.merge_softmax_states(*states[0], *states[1]), *states[2])
right = learner.merge_softmax_states(*states[0], *learner.merge_softmax_states(*states[1], *states[2]))
swapped = learner.merge_softmax_states(*states[2], *learner.merge_softmax_states(*states[1], *states[0]))
everything = state_of(torch.cat(parts, -1))
for got, name in [(left, "(a + b) + c"), (right, "a + (b + c)"), (swapped, "c + (b + a)")]:
    expect.shape(got[1], (6,), what=f"the merged sum {name}")
    expect.close(got[0], everything[0], atol=1e-12, what=f"the max of three merged states, {name}")
    expect.close(got[1], everything[1], atol=1e-10, rtol=1e-12, what=f"the sum of three merged states, {name}")
empty_m, empty_l = torch.full((6,), -math.inf, dtype=torch.float64), torch.zeros(6, dtype=torch.float64)
m, l = learner.merge_softmax_states(*states[0], empty_m, empty_l)
expect.shape(l, (6,), what="the merged sum with the empty state")
expect.close(l, states[0][1], atol=1e-12, what="merging a state with the empty state (-inf, 0)", hint="the empty state is the identity")
m, l = learner.merge_softmax_states(empty_m, empty_l, empty_m, empty_l)
expect.shape(m, (6,), what="the merged max of two empty states")
expect.shape(l, (6,), what="the merged sum of two empty states")
expect.true(bool(torch.isfinite(l).all()), "merging two empty states (-inf, 0) gives NaN: exp(-inf - (-inf)) is exp(nan); replace an infinite common maximum by 0 before exponentiating")
expect.close(l, empty_l, atol=0, what="the sum of two merged empty states")
expect.true(bool((m == -math.inf).all()), "the max of two merged empty states should stay -inf")
big = learner.merge_softmax_states(torch.tensor([1e4], dtype=torch.float64), torch.tensor([2.0], dtype=torch.float64), torch.tensor([-1e4], dtype=torch.float64), torch.tensor([3.0], dtype=torch.float64))
expect.shape(big[1], (1,), what="the merged sum of states with maxima +-1e4")
expect.close(big[1], torch.tensor([2.0], dtype=torch.float64), atol=1e-12, what="merging states with maxima 1e4 and -1e4", hint="exponentiate only differences m_i - m, which are <= 0")
### END HIDDEN TESTS

# %% [markdown]
# Your online softmax on the worked example's row, block by block: the state after each block of 8
# is what a GPU thread block would hold after reading 8 keys.

# %%
for block in (1, 8, 40):
    p_online, m_online, l_online = online_softmax(row, block)
    print(f"block_size={block:2d}: m={float(m_online):.4f}  l={float(l_online):.6f}  max |p - torch.softmax| = {float((p_online - torch.softmax(row, 0)).abs().max()):.1e}")

# %% [markdown]
# ## 3 · Tiled attention: the FlashAttention forward pass
#
# Attention's output row is a softmax-weighted average, so the online softmax extends to it.
# Keep an unnormalised output $\tilde o_t = \sum_{k \le t} e^{s_k - m_t} v_k$; when the maximum
# moves, every term changes by the same factor $e^{m_t - m_{t+1}}$ as $\ell$ does, so
#
# $$\tilde o_{t+1} = e^{\,m_t - m_{t+1}}\,\tilde o_t + e^{\,s_{t+1} - m_{t+1}}\, v_{t+1},
# \qquad o = \tilde o_n / \ell_n .$$
#
# In blocks, for one block of query rows $Q_i$ ($B_q\times d$) and one block of keys and values
# $K_j, V_j$ ($B_k \times d$), everything in SRAM:
#
# 1. $S_{ij} = \tau\, Q_i K_j^\top$ ($B_q\times B_k$), masked to $-\infty$ where causal forbids;
# 2. $m' = \max(m, \operatorname{rowmax} S_{ij})$, $\tilde P_{ij} = e^{S_{ij} - m'}$,
#    $\alpha = e^{m - m'}$;
# 3. $\ell \leftarrow \alpha\,\ell + \operatorname{rowsum}\tilde P_{ij}$,
#    $\tilde O \leftarrow \operatorname{diag}(\alpha)\,\tilde O + \tilde P_{ij} V_j$, $m \leftarrow m'$.
#
# After the last key block: $O_i = \operatorname{diag}(\ell)^{-1}\tilde O$ and the log-sum-exp
# $L_i = m + \log \ell$, saved for the backward pass (one number per row: $O(N)$).
#
# **Causal masking by blocks.** Query $i$ may see key $k$ iff $k \le i$ (the top-left convention
# of `F.scaled_dot_product_attention(is_causal=True)`, also for $N \ne S$). Use the *global*
# indices $i = i_0 + r$ and $k = k_0 + c$ of a tile starting at $(i_0, k_0)$: a tile entirely above
# the diagonal ($k_0 > i_0 + B_q - 1$) is skipped without being computed (about half of all tiles:
# the causal speed-up), a tile entirely below is used unmasked, and only tiles crossing the
# diagonal need the mask. The diagonal itself is kept: every query sees itself, so no row is ever
# fully masked.
#
# **What this means.** The loop over key blocks is the online softmax with a vector $v_k$ riding
# along each score. The $N\times S$ matrix is never formed; only $B_q\times B_k$ tiles exist, one
# at a time. (FlashAttention-1 put the loop over key blocks *outside* and wrote $O_i$, $m_i$,
# $\ell_i$ back to HBM after every key block; FlashAttention-2 swapped the loops, so each query
# block's state stays on chip, is normalised once at the end, and different query blocks run on
# different thread blocks in parallel.)
#
# The tiling pattern for $N = S = 10$ with $B_q = 4$, $B_k = 3$: each rectangle is one tile; grey
# tiles are skipped under the causal mask, orange ones are masked inside, green ones are full. The
# numbers give the order in which one query block's thread block visits its tiles.

# %%
def draw_tiles(ax, n, s, block_q, block_k, causal):
    """Outline the (block_q x block_k) tiles of an n x s score matrix, coloured by what the causal mask does to them."""
    allowed = torch.ones(n, s, dtype=torch.bool).tril() if causal else torch.ones(n, s, dtype=torch.bool)
    ax.imshow(allowed.numpy(), cmap="Blues", alpha=0.35, extent=(0, s, n, 0))
    for i0 in range(0, n, block_q):
        for step, k0 in enumerate(range(0, s, block_k)):
            rows, cols = min(block_q, n - i0), min(block_k, s - k0)
            tile = allowed[i0:i0 + rows, k0:k0 + cols]
            colour = "lightgrey" if not tile.any() else ("tab:green" if tile.all() else "tab:orange")
            ax.add_patch(plt.Rectangle((k0, i0), cols, rows, fill=colour == "lightgrey", facecolor=colour, edgecolor=colour, lw=2.5, alpha=0.9 if colour == "lightgrey" else 1))
            if tile.any():
                ax.text(k0 + cols / 2, i0 + rows / 2, str(step + 1), ha="center", va="center", fontsize=11)
    ax.set(xlim=(0, s), ylim=(n, 0), xlabel="key index k", ylabel="query index i")


fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
draw_tiles(axes[0], 10, 10, 4, 3, causal=False)
axes[0].set_title("no mask: every tile is computed")
draw_tiles(axes[1], 10, 10, 4, 3, causal=True)
axes[1].set_title("causal: grey skipped, orange masked inside")
plt.tight_layout()
plt.show()

# %% [markdown]
# Worked example: two key blocks by hand for one query, against the full softmax.

# %%
gen = torch.Generator().manual_seed(3)
q1, k6, v6 = torch.randn(1, 4, generator=gen, dtype=torch.float64), torch.randn(6, 4, generator=gen, dtype=torch.float64), torch.randn(6, 4, generator=gen, dtype=torch.float64)
state_m, state_l, state_o = torch.tensor([-math.inf], dtype=torch.float64), torch.zeros(1, dtype=torch.float64), torch.zeros(1, 4, dtype=torch.float64)
for k0 in (0, 3):
    tile = q1 @ k6[k0:k0 + 3].T / 2.0                       # tau = 1/sqrt(4)
    new_m = torch.maximum(state_m, tile.amax(-1))
    alpha, p_tile = torch.exp(state_m - new_m), torch.exp(tile - new_m[:, None])
    state_l, state_o, state_m = alpha * state_l + p_tile.sum(-1), alpha[:, None] * state_o + p_tile @ v6[k0:k0 + 3], new_m
    print(f"after keys {k0}..{k0 + 2}: m = {float(state_m):+.4f}, l = {float(state_l):.4f}, old state rescaled by alpha = {float(alpha):.4f}"
          + (" (the empty state: alpha = exp(-inf) = 0)" if k0 == 0 else ""))
print("max |tiled - F.scaled_dot_product_attention| =", float((state_o / state_l[:, None] - F.scaled_dot_product_attention(q1, k6, v6)).abs().max()))

# %% [markdown]
# Write `flash_attention_forward` (about 25 minutes). Loop over query blocks, and inside over key
# blocks, with the three updates above; slice with `q[..., i0:i0 + block_q, :]` so that leading
# batch and head dimensions and a partial last block come for free. Under `causal`, skip tiles
# above the diagonal and mask with global indices. Keep the input's dtype (float32 stays float32:
# that is what the $10^{-5}$ tolerance is for). Allocate only $O$, $L$ and per-block state: no
# tensor of size $N\times S$, not even in pieces kept in a list.

# %% nbgrader={"grade": false, "grade_id": "flash_attention_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def flash_attention_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_q: int = 16, block_k: int = 16,
                            causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d)) v computed tile by tile with the online softmax, never forming the (N, S) scores.

    Args:
        q: (..., N, d) float queries; k: (..., S, d) keys; v: (..., S, d_v) values (same leading dims and dtype).
        block_q, block_k: rows of q and of k/v per tile (N and S need not be multiples).
        causal: query i sees keys 0..i only (top-left aligned, as F.scaled_dot_product_attention(is_causal=True)).

    Returns:
        (o, lse): o (..., N, d_v), the attention output; lse (..., N), the log-sum-exp of each row of scaled
        (and masked) scores, log sum_k exp(q_i . k_k / sqrt(d)). Both in q's dtype.

    Example:
        >>> q = k = v = torch.randn(2, 4, 50, 8)
        >>> o, lse = flash_attention_forward(q, k, v, 16, 16, causal=True)
        >>> o.shape, lse.shape
        (torch.Size([2, 4, 50, 8]), torch.Size([2, 4, 50]))
    """
    ### BEGIN SOLUTION
    n, s = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    o = torch.empty(q.shape[:-1] + v.shape[-1:], dtype=q.dtype)
    lse = torch.empty(q.shape[:-1], dtype=q.dtype)
    for i0 in range(0, n, block_q):
        q_i = q[..., i0:i0 + block_q, :]
        rows = torch.arange(i0, i0 + q_i.shape[-2]).unsqueeze(-1)                 # global query indices, (B_q, 1)
        m = torch.full(q_i.shape[:-1], -math.inf, dtype=q.dtype)                 # running max per row
        l = torch.zeros(q_i.shape[:-1], dtype=q.dtype)                            # running sum of exp(s - m)
        acc = torch.zeros(q_i.shape[:-1] + v.shape[-1:], dtype=q.dtype)           # running unnormalised output
        for k0 in range(0, s, block_k):
            if causal and k0 > rows[-1, 0]:
                break                                                             # this tile and all later ones lie above the diagonal
            k_j, v_j = k[..., k0:k0 + block_k, :], v[..., k0:k0 + block_k, :]
            scores = q_i @ k_j.transpose(-2, -1) * scale                          # (..., B_q, B_k): the only score tile in memory
            if causal:
                cols = torch.arange(k0, k0 + k_j.shape[-2])                       # global key indices
                scores = scores.masked_fill(cols > rows, -math.inf)
            m_new = torch.maximum(m, scores.amax(dim=-1))
            p = torch.exp(scores - m_new.unsqueeze(-1))
            alpha = torch.exp(m - m_new)                                          # rescales what was accumulated under the old max
            l = alpha * l + p.sum(dim=-1)
            acc = alpha.unsqueeze(-1) * acc + p @ v_j
            m = m_new
        o[..., i0:i0 + block_q, :] = acc / l.unsqueeze(-1)
        lse[..., i0:i0 + block_q] = m + torch.log(l)
    return o, lse
    ### END SOLUTION

# %%
from grader.testing import scenario


def reference_attention(q, k, v, causal):
    """The judge's attention and log-sum-exp, by PyTorch: F.scaled_dot_product_attention and torch.logsumexp of the scaled, masked scores."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(~torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril(), -math.inf)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal), scores.logsumexp(-1)


def random_qkv(shape_q, shape_kv, dtype, seed, spread=1.0):
    """Seeded q (shape_q), k and v (shape_kv) of the given dtype; spread scales q (larger scores)."""
    gen = torch.Generator().manual_seed(seed)
    q = spread * torch.randn(*shape_q, generator=gen, dtype=torch.float64)
    k, v = torch.randn(*shape_kv, generator=gen, dtype=torch.float64), torch.randn(*shape_kv, generator=gen, dtype=torch.float64)
    return q.to(dtype), k.to(dtype), v.to(dtype)


@scenario
def forward_peak_memory(ns, lengths, d, block):
    """Peak bytes of the tensors created by ns.flash_attention_forward and by ns.naive_attention (N = S = each length), without autograd."""
    import weakref
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class Live(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.bytes_of, self.tensors_on, self.now, self.peak = {}, {}, 0, 0

        def release(self, key):
            self.tensors_on[key] -= 1
            if self.tensors_on[key] == 0:
                del self.tensors_on[key]
                self.now -= self.bytes_of.pop(key)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in (out if isinstance(out, (tuple, list)) else [out]):
                if isinstance(t, torch.Tensor):
                    storage = t.untyped_storage()
                    key = storage.data_ptr()
                    if key not in self.bytes_of:
                        self.bytes_of[key], self.tensors_on[key] = storage.nbytes(), 0
                        self.now += storage.nbytes()
                        self.peak = max(self.peak, self.now)
                    self.tensors_on[key] += 1
                    weakref.finalize(t, self.release, key)
            return out

    def peak(function, *args):
        with torch.no_grad(), Live() as counter:
            result = function(*args)
            del result
        return counter.peak

    gen = torch.Generator().manual_seed(7)
    result = {"flash": [], "naive": []}
    for n in lengths:
        q, k, v = (torch.randn(1, n, d, generator=gen) for _ in range(3))
        if n == lengths[0]:   # the output too, so that memory is only credited to a correct attention
            result.update(q=q, k=k, v=v, output=ns.flash_attention_forward(q, k, v, block, block, False)[0])
        result["flash"].append(peak(ns.flash_attention_forward, q, k, v, block, block, False))
        result["naive"].append(peak(lambda a, b, c: torch.softmax(a @ b.transpose(-2, -1) / d ** 0.5, -1) @ c, q, k, v))
    return result


@scenario
def course_model_logits(ns, text, block):
    """The course model's logits on text with its attention replaced by ns.flash_attention_forward (causal), and with PyTorch's own attention."""
    import torch
    from transformers import AttentionInterface
    from course_model import encode, load_course_model

    def tiled(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        out, _ = ns.flash_attention_forward(query, key, value, block, block, True)   # (B, H, T, d) -> transformers wants (B, T, H, d)
        return out.transpose(1, 2).contiguous(), None

    AttentionInterface.register("course_tiled", tiled)
    model = load_course_model(torch.float64)
    tokens = encode(text).unsqueeze(0)
    with torch.no_grad():
        model.set_attn_implementation("sdpa")
        expected = model(tokens).logits
        model.set_attn_implementation("course_tiled")
        got = model(tokens).logits
    return {"got": got, "expected": expected}


# %% nbgrader={"grade": true, "grade_id": "flash_forward_matches_sdpa", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""flash_attention_forward equals F.scaled_dot_product_attention to 1e-5 in float32 and 1e-12 in float64, with the log-sum-exp of every row, for any block sizes, lengths that are not multiples of them, batch and head dimensions, one key and large scores"""
from grader.testing import expect, learner

q, k, v = random_qkv((2, 3, 20, 8), (2, 3, 20, 8), torch.float32, 0)
o, lse = learner.flash_attention_forward(q, k, v, 8, 8, False)
expect.shape(o, (2, 3, 20, 8), what="the output of flash_attention_forward on (2, 3, 20, 8) inputs")
expect.shape(lse, (2, 3, 20), what="the log-sum-exp of flash_attention_forward on (2, 3, 20, 8) inputs", hint="one log-sum-exp per query row")
expect.dtype(o, torch.float32, what="the output of a float32 input", hint="create the accumulators in q.dtype")
### BEGIN HIDDEN TESTS
want_o, want_lse = reference_attention(q, k, v, False)
expect.close(o, want_o, atol=1e-5, rtol=1e-5, what="flash_attention_forward in float32, N=S=20, blocks 8 x 8, against F.scaled_dot_product_attention",
             hint="for each key block: m' = max(m, rowmax S), alpha = exp(m - m'), l = alpha l + rowsum exp(S - m'), acc = alpha acc + exp(S - m') V; finally acc / l")
for shape_q, shape_kv, bq, bk, name in [((2, 3, 37, 8), (2, 3, 37, 8), 16, 8, "N=S=37, blocks 16 x 8"),
                                        ((3, 29, 16), (3, 45, 16), 5, 7, "N=29, S=45, blocks 5 x 7"),
                                        ((2, 40, 4), (2, 23, 4), 64, 64, "N=40, S=23, blocks larger than N and S"),
                                        ((1, 2, 9, 8), (1, 2, 1, 8), 4, 4, "a single key"),
                                        ((1, 8), (30, 8), 3, 4, "a single query without batch dimensions")]:
    for dtype, tol in [(torch.float32, 1e-5), (torch.float64, 1e-12)]:
        q, k, v = random_qkv(shape_q, shape_kv, dtype, 1)
        o, lse = learner.flash_attention_forward(q, k, v, bq, bk, False)
        expect.shape(o, tuple(shape_q), what=f"the output for {name}")
        expect.shape(lse, tuple(shape_q[:-1]), what=f"the log-sum-exp for {name}")
        expect.dtype(o, dtype, what=f"the output for {name} in {dtype}")
        want_o, want_lse = reference_attention(q, k, v, False)
        expect.close(o, want_o, atol=tol, rtol=tol, what=f"flash_attention_forward for {name} in {dtype} against F.scaled_dot_product_attention",
                     hint="scale the scores by 1/sqrt(d); rescale the accumulated output by exp(m_old - m_new) whenever the row maximum grows")
        expect.close(lse, want_lse, atol=tol, rtol=tol, what=f"the log-sum-exp for {name} in {dtype} against torch.logsumexp of the scaled scores",
                     hint="lse = m + log(l): the running max plus the log of the running sum, not the max alone")
q, k, v = random_qkv((2, 40, 8), (2, 40, 8), torch.float64, 12)
o, lse = learner.flash_attention_forward(q, k, v)
expect.shape(o, (2, 40, 8), what="the output with the default arguments")
expect.close(o, reference_attention(q, k, v, False)[0], atol=1e-12, rtol=1e-12, what="flash_attention_forward with the default arguments (blocks of 16, not causal)",
             hint="keep the signature's defaults: causal=False")
q, k, v = random_qkv((2, 33, 8), (2, 33, 8), torch.float64, 2, spread=300.0)   # scores of several hundred: exp would overflow unshifted
o, lse = learner.flash_attention_forward(q, k, v, 8, 8, False)
expect.shape(o, (2, 33, 8), what="the output for scores of several hundred")
expect.finite(o, what="flash_attention_forward on scores of several hundred", hint="exponentiate only S - m with the running maximum m")
expect.close(o, reference_attention(q, k, v, False)[0], atol=1e-10, rtol=1e-10, what="flash_attention_forward on scores of several hundred in float64")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "flash_forward_causal", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""with causal=True, flash_attention_forward equals F.scaled_dot_product_attention(is_causal=True) (query i sees keys 0..i, the diagonal included, global indices) for square and rectangular inputs and unequal block sizes"""
from grader.testing import expect, learner

q, k, v = random_qkv((1, 2, 12, 8), (1, 2, 12, 8), torch.float64, 3)
o, lse = learner.flash_attention_forward(q, k, v, 4, 4, True)
expect.shape(o, (1, 2, 12, 8), what="the causal output on (1, 2, 12, 8) inputs")
expect.finite(o, what="the causal output", hint="keep the diagonal: query i sees key i, so no row is fully masked")
### BEGIN HIDDEN TESTS
expect.close(o[..., 0, :], v[..., 0, :], atol=1e-12, what="the causal output of the first query (it sees only key 0, so it must equal v[0])",
             hint="mask keys k > i (strictly greater): the diagonal is allowed")
for shape_q, shape_kv, bq, bk, name in [((1, 2, 12, 8), (1, 2, 12, 8), 4, 4, "N=S=12, blocks 4 x 4"),
                                        ((2, 3, 37, 8), (2, 3, 37, 8), 16, 8, "N=S=37, blocks 16 x 8"),
                                        ((2, 30, 8), (2, 30, 8), 7, 11, "N=S=30, blocks 7 x 11"),
                                        ((2, 20, 8), (2, 45, 8), 6, 8, "N=20 queries, S=45 keys"),
                                        ((2, 45, 8), (2, 20, 8), 8, 6, "N=45 queries, S=20 keys"),
                                        ((1, 1, 8), (1, 1, 8), 16, 16, "one query and one key")]:
    for dtype, tol in [(torch.float32, 1e-5), (torch.float64, 1e-12)]:
        q, k, v = random_qkv(shape_q, shape_kv, dtype, 4)
        o, lse = learner.flash_attention_forward(q, k, v, bq, bk, True)
        expect.shape(o, tuple(shape_q), what=f"the causal output for {name}")
        expect.shape(lse, tuple(shape_q[:-1]), what=f"the causal log-sum-exp for {name}")
        want_o, want_lse = reference_attention(q, k, v, True)
        expect.finite(o, what=f"the causal output for {name}")
        expect.close(o, want_o, atol=tol, rtol=tol, what=f"causal flash_attention_forward for {name} in {dtype} against F.scaled_dot_product_attention(is_causal=True)",
                     hint="mask with global indices, key k0 + c against query i0 + r (not the positions inside the tile), and skip only tiles entirely above the diagonal")
        expect.close(lse, want_lse, atol=tol, rtol=tol, what=f"the causal log-sum-exp for {name} in {dtype}")
### END HIDDEN TESTS

# %% [markdown]
# ### The course model on your attention
#
# transformers lets a model call any registered attention function. The cell below registers
# yours (causal, blocks of 16) and runs the course model of `16-gpt` on a line of Shakespeare
# in float64, once with PyTorch's attention and once with yours; the logits must agree to rounding.

# %%
comparison = course_model_logits.on(globals(), SHAKESPEARE, 16)
print(f"{comparison['got'].shape[1]} characters, max |logits(yours) - logits(sdpa)| = {float((comparison['got'] - comparison['expected']).abs().max()):.2e}")

# %% nbgrader={"grade": true, "grade_id": "course_model_on_flash_attention", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the course model running on flash_attention_forward (causal, blocks of 16 and of 5) gives the logits of its own attention to 1e-10 in float64"""
from grader.testing import expect

got = course_model_logits.learner(SHAKESPEARE, 16)
expect.shape(got["got"], tuple(got["expected"].shape), what="the course model's logits on your attention")
expect.close(got["got"], got["expected"], atol=1e-10, rtol=1e-10, what="the course model's logits with flash_attention_forward (blocks of 16) against its own attention",
             hint="the model calls your function with (B, H, T, d) tensors and causal=True")
### BEGIN HIDDEN TESTS
got = course_model_logits.learner(SHAKESPEARE[:41], 5)
expect.shape(got["got"], tuple(got["expected"].shape), what="the course model's logits on your attention with blocks of 5")
expect.close(got["got"], got["expected"], atol=1e-10, rtol=1e-10, what="the course model's logits with flash_attention_forward (blocks of 5, 41 characters) against its own attention")
### END HIDDEN TESTS

# %% [markdown]
# ### Peak memory, measured
#
# On a CPU, PyTorch's allocations are invisible to Python's `tracemalloc`, so the setup cell
# defines `peak_extra_bytes`: a `TorchDispatchMode` sees every tensor every operation returns,
# counts its storage while a Python reference to it lives, and records the peak. Below, the naive
# attention (the whole score matrix, then the softmax of it, then the product) against your tiled
# version with blocks of 16, for $d = 16$: doubling $N$ quadruples the naive peak and roughly
# doubles the tiled one. (At very small $N$ the tiled version costs more: its per-tile state and
# temporaries are a fixed overhead that only pays off once $N^2$ outgrows it. On a GPU the same
# comparison is `torch.cuda.max_memory_allocated()`.)

# %%
memory_lengths = [32, 64, 128, 256, 512]
memory_peaks = forward_peak_memory.on(globals(), memory_lengths, 16, 16)
fig, ax = plt.subplots(figsize=(5.5, 3.6))
ax.loglog(memory_lengths, memory_peaks["naive"], "o-", label="naive: $N \\times N$ scores and weights")
ax.loglog(memory_lengths, memory_peaks["flash"], "s-", label="tiled, $B_q = B_k = 16$")
ax.loglog(memory_lengths, [4 * 16 * n for n in memory_lengths], ":", c="grey", label="the output alone, $4Nd$ bytes")
ax.set(xlabel="sequence length N", ylabel="peak bytes created", title="peak extra memory of one forward pass, float32")
ax.set_xticks(memory_lengths, [str(n) for n in memory_lengths], minor=False)
ax.xaxis.set_minor_formatter(plt.NullFormatter())
ax.legend()
plt.tight_layout()
plt.show()
for n, a, b in zip(memory_lengths, memory_peaks["naive"], memory_peaks["flash"]):
    print(f"N={n:4d}: naive {a / 1024:8.1f} KiB   tiled {b / 1024:6.1f} KiB   ratio {a / b:5.1f}")

# %% nbgrader={"grade": true, "grade_id": "flash_forward_linear_memory", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""flash_attention_forward gives the right output while the peak memory it creates grows linearly in N (under x2.6 per doubling), against quadratically for naive attention, and stays at least 4 times below the naive peak at N = 256"""
from grader.testing import expect

peaks = forward_peak_memory.learner([64, 128, 256], 16, 16)
expect.shape(peaks["flash"], (3,), what="the peak memory of flash_attention_forward at N = 64, 128, 256")
expect.shape(peaks["naive"], (3,), what="the peak memory of the naive attention at N = 64, 128, 256")
expect.true(min(peaks["flash"]) > 0, "flash_attention_forward created no tensor at all: it must return a new output tensor")
### BEGIN HIDDEN TESTS
expect.shape(peaks["output"], (1, 64, 16), what="the output of flash_attention_forward in the memory measurement")
expect.close(peaks["output"], reference_attention(peaks["q"], peaks["k"], peaks["v"], False)[0], atol=1e-5, rtol=1e-5,
             what="the output of flash_attention_forward in the memory measurement (N = 64, float32)", hint="memory counts only for a correct attention")
growth = [peaks["flash"][i + 1] / peaks["flash"][i] for i in range(2)]
naive_growth = [peaks["naive"][i + 1] / peaks["naive"][i] for i in range(2)]
expect.true(min(naive_growth) > 3.0, "the measurement failed on the naive attention itself (its peak should quadruple when N doubles)")
expect.true(max(growth) < 2.6, f"the peak memory of flash_attention_forward grows by x{max(growth):.1f} when N doubles (naive attention: x{max(naive_growth):.1f}): "
            "something of size N x S is being kept (a full score matrix, or all the tiles in a list); keep only one B_q x B_k tile and the per-row state")
expect.true(peaks["flash"][-1] * 4 < peaks["naive"][-1], f"at N = 256 flash_attention_forward peaks at {peaks['flash'][-1] / peaks['naive'][-1]:.2f} of the naive attention's memory: "
            "allocate only O, the log-sum-exp and one tile at a time")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · The backward pass: recompute, do not store
#
# Autograd on naive attention saves $P$ ($N\times S$) for the backward pass: $O(N^2)$ memory per
# head and layer, the largest activation of a transformer (`22-memory`: the $5as/h$ term). The
# FlashAttention backward saves only $Q, K, V, O$ and the $N$ log-sum-exp values $L$, and rebuilds
# each tile of $P$ when it needs it: $P_{ij} = \exp(\tau Q_i K_j^\top - L_i)$, exact and already
# normalised, because $L$ is the log of the row's final denominator.
#
# **The gradients.** With $dO$ the gradient of the loss with respect to $O$:
#
# $$dV = P^\top dO, \qquad dP = dO\, V^\top, \qquad dS = P \circ \big(dP - D\,\mathbf 1^\top\big),
# \qquad dQ = \tau\, dS\, K, \qquad dK = \tau\, dS^\top Q .$$
#
# The softmax backward for one row is $ds_k = p_k (dp_k - \sum_l p_l\, dp_l)$ (the Jacobian
# $\operatorname{diag}(p) - pp^\top$ applied to $dp$). The row sum
# $D_i = \sum_l P_{il}\, dP_{il}$ would need the whole row of $P$, but
#
# $$D_i = \sum_l P_{il}\, (dO_i\cdot v_l) = dO_i \cdot \sum_l P_{il} v_l = dO_i\cdot O_i,$$
#
# one dot product of two $d$-vectors you already have. Compute $D = \operatorname{rowsum}(dO \circ
# O)$ once, before the loop. Then every tile is independent: loop over key blocks $j$ (outer, so
# $dK_j, dV_j$ accumulate in SRAM) and query blocks $i$ (inner), recompute $P_{ij}$, and add each
# tile's contribution to $dV_j$, $dK_j$ and $dQ_i$. The recomputation costs one more matrix
# product per tile (the backward does about 2.5 times the forward's FLOPs instead of 2), and saves
# the $N^2$ reads and writes of $P$: it is faster as well as smaller.
#
# **What this means.** $L$ is the whole softmax state of a row compressed to one number: with it,
# any tile of $P$ can be rebuilt in isolation. This "recompute rather than store" trade is the
# same as activation checkpointing (`22-memory`), applied inside one operation.
#
# Write `flash_attention_backward` (about 25 minutes), with the same tiles and causal rule as the
# forward pass.

# %% nbgrader={"grade": false, "grade_id": "flash_attention_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def flash_attention_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, o: torch.Tensor, lse: torch.Tensor, d_o: torch.Tensor,
                             block_q: int = 16, block_k: int = 16, causal: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of attention with respect to q, k, v, tile by tile, recomputing P from the saved log-sum-exp.

    Args:
        q: (..., N, d), k: (..., S, d), v: (..., S, d_v): the forward pass's inputs.
        o: (..., N, d_v) and lse: (..., N): flash_attention_forward's outputs for them.
        d_o: (..., N, d_v), the gradient of the loss with respect to o.
        block_q, block_k, causal: as in flash_attention_forward.

    Returns:
        (dq, dk, dv), shaped like q, k and v, in their dtype.

    Example:
        >>> o, lse = flash_attention_forward(q, k, v, 16, 16, True)
        >>> dq, dk, dv = flash_attention_backward(q, k, v, o, lse, torch.ones_like(o), 16, 16, True)
    """
    ### BEGIN SOLUTION
    n, s = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    big_d = (d_o * o).sum(dim=-1)                                                 # D_i = dO_i . O_i = sum_l P_il dP_il
    for k0 in range(0, s, block_k):
        k_j, v_j = k[..., k0:k0 + block_k, :], v[..., k0:k0 + block_k, :]
        cols = torch.arange(k0, k0 + k_j.shape[-2])
        for i0 in range(0, n, block_q):
            q_i, do_i = q[..., i0:i0 + block_q, :], d_o[..., i0:i0 + block_q, :]
            rows = torch.arange(i0, i0 + q_i.shape[-2]).unsqueeze(-1)
            if causal and k0 > rows[-1, 0]:
                continue                                                          # tile above the diagonal: P is zero there
            scores = q_i @ k_j.transpose(-2, -1) * scale
            if causal:
                scores = scores.masked_fill(cols > rows, -math.inf)
            p = torch.exp(scores - lse[..., i0:i0 + block_q].unsqueeze(-1))       # the exact, normalised P tile
            dv[..., k0:k0 + block_k, :] += p.transpose(-2, -1) @ do_i
            dp = do_i @ v_j.transpose(-2, -1)
            ds = p * (dp - big_d[..., i0:i0 + block_q].unsqueeze(-1))
            dq[..., i0:i0 + block_q, :] += ds @ k_j * scale
            dk[..., k0:k0 + block_k, :] += ds.transpose(-2, -1) @ q_i * scale
    return dq, dk, dv
    ### END SOLUTION

# %%
@scenario
def attention_gradients(ns, q, k, v, d_o, block_q, block_k, causal):
    """ns.flash_attention_backward's (dq, dk, dv) on the output and log-sum-exp of ns.flash_attention_forward."""
    o, lse = ns.flash_attention_forward(q, k, v, block_q, block_k, causal)
    dq, dk, dv = ns.flash_attention_backward(q, k, v, o, lse, d_o, block_q, block_k, causal)
    return {"dq": dq, "dk": dk, "dv": dv}


def autograd_gradients(q, k, v, d_o, causal):
    """The judge's gradients: torch autograd through F.scaled_dot_product_attention."""
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    F.scaled_dot_product_attention(*leaves, is_causal=causal).backward(d_o)
    return [t.grad for t in leaves]


class FlashAttentionFunction(torch.autograd.Function):
    """Your forward and backward as one autograd operation: saves q, k, v, o and the log-sum-exp, never P."""

    @staticmethod
    def forward(ctx, q, k, v, block_q, block_k, causal):
        o, lse = flash_attention_forward(q, k, v, block_q, block_k, causal)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.blocks = (block_q, block_k, causal)
        return o

    @staticmethod
    def backward(ctx, d_o):
        q, k, v, o, lse = ctx.saved_tensors
        dq, dk, dv = flash_attention_backward(q, k, v, o, lse, d_o, *ctx.blocks)
        return dq, dk, dv, None, None, None


# %% nbgrader={"grade": true, "grade_id": "flash_backward_matches_autograd", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""flash_attention_backward gives the dq, dk and dv of torch autograd through F.scaled_dot_product_attention (1e-10 in float64, 1e-5 in float32), causal or not, for unequal lengths and blocks"""
from grader.testing import expect, learner

q, k, v = random_qkv((1, 2, 10, 4), (1, 2, 10, 4), torch.float64, 5)
d_o = random_qkv((1, 2, 10, 4), (1, 1), torch.float64, 6)[0]
got = attention_gradients.learner(q, k, v, d_o, 4, 4, False)
for name, shape in [("dq", (1, 2, 10, 4)), ("dk", (1, 2, 10, 4)), ("dv", (1, 2, 10, 4))]:
    expect.shape(got[name], shape, what=f"{name} on (1, 2, 10, 4) inputs")
### BEGIN HIDDEN TESTS
for shape_q, shape_kv, bq, bk, causal, name in [((1, 2, 10, 4), (1, 2, 10, 4), 4, 4, False, "N=S=10, blocks 4 x 4"),
                                                ((2, 2, 23, 8), (2, 2, 23, 8), 8, 5, False, "N=S=23, blocks 8 x 5"),
                                                ((2, 2, 23, 8), (2, 2, 23, 8), 8, 5, True, "causal, N=S=23, blocks 8 x 5"),
                                                ((3, 17, 8), (3, 30, 8), 6, 7, False, "N=17, S=30, blocks 6 x 7"),
                                                ((3, 30, 8), (3, 17, 8), 7, 6, True, "causal, N=30, S=17, blocks 7 x 6"),
                                                ((2, 9, 8), (2, 9, 8), 32, 32, True, "causal, blocks larger than N")]:
    for dtype, tol in [(torch.float64, 1e-10), (torch.float32, 1e-5)]:
        q, k, v = random_qkv(shape_q, shape_kv, dtype, 7)
        d_o = random_qkv(shape_q, (1, 1), dtype, 8)[0]
        got = attention_gradients.learner(q, k, v, d_o, bq, bk, causal)
        want = autograd_gradients(q, k, v, d_o, causal)
        for index, grad in enumerate(["dq", "dk", "dv"]):
            expect.shape(got[grad], tuple(want[index].shape), what=f"{grad} for {name}")
            expect.dtype(got[grad], dtype, what=f"{grad} for {name} in {dtype}")
        expect.close(got["dv"], want[2], atol=tol, rtol=tol, what=f"dv for {name} in {dtype} against autograd",
                     hint="dV_j = sum_i P_ij^T dO_i, with P_ij = exp(tau Q_i K_j^T - lse_i) recomputed from the saved log-sum-exp")
        expect.close(got["dq"], want[0], atol=tol, rtol=tol, what=f"dq for {name} in {dtype} against autograd",
                     hint="dS = P * (dO V^T - D) with D = rowsum(dO * O); dQ_i = tau sum_j dS_ij K_j")
        expect.close(got["dk"], want[1], atol=tol, rtol=tol, what=f"dk for {name} in {dtype} against autograd",
                     hint="dK_j = tau sum_i dS_ij^T Q_i; under causal, mask exactly as in the forward pass")
q, k, v = random_qkv((2, 40, 8), (2, 40, 8), torch.float64, 13)
d_o = random_qkv((2, 40, 8), (1, 1), torch.float64, 14)[0]
o, lse = reference_attention(q, k, v, False)
got = learner.flash_attention_backward(q, k, v, o, lse, d_o)
want = autograd_gradients(q, k, v, d_o, False)
for index, grad in enumerate(["dq", "dk", "dv"]):
    expect.shape(got[index], (2, 40, 8), what=f"{grad} with the default arguments")
    expect.close(got[index], want[index], atol=1e-10, rtol=1e-10, what=f"{grad} with the default arguments (blocks of 16, not causal)", hint="keep the signature's defaults: causal=False")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "flash_attention_gradcheck", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""your forward and backward, joined as FlashAttentionFunction, pass torch.autograd.gradcheck (finite differences) in float64, causal and not"""
from grader.testing import expect, scenario


@scenario
def gradcheck_flash(ns, causal):
    """torch.autograd.gradcheck of ns.FlashAttentionFunction on tiny float64 inputs (blocks 3 x 2)."""
    import torch
    gen = torch.Generator().manual_seed(9)
    q, k, v = (torch.randn(1, 2, n, 4, generator=gen, dtype=torch.float64, requires_grad=True) for n in (5, 4, 4))
    return bool(torch.autograd.gradcheck(lambda a, b, c: ns.FlashAttentionFunction.apply(a, b, c, 3, 2, causal), (q, k, v),
                                         eps=1e-6, atol=1e-7, raise_exception=False))


expect.true(gradcheck_flash.learner(False), "gradcheck fails: the gradients of flash_attention_backward disagree with finite differences of flash_attention_forward")
### BEGIN HIDDEN TESTS
expect.true(gradcheck_flash.learner(True), "gradcheck fails with causal=True: mask the recomputed tiles exactly as in the forward pass")
### END HIDDEN TESTS

# %% [markdown]
# What autograd would have kept: for the naive attention, the saved tensors of the graph include
# the $N\times S$ weights (here measured with the same dispatch counter, with autograd on), while
# `FlashAttentionFunction` keeps $Q, K, V, O, L$.

# %%
def saved_bytes(function, n, d=16):
    """Peak bytes created by a forward plus backward pass of function on (1, n, d) inputs, with autograd."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, n, d, generator=gen, requires_grad=True) for _ in range(3))
    with LiveTensorBytes() as counter:
        function(q, k, v).sum().backward()
    return counter.peak


for n in (64, 128, 256):
    naive_peak = saved_bytes(naive_attention, n)
    flash_peak = saved_bytes(lambda a, b, c: FlashAttentionFunction.apply(a, b, c, 16, 16, False), n)
    print(f"N={n:4d}: forward + backward peak, naive {naive_peak / 1024:7.1f} KiB, tiled {flash_peak / 1024:6.1f} KiB")

# %% [markdown]
# ## 5 · Practical considerations
#
# **Numerics of `exp`.** Every exponent in the kernel is $s - m \le 0$, so $e^{s-m}\in(0, 1]$ and
# nothing overflows; the accumulators ($m$, $\ell$, $\tilde O$) are kept in float32 even when $Q, K,
# V$ are bf16 or fp16, and $P$ is rounded to bf16 only as the input of the $PV$ product. On GPUs
# `exp` is computed as `exp2` with $\tau \log_2 e$ folded into the scale (one multiply fewer per
# score). The log-sum-exp is stored in float32: in bf16 its rounding error (about $L\cdot 2^{-8}$)
# would become a relative error of several percent on every recomputed $P$.
#
# **Fully masked rows.** With padding masks, sliding windows or bottom-right causal alignment
# ($N < S$ decoding with a KV cache), a row of a tile, or a whole row, can have no allowed key.
# Then $m = -\infty$ and $e^{s - m} = e^{-\infty + \infty} = \text{NaN}$. Kernels guard it as
# `merge_softmax_states` does: an infinite maximum is replaced by 0 before exponentiating, and a
# row with $\ell = 0$ outputs zeros (PyTorch's SDPA returns NaN for such rows on some backends and
# zeros on others: test your masks).
#
# **Dropout.** Attention dropout multiplies $P$ by a random mask. The backward pass must drop
# *the same* entries, but $P$ is never stored, so neither is the mask: kernels regenerate it from
# a counter-based RNG (Philox) seeded by (seed, offset, tile index), so any tile's mask can be
# recomputed exactly. Most current LLMs train with attention dropout 0.
#
# **What FlashAttention-2 changed** (Dao, 2023): (1) the loop order used here, query blocks
# outside, so $O_i$ stays on chip and is normalised once at the end rather than after every key
# block; (2) fewer non-matmul FLOPs (a GPU's tensor cores do matmuls about 16x faster than its
# other arithmetic, so rescalings and exponentials matter); (3) parallelism over the sequence as
# well as over batch and heads, and work split between warps so they need not share partial sums.
# FlashAttention-3 (2024) adds Hopper features: asynchronous copies (TMA), warp specialisation,
# overlapping the softmax of one tile with the matmul of the next, and FP8.
#
# **Decoding.** With one query ($N = 1$, a KV cache, `31-kv-cache`) the query loop has one block
# and a GPU would sit idle; "flash-decoding" splits the *keys* among thread blocks, each returning
# its partial $(m, \ell, \tilde o)$, and merges them with $\oplus$ (your `merge_softmax_states`,
# plus the output rescaled alongside).
#
# **Block sizes.** $B_q$ and $B_k$ are set by SRAM: $Q_i$, $K_j$, $V_j$, the $S$ tile and the
# accumulator must fit in about 100 to 228 KB. Typical values are 64 or 128 rows for $d = 64$ or
# $128$. Larger blocks mean fewer passes over $K$ and $V$ (fewer HBM bytes, section 1), until
# registers spill.
#
# **Common bugs, each a test above:** the running sum not rescaled when the maximum grows;
# exponentiating unshifted scores (NaN at $10^4$); the output accumulator not rescaled; returning
# the maximum as the log-sum-exp (the backward then recomputes an unnormalised $P$); the causal
# mask applied with tile-local indices, or excluding the diagonal; the backward without $D$, or
# renormalising $P$ inside each tile instead of using the saved log-sum-exp; a forgotten
# $1/\sqrt d$.

# %% [markdown]
# ## 6 · On a GPU: the same forward pass in Triton
#
# Triton (Tillet et al., 2019) writes GPU kernels in Python, one *program* per tile of work: here
# one program per (query block, batch x head). `tl.load` brings a tile from HBM into SRAM and
# registers, `tl.dot` multiplies tiles on the tensor cores, `tl.store` writes back. The body is
# the loop you wrote, with $m$, $\ell$ and the accumulator in float32 registers:
#
# - `tl.program_id(0)` is the query block, `tl.program_id(1)` the (batch, head) pair;
# - rows beyond $N$ and keys beyond $S$ are masked on load (`mask=..., other=0.0`) and their
#   scores set to $-\infty$;
# - under `causal` the key loop stops at the end of the query block's diagonal.
#
# The kernel is built on first use (`triton` is imported inside the function, so this notebook
# runs without it). Without a GPU, `TRITON_INTERPRET=1` runs a kernel on CPU tensors with NumPy,
# slowly, which is enough to debug it. Write `flash_attention_triton` (about 40 minutes; optional
# without a GPU): the test below runs only where CUDA is present.

# %% nbgrader={"grade": false, "grade_id": "flash_attention_triton", "locked": false, "schema_version": 3, "solution": true, "task": false}
@functools.cache
def triton_flash_kernel():
    """Build (once) and return the Triton forward kernel; needs `pip install triton` and a CUDA GPU (or TRITON_INTERPRET=1)."""
    global tl                      # the kernel's body looks `tl` up among the notebook's globals
    import triton
    import triton.language as tl

    ### BEGIN SOLUTION
    @triton.jit
    def flash_forward_kernel(Q, K, V, O, LSE, n_q, n_k, scale,
                             stride_qb, stride_qn, stride_kb, stride_kn, stride_vb, stride_vn, stride_ob, stride_on,
                             CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, D: tl.constexpr):
        block = tl.program_id(0)
        head = tl.program_id(1)
        rows = block * BLOCK_M + tl.arange(0, BLOCK_M)
        dims = tl.arange(0, D)
        q = tl.load(Q + head * stride_qb + rows[:, None] * stride_qn + dims[None, :], mask=rows[:, None] < n_q, other=0.0)
        m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
        l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
        acc = tl.zeros([BLOCK_M, D], dtype=tl.float32)
        end = n_k
        if CAUSAL:
            end = tl.minimum(n_k, (block + 1) * BLOCK_M)       # keys beyond the block's last row are never seen
        for start in range(0, end, BLOCK_N):
            cols = start + tl.arange(0, BLOCK_N)
            k = tl.load(K + head * stride_kb + cols[:, None] * stride_kn + dims[None, :], mask=cols[:, None] < n_k, other=0.0)
            v = tl.load(V + head * stride_vb + cols[:, None] * stride_vn + dims[None, :], mask=cols[:, None] < n_k, other=0.0)
            scores = tl.dot(q, tl.trans(k)) * scale
            keep = cols[None, :] < n_k
            if CAUSAL:
                keep = keep & (cols[None, :] <= rows[:, None])
            scores = tl.where(keep, scores, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(scores, 1))
            p = tl.exp(scores - m_new[:, None])
            alpha = tl.exp(m_i - m_new)
            l_i = l_i * alpha + tl.sum(p, 1)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
            m_i = m_new
        out = acc / l_i[:, None]
        tl.store(O + head * stride_ob + rows[:, None] * stride_on + dims[None, :], out.to(O.dtype.element_ty), mask=rows[:, None] < n_q)
        tl.store(LSE + head * n_q + rows, m_i + tl.log(l_i), mask=rows < n_q)

    return flash_forward_kernel
    ### END SOLUTION


def flash_attention_triton(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                           block_q: int = 64, block_k: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """flash_attention_forward as a Triton kernel: q (..., N, d), k and v (..., S, d) on CUDA (fp16, bf16 or fp32),
    d a power of two >= 16. Returns (o (..., N, d) in q's dtype, lse (..., N) in float32)."""
    import triton

    n, s, d = q.shape[-2], k.shape[-2], q.shape[-1]
    q3, k3, v3 = (t.reshape(-1, t.shape[-2], d).contiguous() for t in (q, k, v))    # heads and batch as one axis
    o = torch.empty_like(q3)
    lse = torch.empty(q3.shape[:-1], device=q.device, dtype=torch.float32)
    grid = (triton.cdiv(n, block_q), q3.shape[0])                                     # one program per (query block, head)
    triton_flash_kernel()[grid](q3, k3, v3, o, lse, n, s, 1.0 / math.sqrt(d),
                                q3.stride(0), q3.stride(1), k3.stride(0), k3.stride(1), v3.stride(0), v3.stride(1), o.stride(0), o.stride(1),
                                CAUSAL=causal, BLOCK_M=block_q, BLOCK_N=block_k, D=d)
    return o.reshape(q.shape), lse.reshape(q.shape[:-1])

# %% nbgrader={"grade": true, "grade_id": "flash_attention_triton_on_cuda", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} tags=["gpu"]
"""on a CUDA GPU, flash_attention_triton in float16, bfloat16 and float32 matches a float64 reference within the precision of the dtype (or 4x the error of PyTorch's fused attention), causal and not, with lengths that are not multiples of the blocks"""
from grader.testing import needs_gpu; needs_gpu()
from grader.testing import scenario, expect


@scenario
def triton_attention(ns, dtype_name, causal, n, s):
    """flash_attention_triton on CUDA in the given dtype, inputs drawn in float64 on the CPU (seed 32)."""
    import torch
    dtype = getattr(torch, dtype_name)
    gen = torch.Generator().manual_seed(32)
    q, k, v = (torch.randn(2, 4, length, 64, generator=gen, dtype=torch.float64) for length in (n, s, s))
    o, lse = ns.flash_attention_triton(q.to("cuda", dtype), k.to("cuda", dtype), v.to("cuda", dtype), causal)
    return {"where": o.device.type, "dtype": str(o.dtype), "o": o.double().cpu(), "lse": lse.double().cpu()}


results = {}
for dtype_name in ["float16", "bfloat16", "float32"]:
    for causal, n, s in [(False, 200, 200), (True, 200, 200), (False, 77, 130), (True, 130, 77)]:
        got = results[dtype_name, causal, n, s] = triton_attention.learner(dtype_name, causal, n, s)
        expect.equal(got["where"], "cuda", what=f"the device of the output in {dtype_name}")
        expect.equal(got["dtype"], f"torch.{dtype_name}", what=f"the dtype of the output in {dtype_name}", hint="store with out.to(O.dtype.element_ty)")
        expect.finite(got["o"], what=f"the output in {dtype_name}, causal={causal}, N={n}, S={s}", hint="mask rows beyond N and keys beyond S on load, and keys beyond S to -inf")
### BEGIN HIDDEN TESTS
for (dtype_name, causal, n, s), got in results.items():
    low = getattr(torch, dtype_name)
    gen = torch.Generator().manual_seed(32)   # the scenario's inputs, recreated here
    q, k, v = (torch.randn(2, 4, length, 64, generator=gen, dtype=torch.float64) for length in (n, s, s))
    rounded = [t.to(low).double() for t in (q, k, v)]
    want_o, want_lse = reference_attention(*rounded, causal)
    fused = F.scaled_dot_product_attention(*(t.to("cuda", low) for t in (q, k, v)), is_causal=causal)
    fused_error = (fused.double().cpu() - want_o).abs().max().item()
    # float32 inputs go through tl.dot in tf32 (10-bit mantissa) by default: a tolerance of bf16-like size
    ulps = {"float16": 8 * torch.finfo(torch.float16).eps, "bfloat16": 8 * torch.finfo(torch.bfloat16).eps, "float32": 4e-3}[dtype_name]
    tolerance = max(ulps, 4 * fused_error)
    expect.close(got["o"], want_o, atol=tolerance, rtol=tolerance, what=f"flash_attention_triton in {dtype_name}, causal={causal}, N={n}, S={s}",
                 hint="the same online-softmax updates as flash_attention_forward, with m, l and the accumulator in float32")
    expect.close(got["lse"], want_lse, atol=max(tolerance, 1e-3), rtol=1e-3, what=f"the log-sum-exp of flash_attention_triton in {dtype_name}, causal={causal}, N={n}, S={s}")
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | memory-bound attention | standard: $4Nd + 4N^2$ elements of HBM traffic; flash: $2Nd + \lceil N/B_q\rceil\, 2Sd$ | count reads and writes per kernel; intensity = FLOPs / bytes | why fused attention kernels are 2 to 4 times faster and fit long contexts |
# | online softmax | $\ell' = e^{m - m'}\ell + \sum e^{s - m'}$, $m' = \max(m, \max s)$ | `l = torch.exp(m - m_new) * l + torch.exp(x - m_new).sum(-1)` | the softmax of every fused attention kernel; also fused cross-entropy over large vocabularies |
# | merging softmax states | $(m_1,\ell_1)\oplus(m_2,\ell_2) = (m, e^{m_1-m}\ell_1 + e^{m_2-m}\ell_2)$, identity $(-\infty, 0)$ | guard `m == -inf` before `exp` | flash-decoding (split keys), ring attention across GPUs, fully masked rows |
# | tiled forward | $\tilde O \leftarrow \operatorname{diag}(e^{m-m'})\tilde O + e^{S_{ij} - m'}V_j$, $O = \tilde O/\ell$, $L = m + \log\ell$ | query blocks outside, key blocks inside; skip tiles above the diagonal, mask with global indices | `F.scaled_dot_product_attention`, FlashAttention-2/3, vLLM, every training stack |
# | recomputed backward | $P_{ij} = e^{\tau Q_iK_j^\top - L_i}$, $dS = P\circ(dP - D)$, $D = \operatorname{rowsum}(dO\circ O)$ | save $Q, K, V, O, L$; rebuild each tile of $P$ | training with long contexts: no $N^2$ activations (the $5as/h$ term of `22-memory` disappears) |
# | Triton kernel | one program per (query block, head); float32 accumulators | `tl.load` / `tl.dot` / `tl.store` with masks | custom attention variants (sliding windows, ALiBi, document masks) written without CUDA C++ |

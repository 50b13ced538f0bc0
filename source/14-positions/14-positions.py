# %% [markdown]
# # 14 · Position information: sinusoidal, learned, rotary (RoPE) and ALiBi
#
# Attention compares every query with every key, and nothing in that comparison says *where* a
# token stands: shuffle the words of a sentence and each word gets exactly the same output as
# before, only in the shuffled order. Order has to be put in by hand. The four classic ways add a
# vector to each token (sinusoidal, learned), rotate its query and key (RoPE), or bias the scores
# (ALiBi); the cleverest of them, RoPE, rests on one identity of rotations:
#
# $$\boxed{\big\langle R_{m}\, q,\; R_{n}\, k \big\rangle \;=\; \big\langle q,\; R_{n-m}\, k\big\rangle
# \qquad\text{and, for ALiBi,}\qquad s_{ij} \;=\; \frac{q_i\cdot k_j}{\sqrt{d}} \;-\; m_h\,\lvert i-j\rvert}$$
#
# a query rotated by its position $m$ and a key rotated by its position $n$ score exactly as if
# only the key had been rotated, by the offset $n - m$: attention sees relative positions, with no
# parameter to learn. Why it matters for LLMs: the position scheme decides how long a context a
# model can read, whether it works beyond the lengths it was trained on, and how its KV cache is
# built. GPT-2 and BERT learn a table of positions, LLaMA, Mistral and Qwen rotate with RoPE,
# BLOOM biases with ALiBi, and Mistral and Gemma also restrict some layers to a sliding window.
#
# **What you will build:** the sinusoidal encoding of the original Transformer; a learned position
# table like GPT-2's; RoPE, exactly as Hugging Face `transformers` computes it for LLaMA, so that
# your function and theirs give the same numbers; ALiBi's slopes (for any number of heads) and
# bias; and sliding-window attention, with what it costs and how far it reaches compared with
# ALiBi's soft window.

# %% [markdown]
# ## Prerequisites
#
# - `13-attention`: scaled dot-product attention, boolean masks (True = may attend), heads.
# - `01-linear-algebra`: orthogonal matrices (rotations) preserve lengths and dot products.
# - `08-pytorch`: broadcasting, `torch.cat`, slicing with steps, `nn.Module` and `nn.Parameter`.
# - `09-cnn` (optional): the receptive field of stacked convolutions, which section 6 meets again.
#
# Packages: `torch` (CPU is enough), `numpy`, `matplotlib`; the tests also compare your RoPE,
# ALiBi and sliding window with the implementations inside Hugging Face `transformers` (LLaMA's
# rotary embedding, BLOOM's ALiBi tensor, the sliding-window mask function), built from a config:
# nothing is downloaded. Every tensor is `float64` unless a test says otherwise.
#
# **Notation.** $T$ sequence length, $p, m, n$ positions ($0, 1, \dots$), $d$ the width of the
# vectors that get positions ($d_{\text{model}}$ for the added encodings, the head width for
# RoPE), $i$ the index of a *pair* of coordinates ($0 \le i < d/2$), $H$ number of heads, $h$ one
# head, $w$ a window size.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = torch.float64  # positions are tested in float64: exact enough to compare to 1e-12

# %% [markdown]
# ## 1 · Attention cannot see order
#
# Self-attention without a mask computes, for inputs $X \in \mathbb{R}^{T\times d}$,
# $\operatorname{softmax}\big(XW_Q (XW_K)^\top/\sqrt{d}\big)\, XW_V$. Permute the tokens with a
# permutation matrix $P$: the scores become $P S P^\top$ (rows *and* columns permuted), a row-wise
# softmax commutes with both permutations, and the values are permuted too, so
#
# $$\operatorname{Attn}(PX) = P\, \operatorname{Attn}(X).$$
#
# **What this means.** Attention is *permutation-equivariant*: it treats its input as a set.
# "dog bites man" and "man bites dog" give the word "dog" exactly the same output vector. The
# feed-forward layers act on each token alone and change nothing about that. A causal mask
# breaks the symmetry a little (token $t$ sees $t + 1$ tokens, so a model can in principle count),
# but nothing tells the model *directly* which token is next to which. A worked example, with
# random embeddings for three words:

# %%
torch.manual_seed(0)
vocab = {"dog": 0, "bites": 1, "man": 2}
embed = torch.randn(3, 8, dtype=DTYPE)
W_q, W_k, W_v = (torch.randn(8, 8, dtype=DTYPE) / math.sqrt(8) for _ in range(3))


def self_attention(x: torch.Tensor) -> torch.Tensor:
    """Plain single-head self-attention of (T, 8) inputs, no mask, no positions."""
    return F.scaled_dot_product_attention(x @ W_q, x @ W_k, x @ W_v)


out_a = self_attention(embed[[vocab[w] for w in "dog bites man".split()]])
out_b = self_attention(embed[[vocab[w] for w in "man bites dog".split()]])
print("output of 'dog' in 'dog bites man':", out_a[0, :4].numpy().round(4))
print("output of 'dog' in 'man bites dog':", out_b[2, :4].numpy().round(4))
print("largest difference:", (out_a[0] - out_b[2]).abs().max().item())

# %% [markdown]
# Identical to the last bit. Position information can enter at four places, and every method of
# this notebook picks one of them:
#
# | where | method | what changes | used in |
# |---|---|---|---|
# | the token vectors | sinusoidal (section 2), learned (section 3) | $x_p \to x_p + \mathrm{PE}_p$ | the 2017 Transformer; GPT-2, BERT |
# | the queries and keys | RoPE (section 4) | $q_m \to R_m q_m,\ k_n \to R_n k_n$ | LLaMA, Mistral, Qwen, GPT-NeoX, Gemma |
# | the scores | ALiBi (section 5); T5's learned relative bias | $s_{ij} \to s_{ij} - m_h\lvert i - j\rvert$ | BLOOM, MPT; T5 |
# | the mask | sliding window (section 6) | key $j$ visible only if $i - w < j \le i$ | Mistral, Gemma 2/3 local layers, Longformer |

# %% [markdown]
# ## 2 · Sinusoidal positional encoding
#
# The original Transformer (Vaswani et al., 2017) adds to the token at position $p$ a fixed vector
# $\mathrm{PE}_p \in \mathbb{R}^{d}$ whose coordinates come in pairs, one sine and one cosine per
# frequency, **interleaved**:
#
# $$\mathrm{PE}_{p,\,2i} = \sin(p\,\omega_i), \qquad \mathrm{PE}_{p,\,2i+1} = \cos(p\,\omega_i), \qquad
# \omega_i = \text{base}^{-2i/d}, \quad i = 0, 1, \dots, \tfrac{d}{2}-1,\quad \text{base} = 10\,000 .$$
#
# The exponent is $2i/d$ with $i$ the *pair* index (equivalently: column $2i$ divided by $d$), so
# the frequencies run geometrically from $\omega_0 = 1$ (a wavelength of $2\pi \approx 6.3$
# positions) down to $\omega_{d/2-1} = \text{base}^{-(d-2)/d}$ (a wavelength close to
# $2\pi \cdot 10\,000$).
#
# **Shifts are rotations.** By the angle-addition formulas, moving $k$ positions turns each pair
# by the angle $k\omega_i$:
#
# $$\begin{pmatrix} \sin((p+k)\omega_i) \\ \cos((p+k)\omega_i) \end{pmatrix}
# = \begin{pmatrix} \cos k\omega_i & \sin k\omega_i \\ -\sin k\omega_i & \cos k\omega_i \end{pmatrix}
# \begin{pmatrix} \sin p\omega_i \\ \cos p\omega_i \end{pmatrix},
# \qquad\text{so}\qquad \mathrm{PE}_{p+k} = M_k\, \mathrm{PE}_p,$$
#
# with $M_k$ block-diagonal, orthogonal, and **the same for every $p$**. Consequently the dot
# product of two encodings depends on their offset only:
# $\mathrm{PE}_p \cdot \mathrm{PE}_{p+k} = \sum_i \cos(k\,\omega_i)$.
#
# **What this means.** Think of a clock with $d/2$ hands turning at geometrically spaced speeds:
# the fast hands tell neighbouring positions apart, the slow ones distinguish positions far apart,
# and together they give every position a unique reading (like the bits of a binary counter, but
# smooth). Because "$k$ steps later" is one fixed linear map, a linear layer can learn to attend
# "three tokens back" for every position at once. The encoding has no parameters and can be
# computed for any position, even ones longer than any training sequence. Some libraries put all
# sines first and all cosines after (`[sin ... sin, cos ... cos]`); that is an equally good
# encoding but a *different* one: weights trained with one layout do not work with the other. The
# tests ask for the paper's interleaved layout.
#
# The hands of the clock for $d = 32$, drawn with NumPy: three of the sixteen sine coordinates along
# the positions, and the wavelengths of all sixteen pairs.

# %%
d_demo, base_demo = 32, 10_000.0
p_grid = np.linspace(0, 60, 601)
omega = base_demo ** (-np.arange(0, d_demo, 2) / d_demo)          # (d/2,) the frequencies
fig, (ax_waves, ax_len) = plt.subplots(1, 2, figsize=(11, 3.5))
for i in [0, 2, 5]:
    ax_waves.plot(p_grid, np.sin(p_grid * omega[i]), label=f"pair i={i}: sin(p * {omega[i]:.3g})")
ax_waves.set(xlabel="position p", ylabel="coordinate 2i", title="fast and slow hands of the clock")
ax_waves.legend(fontsize=8, loc="lower left")
ax_len.semilogy(np.arange(d_demo // 2), 2 * np.pi / omega, marker="o")
ax_len.set(xlabel="pair index i", ylabel="wavelength (positions)", title="wavelengths grow geometrically, 2π to ~2π·10⁴")
fig.tight_layout()
plt.show()

# %% [markdown]
# Write the encoding. About 10 minutes. Build the angles $p\,\omega_i$ as a $(T, d/2)$ table by
# broadcasting a column of positions against a row of frequencies, then fill the even columns with
# their sines and the odd ones with their cosines (`pe[:, 0::2] = ...`).

# %% nbgrader={"grade": false, "grade_id": "sinusoidal_encoding", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sinusoidal_encoding(n_positions: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """The sinusoidal position encodings of positions 0 .. n_positions - 1 (Vaswani et al., 2017). About 10 minutes.

    Args:
        n_positions: T >= 1, the number of positions.
        d_model: d, the width of each encoding; must be even.
        base: the base of the geometric frequencies (10000 in the paper).

    Returns:
        A float64 tensor (T, d) with PE[p, 2i] = sin(p * w_i) and PE[p, 2i + 1] = cos(p * w_i),
        w_i = base ** (-2i / d), i = 0 .. d/2 - 1: sines in the even columns, cosines in the odd
        ones, interleaved.

    Raises:
        ValueError if d_model is odd.

    Example:
        >>> sinusoidal_encoding(2, 4)[1]     # sin 1, cos 1, sin 0.01, cos 0.01 (= 0.99995)
        tensor([0.8415, 0.5403, 0.0100, 1.0000], dtype=torch.float64)
    """
    ### BEGIN SOLUTION
    if d_model % 2:
        raise ValueError(f"d_model must be even (sine and cosine pairs), got {d_model}")
    positions = torch.arange(n_positions, dtype=DTYPE)[:, None]                    # (T, 1)
    frequencies = base ** (-torch.arange(0, d_model, 2, dtype=DTYPE) / d_model)    # (d/2,), w_i = base^(-2i/d)
    angles = positions * frequencies                                               # (T, d/2)
    pe = torch.zeros(n_positions, d_model, dtype=DTYPE)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)
    return pe
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "sinusoidal_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the sinusoidal encoding has shape (T, d) in float64, is sin 0 = 0 and cos 0 = 1 interleaved at position 0, and starts with sin 1, cos 1 at position 1"""
from grader.testing import learner, expect

pe = learner.sinusoidal_encoding(4, 6)
expect.shape(pe, (4, 6), what="sinusoidal_encoding(4, 6)", hint="one row per position, one column per coordinate: (n_positions, d_model)")
expect.dtype(pe, DTYPE, what="sinusoidal_encoding(4, 6)", hint="build the positions and frequencies in float64")
expect.close(pe[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0], dtype=DTYPE), atol=1e-15, what="PE[0] of sinusoidal_encoding(4, 6)",
             hint="at position 0 every sine is 0 and every cosine is 1, and they alternate: sines in the even columns, cosines in the odd ones")
expect.close(pe[1, :2], torch.tensor([math.sin(1.0), math.cos(1.0)], dtype=DTYPE), atol=1e-15, what="the first pair of PE[1]",
             hint="the first pair (i = 0) has frequency base ** 0 = 1: (sin 1, cos 1)")

# %% nbgrader={"grade": true, "grade_id": "sinusoidal_matches_paper", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the sinusoidal encoding equals the paper's formula, sin and cos of p / base^(2i/d) interleaved, for several lengths, widths and bases (the default base 10000 included), and refuses an odd width"""
from grader.testing import learner, expect

pe = learner.sinusoidal_encoding(5, 2)
expect.shape(pe, (5, 2), what="sinusoidal_encoding(5, 2)")
positions = torch.arange(5, dtype=DTYPE)
expect.close(pe, torch.stack([positions.sin(), positions.cos()], dim=1), atol=1e-14, what="sinusoidal_encoding(5, 2)",
             hint="with d = 2 there is one pair, of frequency 1: the columns are sin(p) and cos(p)")
### BEGIN HIDDEN TESTS


def paper_formula(n_positions, d_model, base):
    """PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(p / base^(2i/d)), one entry at a time."""
    table = np.zeros((n_positions, d_model))
    for p in range(n_positions):
        for i in range(d_model // 2):
            angle = p / base ** (2 * i / d_model)
            table[p, 2 * i], table[p, 2 * i + 1] = math.sin(angle), math.cos(angle)
    return torch.from_numpy(table)


hint = "PE[p, 2i] = sin(p * base^(-2i/d)) and PE[p, 2i+1] = cos(p * base^(-2i/d)), with i the pair index: interleave, do not put the sines first"
for n_positions, d_model, base in [(50, 16, 10000.0), (7, 10, 100.0), (1, 4, 10000.0), (33, 64, 500.0)]:
    got = learner.sinusoidal_encoding(n_positions, d_model, base)
    expect.shape(got, (n_positions, d_model), what=f"sinusoidal_encoding({n_positions}, {d_model}, base={base:g})")
    expect.dtype(got, DTYPE, what=f"sinusoidal_encoding({n_positions}, {d_model}, base={base:g})")
    expect.close(got, paper_formula(n_positions, d_model, base), atol=1e-12, rtol=0,
                 what=f"sinusoidal_encoding({n_positions}, {d_model}, base={base:g})", hint=hint)
expect.close(learner.sinusoidal_encoding(20, 12), paper_formula(20, 12, 10000.0), atol=1e-12, rtol=0,
             what="sinusoidal_encoding(20, 12) with the default base", hint="the default base is 10000, as in the paper")
expect.raises("ValueError", learner.sinusoidal_encoding, 4, 7)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "sinusoidal_shift_is_a_rotation", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""shifting a sinusoidal encoding by k positions rotates each (sin, cos) pair by k * w_i, the same rotation at every position, so dot products of encodings depend only on the offset"""
from grader.testing import learner, expect

pe = learner.sinusoidal_encoding(40, 16)
expect.shape(pe, (40, 16), what="sinusoidal_encoding(40, 16)")
expect.close(pe[7] @ pe[10], pe[0] @ pe[3], atol=1e-12, what="PE[7] . PE[10] compared with PE[0] . PE[3] (both offset 3)",
             hint="each pair must be (sin(p w), cos(p w)) of one frequency, so that sin a sin b + cos a cos b = cos(a - b)")
### BEGIN HIDDEN TESTS
d = 16
omega = 10000.0 ** (-torch.arange(0, d, 2, dtype=DTYPE) / d)
gram = pe @ pe.T
offsets = torch.arange(40, dtype=DTYPE)
expect.close(gram, torch.cos((offsets[None, :] - offsets[:, None])[..., None] * omega).sum(-1), atol=1e-12,
             what="the dot products PE[p] . PE[q] of sinusoidal_encoding(40, 16), compared with sum_i cos((q - p) w_i)",
             hint="the dot product of two encodings must be the sum over the pairs of cos((q - p) * base^(-2i/d))")
for k in [1, 5, 17]:
    # M_k acting on every pair (2i, 2i+1): (s, c) -> (s cos + c sin, -s sin + c cos), with angle k * w_i
    s, c = pe[:-k, 0::2], pe[:-k, 1::2]
    rotated = torch.stack([s * torch.cos(k * omega) + c * torch.sin(k * omega), -s * torch.sin(k * omega) + c * torch.cos(k * omega)], dim=-1)
    expect.close(pe[k:], rotated.reshape(40 - k, d), atol=1e-12,
                 what=f"PE[p + {k}] compared with the rotation of each pair (2i, 2i + 1) of PE[p] by {k} * w_i",
                 hint="the pairs are the adjacent columns (2i, 2i + 1) = (sin, cos) of the same frequency w_i = base^(-2i/d)")
### END HIDDEN TESTS

# %% [markdown]
# The encodings of 64 positions in 64 dimensions, and their dot products: each row of the second
# picture is the first one shifted, because $\mathrm{PE}_p\cdot\mathrm{PE}_q$ depends on $q - p$
# only (a *Toeplitz* matrix). The profile on the right is that dependence, $\sum_i \cos(k\omega_i)$:
# largest at offset 0 and lower, though not monotonically, further away.

# %%
pe_demo = sinusoidal_encoding(64, 64)
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
image = axes[0].imshow(pe_demo.T, cmap="RdBu", aspect="auto", vmin=-1, vmax=1)
axes[0].set(xlabel="position p", ylabel="coordinate", title="sinusoidal_encoding(64, 64)")
fig.colorbar(image, ax=axes[0], fraction=0.046)
image = axes[1].imshow(pe_demo @ pe_demo.T, cmap="viridis")
axes[1].set(xlabel="position q", ylabel="position p", title="dot products PE[p] . PE[q]")
fig.colorbar(image, ax=axes[1], fraction=0.046)
axes[2].plot(np.arange(64), (pe_demo[0] @ pe_demo.T).numpy(), marker=".")
axes[2].set(xlabel="offset k", ylabel="PE[p] . PE[p + k]", title="depends on the offset only")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3 · Learned absolute positions
#
# GPT-2 and BERT simply *learn* one vector per position: a table
# $P \in \mathbb{R}^{L_{\max}\times d}$ (GPT-2: $L_{\max} = 1024$, $d = 768$) initialised from
# $\mathcal{N}(0, 0.02^2)$, with row $p$ added to the token at position $p$:
#
# $$h_t = x_t + P_{\,s + t}, \qquad t = 0, \dots, T-1,$$
#
# where $s$ is the position of the first token of the input: $s = 0$ in training, and the length
# of the text so far when a model generates one token at a time with a key/value cache
# (`31-kv-cache`), since the new token sits at position $s$, not at 0.
#
# **What this means.** The table is the most flexible scheme (anything a model finds useful can be
# learned) and the least structured: at initialisation $P_5$ is as unrelated to $P_6$ as to
# $P_{500}$, and any notion of "nearby" has to come from training. Rows of positions that are
# rarely seen in training stay poorly trained, and positions $\ge L_{\max}$ have no row at all:
# the context length is a hard limit, fixed when the model is built. A worked example: how similar
# neighbouring positions are, at initialisation, in a learned table and in the sinusoidal encoding.

# %%
torch.manual_seed(0)
table = 0.02 * torch.randn(1024, 64, dtype=DTYPE)


def neighbour_cosine(rows: torch.Tensor, offset: int) -> float:
    """Mean cosine similarity between the rows p and p + offset of a (L, d) table."""
    a, b = rows[:-offset], rows[offset:]
    return F.cosine_similarity(a, b, dim=-1).mean().item()


sinusoids = sinusoidal_encoding(1024, 64)
for offset in [1, 2, 10, 100]:
    print(f"offset {offset:3d}: learned table at init {neighbour_cosine(table, offset):+.3f},"
          f"  sinusoidal {neighbour_cosine(sinusoids, offset):+.3f}")

# %% [markdown]
# Random rows are nearly orthogonal to each other in 64 dimensions (cosines around $\pm 0.1$),
# whatever their distance, while sinusoidal neighbours are strongly aligned. Write the learned
# table as a module. About 10 minutes. Check that the positions asked for exist in the table and
# raise a `ValueError` that says so otherwise (indexing past the end of a tensor slice silently
# returns fewer rows, and `nn.Embedding` raises an `IndexError` with a less helpful message).

# %% nbgrader={"grade": false, "grade_id": "learned_positional_embedding", "locked": false, "schema_version": 3, "solution": true, "task": false}
class LearnedPositionalEmbedding(nn.Module):
    """A learned table of absolute positions, added to the token vectors (GPT-2's `wpe`). About 10 minutes.

    Parameters: weight, an nn.Parameter (max_positions, d_model) in float64, drawn from
    N(0, 0.02^2) as GPT-2 initialises it. It is the module's only parameter.

    Example:
        >>> positions = LearnedPositionalEmbedding(16, 8)
        >>> positions(torch.zeros(2, 5, 8, dtype=torch.float64), start=3).shape   # rows 3..7 added
        torch.Size([2, 5, 8])
    """

    def __init__(self, max_positions: int, d_model: int):
        super().__init__()
        ### BEGIN SOLUTION
        self.weight = nn.Parameter(0.02 * torch.randn(max_positions, d_model, dtype=DTYPE))
        ### END SOLUTION

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """x plus the rows start .. start + T - 1 of the table.

        Args:
            x: float64 tensor (..., T, d_model), the token vectors of positions start .. start + T - 1.
            start: the position of the first token (0 in training; the number of tokens already
                   processed when generating with a cache).

        Returns:
            A float64 tensor of x's shape: x[..., t, :] + weight[start + t] for every t, through
            which gradients reach exactly the rows used.

        Raises:
            ValueError if start + T > max_positions: the table has no row for those positions.
        """
        ### BEGIN SOLUTION
        n_positions, max_positions = x.shape[-2], self.weight.shape[0]
        if start + n_positions > max_positions:
            raise ValueError(f"{n_positions} positions from position {start} on do not fit a table of {max_positions} positions")
        return x + self.weight[start:start + n_positions]
        ### END SOLUTION

# %% [markdown]
# The tests build your module, copy a known table into it and look at what comes out, and at the
# gradients that flow back into the table:

# %%
from grader.testing import scenario


@scenario
def learned_positions(ns, weight, x, start):
    """LearnedPositionalEmbedding with `weight` copied in: its output on x (start=None: the default) and the table's gradient."""
    module = ns.LearnedPositionalEmbedding(weight.shape[0], weight.shape[1])
    with torch.no_grad():
        module.weight.copy_(weight)
    out = module(x) if start is None else module(x, start)
    probe = torch.sin(torch.arange(out.numel(), dtype=out.dtype)).reshape(out.shape)
    (out * probe).sum().backward()   # d loss / d out = probe
    return {"out": out.detach(), "grad": module.weight.grad,
            "parameters": {name: list(p.shape) for name, p in module.named_parameters()}}


@scenario
def learned_positions_init(ns, seed):
    """A fresh LearnedPositionalEmbedding(2048, 32) from a seed: its table's shape, dtype and statistics."""
    torch.manual_seed(seed)
    module = ns.LearnedPositionalEmbedding(2048, 32)
    table = module.weight.detach()
    return {"shape": list(table.shape), "dtype": str(table.dtype), "mean": table.mean().item(), "std": table.std().item(),
            "trainable": bool(module.weight.requires_grad), "n_parameters": sum(p.numel() for p in module.parameters())}


@scenario
def learned_positions_past_the_end(ns, max_positions, length, start):
    """Which exception (if any) the module raises for positions start .. start + length - 1."""
    module = ns.LearnedPositionalEmbedding(max_positions, 4)
    try:
        module(torch.zeros(2, length, 4, dtype=torch.float64), start)
    except ValueError:
        return "ValueError"
    return "no error"

# %% nbgrader={"grade": true, "grade_id": "learned_positions_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the learned positional embedding keeps the input's shape, adds rows 0 .. T-1 of its table by default, and has one parameter, weight, of shape (max_positions, d_model)"""
from grader.testing import expect

weight = torch.arange(12.0, dtype=DTYPE).reshape(6, 2)       # row p = (2p, 2p + 1)
x = torch.ones(1, 3, 2, dtype=DTYPE)
got = learned_positions.learner(weight, x, None)
expect.shape(got["out"], (1, 3, 2), what="the output for x of shape (1, 3, 2)", hint="the output has the shape of x")
expect.close(got["out"], x + weight[:3], atol=0, what="the output for x = ones(1, 3, 2) with table rows (2p, 2p + 1)",
             hint="token t gets row start + t of the table added; start defaults to 0")
expect.equal(got["parameters"], {"weight": [6, 2]}, what="the module's parameters (name: shape)",
             hint="keep the table in one nn.Parameter called weight, of shape (max_positions, d_model)")

# %% nbgrader={"grade": true, "grade_id": "learned_positions_rows_and_gradients", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the learned positional embedding adds rows start .. start + T - 1 (for any start, up to the last row), sends gradients to exactly those rows, is initialised from N(0, 0.02^2), and raises ValueError past the end of the table"""
from grader.testing import expect

gen = torch.Generator().manual_seed(0)
weight = torch.randn(10, 4, generator=gen, dtype=DTYPE)
x = torch.randn(2, 3, 4, generator=gen, dtype=DTYPE)
got = learned_positions.learner(weight, x, 5)
expect.shape(got["out"], (2, 3, 4), what="the output for x (2, 3, 4) at start=5")
expect.close(got["out"], x + weight[5:8], atol=1e-15, what="the output for x (2, 3, 4) at start=5",
             hint="the first token sits at position start: add rows start .. start + T - 1")
### BEGIN HIDDEN TESTS
hint = "token t is at position start + t: add weight[start + t] to x[..., t, :]"
for weight_shape, x_shape, start, case in [((10, 4), (2, 3, 4), 5, "start=5"), ((10, 4), (2, 3, 4), 7, "the last rows (start + T = max_positions)"),
                                          ((10, 4), (1, 10, 4), 0, "the whole table"), ((8, 3), (5, 3), 2, "an input (T, d) without a batch axis"),
                                          ((9, 4), (2, 3, 1, 4), 4, "a single token at start=4 behind several batch axes")]:
    weight = torch.randn(*weight_shape, generator=gen, dtype=DTYPE)
    x = torch.randn(*x_shape, generator=gen, dtype=DTYPE)
    got = learned_positions.learner(weight, x, start)
    T = x_shape[-2]
    expect.shape(got["out"], x_shape, what=f"the output with {case}")
    expect.close(got["out"], x + weight[start:start + T], atol=1e-15, what=f"the output with {case}", hint=hint)
    want_grad = torch.zeros(weight_shape, dtype=DTYPE)
    probe = torch.sin(torch.arange(x.numel(), dtype=DTYPE)).reshape(x_shape)     # what the scenario backpropagates
    want_grad[start:start + T] = probe.reshape(-1, T, weight_shape[1]).sum(0)
    expect.shape(got["grad"], weight_shape, what=f"the gradient of the table with {case}",
                 hint="the table must be an nn.Parameter that the output is computed from, so that backward() fills its .grad")
    expect.close(got["grad"], want_grad, atol=1e-13, what=f"the gradient of the table with {case}",
                 hint="only the rows start .. start + T - 1 are used, so only they receive gradient (summed over the batch)")

init = learned_positions_init.learner(3)
expect.equal(init["shape"], [2048, 32], what="the shape of LearnedPositionalEmbedding(2048, 32).weight")
expect.equal(init["dtype"], "torch.float64", what="the dtype of the table", hint="create the table in float64")
expect.equal(init["trainable"], True, what="whether the table is trainable", hint="wrap the table in nn.Parameter")
expect.equal(init["n_parameters"], 2048 * 32, what="the number of parameters of LearnedPositionalEmbedding(2048, 32)")
# 65536 draws: one standard error is 0.3 % of the std and 8e-5 for the mean; the bounds allow 10 and 6 of them
expect.true(abs(init["std"] - 0.02) < 0.02 * 0.03 and abs(init["mean"]) < 5e-4,
            "the table's entries do not look like draws from N(0, 0.02^2): initialise with 0.02 * torch.randn(max_positions, d_model), as GPT-2 does")

for max_positions, length, start, want, case in [(8, 6, 3, "ValueError", "positions 3..8 of a table of 8"), (8, 9, 0, "ValueError", "9 positions in a table of 8"),
                                                 (8, 6, 2, "no error", "positions 2..7 of a table of 8 (the last row included)")]:
    expect.equal(learned_positions_past_the_end.learner(max_positions, length, start), want, what=f"what the module does for {case}",
                 hint="raise ValueError exactly when start + T > max_positions: the last row, max_positions - 1, can be used")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Rotary position embedding (RoPE)
#
# RoPE (Su et al., 2021, "RoFormer") does not add anything to the tokens. It *rotates* each query
# and each key, after their projections, by an angle proportional to their position.
#
# **In two dimensions.** With $R(\phi) = \begin{pmatrix}\cos\phi & -\sin\phi\\ \sin\phi & \cos\phi\end{pmatrix}$,
# rotate the query at position $m$ by $m\theta$ and the key at position $n$ by $n\theta$. Since
# $R(a)^\top = R(-a)$ and $R(a)R(b) = R(a+b)$,
#
# $$\big\langle R(m\theta)\,q,\; R(n\theta)\,k\big\rangle = q^\top R(m\theta)^\top R(n\theta)\, k
# = q^\top R\big((n-m)\theta\big)\, k :$$
#
# the score depends on the two positions only through their offset $n - m$, and rotations keep
# lengths, so $\lVert R q\rVert = \lVert q\rVert$.
#
# **In $d$ dimensions** the coordinates are grouped into $d/2$ pairs, and pair $i$ turns with its
# own frequency $\theta_i = \text{base}^{-2i/d}$ (the frequencies of section 2; base $10\,000$ in
# LLaMA 1-2, $500\,000$ in LLaMA 3). $R_m$ is block-diagonal with blocks $R(m\theta_i)$; the identity
# above holds block by block.
#
# **Which coordinates form a pair: the convention.** The RoFormer paper and Meta's original LLaMA
# code (with complex numbers) pair *adjacent* coordinates $(x_{2i}, x_{2i+1})$. GPT-NeoX and Hugging
# Face `transformers` pair coordinate $i$ with coordinate $i + d/2$: the first half with the second
# half. **This notebook uses the half-split convention of `transformers`**, written with its helper
# $\operatorname{rotate\_half}(x) = [-x_{d/2:},\; x_{:d/2}]$:
#
# $$\operatorname{RoPE}(x, p) = x \odot \cos(p\,\tilde\theta) + \operatorname{rotate\_half}(x) \odot \sin(p\,\tilde\theta),
# \qquad \tilde\theta = [\theta_0, \dots, \theta_{d/2-1},\; \theta_0, \dots, \theta_{d/2-1}],$$
#
# that is, for $0 \le i < d/2$:
# $x'_i = x_i\cos(p\theta_i) - x_{i+d/2}\sin(p\theta_i)$ and
# $x'_{i+d/2} = x_{i+d/2}\cos(p\theta_i) + x_i\sin(p\theta_i)$: pair $(x_i, x_{i+d/2})$ rotated
# counter-clockwise by $+p\theta_i$. The two conventions are the same method up to a fixed
# permutation of the coordinates, which trained projection weights absorb (that is why the script
# that converts Meta's LLaMA weights for `transformers` permutes the rows of $W_Q$ and $W_K$), but
# with given weights they give different numbers: mixing them up silently breaks a model.
#
# **What this means.** Position enters only the *scores*: values are not rotated, and nothing is
# added to the residual stream, so the model sees "how far apart", never "where". There are no
# parameters, any position can be computed, and with a key/value cache each key is rotated once,
# at its absolute position, and stored. A worked example with one pair, $\theta = 0.5$: the query
# and the key are rotated by their positions, and the angle between them, hence their score,
# depends only on the offset.

# %%
def rotation(phi: float) -> torch.Tensor:
    """The 2 x 2 matrix of a counter-clockwise rotation by phi."""
    return torch.tensor([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]], dtype=DTYPE)


theta = 0.5
q_pair, k_pair = torch.tensor([1.0, 0.2], dtype=DTYPE), torch.tensor([0.6, 0.9], dtype=DTYPE)
for m, n in [(0, 2), (3, 5), (10, 12), (4, 4)]:
    score = (rotation(m * theta) @ q_pair) @ (rotation(n * theta) @ k_pair)
    print(f"query at {m:2d}, key at {n:2d} (offset {n - m:+d}): score {score.item():+.6f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 4.3))
for ax, (m, n) in zip(axes, [(0, 2), (3, 5)]):
    for vector, position, colour, name in [(q_pair, m, "tab:blue", "query"), (k_pair, n, "tab:orange", "key")]:
        for p in range(position + 1):
            end = rotation(p * theta) @ vector
            ax.annotate("", xy=end.tolist(), xytext=(0, 0),
                        arrowprops={"arrowstyle": "->", "color": colour, "alpha": 1.0 if p == position else 0.15, "lw": 2})
        ax.plot([], [], color=colour, label=f"{name} rotated to position {position}")
    ax.add_patch(plt.Circle((0, 0), 1.1, fill=False, ls=":", color="grey"))
    ax.set(xlim=(-1.2, 1.2), ylim=(-1.2, 1.2), aspect="equal", title=f"query at {m}, key at {n}: same angle between them")
    ax.legend(loc="lower left", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# First the table of cosines and sines, laid out as `transformers`' `LlamaRotaryEmbedding`
# returns it: for each position $p$ the angles $p\theta_0, \dots, p\theta_{d/2-1}$ written
# **twice**, $[p\theta,\ p\theta]$ (`torch.cat`, not `repeat_interleave`: the second half of the
# coordinates uses the same frequencies as the first). About 10 minutes. Positions may be floats:
# section "Practical considerations" uses fractional positions to stretch a model's context.

# %% nbgrader={"grade": false, "grade_id": "rope_cos_sin", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rope_cos_sin(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The RoPE tables cos(p * theta~) and sin(p * theta~), in the layout of transformers' LlamaRotaryEmbedding.

    About 10 minutes.

    Args:
        positions: an integer or float tensor of any shape (...,), e.g. (T,) or (B, T); any values,
                   negative ones included.
        head_dim: d, the width of the vectors to rotate; must be even.
        base: theta_i = base ** (-2i / d), i = 0 .. d/2 - 1 (10000 in LLaMA 1 and 2).

    Returns:
        (cos, sin), two float64 tensors (..., d): with angles a = positions[..., None] * theta
        (shape (..., d/2)), cos = cos(cat([a, a], -1)) and sin = sin(cat([a, a], -1)).

    Raises:
        ValueError if head_dim is odd.

    Example:
        >>> cos, sin = rope_cos_sin(torch.arange(3), 4, base=100.0)   # theta = (1, 0.1)
        >>> sin[1]                                                    # sin of (1, 0.1, 1, 0.1)
        tensor([0.8415, 0.0998, 0.8415, 0.0998], dtype=torch.float64)
    """
    ### BEGIN SOLUTION
    if head_dim % 2:
        raise ValueError(f"head_dim must be even (RoPE rotates pairs), got {head_dim}")
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=DTYPE) / head_dim)   # (d/2,)
    angles = positions.to(DTYPE)[..., None] * theta                          # (..., d/2)
    angles = torch.cat([angles, angles], dim=-1)                             # (..., d): pair i and i + d/2 share theta_i
    return torch.cos(angles), torch.sin(angles)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "rope_cos_sin_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the RoPE tables have shape (..., head_dim) in float64, are cos 1 and sin 0 at position 0, and repeat the angles (1, 0.1) as (1, 0.1, 1, 0.1) for head_dim 4 and base 100"""
from grader.testing import learner, expect

cos, sin = learner.rope_cos_sin(torch.arange(3), 4, 100.0)
expect.shape(cos, (3, 4), what="cos of rope_cos_sin(arange(3), 4)", hint="one row of head_dim entries per position: (..., head_dim)")
expect.shape(sin, (3, 4), what="sin of rope_cos_sin(arange(3), 4)")
expect.dtype(cos, DTYPE, what="cos of rope_cos_sin(arange(3), 4)", hint="compute the angles in float64: positions.to(torch.float64)")
expect.close(cos[0], torch.ones(4, dtype=DTYPE), atol=1e-15, what="cos at position 0", hint="position 0 is not rotated: cos 0 = 1")
angles = torch.tensor([1.0, 0.1, 1.0, 0.1], dtype=DTYPE)
expect.close(sin[1], angles.sin(), atol=1e-15, what="sin at position 1 for head_dim 4 and base 100",
             hint="theta_i = base ** (-2i/d) = (1, 0.1) here, written twice with torch.cat: (1, 0.1, 1, 0.1), not (1, 1, 0.1, 0.1)")

# %% nbgrader={"grade": true, "grade_id": "rope_cos_sin_matches_transformers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the RoPE tables equal the cos and sin of transformers' LlamaRotaryEmbedding built from a LlamaConfig, for several head widths, bases and batches of positions, with linear position interpolation as fractional positions, and refuse an odd head_dim"""
from grader.testing import learner, expect

positions = torch.tensor([[0, 1, 2, 3, 4], [7, 8, 9, 10, 11]])
cos, sin = learner.rope_cos_sin(positions, 8)
expect.shape(cos, (2, 5, 8), what="cos for positions of shape (2, 5) and head_dim 8", hint="the tables have the positions' shape plus one axis of head_dim")
expect.shape(sin, (2, 5, 8), what="sin for positions of shape (2, 5) and head_dim 8")
### BEGIN HIDDEN TESTS
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb


def transformers_tables(position_ids, head_dim, base, scaling=None):
    """cos and sin of LlamaRotaryEmbedding (computed in float32 inside, returned in float64)."""
    rope = {"rope_type": "default", "rope_theta": base} if scaling is None else {"rope_type": "linear", "rope_theta": base, "factor": scaling}
    config = LlamaConfig(hidden_size=2 * head_dim, num_attention_heads=2, head_dim=head_dim, rope_parameters=rope)
    return LlamaRotaryEmbedding(config)(torch.zeros(1, dtype=DTYPE), position_ids)


def exact_tables(positions, head_dim, base):
    """The same tables computed in float64 here: transformers' formula without its float32 rounding."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=DTYPE) / head_dim))
    angles = positions.to(DTYPE)[..., None] * inv_freq
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


hint = ("theta_i = base ** (-2i/d) for i = 0 .. d/2 - 1, angles = positions * theta, then torch.cat([angles, angles], -1): "
        "coordinate i and coordinate i + d/2 share the frequency theta_i (transformers' layout)")
gen = torch.Generator().manual_seed(1)
# transformers computes the angles in float32: positions below 64 keep its error under 1e-5
for head_dim, base, position_ids in [(8, 10000.0, positions), (16, 500.0, torch.randint(0, 64, (3, 6), generator=gen)),
                                     (64, 1e6, torch.arange(40)[None]), (2, 10000.0, torch.tensor([[5, 0, 3]]))]:
    got_cos, got_sin = learner.rope_cos_sin(position_ids, head_dim, base)
    want_cos, want_sin = transformers_tables(position_ids, head_dim, base)
    expect.shape(got_cos, tuple(want_cos.shape), what=f"cos for head_dim {head_dim}, base {base:g}")
    expect.shape(got_sin, tuple(want_sin.shape), what=f"sin for head_dim {head_dim}, base {base:g}")
    expect.close(got_cos, want_cos, atol=2e-5, rtol=0, what=f"cos compared with LlamaRotaryEmbedding, head_dim {head_dim}, base {base:g}", hint=hint)
    expect.close(got_sin, want_sin, atol=2e-5, rtol=0, what=f"sin compared with LlamaRotaryEmbedding, head_dim {head_dim}, base {base:g}", hint=hint)
    exact_cos, exact_sin = exact_tables(position_ids, head_dim, base)
    expect.close(got_cos, exact_cos, atol=1e-12, rtol=0, what=f"cos in float64, head_dim {head_dim}, base {base:g}", hint=hint)
    expect.close(got_sin, exact_sin, atol=1e-12, rtol=0, what=f"sin in float64, head_dim {head_dim}, base {base:g}", hint=hint)

# the default base, and far and negative positions, in float64
far = torch.tensor([-30, -1, 0, 1, 1000, 50000])
got_cos, got_sin = learner.rope_cos_sin(far, 12)
exact_cos, exact_sin = exact_tables(far, 12, 10000.0)
expect.close(got_cos, exact_cos, atol=1e-10, rtol=0, what="cos at positions -30 .. 50000 with the default base",
             hint="the default base is 10000; negative positions rotate the other way")
expect.close(got_sin, exact_sin, atol=1e-10, rtol=0, what="sin at positions -30 .. 50000 with the default base",
             hint="the default base is 10000; negative positions rotate the other way")

# linear position interpolation (rope_type "linear", factor 4) is RoPE at positions p / 4
position_ids = torch.arange(30)[None]
got_cos, got_sin = learner.rope_cos_sin(position_ids / 4, 16, 10000.0)
want_cos, want_sin = transformers_tables(position_ids, 16, 10000.0, scaling=4.0)
expect.close(got_cos, want_cos, atol=2e-5, rtol=0, what="cos at fractional positions p / 4, compared with transformers' linear scaling",
             hint="positions may be floats: convert them with positions.to(torch.float64), do not round them")
expect.close(got_sin, want_sin, atol=2e-5, rtol=0, what="sin at fractional positions p / 4, compared with transformers' linear scaling")
expect.raises("ValueError", learner.rope_cos_sin, torch.arange(4), 7)
### END HIDDEN TESTS

# %% [markdown]
# Now the rotation itself. About 15 minutes. Split the last axis into halves $x_1 = x_{:d/2}$ and
# $x_2 = x_{d/2:}$, form $\operatorname{rotate\_half}(x) = [-x_2, x_1]$ with `torch.cat`, and
# combine with the tables. The result keeps the dtype of `x` (a float32 model stays float32), even
# though the tables are float64.

# %% nbgrader={"grade": false, "grade_id": "apply_rope", "locked": false, "schema_version": 3, "solution": true, "task": false}
def apply_rope(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotate queries or keys by their positions: RoPE with transformers' half-split (rotate_half) convention.

    About 15 minutes.

    Args:
        x: float tensor (..., T, d), d even: queries or keys, e.g. (B, H, T, d) or (T, d).
        positions: integer or float tensor whose shape broadcasts against x.shape[:-1]: usually
                   (T,), the position of each of the T vectors; (B, 1, T) for one row of positions
                   per sequence of a (B, H, T, d) batch.
        base: theta_i = base ** (-2i / d).

    Returns:
        A tensor of x's shape and dtype: pair (x[..., i], x[..., i + d/2]) of each vector rotated
        counter-clockwise by positions * theta_i, i.e. x * cos + rotate_half(x) * sin with
        (cos, sin) = rope_cos_sin(positions, d, base) and rotate_half(x) = cat([-x2, x1], -1).
        Equal to transformers' apply_rotary_pos_emb with LlamaRotaryEmbedding's tables.

    Raises:
        ValueError if d is odd.

    Example:
        >>> apply_rope(torch.tensor([[1.0, 0.0]]), torch.tensor([2]))   # (cos 2, sin 2): turned by +2 rad
        tensor([[-0.4161,  0.9093]])
    """
    ### BEGIN SOLUTION
    d = x.shape[-1]
    cos, sin = rope_cos_sin(positions, d, base)                   # (..., T, d), float64
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    rotated_half = torch.cat([-x2, x1], dim=-1)                   # rotate_half(x)
    return (x * cos + rotated_half * sin).to(x.dtype)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "apply_rope_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""RoPE keeps the shape and dtype of its input, leaves position 0 unchanged, and turns the pair (1, 0) at position p counter-clockwise to (cos p, sin p)"""
from grader.testing import learner, expect

x = torch.randn(2, 3, 5, 8, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
got = learner.apply_rope(x, torch.arange(5))
expect.shape(got, (2, 3, 5, 8), what="apply_rope of a (2, 3, 5, 8) input", hint="RoPE rotates each vector in place: the output has the input's shape")
expect.dtype(got, DTYPE, what="apply_rope of a float64 input")
expect.close(got[..., 0, :], x[..., 0, :], atol=1e-15, what="the vectors at position 0", hint="position 0 is rotated by angle 0: unchanged")
got = learner.apply_rope(torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype=DTYPE), torch.tensor([0, 1, 2]))
expect.close(got, torch.tensor([[1.0, 0.0], [math.cos(1.0), math.sin(1.0)], [math.cos(2.0), math.sin(2.0)]], dtype=DTYPE), atol=1e-15,
             what="apply_rope of the pair (1, 0) at positions 0, 1, 2 (head_dim 2)",
             hint="x' = x * cos + rotate_half(x) * sin with rotate_half(x) = cat([-x2, x1]): (1, 0) turns to (cos p, sin p), not (cos p, -sin p)")

# %% nbgrader={"grade": true, "grade_id": "apply_rope_matches_transformers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""RoPE equals transformers' apply_rotary_pos_emb (rotate_half convention) on the same queries and keys, with LlamaRotaryEmbedding's tables and with exact float64 tables, for (B, H, T, d) batches with per-sequence positions, keeps float32 inputs in float32, and refuses an odd head_dim"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(2)
q = torch.randn(1, 2, 4, 6, generator=gen, dtype=DTYPE)
got = learner.apply_rope(q, torch.arange(4)[None, None, :])
expect.shape(got, (1, 2, 4, 6), what="apply_rope of (1, 2, 4, 6) queries with positions of shape (1, 1, 4)",
             hint="the tables of positions (1, 1, T) have shape (1, 1, T, d) and broadcast against (B, H, T, d)")
### BEGIN HIDDEN TESTS
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

hint = ("rotate pair (x_i, x_{i + d/2}) by +p * theta_i: x * cos + rotate_half(x) * sin with rotate_half(x) = cat([-x[..., d/2:], x[..., :d/2]]); "
        "transformers pairs the first half with the second half, not adjacent coordinates")
for B, H, T, d, base in [(2, 3, 7, 8, 10000.0), (1, 1, 5, 2, 10000.0), (3, 2, 6, 32, 500.0)]:
    q = torch.randn(B, H, T, d, generator=gen, dtype=DTYPE)
    k = torch.randn(B, H, T, d, generator=gen, dtype=DTYPE)
    position_ids = torch.randint(0, 60, (B, 1), generator=gen) + torch.arange(T)      # (B, T): each sequence starts elsewhere
    got_q = learner.apply_rope(q, position_ids[:, None, :], base)
    got_k = learner.apply_rope(k, position_ids[:, None, :], base)
    expect.shape(got_q, (B, H, T, d), what=f"the rotated queries (B={B}, H={H}, T={T}, d={d})")
    expect.shape(got_k, (B, H, T, d), what=f"the rotated keys (B={B}, H={H}, T={T}, d={d})")
    # exact float64 tables (transformers' formula without its float32 rounding), transformers' rotation
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=DTYPE) / d))
    angles = position_ids.to(DTYPE)[..., None] * inv_freq
    angles = torch.cat([angles, angles], dim=-1)
    want_q, want_k = apply_rotary_pos_emb(q, k, angles.cos(), angles.sin())
    expect.close(got_q, want_q, atol=1e-12, rtol=0, what=f"the rotated queries (d={d}, base {base:g}) compared with apply_rotary_pos_emb", hint=hint)
    expect.close(got_k, want_k, atol=1e-12, rtol=0, what=f"the rotated keys (d={d}, base {base:g}) compared with apply_rotary_pos_emb", hint=hint)
    # end to end with LlamaRotaryEmbedding, whose angles are float32
    config = LlamaConfig(hidden_size=H * d, num_attention_heads=H, head_dim=d, rope_parameters={"rope_type": "default", "rope_theta": base})
    cos, sin = LlamaRotaryEmbedding(config)(q, position_ids)
    want_q, _ = apply_rotary_pos_emb(q, k, cos, sin)
    expect.close(got_q, want_q, atol=2e-5, rtol=0, what=f"the rotated queries (d={d}) compared with LlamaRotaryEmbedding and apply_rotary_pos_emb", hint=hint)

# one row of positions shared by every sequence and head, and the default base
q = torch.randn(2, 4, 9, 16, generator=gen, dtype=DTYPE)
got = learner.apply_rope(q, torch.arange(9))
inv_freq = 1.0 / (10000.0 ** (torch.arange(0, 16, 2, dtype=DTYPE) / 16))
angles = torch.arange(9, dtype=DTYPE)[:, None] * inv_freq
angles = torch.cat([angles, angles], dim=-1)
want, _ = apply_rotary_pos_emb(q, q, angles.cos()[None], angles.sin()[None])
expect.close(got, want, atol=1e-12, rtol=0, what="apply_rope with positions (T,) and the default base", hint=hint)

# float32 in, float32 out, as close to the float64 answer as float32 allows
q32 = q.float()
got32 = learner.apply_rope(q32, torch.arange(9))
expect.dtype(got32, torch.float32, what="apply_rope of a float32 input", hint="return (x * cos + rotate_half(x) * sin).to(x.dtype)")
expect.close(got32, want.float(), atol=1e-6, rtol=0, what="apply_rope of a float32 input")
expect.raises("ValueError", learner.apply_rope, torch.zeros(3, 5, dtype=DTYPE), torch.arange(3))
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "apply_rope_relative_and_norm_preserving", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""RoPE preserves the length of every vector, and the score of a rotated query and key depends only on their offset n - m: it equals the query scored against the key rotated by n - m, and the closed form sum_i (a_i cos phi_i - b_i sin phi_i) of the half-split pairs"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(3)
x = torch.randn(3, 8, 16, generator=gen, dtype=DTYPE)
got = learner.apply_rope(x, torch.arange(8))
expect.shape(got, (3, 8, 16), what="apply_rope of a (3, 8, 16) input")
expect.close(got.norm(dim=-1), x.norm(dim=-1), atol=1e-12, what="the lengths of the rotated vectors",
             hint="a rotation keeps lengths: each pair must be turned by cos and sin of the same angle")
### BEGIN HIDDEN TESTS
d = 16
q, k = torch.randn(d, generator=gen, dtype=DTYPE), torch.randn(d, generator=gen, dtype=DTYPE)
m = torch.tensor([0, 3, 7, 20, 3, 100, 1000, 12345, 0, 40])
n = torch.tensor([0, 5, 2, 21, 3, 90, 1010, 12300, 37, 40])
got_q = learner.apply_rope(q.expand(10, d), m)
got_k = learner.apply_rope(k.expand(10, d), n)
offset_k = learner.apply_rope(k.expand(10, d), n - m)
expect.shape(got_q, (10, d), what="the rotated queries (10 vectors of width 16)")
expect.shape(got_k, (10, d), what="the rotated keys (10 vectors of width 16)")
expect.shape(offset_k, (10, d), what="the keys rotated by the offsets (10 vectors of width 16)")
scores = (got_q * got_k).sum(-1)
expect.close(scores, (q * offset_k).sum(-1), atol=1e-9, rtol=0,
             what="<R_m q, R_n k> compared with <q, R_(n-m) k> at positions up to 12345",
             hint="the query and the key must be rotated with the same frequencies and the same sign convention")

# the closed form for the half-split pairs (a, b) = (x_i, x_{i + d/2}) turned counter-clockwise:
# <R_m q, R_n k> = sum_i (q_a k_a + q_b k_b) cos(phi_i) - (q_a k_b - q_b k_a) sin(phi_i), phi_i = (n - m) theta_i
theta = 10000.0 ** (-torch.arange(0, d, 2, dtype=DTYPE) / d)
qa, qb, ka, kb = q[: d // 2], q[d // 2:], k[: d // 2], k[d // 2:]
phi = (n - m).to(DTYPE)[:, None] * theta
closed_form = ((qa * ka + qb * kb) * phi.cos() - (qa * kb - qb * ka) * phi.sin()).sum(-1)
expect.close(scores, closed_form, atol=1e-9, rtol=0, what="the scores <R_m q, R_n k> compared with their closed form",
             hint="pair coordinate i with coordinate i + d/2 and turn it counter-clockwise by +p * theta_i: x * cos + rotate_half(x) * sin")

# every pair (m, n) with the same offset gives the same score, for a whole grid
grid = torch.arange(24)
got_q = learner.apply_rope(q.expand(24, d), grid)
got_k = learner.apply_rope(k.expand(24, d), grid)
expect.shape(got_q, (24, d), what="the rotated queries at positions 0 .. 23")
expect.shape(got_k, (24, d), what="the rotated keys at positions 0 .. 23")
score_grid = got_q @ got_k.T                                   # [m, n]
expect.close(score_grid[1:, 1:], score_grid[:-1, :-1], atol=1e-12, rtol=0,
             what="the scores of queries and keys both moved one position later", hint="scores must depend on n - m only")
expect.close(got_q.norm(dim=-1), q.norm().expand(24), atol=1e-12, what="the lengths of one query rotated to positions 0 .. 23")
### END HIDDEN TESTS

# %% [markdown]
# Check yourself against `transformers`: LLaMA's own rotary embedding, built from a configuration
# (no weights are downloaded; the import takes a few seconds, so it happens inside the function).

# %%
def compare_with_transformers(head_dim: int = 16, base: float = 10000.0) -> None:
    """Print how far apply_rope is from transformers' LLaMA RoPE on random queries."""
    q_demo = torch.randn(1, 2, 10, head_dim, dtype=DTYPE)
    position_ids = torch.arange(10)[None]
    mine = apply_rope(q_demo, position_ids[:, None, :], base)

    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    config = LlamaConfig(hidden_size=2 * head_dim, num_attention_heads=2, head_dim=head_dim,
                         rope_parameters={"rope_type": "default", "rope_theta": base})
    cos, sin = LlamaRotaryEmbedding(config)(q_demo, position_ids)
    want, _ = apply_rotary_pos_emb(q_demo, q_demo, cos, sin)
    print("largest difference from transformers' RoPE:", (mine - want).abs().max().item(),
          "(transformers computes the angles in float32)")


compare_with_transformers()

# %% [markdown]
# Two pictures of your RoPE. Left: the scores $\langle R_m q, R_n k\rangle$ of one random query and
# key over all pairs of positions, constant along every diagonal ($n - m$ fixed). Right: RoFormer's
# "long-term decay": for $q = k = (1, \dots, 1)$ the score falls, with ripples, as the offset grows,
# because the $d/2$ pairs turn at different speeds and stop adding up in phase. Far tokens are not
# forbidden, but a query has to *ask* for them.

# %%
torch.manual_seed(1)
q_demo, k_demo = torch.randn(64, dtype=DTYPE), torch.randn(64, dtype=DTYPE)
grid_demo = torch.arange(48)
score_demo = apply_rope(q_demo.expand(48, 64), grid_demo) @ apply_rope(k_demo.expand(48, 64), grid_demo).T
offsets_demo = torch.arange(0, 2000)
ones = torch.ones(64, dtype=DTYPE)
decay = (ones.expand(2000, 64) * apply_rope(ones.expand(2000, 64), offsets_demo)).sum(-1)   # <q, R_k k> for k = 0 .. 1999

fig, (ax_grid, ax_decay) = plt.subplots(1, 2, figsize=(11, 4))
image = ax_grid.imshow(score_demo, cmap="RdBu")
ax_grid.set(xlabel="key position n", ylabel="query position m", title="<R_m q, R_n k>: constant along diagonals")
fig.colorbar(image, ax=ax_grid, fraction=0.046)
ax_decay.plot(offsets_demo.numpy(), decay.numpy() / 64)
ax_decay.set(xscale="log", xlabel="offset n - m", ylabel="score / d", title="q = k = 1: the score decays with distance")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5 · ALiBi: attention with linear biases
#
# ALiBi (Press, Smith and Lewis, 2022, "Train short, test long") adds no position vectors and
# rotates nothing. It subtracts from each score a penalty proportional to the distance between
# query and key, with a different, fixed slope $m_h > 0$ in every head $h$:
#
# $$s_{h,ij} = \frac{q_i\cdot k_j}{\sqrt{d}} - m_h\,\lvert i - j\rvert .$$
#
# In a decoder the causal mask keeps $j \le i$ only, so the penalty is $m_h (i - j)$: $0$ for the
# query itself, $m_h$ for the previous token, $2m_h$ for the one before, and so on.
#
# **The slopes** are a geometric sequence fixed before training. For $H$ a power of two,
#
# $$m_h = 2^{-8h/H}, \qquad h = 1, \dots, H; \qquad H = 8:\ \tfrac12, \tfrac14, \dots, \tfrac1{256}.$$
#
# For other $H$ the paper's code (the one BLOOM was trained with) does **not** plug $H$ into that
# formula. It takes the $c = 2^{\lfloor \log_2 H\rfloor}$ slopes of the largest power of two below
# $H$, then appends the first $H - c$ of every other slope of $2c$ heads (the 1st, 3rd, 5th, ... of
# $2^{-8h/(2c)}$), which fall halfway between the ones already there on a log scale. For $H = 12$:
# the 8 slopes $2^{-1}, \dots, 2^{-8}$, then $2^{-0.5}, 2^{-1.5}, 2^{-2.5}, 2^{-3.5}$.
#
# **What this means.** Every head has a built-in preference for recent tokens, of its own
# strength: with $m = 1/2$ a key 10 positions back loses a factor $e^{-5} \approx 1/150$ against
# an equally good key at distance 0, so the head reads a handful of recent tokens; with
# $m = 1/256$ it reads hundreds. ALiBi is a soft, multi-scale sliding window with no parameters,
# and because a distance never seen in training just means a larger penalty, models trained on
# short sequences keep working on longer ones. (BLOOM's code adds $+m_h\, j$ instead of
# $-m_h (i - j)$: the two differ by $m_h i$, a constant along each row of scores, and a softmax
# ignores constants added to a whole row, so under the causal mask they give the same weights.)
#
# A worked example: the weights that one query at position 7 gives to 8 keys with equal scores,
# under two slopes.

# %%
distance = torch.arange(7, -1, -1, dtype=DTYPE)       # keys 0..7 seen from the query at position 7
for slope in [1 / 2, 1 / 16]:
    print(f"slope {slope:.4f}: weights of keys 0..7", torch.softmax(-slope * distance, dim=-1).numpy().round(3))

# %% [markdown]
# Write the slopes for any number of heads. About 10 minutes. A helper for the power-of-two case
# keeps it short; `torch.cat` joins the two parts, and `[0::2]` takes every other element
# starting with the first. (The extra part is simply empty when $H$ is a power of two.)

# %% nbgrader={"grade": false, "grade_id": "alibi_slopes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def alibi_slopes(n_heads: int) -> torch.Tensor:
    """The ALiBi slope of each head, as in the paper's code and BLOOM. About 10 minutes.

    Args:
        n_heads: H >= 1.

    Returns:
        A float64 tensor (H,). For H a power of two: m_h = 2 ** (-8 h / H), h = 1 .. H. Otherwise,
        with c = 2 ** floor(log2 H): the c slopes of c heads, followed by the first H - c of the
        slopes of 2c heads taken at every other position starting with the first (h = 1, 3, 5, ...).

    Example:
        >>> alibi_slopes(4)
        tensor([0.2500, 0.0625, 0.0156, 0.0039], dtype=torch.float64)
        >>> alibi_slopes(6)    # 4 slopes of 4 heads, then 2 ** -1 and 2 ** -3 from 8 heads
        tensor([0.2500, 0.0625, 0.0156, 0.0039, 0.5000, 0.1250], dtype=torch.float64)
    """
    ### BEGIN SOLUTION
    def power_of_two_slopes(n: int) -> torch.Tensor:
        ratio = 2.0 ** (-8.0 / n)                                   # the first slope is also the ratio
        return ratio ** torch.arange(1, n + 1, dtype=DTYPE)

    closest = 2 ** math.floor(math.log2(n_heads))                  # the largest power of two <= H
    extra = power_of_two_slopes(2 * closest)[0::2][: n_heads - closest]   # empty when H is a power of two
    return torch.cat([power_of_two_slopes(closest), extra])
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "alibi_slopes_powers_of_two", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the ALiBi slopes of 8 heads are 1/2, 1/4, ..., 1/256 in float64, and those of 1 and 2 heads are 1/256 and 1/16, 1/256"""
from grader.testing import learner, expect

slopes = learner.alibi_slopes(8)
expect.shape(slopes, (8,), what="alibi_slopes(8)", hint="one slope per head: shape (n_heads,)")
expect.dtype(slopes, DTYPE, what="alibi_slopes(8)", hint="build the slopes in float64")
expect.close(slopes, torch.tensor([2.0 ** -h for h in range(1, 9)], dtype=DTYPE), atol=1e-15, rtol=0, what="alibi_slopes(8)",
             hint="for a power of two H, m_h = 2 ** (-8 h / H) for h = 1 .. H: here 1/2, 1/4, ..., 1/256")
expect.close(learner.alibi_slopes(1), torch.tensor([2.0 ** -8], dtype=DTYPE), atol=1e-15, rtol=0, what="alibi_slopes(1)")
expect.close(learner.alibi_slopes(2), torch.tensor([2.0 ** -4, 2.0 ** -8], dtype=DTYPE), atol=1e-15, rtol=0, what="alibi_slopes(2)")

# %% nbgrader={"grade": true, "grade_id": "alibi_slopes_any_number_of_heads", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the ALiBi slopes equal the paper's reference code and BLOOM's ALiBi tensor in transformers for every number of heads from 1 to 40 and for 64, 80 and 100 heads, non-powers of two included"""
from grader.testing import learner, expect

slopes = learner.alibi_slopes(12)
expect.shape(slopes, (12,), what="alibi_slopes(12)", hint="one slope per head, also when H is not a power of two")
expect.true(bool((slopes > 0).all() and (slopes < 1).all()), "some slopes of alibi_slopes(12) are not in (0, 1): every slope is a negative power of 2")
### BEGIN HIDDEN TESTS
from transformers.models.bloom.modeling_bloom import build_alibi_tensor


def paper_slopes(n):
    """The reference implementation of the ALiBi paper (ofirpress/attention_with_linear_biases), in plain Python."""
    def power_of_2(n):
        start = 2 ** (-2 ** -(math.log2(n) - 3))
        return [start * start ** i for i in range(n)]
    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + paper_slopes(2 * closest)[0::2][: n - closest]


hint = ("for H not a power of two, keep the slopes of c = 2 ** floor(log2 H) heads and append the first H - c of the slopes of 2c heads "
        "taken at every other position, starting with the first; do not use 2 ** (-8 h / H) with H itself")
for n_heads in list(range(1, 41)) + [64, 80, 100]:
    got = learner.alibi_slopes(n_heads)
    expect.shape(got, (n_heads,), what=f"alibi_slopes({n_heads})")
    expect.close(got, torch.tensor(paper_slopes(n_heads), dtype=DTYPE), atol=0, rtol=1e-13, what=f"alibi_slopes({n_heads})", hint=hint)
    # BLOOM's tensor is slope * key position, built with float32 slopes: position 1 reads the slopes off
    bloom = build_alibi_tensor(torch.ones(1, 2, dtype=torch.long), n_heads, torch.float64)[:, 0, 1]
    expect.close(got, bloom, atol=0, rtol=2e-6, what=f"alibi_slopes({n_heads}) compared with BLOOM's build_alibi_tensor", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Now the bias of every head for every query and key. About 5 minutes. Distances come from
# broadcasting a column of query positions against a row of key positions, as the causal mask
# of `13-attention` did; the bias is *minus* slope times distance (a penalty, never a reward).

# %% nbgrader={"grade": false, "grade_id": "alibi_bias", "locked": false, "schema_version": 3, "solution": true, "task": false}
def alibi_bias(slopes: torch.Tensor, seq_len: int) -> torch.Tensor:
    """The ALiBi bias added to the attention scores of each head. About 5 minutes.

    Args:
        slopes: float64 tensor (H,), one slope per head (alibi_slopes(H), or any positive numbers).
        seq_len: T, the number of queries and of keys (self-attention).

    Returns:
        A float64 tensor (H, T, T) with bias[h, i, j] = -slopes[h] * |i - j|: 0 on the diagonal and
        more negative the further key j is from query i. Add it to the scores (H, T, T) or
        (B, H, T, T) before the softmax, together with the causal mask in a decoder.

    Example:
        >>> alibi_bias(torch.tensor([0.5], dtype=torch.float64), 3)   # -0.0 (a negative zero) equals 0
        tensor([[[-0.0000, -0.5000, -1.0000],
                 [-0.5000, -0.0000, -0.5000],
                 [-1.0000, -0.5000, -0.0000]]], dtype=torch.float64)
    """
    ### BEGIN SOLUTION
    positions = torch.arange(seq_len, dtype=slopes.dtype)
    distance = (positions[:, None] - positions[None, :]).abs()     # (T, T): |i - j|
    return -slopes[:, None, None] * distance                       # (H, T, T)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "alibi_bias_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the ALiBi bias has shape (H, T, T), is 0 on the diagonal and -slope * |i - j| off it, on a hand-computed case with slopes 1/2 and 1/4"""
from grader.testing import learner, expect

bias = learner.alibi_bias(torch.tensor([0.5, 0.25], dtype=DTYPE), 3)
expect.shape(bias, (2, 3, 3), what="alibi_bias(slopes of 2 heads, 3)", hint="one (T, T) matrix per head: (H, T, T)")
expect.dtype(bias, DTYPE, what="alibi_bias(slopes of 2 heads, 3)")
expect.close(bias[0], torch.tensor([[0.0, -0.5, -1.0], [-0.5, 0.0, -0.5], [-1.0, -0.5, 0.0]], dtype=DTYPE), atol=1e-15,
             what="the bias of the head with slope 1/2, T = 3",
             hint="bias[h, i, j] = -slope_h * |i - j|: zero on the diagonal, negative elsewhere")

# %% nbgrader={"grade": true, "grade_id": "alibi_bias_penalises_distance", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the ALiBi bias is -slope * |i - j| for every head, gives a query with equal scores weights that shrink with distance, and under the causal mask gives the same attention weights as BLOOM's ALiBi tensor in transformers"""
from grader.testing import learner, expect

bias = learner.alibi_bias(torch.tensor([0.5, 0.125, 1.0 / 256], dtype=DTYPE), 6)
expect.shape(bias, (3, 6, 6), what="alibi_bias(slopes of 3 heads, 6)")
expect.true(bool((bias <= 0).all()), "the ALiBi bias has positive entries: it must penalise distance, -slope * |i - j|, never reward it")
### BEGIN HIDDEN TESTS
from transformers.models.bloom.modeling_bloom import build_alibi_tensor

hint = "bias[h, i, j] = -slopes[h] * |i - j|: a penalty that grows with the distance between query i and key j"
gen = torch.Generator().manual_seed(4)
for n_heads, T in [(5, 7), (1, 1), (2, 10)]:
    slopes = torch.rand(n_heads, generator=gen, dtype=DTYPE) + 0.01
    got = learner.alibi_bias(slopes, T)
    expect.shape(got, (n_heads, T, T), what=f"alibi_bias of {n_heads} heads, T={T}")
    i = torch.arange(T, dtype=DTYPE)
    expect.close(got, -slopes[:, None, None] * (i[:, None] - i[None, :]).abs(), atol=1e-15, rtol=0,
                 what=f"alibi_bias of {n_heads} heads, T={T}", hint=hint)

# a query with equal scores for every key: under the causal mask the weights grow towards the query
causal = torch.ones(8, 8, dtype=torch.bool).tril()
got = learner.alibi_bias(torch.tensor([0.5, 0.0625], dtype=DTYPE), 8)
expect.shape(got, (2, 8, 8), what="alibi_bias of 2 heads, T=8")
weights = torch.softmax(got.masked_fill(~causal, float("-inf")), dim=-1)
expect.true(bool((weights[:, 7, 1:] > weights[:, 7, :-1]).all()),
            "with equal scores, the last query gives more weight to far keys than to near ones: the bias must be -slope * distance")

# BLOOM adds +slope * j (a row constant away from -slope * (i - j)): same weights under the causal mask
T, n_heads = 9, 12
bloom = build_alibi_tensor(torch.ones(1, T, dtype=torch.long), n_heads, torch.float64)    # (H, 1, T): slope * j
slopes_bloom = bloom[:, 0, 1]                                                               # BLOOM's (float32) slopes
scores = torch.randn(n_heads, T, T, generator=gen, dtype=DTYPE)
got = learner.alibi_bias(slopes_bloom, T)
expect.shape(got, (n_heads, T, T), what=f"alibi_bias of {n_heads} heads, T={T}")
mine = torch.softmax((scores + got).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")), dim=-1)
theirs = torch.softmax((scores + bloom).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")), dim=-1)
# BLOOM multiplies slope * j in float32: its weights carry float32 rounding, about 1e-7
expect.close(mine, theirs, atol=1e-6, rtol=0, what="causal attention weights with your bias compared with BLOOM's ALiBi tensor", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# The biases of four of the eight heads of an 8-head model (brighter = smaller penalty), and the
# slopes of 8 and of 12 heads on a log scale: the four extra slopes of 12 heads sit halfway between
# the first four of 8 heads.

# %%
bias_demo = alibi_bias(alibi_slopes(8), 16)
fig, axes = plt.subplots(1, 5, figsize=(16, 3.4), layout="constrained")
for ax, h in zip(axes[:4], [0, 2, 4, 7]):
    image = ax.imshow(bias_demo[h].masked_fill(~torch.ones(16, 16, dtype=torch.bool).tril(), float("nan")), cmap="viridis", vmin=-8, vmax=0)
    ax.set(title=f"head {h + 1}: slope 1/{round(1 / alibi_slopes(8)[h].item())}", xlabel="key j", ylabel="query i")
fig.colorbar(image, ax=list(axes[:4]), fraction=0.02, label="bias")
axes[4].semilogy(range(1, 9), alibi_slopes(8), "o", label="8 heads")
axes[4].semilogy(range(1, 13), alibi_slopes(12), "x", label="12 heads", ms=8)
axes[4].set(xlabel="head h", ylabel="slope m_h", title="ALiBi slopes")
axes[4].legend(fontsize=8, loc="lower left")
plt.show()

# %% [markdown]
# ## 6 · Local (sliding-window) attention
#
# The last variant is not an encoding but a **mask**: each query may attend only to the $w$ most
# recent positions, itself included:
#
# $$m_{ij} = \big[\, i - w < j \le i \,\big] .$$
#
# This is the convention of Mistral and of `transformers`' `sliding_window` ($j > i - w$ on top of
# the causal mask): a window of $w$ keys, fewer for the first $w - 1$ queries. $w = 1$ lets each
# token see only itself; $w \ge T$ is the plain causal mask. It is used alongside a position
# encoding (Mistral: RoPE and $w = 4096$; Gemma 2 and 3 alternate local and global layers).
#
# **Cost.** A dense causal layer (learned, sinusoidal, RoPE and ALiBi models alike) scores
# $\sum_{i=0}^{T-1}(i+1) = T(T+1)/2$ pairs: quadratic in $T$. A window scores
# $\sum_i \min(i+1, w) = wT - w(w-1)/2$ pairs for $T \ge w$: linear in $T$, and a generating model
# keeps only the last $w$ keys and values in its cache, a rolling buffer of fixed size.
#
# **Reach.** One layer lets information travel at most $w - 1$ positions. Layer 2 reads outputs of
# layer 1 that have already gathered $w - 1$ positions each, so after $n$ layers a token can be
# influenced by $n(w-1) + 1$ positions, itself included (far enough from the start of the text):
# the receptive field of stacked convolutions (`09-cnn`). Mistral 7B, 32 layers with $w = 4096$,
# reaches about 131 000 tokens back, though the information thins out over the hops.
#
# **ALiBi beside it.** ALiBi keeps every pair, so it pays the full quadratic cost and reaches the
# whole context in one layer; but it weighs a key $\delta$ positions back by $e^{-m_h \delta}$
# relative to an equally good recent one, a *soft* window whose weight falls to 1 % at
# $\delta = \ln(100)/m_h$. The sliding window is a *hard* window: linear cost, nothing at all
# beyond $w$ in one layer, and a reach that grows with depth. A worked example of the window rule
# by broadcasting, for $T = 6$ and $w = 3$:

# %%
query_pos, key_pos = torch.arange(6)[:, None], torch.arange(6)[None, :]
print("i - j for T = 6:\n", query_pos - key_pos)
print("keys with 0 <= i - j < 3 (the window of w = 3):\n", ((query_pos - key_pos >= 0) & (query_pos - key_pos < 3)).int())

# %% [markdown]
# Write the mask, then count what it costs and how far it reaches, in closed form (the counts must
# work for $T = 10^{12}$, where no mask fits in memory: return Python `int`s, which never
# overflow). About 20 minutes for the three.

# %% nbgrader={"grade": false, "grade_id": "sliding_window_mask", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sliding_window_mask(seq_len: int, window: int) -> torch.Tensor:
    """The causal sliding-window mask: query i may attend to key j exactly when i - window < j <= i.

    About 5 minutes.

    Args:
        seq_len: T, the number of queries and keys.
        window: w >= 1, the number of keys a query sees, itself included (Mistral's sliding_window).

    Returns:
        A bool tensor (T, T), True = may attend (the convention of 13-attention). w >= T gives
        the causal mask; w = 1 the identity.

    Raises:
        ValueError if window < 1.

    Example:
        >>> sliding_window_mask(4, 2).int()
        tensor([[1, 0, 0, 0],
                [1, 1, 0, 0],
                [0, 1, 1, 0],
                [0, 0, 1, 1]], dtype=torch.int32)
    """
    ### BEGIN SOLUTION
    if window < 1:
        raise ValueError(f"a window holds at least the query itself, got window={window}")
    i = torch.arange(seq_len)[:, None]    # query positions (T, 1)
    j = torch.arange(seq_len)[None, :]    # key positions (1, T)
    return (j <= i) & (i - j < window)
    ### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "attention_cost_and_reach", "locked": false, "schema_version": 3, "solution": true, "task": false}
def attended_pairs(seq_len: int, window: int | None = None) -> int:
    """How many (query, key) pairs a causal layer scores: the number of True entries of its mask.

    About 10 minutes.

    Args:
        seq_len: T >= 0.
        window: w >= 1 for sliding_window_mask(T, w); None for the full causal mask (any dense
                layer: learned, sinusoidal, RoPE or ALiBi positions).

    Returns:
        A Python int, computed in closed form without building the mask: T (T + 1) / 2 for the
        causal mask, sum over i of min(i + 1, w) for the sliding window.

    Example:
        >>> attended_pairs(5), attended_pairs(5, 2)      # 1+2+3+4+5, 1+2+2+2+2
        (15, 9)
    """
    ### BEGIN SOLUTION
    w = seq_len if window is None else min(window, seq_len)   # a window wider than the text is the causal mask
    return w * seq_len - w * (w - 1) // 2                     # T rows of w keys, minus the missing ones of the first w - 1 rows
    ### END SOLUTION


def receptive_field(n_layers: int, window: int) -> int:
    """How many positions can influence a token after n_layers of sliding-window attention. About 5 minutes.

    Args:
        n_layers: n >= 0 stacked layers, each with sliding_window_mask(T, window).
        window: w >= 1.

    Returns:
        A Python int: the number of positions j whose input can reach the output at position i
        (i itself included), for a token far enough from the start (i >= n (w - 1)):
        n (w - 1) + 1. With no layer only the token itself.

    Example:
        >>> receptive_field(1, 4), receptive_field(3, 4)
        (4, 10)
    """
    ### BEGIN SOLUTION
    return n_layers * (window - 1) + 1    # each layer moves information w - 1 positions further
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "sliding_window_mask_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the sliding-window mask of T = 5 and w = 2 is a bool band of the diagonal and the one below it"""
from grader.testing import learner, expect

mask = learner.sliding_window_mask(5, 2)
expect.dtype(mask, torch.bool, what="sliding_window_mask(5, 2)", hint="return a bool tensor (True = may attend)")
expect.equal(mask, torch.tensor([[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 1, 1]], dtype=torch.bool),
             what="sliding_window_mask(5, 2)", hint="query i sees keys i - w < j <= i: itself and the w - 1 keys before it, w keys in all")

# %% nbgrader={"grade": true, "grade_id": "sliding_window_mask_matches_transformers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the sliding-window mask equals transformers' sliding_window_causal_mask_function for windows from 1 to wider than the text, hides every key at distance w or more from attention, and refuses a window below 1"""
from grader.testing import learner, expect

expect.shape(learner.sliding_window_mask(7, 3), (7, 7), what="sliding_window_mask(7, 3)", hint="one row per query, one column per key: (T, T)")
### BEGIN HIDDEN TESTS
from transformers.masking_utils import sliding_window_causal_mask_function

hint = "allow exactly the keys i - w < j <= i (w keys, the query included): (j <= i) & (i - j < w)"
for T, w in [(1, 1), (6, 1), (7, 3), (8, 8), (5, 9), (12, 4), (10, 2)]:
    got = learner.sliding_window_mask(T, w)
    expect.dtype(got, torch.bool, what=f"sliding_window_mask({T}, {w})")
    positions = torch.arange(T)
    want = sliding_window_causal_mask_function(w)(0, 0, positions[:, None], positions[None, :])
    expect.equal(got, want, what=f"sliding_window_mask({T}, {w}) compared with transformers' sliding window", hint=hint)

# keys at distance >= w from the last query cannot change its output
gen = torch.Generator().manual_seed(5)
q, k, v = (torch.randn(10, 4, generator=gen, dtype=DTYPE) for _ in range(3))
mask = learner.sliding_window_mask(10, 3)
expect.shape(mask, (10, 10), what="sliding_window_mask(10, 3)")
before = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
k2, v2 = k.clone(), v.clone()
k2[:7], v2[:7] = 50.0, -100.0                         # the keys 3 or more positions before the last query
after = F.scaled_dot_product_attention(q, k2, v2, attn_mask=mask)
expect.close(after[-1], before[-1], atol=1e-12, what="the last query's output after changing the keys and values 3 or more positions back (w = 3)",
             hint="the last query must see only itself and the w - 1 keys before it")
expect.raises("ValueError", learner.sliding_window_mask, 5, 0)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "attended_pairs_counts", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the number of attended pairs is T(T+1)/2 for the causal mask and sum_i min(i + 1, w) for a sliding window, equal to the number of True entries of the masks, exact as a Python int for T = 10^12"""
from grader.testing import learner, expect

expect.equal(learner.attended_pairs(5), 15, what="attended_pairs(5)", hint="the causal mask of T = 5 has 1 + 2 + 3 + 4 + 5 True entries")
expect.equal(learner.attended_pairs(5, 2), 9, what="attended_pairs(5, 2)",
             hint="the first query sees 1 key, every later one w = 2: sum over i of min(i + 1, w)")
### BEGIN HIDDEN TESTS
hint = "count sum over i = 0 .. T-1 of min(i + 1, w): w T - w (w - 1) / 2 when T >= w, T (T + 1) / 2 when the window covers the whole text"
for T, w in [(1, None), (0, None), (13, None), (13, 1), (13, 4), (13, 13), (13, 20), (40, 7), (0, 3)]:
    positions = torch.arange(T)
    distance = positions[:, None] - positions[None, :]
    mask = (distance >= 0) if w is None else (distance >= 0) & (distance < w)
    expect.equal(learner.attended_pairs(T, w), int(mask.sum()), what=f"attended_pairs({T}, {w})", hint=hint)
T, w = 10**12, 10**6
expect.equal(learner.attended_pairs(T, w), w * T - w * (w - 1) // 2, what="attended_pairs(10**12, 10**6)",
             hint="compute with Python ints (exact at any size), not floats or int64 tensors: " + hint)
expect.equal(learner.attended_pairs(T), T * (T + 1) // 2, what="attended_pairs(10**12)", hint="compute with Python ints, not floats")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "receptive_field_grows_linearly", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the receptive field of n stacked sliding-window layers is n(w - 1) + 1 positions, the positions that reach a token through n applications of the mask"""
from grader.testing import learner, expect

expect.equal(learner.receptive_field(1, 4), 4, what="receptive_field(1, 4)", hint="one layer with a window of w keys: w positions")
expect.equal(learner.receptive_field(0, 4), 1, what="receptive_field(0, 4)", hint="with no attention layer a token knows only itself")
### BEGIN HIDDEN TESTS
hint = "each layer lets information travel w - 1 more positions back, so n layers reach n (w - 1) + 1 positions, the token itself included"
for n_layers in range(5):
    for w in [1, 2, 3, 5]:
        T = n_layers * (w - 1) + 6
        positions = torch.arange(T)
        distance = positions[:, None] - positions[None, :]
        step = ((distance >= 0) & (distance < w)).to(DTYPE)
        reach = torch.linalg.matrix_power(step, n_layers) > 0          # reach[i, j]: input j influences output i
        expect.equal(learner.receptive_field(n_layers, w), int(reach[-1].sum()), what=f"receptive_field({n_layers}, {w})", hint=hint)
expect.equal(learner.receptive_field(32, 4096), 32 * 4095 + 1, what="receptive_field(32, 4096), Mistral 7B's depth and window", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Cost and reach side by side, from your functions. Left: pairs scored by one layer as the text
# grows: every dense layer (learned, sinusoidal, RoPE, ALiBi) pays $T(T+1)/2$; windows pay a
# straight line. Middle: how far back a token can be influenced after $n$ layers: windows grow by
# $w - 1$ per layer, a dense layer reaches the whole context at once; the dotted lines are ALiBi's
# soft reach per head, where the weight of a key falls to 1 % ($\ln 100 / m_h$, for 3 of 8 heads).
# Right: the sliding window as a hard 0/1 window beside one ALiBi head's soft one, $e^{-m (i-j)}$.

# %%
lengths = np.unique(np.logspace(1, 6, 40).astype(int))
layers = np.arange(0, 33)
slopes_8 = alibi_slopes(8)
fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
axes[0].loglog(lengths, [attended_pairs(int(T)) for T in lengths], label="dense causal (learned, RoPE, ALiBi)", lw=2)
for w in [256, 4096]:
    axes[0].loglog(lengths, [attended_pairs(int(T), w) for T in lengths], label=f"sliding window w={w}")
axes[0].set(xlabel="sequence length T", ylabel="attended pairs per layer", title="cost: quadratic vs linear")
axes[0].legend(fontsize=8)
context = 32_768
axes[1].axhline(context, color="black", lw=2, label=f"dense: the whole context ({context})")
for w in [256, 1024, 4096]:
    axes[1].plot(layers, [min(receptive_field(int(n), w), context) for n in layers], label=f"sliding window w={w}")
for h in [0, 3, 7]:
    axes[1].axhline(math.log(100) / slopes_8[h].item(), ls=":", color=f"C{h + 3}", label=f"ALiBi 1% reach, slope 1/{round(1 / slopes_8[h].item())}")
axes[1].set(yscale="log", xlabel="layers n", ylabel="positions that can reach a token", title="reach after n layers")
axes[1].legend(fontsize=7, loc="lower right")
T_demo, w_demo = 24, 6
window_picture = sliding_window_mask(T_demo, w_demo).to(DTYPE)
alibi_picture = torch.exp(alibi_bias(torch.tensor([1 / 4], dtype=DTYPE), T_demo)[0]) * torch.ones(T_demo, T_demo, dtype=DTYPE).tril()
axes[2].imshow(torch.cat([window_picture, torch.full((T_demo, 1), float("nan"), dtype=DTYPE), alibi_picture], dim=1), cmap="Blues", vmin=0, vmax=1)
axes[2].set(title=f"hard window w={w_demo}  |  ALiBi e^(-(i-j)/4)", xlabel="key j (two panels)", ylabel="query i")
fig.tight_layout()
plt.show()
print(f"at T = 32768 a dense layer scores {attended_pairs(32768):,} pairs, a window of 4096 scores {attended_pairs(32768, 4096):,}")

# %% [markdown]
# ## 7 · Which scheme can learn a positional task?
#
# A small experiment ties the sections together. The task is purely positional: at every position
# $t \ge 3$ of a sequence of random tokens, predict the token at $t - 3$. Content cannot help (the
# tokens are random), so a model must find "three positions back". One causal attention layer with
# two heads, trained for 150 Adam steps with each scheme (a few seconds in all):
#
# - **no positions**: the layer cannot tell the key 3 positions back from any other, and only
#   guesses from an average of the past;
# - **sinusoidal, learned, RoPE**: all can express "offset 3" (sinusoidal and RoPE through the
#   rotation structure of sections 2 and 4, the learned table by learning it);
# - **ALiBi**: its bias only prefers *recent* keys, monotonically; it cannot single out offset 3
#   over offset 0, and on its own it fails. ALiBi models get precise positions from content and
#   depth, not from the bias.

# %%
SEQ, VOCAB, WIDTH, LAG = 16, 10, 32, 3


class TinyPositional(nn.Module):
    """Token embedding, one causal 2-head attention layer with the chosen position scheme, a linear read-out."""

    def __init__(self, scheme: str, n_heads: int = 2):
        super().__init__()
        self.scheme, self.n_heads = scheme, n_heads
        self.embed = nn.Embedding(VOCAB, WIDTH)
        self.learned = LearnedPositionalEmbedding(SEQ, WIDTH).float() if scheme == "learned" else None
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH)
        self.readout = nn.Linear(WIDTH, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        B, T = tokens.shape
        x = self.embed(tokens)
        if self.scheme == "sinusoidal":
            x = x + sinusoidal_encoding(T, WIDTH).float()
        if self.scheme == "learned":
            x = self.learned(x)
        q, k, v = (t.reshape(B, T, self.n_heads, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        if self.scheme == "rope":
            q, k = apply_rope(q, torch.arange(T)), apply_rope(k, torch.arange(T))
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if self.scheme == "alibi":
            scores = scores + alibi_bias(alibi_slopes(self.n_heads), T).float()
        scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        mixed = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, WIDTH)
        return self.readout(mixed)


def train_positional_task(scheme: str, steps: int = 150, seed: int = 0) -> tuple[list[float], float]:
    """Train TinyPositional(scheme) to output the token LAG positions back; the losses and held-out accuracy."""
    torch.manual_seed(seed)
    model = TinyPositional(scheme)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        tokens = torch.randint(0, VOCAB, (64, SEQ))
        loss = F.cross_entropy(model(tokens)[:, LAG:].reshape(-1, VOCAB), tokens[:, :-LAG].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        tokens = torch.randint(0, VOCAB, (512, SEQ))
        accuracy = (model(tokens)[:, LAG:].argmax(-1) == tokens[:, :-LAG]).double().mean().item()
    return losses, accuracy


results = {scheme: train_positional_task(scheme) for scheme in ["none", "sinusoidal", "learned", "rope", "alibi"]}
print("held-out accuracy:", {scheme: round(accuracy, 3) for scheme, (_, accuracy) in results.items()})
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
for scheme, (losses, _) in results.items():
    ax_loss.plot(losses, label=scheme)
ax_loss.set(xlabel="step", ylabel="cross-entropy", title=f"predict the token {LAG} positions back", yscale="log")
ax_loss.legend()
ax_acc.bar(list(results), [accuracy for _, accuracy in results.values()], color=[f"C{i}" for i in range(5)])
ax_acc.axhline(1 / VOCAB, color="grey", ls=":", label="chance")
ax_acc.set(ylabel="held-out accuracy", ylim=(0, 1.05), title="only schemes that can express an offset solve it")
ax_acc.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Practical considerations
#
# **Where each scheme goes, and what it touches.** Sinusoidal and learned encodings are added once,
# to the embeddings, before the first block (the original Transformer also multiplies the token
# embeddings by $\sqrt{d}$ so that they are not drowned by the encoding). RoPE is applied in
# *every* attention layer, to queries and keys only, after the projections and after splitting the
# heads, with $d$ the head width. ALiBi and sliding windows act on the scores of every layer.
#
# **Numerical precision of RoPE.** The angles $p\,\theta_i$ reach $p$ radians for the fastest pair.
# In float32 a position of $10^5$ has a spacing of about $0.008$, so the angle, and hence the
# rotation, is off by up to that much; in bfloat16 positions above 256 are not even representable
# exactly. Compute the tables in float32 at least (as `transformers` does, even in a bf16 model),
# in float64 when you can afford it, and cast the result to the model's dtype at the end:

# %%
theta_128 = 10000.0 ** (-torch.arange(0, 128, 2, dtype=DTYPE) / 128)     # the frequencies of a 128-wide head
for p in [1_000, 100_000, 1_000_000]:
    exact = p * theta_128
    in_float32 = (torch.tensor(float(p)) * theta_128.float()).double()      # angles computed in float32
    print(f"position {p:>9,}: largest angle error in float32 {(in_float32 - exact).abs().max().item():.1e} rad")
print("bfloat16 rounds the positions 1001, 1002, 1003 to", torch.tensor([1001.0, 1002.0, 1003.0]).to(torch.bfloat16).tolist())

# %% [markdown]
# **Longer contexts than in training.** Learned tables stop at $L_{\max}$. Sinusoidal encodings
# and RoPE can be computed anywhere, but a model has never seen the rotations of far positions and
# degrades beyond its training length. The remedies stretch RoPE: *position interpolation* (Chen et
# al., 2023) feeds positions $p/s$, squeezing a longer text into the trained range (fractional
# positions, `rope_type="linear"` in `transformers`, which the tests check your tables against);
# *NTK-aware* scaling raises the base instead, slowing the slow pairs more than the fast ones; YaRN
# and LLaMA 3's scheme scale each frequency band differently. ALiBi extrapolates by construction,
# since a longer distance just means a larger penalty.
#
# **The two RoPE layouts.** Half-split (`rotate_half`, GPT-NeoX, `transformers`) and adjacent pairs
# (RoFormer, Meta's LLaMA code, GPT-J) are not interchangeable for given weights. Loading a
# checkpoint trained with one into code written for the other gives a model that runs, produces
# text of the right shape and is nonsense: always compare a few logits with the original
# implementation. The same applies to sinusoidal layouts (interleaved or halves) and to the sign of
# the rotation: turning by $-p\theta$ is also a valid relative encoding, but not the one the
# checkpoint learned.
#
# **RoPE and the KV cache.** Rotate each key once, at its absolute position, and cache the rotated
# key; a new query at position $s$ is rotated by $s$, so a generation step needs the number of
# tokens already in the cache. A learned table needs the same `start`, which is the classic bug of
# a first KV cache: every new token encoded as position 0.
#
# **Sliding windows.** Off-by-one errors are easy: $i - j < w$ gives $w$ keys, $i - j \le w$ gives
# $w + 1$. With a cache, only the last $w$ keys and values need to be kept (a ring buffer), which is
# where the memory saving comes from; the compute saving needs kernels that skip masked blocks
# (FlashAttention supports windows), since a dense masked softmax still scores all $T^2$ pairs.
#
# **Common bugs, and how the tests catch them.** Sines and cosines in halves instead of interleaved,
# or frequencies $\text{base}^{-i/d}$ instead of $\text{base}^{-2i/d}$ (the paper's formula, checked
# entry by entry); a learned table that ignores `start` (outputs at start > 0); RoPE rotating by
# $-\theta$, pairing adjacent coordinates, or with the tables in `repeat_interleave` layout (all
# three still preserve norms and give relative scores, so only the comparison with
# `transformers` and the closed-form score catch them); a "RoPE" that returns its input (norms and
# relative scores are then trivially fine: the comparison with `transformers` is not); ALiBi slopes
# $2^{-8h/H}$ for $H$ that is not a power of two (BLOOM's own slopes differ); an ALiBi bias of the
# wrong sign, which makes every head favour the *farthest* tokens; a window of $w + 1$ keys; a cost
# of $wT$ that forgets the shorter first rows; a receptive field of $nw$ instead of $n(w-1)+1$.
#
# **Which to choose.** For a new decoder-only model: RoPE (with a base suited to the target length,
# $10^4$ to $10^6$), optionally with sliding-window layers interleaved with global ones to bound
# the KV cache. ALiBi when extrapolation without fine-tuning matters most. Learned tables for
# encoders with a fixed maximum length (BERT-style). Sinusoidal encodings mostly for teaching and
# for models that must run at any length without training.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | attention ignores order | $\operatorname{Attn}(PX) = P\operatorname{Attn}(X)$ | shuffle tokens, outputs shuffle alike | why every transformer needs position information |
# | sinusoidal encoding | $\mathrm{PE}_{p,2i} = \sin p\omega_i,\ \mathrm{PE}_{p,2i+1} = \cos p\omega_i,\ \omega_i = b^{-2i/d}$ | `pe[:, 0::2] = sin(angles)`, `pe[:, 1::2] = cos(angles)` | the 2017 Transformer; timestep embeddings of diffusion models |
# | shift as rotation | $\mathrm{PE}_{p+k} = M_k \mathrm{PE}_p$, $\mathrm{PE}_p\cdot\mathrm{PE}_{p+k} = \sum_i \cos k\omega_i$ | `pe @ pe.T` is Toeplitz | relative attention from absolute encodings |
# | learned positions | $h_t = x_t + P_{s+t}$, $P \sim \mathcal N(0, 0.02^2)$ | `x + self.weight[start:start + T]` | GPT-2 (`wpe`), BERT; hard limit $L_{\max}$ |
# | RoPE | $x' = x\odot\cos p\tilde\theta + \operatorname{rotate\_half}(x)\odot\sin p\tilde\theta$ | `torch.cat([-x2, x1], -1)`, tables `cat([a, a], -1)` | LLaMA, Mistral, Qwen, Gemma, GPT-NeoX |
# | relative property | $\langle R_m q, R_n k\rangle = \langle q, R_{n-m}k\rangle$, $\lVert R_m x\rVert = \lVert x\rVert$ | scores constant along diagonals | KV cache: rotate keys once; context extension by scaling positions |
# | ALiBi | $s_{ij} - m_h\lvert i-j\rvert$, $m_h = 2^{-8h/H}$ (+ interleaving) | `-slopes[:, None, None] * (i[:, None] - i[None, :]).abs()` | BLOOM, MPT; extrapolation to longer inputs |
# | sliding window | $m_{ij} = [\,i - w < j \le i\,]$ | `(j <= i) & (i - j < w)` | Mistral, Gemma 2/3 local layers, Longformer |
# | cost and reach | pairs $wT - \frac{w(w-1)}{2}$ vs $\frac{T(T+1)}{2}$; reach $n(w-1)+1$ | closed forms with Python ints | bounded KV cache (ring buffer); depth buys context |

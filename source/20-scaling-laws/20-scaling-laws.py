# %% [markdown]
# # 20 · Scaling laws: Kaplan and Chinchilla
#
# Training a transformer of $N$ parameters on $D$ tokens costs about $C = 6ND$ floating-point
# operations, and its loss falls as a power law in both. Given a budget $C$, the best model
# balances the two terms of the loss:
#
# $$\boxed{\;C \approx 6ND, \qquad L(N, D) = E + \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}}, \qquad
# N_{\text{opt}}(C) = G\left(\frac{C}{6}\right)^{\frac{\beta}{\alpha+\beta}},\quad
# D_{\text{opt}}(C) = \frac{C}{6N_{\text{opt}}(C)}\;}$$
#
# Why it matters for LLMs: every large training run is planned with these three lines. They say how
# many GPU-hours a model costs, what loss it will reach before it is trained, and whether a budget
# should buy a bigger model or more data. GPT-3 (175B parameters, 300B tokens) followed Kaplan et
# al.'s answer, "mostly a bigger model"; Chinchilla (70B parameters, 1.4T tokens) followed Hoffmann
# et al.'s, "both equally, about 20 tokens per parameter", and beat the four times larger Gopher.
#
# **What you will build:** the FLOP count of training and of generation, checked against PyTorch's
# own FLOP counter and against published budgets; a power-law fit in log space; the parametric law
# $L(N, D)$ and its fit to measurements (tiny models trained on Tiny Shakespeare, and points drawn
# from the published laws); the compute-optimal split of a budget, derived with a Lagrange
# multiplier, for Chinchilla's law and for Kaplan's.

# %% [markdown]
# ## Prerequisites
#
# - `16-gpt`: the decoder-only GPT and its parameter count; the course model used here.
# - `18-llama`: parameter counts of real configurations.
# - `19-training`: learning-rate schedules (warm-up and cosine decay), which turn out to matter here.
# - `04-optimization`: least squares; `02-calculus`: Lagrange multipliers.
#
# Packages: `numpy`, `scipy` (`scipy.optimize` as the reference for every fit), `matplotlib`,
# `torch` (only its FLOP counter and the course model). Nothing is downloaded, nothing needs a GPU.
#
# **Sources of every published constant used here** (checked against the papers):
#
# | quantity | value | source |
# |---|---|---|
# | $L(N) = (N_c/N)^{\alpha_N}$ | $\alpha_N = 0.076$, $N_c = 8.8\times10^{13}$ non-embedding parameters | Kaplan et al. 2020, *Scaling Laws for Neural Language Models*, eq. (1.1), table 5 |
# | $L(D) = (D_c/D)^{\alpha_D}$ | $\alpha_D = 0.095$, $D_c = 5.4\times10^{13}$ tokens | Kaplan et al. 2020, eq. (1.2) |
# | compute-efficient size | $N_{\text{opt}} = 1.3\times10^{9}\, C_{\min}^{0.73}$ ($C$ in PF-days, $D \propto C^{0.27}$) | Kaplan et al. 2020, table 6, figure 14 |
# | $L(N, D) = E + A/N^\alpha + B/D^\beta$ | $E = 1.69$, $A = 406.4$, $B = 410.7$, $\alpha = 0.34$, $\beta = 0.28$ | Hoffmann et al. 2022, *Training Compute-Optimal Large Language Models*, approach 3, eq. (10) |
# | $N_{\text{opt}} \propto C^{a}$ | $a = 0.50$ (approach 1), $0.49$ (approach 2), $0.46$ (approach 3) | Hoffmann et al. 2022, table 2 |
# | refit of approach 3 | $E = 1.8172$, $A = 482.01$, $B = 2085.43$, $\alpha = 0.3478$, $\beta = 0.3658$ | Besiroglu et al. 2024, *Chinchilla Scaling: A replication attempt* |
#
# Losses are in nats per token of each paper's own tokenizer and data (WebText2 for Kaplan,
# MassiveText for Chinchilla); they are not comparable across papers, nor with the nats per
# *character* of our Tiny Shakespeare models.

# %%
import csv
import importlib
import math
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import scipy.optimize
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

if os.getcwd() not in sys.path:
    sys.path.insert(0, os.getcwd())   # course_model.py and measure_tiny_models.py lie beside this notebook
course_model = importlib.import_module("course_model")   # the course model of 16-gpt: course_model.new_model(...)

PF_DAY = 1e15 * 24 * 3600  # one petaFLOP per second for a day: 8.64e19 FLOPs, Kaplan's unit of compute

CHINCHILLA = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)          # Hoffmann et al. 2022, eq. (10)
EPOCH_REFIT = dict(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)  # Besiroglu et al. 2024
KAPLAN = dict(alpha_N=0.076, N_c=8.8e13, alpha_D=0.095, D_c=5.4e13, N_e=1.3e9, p_N=0.73)  # Kaplan et al. 2020

# Published training runs: parameters and training tokens (their papers), used as anchors below.
PUBLISHED_RUNS = {
    "GPT-3 175B": (175e9, 300e9),
    "Gopher 280B": (280e9, 300e9),
    "Chinchilla 70B": (70e9, 1.4e12),
    "LLaMA 65B": (65.2e9, 1.4e12),
    "Llama 2 70B": (69e9, 2.0e12),
    "Llama 3 8B": (8.0e9, 15e12),
}

# %% [markdown]
# ## 1 · Training FLOPs: where $6ND$ comes from
#
# **The forward pass.** A linear layer $y = Wx$ with $W \in \mathbb{R}^{m\times n}$ does $mn$
# multiplications and $mn$ additions per input vector: **2 FLOPs per weight per token**. A
# transformer is almost all linear layers (the query, key, value and output projections, the two
# feed-forward matrices, the output head), so one token's forward pass costs about $2N$ FLOPs.
#
# **The backward pass.** For the same layer, backpropagation computes two products of the same size
# as the forward one: the gradient for the input, $\partial L/\partial x = W^\top \,\partial L/\partial y$
# (needed to continue to earlier layers), and the gradient for the weights,
# $\partial L/\partial W = \partial L/\partial y\; x^\top$ (summed over the batch). That is $2 \times 2 = 4$
# FLOPs per weight per token. Forward plus backward:
#
# $$C_{\text{train}} \approx (2 + 4)\,N D = 6ND.$$
#
# **Attention.** The attention scores are not a product with a weight matrix: each token's query is
# multiplied with the keys of the $n_{\text{ctx}}$ tokens of its context, in every layer. Kaplan et
# al. (table 1) count $2\,n_{\text{layer}}\,n_{\text{ctx}}\,d_{\text{model}}$ forward FLOPs per token
# for it (they write $d_{\text{attn}}$, equal to $d_{\text{model}}$ in GPT models), and the backward
# pass again costs twice the forward one:
#
# $$C_{\text{forward}} = 2N + 2\,n_{\text{layer}}\,n_{\text{ctx}}\,d_{\text{model}} \text{ per token}, \qquad
# C_{\text{train}} = 3\, C_{\text{forward}}\, D = 6ND + 6\,n_{\text{layer}}\,n_{\text{ctx}}\,d_{\text{model}}\,D.$$
#
# **What this means.** Compute is parameters times tokens times six. The attention term is small when
# $12\,d_{\text{model}} \gg n_{\text{ctx}}$ (with $N \approx 12\,n_{\text{layer}}d_{\text{model}}^2$, its
# share of the forward cost is $n_{\text{ctx}}/(12 d_{\text{model}} + n_{\text{ctx}})$): about 1 % for
# GPT-3, but a large share for tiny models with long contexts, and for long-context training. Kaplan
# et al. count only the scores $QK^\top$; the weighted sum of the values $AV$ costs as much again,
# and a causal mask halves both on average (Hoffmann et al., appendix F, count everything,
# including the softmax; the total differs from $6ND$ by a few percent for large models). Which
# $N$ to use is a convention: Kaplan et al. count **non-embedding** parameters (a lookup in the
# embedding table costs no multiplications, but the output head does), Hoffmann et al. count all of
# them. Section 5 shows that this choice alone moves the fitted exponents.
#
# A worked example with PyTorch's own FLOP counter, `torch.utils.flop_counter.FlopCounterMode`, which
# counts the multiply-adds of every matrix product (as 2 FLOPs): one linear layer without bias,
# forward and backward, for a batch of tokens whose input needs a gradient (as inside a network).

# %%
layer = nn.Linear(300, 200, bias=False, dtype=torch.float64)
tokens = torch.randn(50, 300, dtype=torch.float64, requires_grad=True)
with FlopCounterMode(display=False) as counter:
    out = layer(tokens)
forward_count = counter.get_total_flops()
with FlopCounterMode(display=False) as counter:
    out.sum().backward()
backward_count = counter.get_total_flops()
n_weights = layer.weight.numel()
print(f"forward : {forward_count:>10,d} FLOPs = {forward_count / (n_weights * 50):.0f} per weight per token")
print(f"backward: {backward_count:>10,d} FLOPs = {backward_count / (n_weights * 50):.0f} per weight per token")

# %% [markdown]
# Now write the count (about 5 minutes). With the attention arguments left at zero it is plain $6ND$.

# %% nbgrader={"grade": false, "grade_id": "training_flops", "locked": false, "schema_version": 3, "solution": true, "task": false}
def training_flops(n_params: float, n_tokens: float, n_layer: int = 0, n_ctx: int = 0, d_model: int = 0) -> float:
    """FLOPs to train a transformer: forward (2 per parameter per token) plus backward (4), with Kaplan's attention term.

    Args:
        n_params: N, the parameters that take part in matrix products (a float or an int).
        n_tokens: D, the number of training tokens.
        n_layer, n_ctx, d_model: the number of layers, the context length and the width, for the attention
            scores' 2 * n_layer * n_ctx * d_model forward FLOPs per token; all 0 to leave attention out.

    Returns:
        A float: 3 * (2 N + 2 n_layer n_ctx d_model) * D, that is 6 N D when the attention arguments are 0.

    Example:
        >>> training_flops(175e9, 300e9)       # GPT-3
        3.15e+23
    """
    ### BEGIN SOLUTION
    forward_per_token = 2.0 * n_params + 2.0 * n_layer * n_ctx * d_model
    backward_per_token = 2.0 * forward_per_token   # gradients for the inputs and for the weights
    return float((forward_per_token + backward_per_token) * n_tokens)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "training_flops_six_nd", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""training_flops is 6ND without the attention arguments: GPT-3's 175B parameters on 300B tokens cost 3.15e23 FLOPs"""
from grader.testing import learner, expect

got = learner.training_flops(175e9, 300e9)
expect.shape(got, (), what="training_flops(175e9, 300e9)", hint="return one number, a float")
expect.close(got, 3.15e23, rtol=1e-9, atol=0, what="training_flops(175e9, 300e9)",
             hint="2 FLOPs per parameter per token forward, 4 backward: 6 * N * D")

# %% nbgrader={"grade": true, "grade_id": "training_flops_counted", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""training_flops agrees with torch's FlopCounterMode on a stack of linear layers trained one step, and adds Kaplan's attention term 6 n_layer n_ctx d_model D"""
from grader.testing import learner, expect

got = learner.training_flops(1e6, 1000, n_layer=2, n_ctx=64, d_model=32)
expect.shape(got, (), what="training_flops with attention arguments")
expect.true(float(got) > learner.training_flops(1e6, 1000), "training_flops with n_layer, n_ctx and d_model set is not larger than without them: "
            "the attention scores add 2 * n_layer * n_ctx * d_model forward FLOPs per token")
### BEGIN HIDDEN TESTS
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

torch.manual_seed(0)
stack = nn.Sequential(nn.Linear(48, 96, bias=False), nn.ReLU(), nn.Linear(96, 48, bias=False), nn.ReLU(), nn.Linear(48, 10, bias=False)).double()
inputs = torch.randn(37, 48, dtype=torch.float64, requires_grad=True)
with FlopCounterMode(display=False) as counter:
    stack(inputs).square().sum().backward()
counted = counter.get_total_flops()
n_weights = sum(p.numel() for p in stack.parameters())
got = learner.training_flops(n_weights, 37)
expect.shape(got, (), what="training_flops for a stack of linear layers")
ratio = float(got) / counted
expect.true(abs(ratio - 1 / 3) > 1e-6, "training_flops counts only the forward pass (2 N D): "
            "the backward pass costs twice the forward one (gradients for the inputs and for the weights), 6 N D in all")
expect.true(abs(ratio - 2 / 3) > 1e-6, "training_flops counts 4 N D: the forward pass costs 2 FLOPs per weight per token "
            "(a multiplication and an addition) and the backward pass twice that")
expect.close(got, float(counted), rtol=1e-12, atol=0, what="training_flops(N, D) against torch's FlopCounterMode for one forward and backward pass",
             hint="6 * N * D: 2 forward and 4 backward FLOPs per parameter per token")
for n_params, n_tokens, n_layer, n_ctx, d_model in [(1.3e9, 2.6e10, 24, 2048, 2048), (834432, 1.31e7, 4, 256, 128), (5e4, 3e5, 2, 64, 16)]:
    want = 6 * n_params * n_tokens + 6 * n_layer * n_ctx * d_model * n_tokens
    got = learner.training_flops(n_params, n_tokens, n_layer, n_ctx, d_model)
    expect.shape(got, (), what="training_flops with attention")
    expect.close(got, want, rtol=1e-12, atol=0, what=f"training_flops with n_layer={n_layer}, n_ctx={n_ctx}, d_model={d_model}",
                 hint="the attention term costs 2 * n_layer * n_ctx * d_model FLOPs per token forward and twice that backward: "
                      "3 * (2 N + 2 n_layer n_ctx d_model) * D")
### END HIDDEN TESTS

# %% [markdown]
# **Checked on real configurations.** First the course model of `16-gpt` (4 layers, width 128,
# context 256, 65 characters), measured by the FLOP counter over one training step of 8 windows.
# Its matrix products use the 12 $n_{\text{layer}} d_{\text{model}}^2$ weights of the blocks plus the
# $65 \times 128$ output head (the tied embedding, multiplied once per token). Both attention
# products $QK^\top$ and $AV$ over the full $T\times T$ matrix (what a dense kernel computes even
# under a causal mask) would add $4\,n_{\text{layer}}\,n_{\text{ctx}}\,d_{\text{model}}$ forward FLOPs
# per token, twice Kaplan's term.

# %%
sizes = course_model.config()
course = course_model.new_model().train()
windows = torch.randint(0, 65, (8, sizes["block_size"]))
with FlopCounterMode(display=False) as counter:
    logits = course(windows).logits
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), windows.flatten()).backward()
measured = counter.get_total_flops()
n_layer, d, ctx = sizes["n_layer"], sizes["n_embd"], sizes["block_size"]
n_matmul = 12 * n_layer * d * d + sizes["vocab_size"] * d
n_train_tokens = windows.numel()
print(f"FlopCounterMode, one step      : {measured:.4e}")
print(f"6 N D (N = blocks + head)      : {6 * n_matmul * n_train_tokens:.4e}   ({6 * n_matmul * n_train_tokens / measured:.1%} of it)")
print(f"+ both attention products      : {6 * n_matmul * n_train_tokens + 12 * n_layer * ctx * d * n_train_tokens:.4e}")
print(f"share of attention in the count: {12 * n_layer * ctx * d / (6 * n_matmul + 12 * n_layer * ctx * d):.0%}")

# %% [markdown]
# The counter's total is exactly $6ND$ with $N$ the blocks plus the head: it does not see the
# attention products at all, because they run inside the fused kernel
# `F.scaled_dot_product_attention`, which the counter does not count on the CPU. Yet for this
# small model with a long context they are a quarter of the real work. Two lessons: a FLOP counter
# counts only the operations it knows, and for small models $6ND$ is not the whole cost (one of the
# reasons small-scale fits disagree, section 6). For the models of the papers attention is a
# rounding error. The published budgets, recomputed with your function (GPT-3: 96 layers, context
# 2048, width 12288; the GPT-3 paper reports $3.14\times10^{23}$ FLOPs):

# %%
ARCHITECTURES = {"GPT-3 175B": (96, 2048, 12288), "Gopher 280B": (80, 2048, 16384), "Chinchilla 70B": (80, 2048, 8192),
                 "LLaMA 65B": (80, 2048, 8192), "Llama 2 70B": (80, 4096, 8192), "Llama 3 8B": (32, 8192, 4096)}
for name, (n_params, n_tokens) in PUBLISHED_RUNS.items():
    plain = training_flops(n_params, n_tokens)
    with_attention = training_flops(n_params, n_tokens, *ARCHITECTURES[name])
    print(f"{name:15s} 6ND = {plain:.2e} FLOPs = {plain / PF_DAY:>9,.0f} PF-days;  with attention {with_attention / plain - 1:+.1%}")

# %% [markdown]
# ## 2 · Inference FLOPs
#
# Generating text runs only the forward pass: **$2N$ FLOPs per generated token**, a third of a
# training token. With a KV cache (`31-kv-cache`) the keys and values of earlier tokens are kept, so
# the token at position $t$ (counting from 1) computes its query against $t$ stored keys: by Kaplan's
# convention $2\,n_{\text{layer}}\,t\,d_{\text{model}}$ FLOPs for the scores. Processing a sequence
# of $T$ tokens one by one therefore costs
#
# $$C_{\text{inference}}(T) = \sum_{t=1}^{T}\left(2N + 2\,n_{\text{layer}}\,t\,d_{\text{model}}\right)
# = 2NT + n_{\text{layer}}\,d_{\text{model}}\,T(T+1).$$
#
# **What this means.** The parameter term grows linearly with the length, the attention term
# quadratically: at $T \approx 2N / (n_{\text{layer}} d_{\text{model}}) \approx 24\, d_{\text{model}}$
# the two are equal (about 300 000 tokens for GPT-3, 3 000 for the course model). A model served to
# many users spends far more FLOPs on inference over its life than on training, which is one
# reason to train a *smaller* model on more tokens than the compute-optimal split below
# (Sardana et al. 2024; Llama 3 8B saw 15T tokens, about 1 900 per parameter). Counting FLOPs is
# not counting time: generation one token at a time is limited by reading the weights from memory,
# not by arithmetic (`22-memory`).
#
# Write the count (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "inference_flops", "locked": false, "schema_version": 3, "solution": true, "task": false}
def inference_flops(n_params: float, n_layer: int, d_model: int, n_tokens: int) -> float:
    """Forward FLOPs to process n_tokens one at a time with a KV cache (the token at position t attends to t tokens).

    Args:
        n_params: N, parameters in matrix products.
        n_layer, d_model: the number of layers and the width (Kaplan's attention term).
        n_tokens: T >= 0, the length of the sequence processed (prompt plus generated tokens).

    Returns:
        A float: the sum over t = 1..T of (2 N + 2 n_layer t d_model) = 2 N T + n_layer d_model T (T + 1).

    Example:
        >>> inference_flops(1000, 2, 16, 1)      # one token: 2N + 2 * 2 * 1 * 16
        2064.0
    """
    ### BEGIN SOLUTION
    parameters = 2.0 * n_params * n_tokens                          # 2N for every token
    attention = 1.0 * n_layer * d_model * n_tokens * (n_tokens + 1)  # 2 n_layer d_model (1 + 2 + ... + T)
    return float(parameters + attention)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "inference_flops_counts", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""inference_flops: 2N per token plus 2 n_layer t d_model for the token at position t, summed over the sequence; one token and an empty sequence by hand"""
from grader.testing import learner, expect

got = learner.inference_flops(1000, 2, 16, 1)
expect.shape(got, (), what="inference_flops(1000, 2, 16, 1)")
expect.close(got, 2064.0, rtol=1e-12, atol=0, what="inference_flops for a single token",
             hint="one token: a forward pass of 2 N FLOPs plus 2 * n_layer * 1 * d_model for the scores against its own key")
expect.close(learner.inference_flops(1000, 2, 16, 0), 0.0, atol=0, what="inference_flops of an empty sequence")
### BEGIN HIDDEN TESTS
for n_params, n_layer, d_model, n_tokens in [(834432, 4, 128, 256), (175e9, 96, 12288, 2048), (5e4, 2, 16, 37)]:
    want = sum(2.0 * n_params + 2.0 * n_layer * t * d_model for t in range(1, n_tokens + 1))
    got = learner.inference_flops(n_params, n_layer, d_model, n_tokens)
    expect.shape(got, (), what="inference_flops")
    expect.true(abs(float(got) - 6 * n_params * n_tokens) > 1e-6 * want, "inference_flops counts 6N per token: generation runs only the forward pass, 2N per token")
    expect.true(abs(float(got) - 2 * n_params * n_tokens) > 1e-9 * want, "inference_flops leaves out attention: the token at position t computes "
                "scores against t cached keys, 2 * n_layer * t * d_model FLOPs")
    expect.close(got, want, rtol=1e-12, atol=0, what=f"inference_flops for T={n_tokens}, n_layer={n_layer}, d_model={d_model}",
                 hint="with a KV cache the token at position t (from 1) attends to t keys, not to the full context: "
                      "sum over t of (2 N + 2 n_layer t d_model)")
### END HIDDEN TESTS

# %% [markdown]
# Where the FLOPs of one token go as the context grows, for the course model and for GPT-3
# (parameters in blue, attention in orange, per token at position $t$):

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, (name, n_params, layers, width) in zip(axes, [("course model", 12 * 4 * 128**2 + 65 * 128, 4, 128), ("GPT-3 175B", 175e9, 96, 12288)]):
    positions = np.logspace(0, 6, 200)
    ax.loglog(positions, np.full_like(positions, 2 * n_params), label="$2N$")
    ax.loglog(positions, 2 * layers * positions * width, label="$2\\,n_{layer}\\,t\\,d_{model}$")
    ax.axvline(n_params / (layers * width), color="grey", ls=":", lw=1)
    ax.set(title=name, xlabel="position $t$ in the sequence", ylabel="forward FLOPs for that token")
    ax.legend()
fig.suptitle("Per-token inference cost: parameters dominate until the context reaches about $24\\,d_{model}$ tokens")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3 · Power laws, and fitting them in log space
#
# Kaplan et al. found that the test loss of a model trained to convergence on enough data falls as a
# power law in its number of (non-embedding) parameters, over six orders of magnitude:
#
# $$L(N) = \left(\frac{N_c}{N}\right)^{\alpha_N}, \qquad \alpha_N = 0.076,\; N_c = 8.8\times 10^{13}.$$
#
# Take logarithms: $\log L = \alpha_N \log N_c - \alpha_N \log N$. **A power law is a straight line on
# log-log axes**, with slope $-\alpha_N$ and intercept $\alpha_N \log N_c$. Fitting it is ordinary
# least squares on $(\log N, \log L)$: for slope $s$ and intercept $c$, $\alpha = -s$ and
# $N_c = \exp(c/\alpha)$.
#
# **Why log space.** Measurement noise on a loss is roughly multiplicative (a few percent, from
# seeds and data order), and the points span orders of magnitude. Least squares in linear space
# weighs every point by the size of its value: the largest losses (the smallest models) decide the
# fit and the rest barely count. In log space every point counts by its *relative* error. The same
# holds for the x-axis: points evenly spaced in $\log N$ are what makes a log-log fit well-posed.
#
# **What this means.** Doubling $N$ multiplies the loss by $2^{-0.076} \approx 0.949$: a constant
# 5 % improvement per doubling, with no sign of saturating over Kaplan's range. A pure power law
# goes to zero; the real loss cannot (text has entropy), which is why Chinchilla's law adds $E$.
#
# Kaplan et al. did not publish their individual runs. The "published points" below are drawn from
# their published law at the sizes of their models (768 to 1.5 billion non-embedding parameters),
# with 2 % multiplicative noise: the fit must recover the published constants.

# %%
rng = np.random.default_rng(2020)
kaplan_n = np.logspace(np.log10(768), np.log10(1.5e9), 14)
kaplan_loss = (KAPLAN["N_c"] / kaplan_n) ** KAPLAN["alpha_N"] * np.exp(0.02 * rng.standard_normal(kaplan_n.size))
print(np.c_[kaplan_n, kaplan_loss].round(3)[:4], "...")

# %% [markdown]
# Write the fit (about 5 minutes): `np.polyfit` of degree 1 on the logarithms, or the normal
# equations by hand.

# %% nbgrader={"grade": false, "grade_id": "fit_power_law", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fit_power_law(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of y = (x_c / x) ** alpha in log space.

    Args:
        x: float64 array (n,), positive (parameters, tokens or compute).
        y: float64 array (n,), positive (losses), n >= 2.

    Returns:
        (x_c, alpha), two floats: the straight line log y = alpha log x_c - alpha log x that minimises the
        sum of squared errors of log y (natural logarithms).

    Example:
        >>> fit_power_law(np.array([1.0, 10.0, 100.0]), np.array([10.0, 1.0, 0.1]))  # y = 10 / x
        (10.0, 1.0)
    """
    ### BEGIN SOLUTION
    slope, intercept = np.polyfit(np.log(x), np.log(y), deg=1)
    alpha = -slope
    x_c = np.exp(intercept / alpha)
    return float(x_c), float(alpha)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "fit_power_law_exact", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""fit_power_law recovers x_c and alpha exactly from points on a power law"""
from grader.testing import learner, expect

x = np.array([1.0, 10.0, 100.0])
got = learner.fit_power_law(x, 10.0 / x)
expect.shape(got, (2,), what="fit_power_law(...)", hint="return a tuple (x_c, alpha)")
expect.close(got, (10.0, 1.0), rtol=1e-9, atol=0, what="fit_power_law on y = 10 / x",
             hint="log y = alpha log x_c - alpha log x: the slope of the line is -alpha, the intercept alpha * log(x_c)")

# %% nbgrader={"grade": true, "grade_id": "fit_power_law_log_space", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""fit_power_law on noisy points spanning nine decades matches scipy.stats.linregress of the logarithms, and recovers Kaplan's published constants from points of his law"""
from grader.testing import learner, expect
import scipy.stats

x = np.logspace(3, 9, 7)
got = learner.fit_power_law(x, (8.8e13 / x) ** 0.076)
expect.shape(got, (2,), what="fit_power_law on points of Kaplan's L(N)")
expect.close(got, (8.8e13, 0.076), rtol=1e-6, atol=0, what="fit_power_law on noiseless points of L(N) = (8.8e13 / N) ** 0.076")
### BEGIN HIDDEN TESTS
hint = ("minimise the squared errors of log y, not of y: in linear space the largest values decide the fit; "
        "x_c = exp(intercept / alpha) with alpha = -slope")
for seed, (x_c, alpha, noise) in enumerate([(3.0e10, 0.5, 0.1), (5.4e13, 0.095, 0.03), (2.0e4, 1.2, 0.2)]):
    rng_test = np.random.default_rng(100 + seed)
    x = np.logspace(0, 9, 25) * np.exp(0.1 * rng_test.standard_normal(25))
    y = (x_c / x) ** alpha * np.exp(noise * rng_test.standard_normal(25))
    fit = scipy.stats.linregress(np.log(x), np.log(y))
    want_alpha = -fit.slope
    want = (float(np.exp(fit.intercept / want_alpha)), float(want_alpha))
    got = learner.fit_power_law(x, y)
    expect.shape(got, (2,), what="fit_power_law on noisy points")
    expect.finite(got, what="fit_power_law on noisy points", hint=hint)
    expect.close(got[1], want[1], rtol=1e-7, atol=0, what=f"alpha fitted to noisy points of a power law with exponent {alpha}", hint=hint)
    expect.close(got[0], want[0], rtol=1e-5, atol=0, what=f"x_c fitted to noisy points of a power law with exponent {alpha}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Your fit on the points drawn from Kaplan's law, and the trap of fitting a pure power law to a loss
# that has a floor: points of Chinchilla's $L(N) = E + A/N^\alpha$ (with $D$ unlimited) bend away from
# any straight line, and a line fitted through them predicts the loss of large models too low.

# %%
x_c_fit, alpha_fit = fit_power_law(kaplan_n, kaplan_loss)
print(f"fitted alpha_N = {alpha_fit:.4f} (published 0.076), N_c = {x_c_fit:.2e} (published 8.8e13)")
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
grid = np.logspace(2, 13, 100)
axes[0].loglog(kaplan_n, kaplan_loss, "o", label="points from Kaplan's law, 2 % noise")
axes[0].loglog(grid, (x_c_fit / grid) ** alpha_fit, label=f"your fit, $\\alpha_N$ = {alpha_fit:.3f}")
axes[0].loglog(grid, (KAPLAN["N_c"] / grid) ** KAPLAN["alpha_N"], "k:", label="published")
axes[0].set(xlabel="non-embedding parameters $N$", ylabel="loss (nats per token)", title="Kaplan: $L = (N_c/N)^{0.076}$")
axes[0].legend(fontsize=8)
small = np.logspace(7, 9.5, 8)
floor_loss = CHINCHILLA["E"] + CHINCHILLA["A"] / small ** CHINCHILLA["alpha"]
line = fit_power_law(small, floor_loss)
axes[1].loglog(small, floor_loss, "o", label="$E + A/N^{\\alpha}$ (Chinchilla, $D=\\infty$)")
axes[1].loglog(grid[grid > 1e6], CHINCHILLA["E"] + CHINCHILLA["A"] / grid[grid > 1e6] ** CHINCHILLA["alpha"], color="tab:blue", lw=0.8)
axes[1].loglog(grid[grid > 1e6], (line[0] / grid[grid > 1e6]) ** line[1], "--", label=f"pure power law fitted, $\\alpha$ = {line[1]:.3f}")
axes[1].axhline(CHINCHILLA["E"], color="grey", ls=":", label="$E$ = 1.69")
axes[1].set(xlabel="parameters $N$", title="a floor bends the line: extrapolation goes wrong")
axes[1].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4 · The law $L(N, D)$ and its fit
#
# Hoffmann et al. model the final loss of a model of $N$ parameters trained on $D$ tokens (with a
# learning-rate schedule decayed over exactly those $D$ tokens) as three terms:
#
# $$L(N, D) = \underbrace{E}_{\text{entropy of text}} + \underbrace{\frac{A}{N^{\alpha}}}_{\text{a finite model}}
# + \underbrace{\frac{B}{D^{\beta}}}_{\text{finite data and optimisation}}.$$
#
# **What this means.** $E$ is the loss of a perfect model: the irreducible uncertainty of the next
# token. The second term is what a model of size $N$ cannot represent even with infinite data, the
# third what a finite number of tokens cannot teach even an infinite model. The two terms simply add;
# Kaplan's joint law, $L = [(N_c/N)^{\alpha_N/\alpha_D} + D_c/D]^{\alpha_D}$, combines them
# differently and has no $E$.
#
# **The fit.** Chinchilla fits in log space, like section 3, with a parametrisation that keeps every
# constant positive: $E = e^{e}$, $A = e^{a}$, $B = e^{b}$, and
#
# $$\log \hat L(N, D) = \operatorname{LSE}\big(a - \alpha\log N,\; b - \beta\log D,\; e\big), \qquad
# \min_{a, b, e, \alpha, \beta} \sum_i \rho\big(\log \hat L(N_i, D_i) - \log L_i\big),$$
#
# where $\operatorname{LSE}(u, v, w) = \log(e^u + e^v + e^w)$ (`np.logaddexp`, stable for any sizes)
# and $\rho$ is the squared error, or, in the paper, the Huber loss with $\delta = 10^{-3}$, which
# grows only linearly for residuals above $\delta$ so that a few bad runs do not pull the fit. The
# problem is non-convex: start from a sensible point (or, as the paper does, from a grid of starting
# points and keep the best).
#
# Write the law (about 3 minutes) and the fit (about 15 minutes). For the fit,
# `scipy.optimize.least_squares(residuals, theta0)` with the residuals of the log-loss is the
# simplest route; tighten its tolerances (`xtol`, `ftol`, `gtol` of `1e-12`) so it stops at the
# minimum, not near it.

# %% nbgrader={"grade": false, "grade_id": "scaling_law_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scaling_law_loss(n_params, n_tokens, E: float, A: float, B: float, alpha: float, beta: float) -> np.ndarray:
    """Chinchilla's parametric loss L(N, D) = E + A / N**alpha + B / D**beta.

    Args:
        n_params: N, a float or a float64 array.
        n_tokens: D, a float or a float64 array broadcastable against n_params.
        E, A, B, alpha, beta: the constants (e.g. **CHINCHILLA).

    Returns:
        float64 array of the broadcast shape of n_params and n_tokens (shape () for two numbers).

    Example:
        >>> scaling_law_loss(70e9, 1.4e12, **CHINCHILLA)
        array(1.93...)
    """
    ### BEGIN SOLUTION
    n_params = np.asarray(n_params, dtype=np.float64)
    n_tokens = np.asarray(n_tokens, dtype=np.float64)
    return E + A / n_params**alpha + B / n_tokens**beta
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "scaling_law_loss_values", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""scaling_law_loss by hand at N = D = 1 and for arrays that broadcast; Chinchilla's law at 70B parameters and 1.4T tokens"""
from grader.testing import learner, expect

got = learner.scaling_law_loss(1.0, 1.0, E=1.0, A=2.0, B=3.0, alpha=0.5, beta=0.5)
expect.shape(got, (), what="scaling_law_loss(1.0, 1.0, ...)")
expect.close(got, 6.0, rtol=1e-12, atol=0, what="scaling_law_loss at N = D = 1 (E + A + B)")
n = np.array([[1e8], [1e9], [1e10]])
d = np.array([1e9, 1e10, 1e11, 1e12])
got = learner.scaling_law_loss(n, d, **CHINCHILLA)
expect.shape(got, (3, 4), what="scaling_law_loss of N (3, 1) against D (4,)", hint="use NumPy arithmetic so the arrays broadcast")
### BEGIN HIDDEN TESTS
want = 1.69 + 406.4 / n**0.34 + 410.7 / d**0.28
expect.close(got, want, rtol=1e-12, atol=0, what="scaling_law_loss with Chinchilla's constants on a grid of N and D",
             hint="E + A / N**alpha + B / D**beta: alpha goes with N and A, beta with D and B")
got = learner.scaling_law_loss(3e7, 2e9, E=0.5, A=50.0, B=900.0, alpha=0.2, beta=0.45)
expect.close(got, 0.5 + 50.0 / 3e7**0.2 + 900.0 / 2e9**0.45, rtol=1e-12, atol=0, what="scaling_law_loss with other constants",
             hint="E + A / N**alpha + B / D**beta")
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "fit_scaling_law", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fit_scaling_law(n_params: np.ndarray, n_tokens: np.ndarray, loss: np.ndarray,
                    init: tuple = (1.0, 100.0, 100.0, 0.3, 0.3)) -> dict:
    """Least-squares fit of L(N, D) = E + A / N**alpha + B / D**beta to measured losses, in log space.

    Args:
        n_params: float64 array (n,), N of each run.
        n_tokens: float64 array (n,), D of each run.
        loss: float64 array (n,), the measured final loss of each run (positive), n >= 5.
        init: the starting point (E, A, B, alpha, beta), all positive.

    Returns:
        {"E": float, "A": float, "B": float, "alpha": float, "beta": float}: the constants that minimise
        sum_i (log L_hat(N_i, D_i) - log L_i) ** 2, with E, A, B parametrised by their logarithms and
        log L_hat = logaddexp(log A - alpha log N, log B - beta log D, log E).

    Example:
        >>> fit_scaling_law(n, d, scaling_law_loss(n, d, **CHINCHILLA), init=(1.5, 300, 300, 0.3, 0.3))  # n, d: a grid of runs
        {'E': 1.69..., 'A': 406.4..., 'B': 410.7..., 'alpha': 0.34..., 'beta': 0.28...}
    """
    ### BEGIN SOLUTION
    log_n, log_d, log_loss = np.log(n_params), np.log(n_tokens), np.log(loss)

    def residuals(theta):
        e, a, b, alpha, beta = theta
        log_predicted = np.logaddexp(np.logaddexp(a - alpha * log_n, b - beta * log_d), e)
        return log_predicted - log_loss

    E0, A0, B0, alpha0, beta0 = init
    theta0 = np.array([np.log(E0), np.log(A0), np.log(B0), alpha0, beta0], dtype=np.float64)
    result = scipy.optimize.least_squares(residuals, theta0, xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=5000)
    e, a, b, alpha, beta = result.x
    return {"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)), "alpha": float(alpha), "beta": float(beta)}
    ### END SOLUTION

# %% [markdown]
# The test cells below use a grid of runs: model sizes from 10 million to 10 billion parameters,
# each trained on 1 billion to 1 trillion tokens.

# %%
GRID_N, GRID_D = [a.ravel() for a in np.meshgrid(np.logspace(7, 10, 7), np.logspace(9, 12, 7))]

# %% nbgrader={"grade": true, "grade_id": "fit_scaling_law_exact", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""fit_scaling_law recovers Chinchilla's constants from noiseless points of Chinchilla's law"""
from grader.testing import learner, expect

def chinchilla_form(n, d, E, A, B, alpha, beta):
    return E + A / n**alpha + B / d**beta


got = learner.fit_scaling_law(GRID_N, GRID_D, chinchilla_form(GRID_N, GRID_D, **CHINCHILLA), init=(1.5, 300.0, 300.0, 0.3, 0.3))
expect.true(isinstance(got, dict) and set(got) == {"E", "A", "B", "alpha", "beta"},
            "fit_scaling_law must return a dict with exactly the keys E, A, B, alpha, beta")
expect.close(got, CHINCHILLA, rtol=1e-4, atol=0, what="fit_scaling_law on noiseless points of Chinchilla's law",
             hint="minimise the squared errors of log L with scipy.optimize.least_squares, tolerances 1e-12, from the given init")

# %% nbgrader={"grade": true, "grade_id": "fit_scaling_law_matches_scipy", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""fit_scaling_law on noisy synthetic runs from known constants (fixed seeds) recovers them and matches an independent least-squares fit of log L with scipy.optimize.curve_fit"""
from grader.testing import learner, expect

def chinchilla_form(n, d, E, A, B, alpha, beta):
    return E + A / n**alpha + B / d**beta


rng_visible = np.random.default_rng(7)
noisy = chinchilla_form(GRID_N, GRID_D, **CHINCHILLA) * np.exp(0.003 * rng_visible.standard_normal(GRID_N.size))
got = learner.fit_scaling_law(GRID_N, GRID_D, noisy, init=(1.5, 300.0, 300.0, 0.3, 0.3))
expect.true(isinstance(got, dict) and set(got) == {"E", "A", "B", "alpha", "beta"}, "fit_scaling_law must return a dict with the keys E, A, B, alpha, beta")
expect.close(got["E"], 1.69, rtol=0.05, atol=0, what="E fitted to Chinchilla's law with 0.3 % noise",
             hint="the irreducible loss E is one of the three terms: log L_hat = logaddexp(a - alpha log N, b - beta log D, e)")
### BEGIN HIDDEN TESTS
import warnings

truths = [dict(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658), dict(E=0.9, A=60.0, B=150.0, alpha=0.25, beta=0.3)]
for seed, truth in enumerate(truths):
    rng_hidden = np.random.default_rng(1000 + seed)
    loss = chinchilla_form(GRID_N, GRID_D, **truth) * np.exp(0.01 * rng_hidden.standard_normal(GRID_N.size))
    init = (1.0, 100.0, 100.0, 0.3, 0.3)
    got = learner.fit_scaling_law(GRID_N, GRID_D, loss, init=init)
    expect.true(isinstance(got, dict) and set(got) == {"E", "A", "B", "alpha", "beta"}, "fit_scaling_law must return a dict with the keys E, A, B, alpha, beta")
    for key in ("E", "A", "B", "alpha", "beta"):
        expect.shape(got[key], (), what=f"the fitted {key}", hint="return each constant as one float")
    expect.finite([got[k] for k in ("E", "A", "B", "alpha", "beta")], what="the fitted constants")
    expect.true(abs(got["E"]) > 1e-3, "the fitted E is zero: the irreducible loss E is missing from the model "
                "(log L_hat = logaddexp(a - alpha log N, b - beta log D, e))")
    expect.true(any(abs(float(got[key]) - start) > 1e-9 * abs(start) for key, start in zip(("E", "A", "B", "alpha", "beta"), init)),
                "fit_scaling_law returned its starting point: run the optimiser and return its solution")

    def log_model(x, log_e, log_a, log_b, alpha, beta):
        log_n, log_d = x
        return np.log(np.exp(log_e) + np.exp(log_a - alpha * log_n) + np.exp(log_b - beta * log_d))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params, _ = scipy.optimize.curve_fit(log_model, np.vstack([np.log(GRID_N), np.log(GRID_D)]), np.log(loss),
                                             p0=[np.log(truth["E"]), np.log(truth["A"]), np.log(truth["B"]), truth["alpha"], truth["beta"]],
                                             xtol=1e-13, ftol=1e-13, gtol=1e-13, maxfev=20000)
    want = dict(E=np.exp(params[0]), A=np.exp(params[1]), B=np.exp(params[2]), alpha=params[3], beta=params[4])
    rss_want = float(np.sum((np.log(chinchilla_form(GRID_N, GRID_D, **want)) - np.log(loss)) ** 2))
    rss_got = float(np.sum((np.log(chinchilla_form(GRID_N, GRID_D, **{k: float(got[k]) for k in want})) - np.log(loss)) ** 2))
    expect.true(rss_got <= rss_want * (1 + 1e-4) + 1e-14,
                f"the fitted law's sum of squared log-loss errors is {rss_got / rss_want:.4f} times the least-squares optimum (run {seed + 1}): "
                "minimise the errors of log L (not of L), from the given init, with tight tolerances")
    expect.close(got, want, rtol=2e-3, atol=0, what=f"fit_scaling_law on noisy synthetic run {seed + 1}, against scipy.optimize.curve_fit of log L",
                 hint="least squares on log L with E, A, B through their logarithms")
### END HIDDEN TESTS

# %% [markdown]
# ### Measurements: tiny models on Tiny Shakespeare
#
# `tiny_models.csv`, beside this notebook, holds 20 training runs made by
# `measure_tiny_models.py` (read it; it runs in about two minutes on two CPU threads): character GPTs
# of the course model's kind (`course_model.new_model`, 2 layers, 2 heads, context 64) of widths 16
# to 64, that is 9 thousand to 110 thousand parameters, each trained for 75, 150, 300 or 600 steps
# of 16 windows (77 thousand to 614 thousand tokens) with a cosine schedule decayed over that run's
# own length, and their loss measured on held-out text. The first line of the file says how it was
# made. Here is one of them trained again in the lesson (a few seconds; it gives the same loss):

# %%
measure_tiny_models = importlib.import_module("measure_tiny_models")   # the script that made tiny_models.csv

with open("tiny_models.csv", encoding="utf-8") as handle:
    print(handle.readline().strip())
    runs = list(csv.DictReader(handle))
tiny_n = np.array([float(r["n_params"]) for r in runs])
tiny_d = np.array([float(r["n_tokens"]) for r in runs])
tiny_loss = np.array([float(r["held_out_loss"]) for r in runs])

torch.manual_seed(0)
text_ids = measure_tiny_models.encode(Path("tinyshakespeare.txt").read_text(encoding="utf-8"))
split = int(0.9 * len(text_ids))
held_out_batch = measure_tiny_models.windows(text_ids[split:], 256, torch.Generator().manual_seed(12345))
again = measure_tiny_models.train_one(24, 150, text_ids[:split], held_out_batch)
print("trained again:", {k: again[k] for k in ("n_params", "n_tokens", "held_out_loss", "train_seconds")})
print("in the CSV   :", next({k: r[k] for k in ("n_params", "n_tokens", "held_out_loss")} for r in runs if r["n_embd"] == "24" and r["steps"] == "150"))

# %% [markdown]
# Your fit of $L(N, D)$ to the 20 runs, and to points drawn from Chinchilla's published law at the
# sizes of the paper's runs (70M to 16B parameters, 5B to 500B tokens, 1 % noise), since the
# paper's own runs were not published either:

# %%
tiny_fit = fit_scaling_law(tiny_n, tiny_d, tiny_loss, init=(1.0, 100.0, 100.0, 0.3, 0.3))
print("tiny models:", {k: round(v, 3) for k, v in tiny_fit.items()})
rng = np.random.default_rng(2022)
paper_n = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), 150))
paper_d = np.exp(rng.uniform(np.log(5e9), np.log(5e11), 150))
paper_loss = scaling_law_loss(paper_n, paper_d, **CHINCHILLA) * np.exp(0.01 * rng.standard_normal(150))
paper_fit = fit_scaling_law(paper_n, paper_d, paper_loss, init=(1.5, 300.0, 300.0, 0.3, 0.3))
print("Chinchilla-like points:", {k: round(v, 3) for k, v in paper_fit.items()}, " published:", CHINCHILLA)

fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
colours = plt.cm.viridis(np.linspace(0, 0.9, len(np.unique(tiny_n))))
for colour, n in zip(colours, np.unique(tiny_n)):
    mine = tiny_n == n
    d_grid = np.logspace(np.log10(tiny_d.min()) - 0.3, np.log10(tiny_d.max()) + 1.0, 50)
    axes[0].loglog(tiny_d[mine], tiny_loss[mine], "o", color=colour, label=f"N = {n / 1e3:.0f}k")
    axes[0].loglog(d_grid, scaling_law_loss(n, d_grid, **tiny_fit), color=colour, lw=1)
if tiny_fit["E"] > 0.5:
    axes[0].axhline(tiny_fit["E"], color="grey", ls=":", label=f"fitted E = {tiny_fit['E']:.2f}")
axes[0].set(xlabel="training tokens (characters) $D$", ylabel="held-out loss (nats per character)", title="tiny models on Tiny Shakespeare")
axes[0].legend(fontsize=7, ncol=2)
predicted = scaling_law_loss(paper_n, paper_d, **paper_fit)
axes[1].scatter(predicted, paper_loss, s=8, c=np.log10(paper_n), cmap="viridis")
axes[1].plot([predicted.min(), predicted.max()], [predicted.min(), predicted.max()], "k:", lw=1)
axes[1].set(xscale="log", yscale="log", xlabel="fitted $L(N, D)$", ylabel="loss of the point", title="Chinchilla-like points: fit against data (colour: log N)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Read the fitted constants with care. On the tiny models the fit drives $E$ to about zero: these
# runs are far from any floor (losses of 2.2 to 3.3 nats per character, where the course model,
# 8 times larger than the largest and trained on 20 times more characters, reaches 1.58), so the data only show the
# two power laws, and $E$ is not identified. That is a real limit of scaling-law fits: the
# irreducible loss is only measurable by runs that come near it, and an $E$ fitted from small runs
# should not be trusted. The exponents are still informative ($\beta > \alpha$: for these
# models more characters help far more than a wider model). On the Chinchilla-like points,
# which span the paper's range, $E$, $\alpha$ and $\beta$ are well determined and $A$ and $B$
# much less: a small change of an exponent is compensated by a large change of its coefficient
# (Besiroglu et al. report a standard error of 1 293 on $B = 2085$). The Huber loss of the paper
# changes the answer on the same points, because it down-weights the points that fit worst; scipy's
# `least_squares(..., loss="huber", f_scale=1e-3)` is exactly that objective:

# %%
def huber_fit(n, d, loss, init):
    def residuals(theta):
        e, a, b, alpha, beta = theta
        return np.logaddexp(np.logaddexp(a - alpha * np.log(n), b - beta * np.log(d)), e) - np.log(loss)
    theta0 = [np.log(init[0]), np.log(init[1]), np.log(init[2]), init[3], init[4]]
    e, a, b, alpha, beta = scipy.optimize.least_squares(residuals, theta0, loss="huber", f_scale=1e-3, xtol=1e-12, ftol=1e-12, gtol=1e-12).x
    return {"E": np.exp(e), "A": np.exp(a), "B": np.exp(b), "alpha": alpha, "beta": beta}


print("Huber, delta 1e-3:", {k: round(float(v), 3) for k, v in huber_fit(paper_n, paper_d, paper_loss, (1.5, 300.0, 300.0, 0.3, 0.3)).items()})

# %% [markdown]
# ## 5 · The compute-optimal split of a budget
#
# Given $C$ FLOPs, which $N$ and $D$ with $6ND = C$ give the lowest loss? Minimise
# $L(N, D) = E + AN^{-\alpha} + BD^{-\beta}$ subject to $6ND = C$, with a Lagrange multiplier
# $\lambda$:
#
# $$\mathcal{L}(N, D, \lambda) = E + AN^{-\alpha} + BD^{-\beta} + \lambda\,(6ND - C),$$
#
# $$\frac{\partial\mathcal L}{\partial N} = -\alpha A N^{-\alpha-1} + 6\lambda D = 0, \qquad
# \frac{\partial\mathcal L}{\partial D} = -\beta B D^{-\beta-1} + 6\lambda N = 0.$$
#
# Multiply the first by $N$ and the second by $D$: both right-hand terms become $6\lambda ND$, so
#
# $$\alpha\,\frac{A}{N^{\alpha}} = \beta\,\frac{B}{D^{\beta}}.$$
#
# **At the optimum the two reducible terms of the loss stand in the ratio $\beta : \alpha$.** Put
# $D = C/(6N)$ into it: $\alpha A N^{-\alpha} = \beta B\, (C/6)^{-\beta} N^{\beta}$, so
# $N^{\alpha+\beta} = \frac{\alpha A}{\beta B} (C/6)^{\beta}$ and
#
# $$N_{\text{opt}}(C) = G\left(\frac{C}{6}\right)^{\frac{\beta}{\alpha+\beta}}, \qquad
# D_{\text{opt}}(C) = \frac{C}{6 N_{\text{opt}}} = G^{-1}\left(\frac{C}{6}\right)^{\frac{\alpha}{\alpha+\beta}}, \qquad
# G = \left(\frac{\alpha A}{\beta B}\right)^{\frac{1}{\alpha+\beta}}.$$
#
# (The stationary point is a minimum: along the constraint, $\log N = u$, the loss is
# $E + Ae^{-\alpha u} + B' e^{\beta u}$, a sum of two convex functions of $u$.)
#
# **What this means.** The exponent of $N$ is $\beta/(\alpha+\beta)$: **the *data* exponent sets how fast
# the model grows**. Multiplying $N$ or $D$ by the same factor costs the same compute, and the
# condition above says the optimum equalises what each buys: the term with the *smaller* exponent
# shrinks more slowly, so it must receive the larger share of every new factor of compute. A small
# $\beta$ (data helps slowly) gives the data most of the budget and the model the small share
# $\beta/(\alpha+\beta)$. Swapping the two exponents is the classic mistake, and with $\alpha \approx \beta$ it is invisible at first sight. With the
# published constants $a = 0.28/0.62 = 0.45$ and $b = 0.55$; approaches 1 and 2 of the paper,
# which do not assume the parametric form, give $a \approx b \approx 0.5$: **grow the model and the data
# in equal proportion**, about 20 tokens per parameter.
#
# The isoFLOP picture (library code): the loss of all models that cost the same compute, as a
# function of their size. Each curve is a valley; its bottom is $N_{\text{opt}}(C)$.

# %%
fig, ax = plt.subplots(figsize=(8, 4.3))
sizes_n = np.logspace(8, 12.5, 300)
for budget in [1e21, 1e22, 1e23, 5.88e23, 1e24, 1e25]:
    isoflop = scaling_law_loss(sizes_n, budget / (6 * sizes_n), **CHINCHILLA)
    best = np.argmin(isoflop)
    ax.semilogx(sizes_n, isoflop, label=f"C = {budget:.2g}")
    ax.plot(sizes_n[best], isoflop[best], "k.", ms=8)
ax.plot(70e9, scaling_law_loss(70e9, 1.4e12, **CHINCHILLA), "r*", ms=12, label="Chinchilla 70B, 1.4T")
ax.plot(280e9, scaling_law_loss(280e9, 300e9, **CHINCHILLA), "rX", ms=9, label="Gopher 280B, 300B")
ax.set(xlabel="parameters $N$ (tokens $D = C/6N$)", ylabel="$L(N, C/6N)$, Chinchilla's fit", ylim=(1.8, 3.0), title="isoFLOP curves")
ax.legend(fontsize=7, ncol=2)
fig.tight_layout()
plt.show()

# %% [markdown]
# Write the closed form (about 5 minutes). It takes arrays of budgets.

# %% nbgrader={"grade": false, "grade_id": "chinchilla_optimal", "locked": false, "schema_version": 3, "solution": true, "task": false}
def chinchilla_optimal(compute, A: float, B: float, alpha: float, beta: float, E: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The compute-optimal model size and data of L(N, D) = E + A / N**alpha + B / D**beta under C = 6 N D.

    Args:
        compute: C in FLOPs, a float or a float64 array (any shape).
        A, B, alpha, beta: the constants of the law (E does not move the optimum; it is accepted so that
            chinchilla_optimal(C, **CHINCHILLA) works).

    Returns:
        (N_opt, D_opt), two float64 arrays of compute's shape: N_opt = G (C/6)**(beta/(alpha+beta)) with
        G = (alpha A / (beta B))**(1/(alpha+beta)), and D_opt = C / (6 N_opt).

    Example:
        >>> chinchilla_optimal(5.88e23, **CHINCHILLA)
        (array(3.3...e+10), array(2.9...e+12))
    """
    ### BEGIN SOLUTION
    compute = np.asarray(compute, dtype=np.float64)
    G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    n_opt = G * (compute / 6.0) ** (beta / (alpha + beta))
    d_opt = compute / (6.0 * n_opt)
    return n_opt, d_opt
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "chinchilla_optimal_closed_form", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""chinchilla_optimal spends exactly the budget (6 N D = C) and, with alpha = beta and A = B, splits it equally: N = D = sqrt(C / 6)"""
from grader.testing import learner, expect

n_opt, d_opt = learner.chinchilla_optimal(np.array([6e20, 6e22]), A=400.0, B=400.0, alpha=0.3, beta=0.3)
expect.shape(n_opt, (2,), what="N_opt for two budgets")
expect.shape(d_opt, (2,), what="D_opt for two budgets")
expect.close(n_opt, np.array([1e10, 1e11]), rtol=1e-10, atol=0, what="N_opt with alpha = beta and A = B",
             hint="with equal terms the optimum is N = D, so N = sqrt(C / 6)")
expect.close(6 * n_opt * d_opt, np.array([6e20, 6e22]), rtol=1e-10, atol=0, what="6 N_opt D_opt", hint="D_opt = C / (6 N_opt)")

# %% nbgrader={"grade": true, "grade_id": "chinchilla_optimal_published", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""chinchilla_optimal against the closed form and a numerical minimisation of the loss along 6ND = C; N_opt grows as C^(beta/(alpha+beta)); the published anchors: Chinchilla's 70B on 1.4T is within 0.01 of the optimal loss of its budget, and the refit of Besiroglu et al. gives about 20 tokens per parameter"""
from grader.testing import learner, expect


def chinchilla_form(n, d, E, A, B, alpha, beta):
    return E + A / n**alpha + B / d**beta


n_opt, d_opt = learner.chinchilla_optimal(5.88e23, **CHINCHILLA)
expect.shape(n_opt, (), what="N_opt for one budget")
expect.true(1e10 < float(n_opt) < 1e11, "N_opt for Chinchilla's budget (5.88e23 FLOPs) with the published constants should be tens of billions of parameters")
### BEGIN HIDDEN TESTS
hint_exponent = ("N_opt grows as C ** (beta / (alpha + beta)): the data exponent beta goes in the numerator of N's exponent "
                 "(from alpha A / N**alpha = beta B / D**beta)")
budgets = np.array([1e18, 1e21, 5.88e23, 1e26])
for name, law in [("Chinchilla's constants", CHINCHILLA), ("Besiroglu et al.'s refit", EPOCH_REFIT), ("alpha = 0.2, beta = 0.5", dict(E=1.0, A=100.0, B=2000.0, alpha=0.2, beta=0.5))]:
    n_opt, d_opt = learner.chinchilla_optimal(budgets, **law)
    expect.shape(n_opt, (4,), what="N_opt for four budgets")
    expect.shape(d_opt, (4,), what="D_opt for four budgets")
    expect.finite(n_opt, what="N_opt")
    slope = np.polyfit(np.log(budgets), np.log(np.asarray(n_opt, dtype=np.float64)), 1)[0]
    expect.close(slope, law["beta"] / (law["alpha"] + law["beta"]), rtol=1e-8, atol=0,
                 what=f"the exponent of N_opt in C with {name}", hint=hint_exponent)
    expect.close(6 * np.asarray(n_opt) * np.asarray(d_opt), budgets, rtol=1e-10, atol=0, what=f"6 N_opt D_opt with {name}", hint="D_opt = C / (6 N_opt)")
    # an independent check: the minimum of L(N, C / 6N) found by a bounded scalar search in log N
    for budget, got in zip(budgets[1:3], np.asarray(n_opt)[1:3]):
        search = scipy.optimize.minimize_scalar(lambda u: float(chinchilla_form(np.exp(u), budget / (6 * np.exp(u)), **law)),
                                                bounds=(np.log(1e3), np.log(1e15)), method="bounded", options={"xatol": 1e-10})
        expect.close(float(got), float(np.exp(search.x)), rtol=1e-5, atol=0, what=f"N_opt with {name} against a numerical minimisation along 6ND = C",
                     hint=f"{hint_exponent}; G = (alpha A / (beta B)) ** (1 / (alpha + beta))")
n_opt, d_opt = learner.chinchilla_optimal(5.88e23, **CHINCHILLA)
gap = float(chinchilla_form(70e9, 1.4e12, **CHINCHILLA) - chinchilla_form(np.asarray(n_opt), np.asarray(d_opt), **CHINCHILLA))
expect.true(0 <= gap < 0.01, "with the published constants, the loss of the returned split should be at most that of 70B parameters on 1.4T tokens "
            "and within 0.01 of it: check N_opt = G (C/6)**(beta/(alpha+beta)) and D_opt = C / (6 N_opt)")
n_opt, d_opt = learner.chinchilla_optimal(5.88e23, **EPOCH_REFIT)
ratio = float(d_opt) / float(n_opt)
expect.true(15 < ratio < 30, f"with Besiroglu et al.'s refit, Chinchilla's budget should buy about 20 tokens per parameter, not {ratio:.0f}: "
            "check which exponent goes with N")
### END HIDDEN TESTS

# %% [markdown]
# **Checking the anchors.** Chinchilla's budget was Gopher's, $C \approx 5.8\times10^{23}$ FLOPs. What
# does each description of the optimum say, and how close is the model that was trained?

# %%
C_chinchilla = training_flops(70e9, 1.4e12)
for name, law in [("approach 3, published constants", CHINCHILLA), ("approach 3, Besiroglu et al.'s refit", EPOCH_REFIT)]:
    n_opt, d_opt = chinchilla_optimal(C_chinchilla, **law)
    gap = scaling_law_loss(70e9, 1.4e12, **law) - scaling_law_loss(n_opt, d_opt, **law)
    print(f"{name:38s}: N_opt = {float(n_opt) / 1e9:5.1f}B, D_opt = {float(d_opt) / 1e12:4.2f}T, {float(d_opt / n_opt):5.1f} tokens per parameter; "
          f"70B/1.4T is {float(gap):.4f} nats above the optimum")
print(f"{'approaches 1 and 2 (a = b = 0.5)':38s}: 70B on 1.4T = {1.4e12 / 70e9:.0f} tokens per parameter")

# %% [markdown]
# Three facts to take from these lines. (1) The trained model, 70B on 1.4T tokens (20 tokens per
# parameter), is what approaches 1 and 2 of the paper recommend. (2) The published approach-3
# constants put the optimum at a smaller model, about 33B on 3T tokens (some 90 tokens per
# parameter at this budget, and the ratio grows with $C$ because $\alpha > \beta$), a discrepancy the
# paper itself notes ("approach 3 predicts even smaller models"); Besiroglu et al. reconstructed the
# data from the paper's figures, refitted, and found the published fit does not describe it well;
# their refit gives about 20 tokens per parameter, consistent with approaches 1 and 2. (3) Either
# way, the loss hardly cares: the isoFLOP valley is flat at the bottom, and 70B/1.4T is within a few
# thousandths of a nat of the optimum of either fit. The split matters most far from the optimum:
# Gopher (280B on 300B tokens, nearly the same budget) is 0.06 nats worse, which is why Chinchilla beat it.
#
# ### Kaplan's allocation
#
# Kaplan et al. fitted the compute-efficient frontier directly (their table 6):
#
# $$N_{\text{opt}}(C) = 1.3\times 10^9 \left(\frac{C}{1\ \text{PF-day}}\right)^{0.73}, \qquad
# D_{\text{opt}}(C) = \frac{C}{6N_{\text{opt}}(C)} \propto C^{0.27},$$
#
# with $C$ in PF-days ($8.64\times10^{19}$ FLOPs) and $N$ in non-embedding parameters. Their theory
# predicts the exponent from the loss exponents, $\alpha_C^{\min}/\alpha_N = 0.054/0.076 \approx 0.71$:
# **0.73 is how fast the model grows with compute; 0.076 is how fast the loss falls with the model.**
# Confusing the two puts almost the whole budget into data. Ten times the compute buys
# $10^{0.73} = 5.4$ times the parameters and $10^{0.27} = 1.9$ times the data under Kaplan;
# $\approx 3.2$ times each under Chinchilla.
#
# Write it (about 3 minutes).

# %% nbgrader={"grade": false, "grade_id": "kaplan_optimal", "locked": false, "schema_version": 3, "solution": true, "task": false}
def kaplan_optimal(compute) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan et al.'s compute-efficient model size and data: N = 1.3e9 (C / 1 PF-day) ** 0.73, D = C / (6 N).

    Args:
        compute: C in FLOPs, a float or a float64 array (any shape). One PF-day is PF_DAY = 8.64e19 FLOPs.

    Returns:
        (N_opt, D_opt), two float64 arrays of compute's shape: non-embedding parameters and tokens.

    Example:
        >>> kaplan_optimal(PF_DAY)
        (array(1.3e+09), array(1.10...e+10))
    """
    ### BEGIN SOLUTION
    compute = np.asarray(compute, dtype=np.float64)
    n_opt = KAPLAN["N_e"] * (compute / PF_DAY) ** KAPLAN["p_N"]
    d_opt = compute / (6.0 * n_opt)
    return n_opt, d_opt
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "kaplan_optimal_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""kaplan_optimal: 1.3e9 parameters at one PF-day, the budget spent exactly, and N growing as C^0.73 (not as the loss exponent)"""
from grader.testing import learner, expect

n_opt, d_opt = learner.kaplan_optimal(np.array([PF_DAY]))
expect.shape(n_opt, (1,), what="kaplan_optimal N for one budget in an array")
expect.close(n_opt, np.array([1.3e9]), rtol=1e-10, atol=0, what="Kaplan's N_opt at one PF-day", hint="N_opt = 1.3e9 * (C / PF_DAY) ** 0.73")
### BEGIN HIDDEN TESTS
budgets = np.array([1e17, 1e20, 3.15e23, 1e25])
n_opt, d_opt = learner.kaplan_optimal(budgets)
expect.shape(n_opt, (4,), what="kaplan_optimal N for four budgets")
expect.shape(d_opt, (4,), what="kaplan_optimal D for four budgets")
slope = np.polyfit(np.log(budgets), np.log(np.asarray(n_opt, dtype=np.float64)), 1)[0]
expect.true(abs(slope - 0.076) > 1e-3, "Kaplan's N_opt grows as C to the power 0.076: that is the loss exponent alpha_N of L(N); "
            "the compute-efficient model size grows as C ** 0.73")
expect.true(abs(slope - 0.27) > 1e-3, "N_opt grows as C ** 0.27: that is the exponent of the data; the model grows as C ** 0.73")
expect.close(slope, 0.73, rtol=1e-8, atol=0, what="the exponent of Kaplan's N_opt in C", hint="N_opt = 1.3e9 * (C / PF_DAY) ** 0.73, C in FLOPs")
expect.close(n_opt, 1.3e9 * (budgets / 8.64e19) ** 0.73, rtol=1e-10, atol=0, what="Kaplan's N_opt at four budgets",
             hint="convert FLOPs to PF-days (8.64e19 FLOPs each) before the power")
expect.close(6 * np.asarray(n_opt) * np.asarray(d_opt), budgets, rtol=1e-10, atol=0, what="6 N_opt D_opt (Kaplan)", hint="D_opt = C / (6 N_opt)")
n_one, d_one = learner.kaplan_optimal(3.15e23)
expect.shape(n_one, (), what="kaplan_optimal for a single float budget", hint="np.asarray(compute) keeps a float a 0-d array")
### END HIDDEN TESTS

# %% [markdown]
# The two allocations side by side, with the published runs (library code using your functions):

# %%
budgets = np.logspace(18, 26, 100)
fig, axes = plt.subplots(1, 2, figsize=(12, 4.3))
for label, (n_line, d_line), style in [("Kaplan: $N \\propto C^{0.73}$", kaplan_optimal(budgets), "--"),
                                       ("Chinchilla approach 3 (published)", chinchilla_optimal(budgets, **CHINCHILLA), "-"),
                                       ("approach 3 refit (Besiroglu et al.)", chinchilla_optimal(budgets, **EPOCH_REFIT), "-."),
                                       ("20 tokens per parameter", (np.sqrt(budgets / 120), 20 * np.sqrt(budgets / 120)), ":")]:
    axes[0].loglog(budgets, n_line, style, label=label)
    axes[1].loglog(budgets, d_line / n_line, style, label=label)
for name, (n_params, n_tokens) in PUBLISHED_RUNS.items():
    axes[0].plot(6 * n_params * n_tokens, n_params, "o")
    axes[0].annotate(name, (6 * n_params * n_tokens, n_params), fontsize=7, xytext=(3, 3), textcoords="offset points")
    axes[1].plot(6 * n_params * n_tokens, n_tokens / n_params, "o")
    axes[1].annotate(name, (6 * n_params * n_tokens, n_tokens / n_params), fontsize=7, xytext=(3, 3), textcoords="offset points")
axes[0].set(xlabel="training compute $C$ (FLOPs)", ylabel="parameters $N_{opt}$", title="how big a model for a budget")
axes[1].set(xlabel="training compute $C$ (FLOPs)", ylabel="tokens per parameter $D_{opt}/N_{opt}$", title="how many tokens per parameter")
axes[0].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# GPT-3 and Gopher sit near Kaplan's line: about 2 and 1 tokens per parameter. Chinchilla and
# LLaMA sit on the 20-tokens line. Llama 3 8B is far above every line, by choice: it was trained
# for inference, not for the lowest training loss per FLOP.
#
# ## 6 · Why Kaplan and Chinchilla disagree
#
# Both papers fit power laws to the losses of transformer language models; they disagree on the
# allocation exponent by 0.73 against 0.5. The reasons found since:
#
# 1. **The learning-rate schedule was not tuned to each run length.** Kaplan et al. read the loss
#    after $D$ tokens from the middle of runs whose cosine schedule was set for a longer run (and
#    fitted $L(N, S)$ to training curves). At an intermediate checkpoint the learning rate has not
#    decayed yet, so the loss after few tokens looks *worse* than a run planned for that length would
#    reach. Data then looks less valuable than it is, and the fit favours large models trained
#    briefly. Hoffmann et al. (their figure A1) showed that a schedule longer than the run by 25 %
#    or more costs measurable loss, and trained every run with its own schedule. Our
#    `measure_tiny_models.py` does the same.
# 2. **Embedding parameters and small models.** Kaplan counted non-embedding parameters, Hoffmann
#    all of them. For models of millions of parameters the embeddings are a large share, and the
#    fitted exponent changes: Pearce and Song (2024) reproduce Kaplan's 0.73 from Chinchilla's law by
#    counting non-embedding parameters at Kaplan's (small) sizes. Porian et al. (2024) add the
#    output layer's compute, the warm-up length and optimiser settings (AdamW's $\beta_2$ at small
#    batch sizes) tuned for each scale; with these corrected, Kaplan-style runs agree with Chinchilla.
# 3. **The range.** Kaplan's models reached 1.5B parameters, Chinchilla's 16B, and the frontier
#    curves slightly: a power law fitted at small scale is extrapolated over more decades.
#
# The lesson for a practitioner: a scaling law is only as good as the runs it is fitted to. Tune
# the schedule for each run length, count parameters and FLOPs consistently, and fit over the range
# you will extrapolate from.
#
# ## 7 · What scaling laws predict, and what they do not
#
# **They predict** the pre-training loss, on the training distribution, of a recipe you have already
# run at small scale: the loss of a model 100 times bigger, before training it (GPT-4's report shows
# its final loss predicted from runs with $10^4$ times less compute), and the best split of a budget.
#
# **They do not predict:**
# - **Downstream abilities.** Accuracy on a task is not the loss. Some tasks look flat and then jump
#   with scale ("emergent abilities", Wei et al. 2022); part of the jump comes from discontinuous
#   metrics such as exact match (Schaeffer et al. 2023), yet no law of $L(N, D)$ says when a model
#   starts to do arithmetic. Llama 3's team predicted benchmark scores in two steps (compute to the
#   log-likelihood of the correct answer, then that to accuracy), fitted on their own models.
# - **Repeated data.** $B/D^\beta$ assumes $D$ *unique* tokens. Muennighoff et al. (2023) found up to
#   about 4 epochs nearly as good as fresh data, and quickly diminishing returns beyond; Tiny
#   Shakespeare has one million characters, so our larger runs already repeat it.
# - **Other recipes.** The constants belong to one architecture, tokenizer, data mixture and
#   optimiser. Better data or architecture change $A$, $B$ and $E$ (and the losses of two
#   tokenizers are not comparable at all); a law measured on web text says nothing of code.
# - **Inference cost.** The compute-optimal model minimises *training* FLOPs for a loss. A model that
#   will serve billions of tokens is cheaper overall if smaller and trained longer (Sardana et al.
#   2024); the loss keeps falling far beyond 20 tokens per parameter, only more slowly.

# %% [markdown]
# ## Practical considerations
#
# **Numerical stability.** Fit in log space, with $E$, $A$ and $B$ through their logarithms and the
# prediction through `np.logaddexp`: $N^{-\alpha}$ for $N = 10^{12}$ and a wandering $\alpha$ under- or
# overflows otherwise. Start the optimiser near a plausible answer (or from a grid): the
# objective is non-convex and has flat valleys along which $A$ trades against $\alpha$.
#
# **Common bugs, and how the tests here catch them.**
#
# | bug | symptom | caught by |
# |---|---|---|
# | $2ND$ (forward only) | budgets three times too small | `FlopCounterMode` over a forward and backward pass |
# | attention term left out, or paid on the full context at every generated token | small models' and long contexts' FLOPs wrong | closed forms, a loop over positions |
# | power law fitted in linear space | the largest losses decide; exponents off by tens of percent | `scipy.stats.linregress` of the logarithms |
# | $E$ forgotten in $L(N, D)$ | a pure power law: curved residuals, wrong extrapolation | synthetic runs from known constants |
# | Chinchilla exponents swapped, $N \propto C^{\alpha/(\alpha+\beta)}$ | wrong tokens per parameter | the slope of $\log N_{\text{opt}}$, a numerical minimisation, Besiroglu et al.'s 20 tokens per parameter |
# | Kaplan's 0.73 allocation confused with $\alpha_N = 0.076$ | models that hardly grow with compute | the slope of $\log N_{\text{opt}}$ |
# | FLOPs not converted to PF-days | $N$ off by a factor $(8.64\times10^{19})^{0.73}$ | the value at one PF-day |
#
# **What matters in practice.** Count $N$ the same way in the fit and in the plan (with or without
# embeddings), and $C$ the same way (with or without attention). Fit on runs whose schedule ends
# where the measurement is taken. Use at least three or four model sizes over two decades before
# trusting an exponent, and report the uncertainty (a bootstrap over runs), since $A$ and $B$ are
# poorly determined.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | training FLOPs | $C = 6ND + 6\,n_{\text{layer}} n_{\text{ctx}} d_{\text{model}} D$ | `3 * (2 * N + 2 * L * ctx * d) * D` | budgeting a run in GPU-hours; comparing models by compute |
# | inference FLOPs | $2NT + n_{\text{layer}} d_{\text{model}} T(T+1)$ with a KV cache | `2 * N * T + L * d * T * (T + 1)` | serving cost; the case for small models trained long |
# | power law | $L = (N_c/N)^{\alpha}$: a line in log-log | `np.polyfit(np.log(x), np.log(y), 1)` | Kaplan's $L(N)$, $L(D)$, $L(C)$ |
# | parametric law | $L = E + A/N^\alpha + B/D^\beta$ | `np.logaddexp` of three terms, `least_squares` on log residuals | predicting a big run's loss from small runs |
# | Huber fit | $\rho_\delta$ on log residuals, $\delta = 10^{-3}$ | `least_squares(..., loss="huber", f_scale=1e-3)` | Chinchilla's approach 3 |
# | optimality condition | $\alpha A/N^\alpha = \beta B/D^\beta$ (Lagrange) | derivative of the loss along $6ND = C$ | why both terms shrink together |
# | Chinchilla allocation | $N_{\text{opt}} = G(C/6)^{\beta/(\alpha+\beta)}$, $D_{\text{opt}} = C/6N_{\text{opt}}$ | `G * (C / 6) ** (beta / (alpha + beta))` | about 20 tokens per parameter: Chinchilla, LLaMA |
# | Kaplan allocation | $N_{\text{opt}} = 1.3\times10^9\,(C/\text{PF-day})^{0.73}$ | `1.3e9 * (C / 8.64e19) ** 0.73` | GPT-3, Gopher: large models on few tokens |
# | limits | loss, not abilities; unique data; one recipe | refit for every new recipe | planning, not promising |

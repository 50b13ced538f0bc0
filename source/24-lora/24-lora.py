# %% [markdown]
# # 24 · LoRA: low-rank adaptation of a pretrained model
#
# Full fine-tuning (`23-fine-tuning`) changes every weight of the model and keeps an optimizer
# state for each of them. LoRA (Hu et al., 2021) freezes the pretrained matrix $W$ and learns its
# change as a product of two thin matrices, so a layer computes
#
# $$\boxed{\;h = W x + \frac{\alpha}{r}\, B A x, \qquad A \in \mathbb{R}^{r \times d_{\text{in}}},\;
# B \in \mathbb{R}^{d_{\text{out}} \times r},\; r \ll \min(d_{\text{in}}, d_{\text{out}}),
# \qquad A_{ij} \sim \mathcal{N}\!\big(0, \tfrac{1}{d_{\text{in}}}\big),\; B = 0\;}$$
#
# and after training the change is folded back into the weight, $W' = W + \frac{\alpha}{r} B A$,
# so the adapted model runs exactly as fast as the base.
#
# Why it matters for LLMs: LoRA is how most open models are customised. A 7-billion-parameter model
# fine-tuned with LoRA trains a few million parameters, needs optimizer states for those alone, and
# ships as an adapter file of a few megabytes that loads on top of the shared base; QLoRA
# (`25-quantization`) puts the frozen base in 4 bits and fine-tunes 65B models on one GPU.
#
# **What you will build:** a LoRA layer that wraps both `nn.Linear` and GPT-2's `Conv1D`, with the
# initialisation that makes the adapted model start equal to the base, the $\alpha/r$ scaling, and
# merge / unmerge; a function that puts adapters on chosen layers of the course model, checked
# against peft's `LoraConfig` on the same weights (identical outputs, identical merged weights);
# trainable-parameter counts, from the model and from a formula, checked against peft's
# `get_nb_trainable_parameters()`; an export that merges the adapters away; and a LoRA fine-tuning
# run that moves the course model from Shakespeare to a new style, measured by the style's markers
# in its continuations and by held-out losses on both corpora.

# %% [markdown]
# ## Prerequisites
#
# - `16-gpt`: the course model (`GPT2LMHeadModel`, 4 layers, width 128, 65 characters) and its
#   language-model loss; `19-training` for AdamW and training loops on it.
# - `23-fine-tuning`: full fine-tuning and catastrophic forgetting, which LoRA is measured against.
# - `01-linear-algebra`: rank, the singular value decomposition, low-rank approximation
#   (Eckart-Young): the update LoRA learns is a rank-$r$ matrix.
# - `22-memory`: bytes per parameter of weights, gradients and Adam states.
#
# Packages: `torch` (a CPU is enough for everything), `numpy`, `scipy` (a statistical test),
# `matplotlib`, `transformers` (the course model) and `peft` (Hugging Face's LoRA, only as the
# reference the tests compare you with). The course model of `16-gpt` comes with this notebook
# (`course_model.py`, its weights and configuration) together with Tiny Shakespeare and its licence
# note (`DATA-LICENCE.md`); the second corpus is generated from it by rules in this notebook.
# Nothing is downloaded.
#
# **Notation.** $W \in \mathbb{R}^{d_{\text{out}} \times d_{\text{in}}}$ a frozen weight (the
# mathematical orientation, $y = Wx$), $r$ the rank, $\alpha$ the LoRA "alpha", $s = \alpha / r$
# the scaling, $\Delta W = s\,BA$ the update, $D = 128$ the course model's width, $L = 4$ its
# layers.

# %%
import copy
import logging
import math
import os
import re
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
from transformers.pytorch_utils import Conv1D   # GPT-2's linear layer: weight (in, out), y = x @ W + b

# peft imports bitsandbytes, which on CPUs with AVX512-BF16 logs to stderr that its optional
# `kernels` package is missing, then uses its own CPU kernels. Keep that note quiet: nbgrader
# scores 0 a test cell that writes to stderr, and the cell that first imports peft is one.
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)

TINY = dict(n_layer=2, n_embd=32, n_head=2)   # a small random GPT2LMHeadModel for the tests: new_model(**TINY)


def read_text(path: str) -> str:
    """The whole of a UTF-8 text file beside this notebook."""
    with open(path, encoding="utf-8") as file:
        return file.read()


TEXT = read_text("tinyshakespeare.txt")   # Tiny Shakespeare, 1,115,394 characters (licence: DATA-LICENCE.md)


def lm_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean next-token cross-entropy of a GPT2LMHeadModel: inputs and targets LongTensor (B, T); a scalar tensor."""
    logits = model(inputs).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


def batch_of_windows(data: torch.Tensor, batch_size: int, length: int, generator: torch.Generator):
    """B random windows of the token tensor data: inputs (B, length) and the targets shifted by one (B, length)."""
    offsets = torch.randint(0, len(data) - length - 1, (batch_size,), generator=generator)
    windows = data[offsets[:, None] + torch.arange(length + 1)]
    return windows[:, :-1], windows[:, 1:]


def in_out_features(layer: nn.Module) -> tuple[int, int]:
    """(d_in, d_out) of an nn.Linear (weight (out, in)) or a transformers Conv1D (weight (in, out))."""
    if isinstance(layer, Conv1D):
        return layer.weight.shape[0], layer.weight.shape[1]
    return layer.in_features, layer.out_features


base_model = load_course_model()
print("course model:", config(), f"{sum(p.numel() for p in base_model.parameters()):,} parameters")
for name, module in base_model.transformer.h[0].named_modules():
    if isinstance(module, (nn.Linear, Conv1D)):
        print(f"  h.0.{name:12s} {type(module).__name__:7s} weight {tuple(module.weight.shape)}  (d_in, d_out) = {in_out_features(module)}")

# %% [markdown]
# ## 1 · Why the update can be low rank
#
# **Intrinsic dimension.** Li et al. (2018) and Aghajanyan et al. (2020) fine-tuned models not in
# their full parameter space but in a random subspace: $\theta = \theta_0 + P z$ with a fixed random
# $P \in \mathbb{R}^{N \times d}$ and only $z \in \mathbb{R}^d$ trained. The smallest $d$ that reaches
# 90 % of full fine-tuning, the *intrinsic dimension* of the task, is tiny: about 200 for RoBERTa
# on MRPC, with $N$ = 355 million, and it *shrinks* as the pretrained model gets larger and better.
# Pretraining has already built the features; a downstream task only needs to recombine a few of them.
#
# **LoRA's hypothesis** is the matrix version of this: the change $\Delta W$ that fine-tuning makes
# to each weight matrix has a low *intrinsic rank*. Write the change as $\Delta W = BA$ with
# $B \in \mathbb{R}^{d_{\text{out}}\times r}$, $A \in \mathbb{R}^{r\times d_{\text{in}}}$: every
# matrix of rank at most $r$ can be written this way (take the SVD $\Delta W = U\Sigma V^\top$,
# $B = U_r\Sigma_r$, $A = V_r^\top$), and no matrix of higher rank can. The number of trained
# numbers falls from $d_{\text{out}} d_{\text{in}}$ to $r(d_{\text{in}} + d_{\text{out}})$: for a
# $4096\times 4096$ projection at $r = 8$, from 16.8 million to 65 536, 256 times fewer.
#
# What this means: LoRA does not approximate a full fine-tuning run after the fact; it restricts
# the optimisation to rank-$r$ updates from the start and bets that the best update of that form is
# nearly as good. Hu et al. found $r$ = 1 to 8 enough for GPT-3 175B on their benchmarks, and the
# top singular directions of updates learnt at $r$ = 8 and $r$ = 64 largely coincide. Section 7
# looks at the singular values of the updates you learn here.
#
# The picture below is the Eckart-Young view of the same idea: the best rank-$r$ approximation of
# a matrix keeps its $r$ largest singular values, so a matrix whose spectrum falls quickly is
# described almost completely by a few directions. A random matrix (no structure) and a matrix
# built from a few strong directions plus noise differ exactly there.

# %%
gen = torch.Generator().manual_seed(0)
d = 128
noise = torch.randn(d, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
structured = sum(3.0 / (k + 1) * torch.outer(torch.randn(d, generator=gen, dtype=torch.float64),
                                            torch.randn(d, generator=gen, dtype=torch.float64)) / d for k in range(6)) + 0.05 * noise
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for matrix, label in [(noise, "random matrix"), (structured, "6 strong directions + noise")]:
    s = torch.linalg.svdvals(matrix)
    axes[0].semilogy(np.arange(1, d + 1), s.numpy(), label=label)
    energy = (s ** 2).cumsum(0) / (s ** 2).sum()
    axes[1].plot(np.arange(1, d + 1), energy.numpy(), label=label)
axes[0].set(xlabel="index k", ylabel="singular value $\\sigma_k$", title="spectra")
axes[1].set(xlabel="rank r", ylabel="share of $\\|M\\|_F^2$ kept by the best rank-r approximation", title="Eckart-Young", xscale="log")
axes[0].legend(); axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2 · The LoRA layer
#
# ### 2.1 Initialisation: the adapted model starts equal to the base
#
# The layer adds a second path to the frozen one, $h = Wx + b + s\,B(Ax)$, computed as two thin
# products (never forming $BA$ during training: $Ax$ costs $r\,d_{\text{in}}$ per token and
# $B(Ax)$ costs $r\,d_{\text{out}}$). One of the two factors must start at zero so that
# $\Delta W = 0$ at step 0 and the adapted model *is* the pretrained model; the other must not, or
# nothing ever moves. The gradients show why. With $g = \partial L/\partial h$ for one input $x$,
#
# $$\frac{\partial L}{\partial B} = s\, g\,(Ax)^\top = s\,\nabla_W L\; A^\top, \qquad
# \frac{\partial L}{\partial A} = s\, B^\top g\, x^\top = s\,B^\top \nabla_W L,
# \qquad \nabla_W L = g\,x^\top .$$
#
# - $B = 0$, $A$ random: $\partial L/\partial A = 0$ at the first step, but $B$ receives
#   $s\,\nabla_W L\,A^\top$, the full-model gradient seen through $r$ random directions of the input.
#   After the first step $B \neq 0$ and both factors learn. This is LoRA's choice.
# - both zero: both gradients vanish, forever (a saddle point). A classic bug.
# - both random: training starts from a *different model* (base plus a random rank-$r$ perturbation
#   $s\,BA$), which wrecks the pretrained behaviour before the first step. The other classic bug.
#
# For $A$ this notebook draws the paper's Gaussian, with variance $1/d_{\text{in}}$ so that each
# coordinate of $Ax$ has about the size of one coordinate of $x$ whatever the width:
# $\operatorname{Var}[(Ax)_k] = \sum_j x_j^2/d_{\text{in}} = \overline{x^2}$. peft's default
# (`init_lora_weights=True`) is `nn.init.kaiming_uniform_(A, a=math.sqrt(5))`, the same rule as
# `nn.Linear`'s own weights: uniform on $[-1/\sqrt{d_{\text{in}}}, 1/\sqrt{d_{\text{in}}}]$,
# variance $1/(3d_{\text{in}})$; peft's `init_lora_weights="gaussian"` uses a standard deviation of
# $1/r$. Any of these works: the scale of $A$ multiplies the effective learning rate of $B$ (see
# 2.2), which is why the tests below copy your $A$ and $B$ into peft instead of comparing random draws.
#
# ### 2.2 The scaling $\alpha/r$: a learning rate that does not depend on $r$
#
# Why not just $h = Wx + BAx$? Because then the size of the update after a step would grow with
# $r$, and every change of rank would need a new learning rate. With Adam, every entry of $B$ moves
# by about $\eta$ per step at first (Adam divides by the gradient's own scale). One step from
# $B = 0$ gives $B_{ik} \approx -\eta\,\operatorname{sign}\big((\nabla_W L\,A^\top)_{ik}\big)$, and
# the $r$ terms of $(BA)_{ij} = \sum_{k=1}^r B_{ik}A_{kj}$ are *correlated*: each is
# $-\eta\,|a_k^\top v|\,a_{kj}$-like for a gradient direction $v$, and they add up coherently, so
# $\|BA\|$ grows like $r$. Multiplying by $s = \alpha/r$ cancels it:
#
# $$\|\Delta W\| = \tfrac{\alpha}{r}\,\|BA\| \;\propto\; \tfrac{\alpha}{r}\cdot r\,\eta = \alpha\,\eta .$$
#
# What this means: $\alpha$ acts like a multiplier on the learning rate, and with $s = \alpha/r$
# the first updates have the same size at every rank. Hu et al. set $\alpha$ to the first $r$ they
# tried and then changed $r$ freely; common practice is $\alpha = 2r$ or a fixed $\alpha = 16$ or
# 32. The cell below checks the argument on one layer: one Adam step from the LoRA initialisation,
# for ranks 1 to 256.
#
# **rsLoRA (practitioner's note).** Kalajdzievski (2023) showed that over *many* steps the factors
# become less correlated, and $\alpha/r$ then over-corrects: at large $r$ the update shrinks like
# $1/\sqrt r$ and high ranks learn slower, so their extra capacity is wasted. The rank-stabilised
# scaling $s = \alpha/\sqrt r$ keeps the learning dynamics stable as $r$ grows (peft:
# `LoraConfig(use_rslora=True)`). At the small ranks of this notebook the difference is small; at
# $r \geq 64$ it matters.

# %%
def one_adam_step_update(r, scaling_rule, d_in=256, d_out=256, lr=1e-3, seed=0):
    """||s B A||_F after one Adam step from A ~ N(0, 1/d_in), B = 0, on the loss of a fixed random low-rank regression."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(512, d_in, generator=gen, dtype=torch.float64)
    target = x @ (torch.randn(d_in, 4, generator=gen, dtype=torch.float64) @ torch.randn(4, d_out, generator=gen, dtype=torch.float64)) / d_in
    A = (torch.randn(r, d_in, generator=gen, dtype=torch.float64) / math.sqrt(d_in)).requires_grad_()
    B = torch.zeros(d_out, r, dtype=torch.float64, requires_grad=True)
    s = {"alpha / r": 8.0 / r, "alpha / sqrt(r)": 8.0 / math.sqrt(r), "no scaling": 1.0}[scaling_rule]
    opt = torch.optim.Adam([A, B], lr=lr)
    loss = ((s * (x @ A.T) @ B.T - target) ** 2).mean()
    loss.backward()
    opt.step()
    return float((s * B @ A).norm())


ranks = [1, 2, 4, 8, 16, 32, 64, 128, 256]
plt.figure(figsize=(6, 3.6))
for rule in ["no scaling", "alpha / r", "alpha / sqrt(r)"]:
    plt.loglog(ranks, [one_adam_step_update(r, rule) for r in ranks], "o-", label=f"s = {rule}")
plt.xlabel("rank r"); plt.ylabel("$\\|\\Delta W\\|_F$ after one Adam step")
plt.title("the scaling makes the first update independent of r")
plt.legend(); plt.tight_layout(); plt.show()

# %% [markdown]
# ### 2.3 Linear or Conv1D?
#
# The course model is transformers' `GPT2LMHeadModel`. Its four projections per block (`attn.c_attn`
# producing $q, k, v$ at once, `attn.c_proj`, `mlp.c_fc`, `mlp.c_proj`) are `Conv1D` layers: a
# linear layer that stores its weight as $(d_{\text{in}}, d_{\text{out}})$ and computes
# $y = xW + b$, the transpose of `nn.Linear`'s $(d_{\text{out}}, d_{\text{in}})$ and
# $y = xW^\top + b$. Your layer wraps **both**: the LoRA factors always have the mathematical
# shapes, `lora_A` $(r, d_{\text{in}})$ and `lora_B` $(d_{\text{out}}, r)$, exactly as peft stores
# them, and only merging has to know the orientation: a `Conv1D` weight receives $\Delta W^\top$.
# peft needs to be told (`LoraConfig(fan_in_fan_out=True)`, "the layer stores (fan_in, fan_out)");
# your layer sees the type of the layer it wraps. Forgetting the transpose is a silent bug for
# square layers such as `attn.c_proj` ($128\times128$): the shapes fit and the merged model is wrong.
#
# ### 2.4 Merge and unmerge
#
# After training, $\Delta W = sBA$ is added into the weight once, $W' = W + sBA$, and the layer
# then computes the plain $W'x + b$: no extra latency, the whole point of LoRA against adapters
# that add layers. Unmerging subtracts it again, $W = W' - sBA$, to train further or to swap in
# another adapter on the same base. Three rules keep this correct:
#
# 1. a merged layer must not add the LoRA path in `forward` any more (else the update counts twice);
# 2. `merge` on a merged layer and `unmerge` on an unmerged one change nothing (peft warns and
#    does nothing), so that a second call cannot add or subtract the update twice;
# 3. the round trip is exact up to floating-point rounding: $(W + \Delta W) - \Delta W$ equals $W$
#    to about one unit in the last place of $W$'s entries, so in float64 to $10^{-15}$, in float32 to
#    $10^{-7}$, in bfloat16 to $10^{-2}$ relative, which is why you keep a copy of the base or
#    merge into a 16/32-bit copy rather than back and forth in low precision.
#
# Write the layer now (about 20 minutes). `in_out_features(layer)` from the first cell gives
# $(d_{\text{in}}, d_{\text{out}})$ for either kind of layer.

# %% nbgrader={"grade": false, "grade_id": "lora_layer", "locked": false, "schema_version": 3, "solution": true, "task": false}
class LoRALinear(nn.Module):
    """A frozen nn.Linear or transformers Conv1D with a trainable low-rank update: h = base(x) + (alpha / r) B A x.

    Attributes:
        base: the wrapped layer; its parameters are frozen (requires_grad False).
        r, alpha: the rank and the LoRA alpha; scaling = alpha / r.
        fan_in_fan_out: True when base is a Conv1D (weight stored (d_in, d_out)), False for nn.Linear.
        lora_A: nn.Parameter (r, d_in), drawn from N(0, 1 / d_in), in base.weight's dtype and device.
        lora_B: nn.Parameter (d_out, r), zeros, same dtype and device.
        merged: whether (alpha / r) B A is currently added into base.weight.
    """

    def __init__(self, base: nn.Module, r: int, alpha: float):
        """Wrap base (about 5 minutes). Example: LoRALinear(nn.Linear(32, 48), r=4, alpha=8).lora_B.shape == (48, 4)."""
        super().__init__()
        d_in, d_out = in_out_features(base)
        self.base, self.r, self.alpha = base, r, alpha
        self.fan_in_fan_out = isinstance(base, Conv1D)
        self.merged = False
        ### BEGIN SOLUTION
        self.scaling = alpha / r
        for parameter in self.base.parameters():
            parameter.requires_grad_(False)                       # the pretrained layer stays frozen
        weight = base.weight
        self.lora_A = nn.Parameter(torch.randn(r, d_in, dtype=weight.dtype, device=weight.device) / math.sqrt(d_in))
        self.lora_B = nn.Parameter(torch.zeros(d_out, r, dtype=weight.dtype, device=weight.device))   # B = 0: starts as the base
        ### END SOLUTION

    def delta_weight(self) -> torch.Tensor:
        """The update (alpha / r) B A in the mathematical orientation: a tensor (d_out, d_in) (about 1 minute)."""
        ### BEGIN SOLUTION
        return self.scaling * (self.lora_B @ self.lora_A)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """base(x) + (alpha / r) B (A x) for x (..., d_in); returns (..., d_out). A merged layer returns base(x) alone (about 3 minutes).

        Example:
            >>> layer = LoRALinear(nn.Linear(32, 48), r=4, alpha=8)
            >>> torch.equal(layer(x := torch.randn(2, 5, 32)), layer.base(x))   # B = 0 at the start
            True
        """
        ### BEGIN SOLUTION
        result = self.base(x)
        if self.merged:
            return result                                          # the update already sits in base.weight
        return result + self.scaling * ((x @ self.lora_A.T) @ self.lora_B.T)
        ### END SOLUTION

    @torch.no_grad()
    def merge(self) -> None:
        """Add (alpha / r) B A into base.weight (transposed for a Conv1D) and mark the layer merged; nothing if already merged (about 3 minutes)."""
        ### BEGIN SOLUTION
        if self.merged:
            return
        delta = self.delta_weight()
        self.base.weight += delta.T if self.fan_in_fan_out else delta
        self.merged = True
        ### END SOLUTION

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract (alpha / r) B A from base.weight again and mark the layer unmerged; nothing if not merged (about 2 minutes)."""
        ### BEGIN SOLUTION
        if not self.merged:
            return
        delta = self.delta_weight()
        self.base.weight -= delta.T if self.fan_in_fan_out else delta
        self.merged = False
        ### END SOLUTION

# %% [markdown]
# The layer tests share one scenario: a float64 layer of either kind wrapped by your `LoRALinear`,
# optionally with `lora_B` filled with random numbers (so that the update is not zero), its
# outputs, parameters and gradients, and its base weight after merge, unmerge and repeated calls.

# %%
from grader.testing import scenario


@scenario
def lora_layer_run(ns, kind, d_in, d_out, r, alpha, seed, x, fill_b=True):
    """A float64 LoRALinear around nn.Linear or Conv1D from a seed: init, outputs, gradients, merge and unmerge."""
    import torch
    import torch.nn as nn
    from transformers.pytorch_utils import Conv1D
    torch.manual_seed(seed)
    base = (nn.Linear(d_in, d_out) if kind == "linear" else Conv1D(d_out, d_in)).double()
    if kind == "conv1d":
        with torch.no_grad():
            base.weight.normal_(0.0, 0.2); base.bias.normal_(0.0, 0.2)
    base_weight = base.weight.detach().clone()
    base_out = base(x).detach()
    layer = ns.LoRALinear(base, r, alpha)
    out = {"A0": layer.lora_A.detach().clone(), "B0": layer.lora_B.detach().clone(), "base_weight": base_weight,
           "base_out": base_out, "out_init": layer(x).detach().clone(), "scaling": float(layer.scaling),
           "trainable": sorted(n for n, p in layer.named_parameters() if p.requires_grad),
           "dtypes": sorted({str(p.dtype) for p in layer.parameters()})}
    if fill_b:
        with torch.no_grad():
            layer.lora_B.normal_(0.0, 0.5)
    out["A"], out["B"] = layer.lora_A.detach().clone(), layer.lora_B.detach().clone()
    y = layer(x)
    out["out"] = y.detach().clone()
    (y ** 2).sum().backward()
    out["grads"] = {n: p.grad.detach().clone() for n, p in layer.named_parameters() if p.grad is not None}
    out["delta"] = layer.delta_weight().detach().clone()
    layer.merge()
    out["merged_weight"] = layer.base.weight.detach().clone()
    out["out_merged"] = layer(x).detach().clone()
    out["merged_flag"] = bool(layer.merged)
    layer.merge()
    out["merged_twice_weight"] = layer.base.weight.detach().clone()
    layer.unmerge()
    out["unmerged_weight"] = layer.base.weight.detach().clone()
    out["out_unmerged"] = layer(x).detach().clone()
    layer.unmerge()
    out["unmerged_twice_weight"] = layer.base.weight.detach().clone()
    return out


def lora_by_hand(kind, base_weight, bias, A, B, scaling, x):
    """The judge's own LoRA: base output plus scaling * x A^T B^T, for a weight stored as its kind stores it."""
    W = base_weight.T if kind == "conv1d" else base_weight      # (d_out, d_in)
    return x @ W.T + bias + scaling * (x @ A.T) @ B.T


# %% nbgrader={"grade": true, "grade_id": "lora_layer_init", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""LoRALinear's factors have peft's shapes (lora_A (r, d_in), lora_B (d_out, r)), B starts at zero so the layer starts equal to its base, only A and B are trainable, scaling is alpha / r, and A is Gaussian with variance 1 / d_in (a Kolmogorov-Smirnov test)"""
from grader.testing import expect

gen = torch.Generator().manual_seed(1)
x = torch.randn(3, 5, 24, generator=gen, dtype=torch.float64)
got = lora_layer_run.learner("linear", 24, 40, 4, 8.0, 2, x)
expect.shape(got["A0"], (4, 24), what="lora_A of LoRALinear(nn.Linear(24, 40), r=4)", hint="lora_A is (r, d_in), as peft stores it")
expect.shape(got["B0"], (40, 4), what="lora_B of LoRALinear(nn.Linear(24, 40), r=4)", hint="lora_B is (d_out, r)")
expect.close(got["B0"], torch.zeros(40, 4, dtype=torch.float64), atol=0, what="lora_B at initialisation",
             hint="B starts at zero so that B A = 0 and the adapted model starts equal to the base")
expect.shape(got["out_init"], (3, 5, 40), what="the output of LoRALinear(nn.Linear(24, 40)) on x (3, 5, 24)")
### BEGIN HIDDEN TESTS
from scipy import stats

expect.close(got["out_init"], got["base_out"], atol=0, what="the layer's output at initialisation compared with its base layer's",
             hint="with B = 0 the update is exactly zero: initialise lora_B with zeros (and A randomly), never both randomly")
expect.equal(got["trainable"], ["lora_A", "lora_B"], what="the names of the trainable parameters of a fresh LoRALinear",
             hint="freeze the wrapped layer (requires_grad_(False) on each of base's parameters); lora_A and lora_B are nn.Parameters")
expect.equal(got["dtypes"], ["torch.float64"], what="the dtypes of a LoRALinear around a float64 layer", hint="create A and B in base.weight's dtype")
expect.close(got["scaling"], 2.0, atol=1e-12, what="LoRALinear(...).scaling for r=4, alpha=8", hint="scaling = alpha / r")
big = lora_layer_run.learner("linear", 400, 8, 16, 16.0, 3, torch.randn(1, 400, dtype=torch.float64), False)
A = big["A0"]
expect.shape(A, (16, 400), what="lora_A for d_in=400, r=16")
expect.true(float(A.abs().max()) > 0, "lora_A is all zeros: then the gradient of B (s * grad_W A^T) is zero too and nothing ever trains; draw A ~ N(0, 1/d_in)")
p_normal = stats.kstest((A * math.sqrt(400)).flatten().numpy(), "norm").pvalue
expect.true(p_normal > 1e-3, f"lora_A does not look like N(0, 1/d_in) (a Kolmogorov-Smirnov test rejects it, p = {p_normal:.1e}; "
            f"its standard deviation times sqrt(d_in) is {float(A.std() * 20):.3f}): draw torch.randn(r, d_in) / sqrt(d_in)")
other = lora_layer_run.learner("linear", 400, 8, 16, 16.0, 4, torch.randn(1, 400, dtype=torch.float64), False)
expect.shape(other["A0"], (16, 400), what="lora_A for d_in=400, r=16 under another seed")
expect.true(float((other["A0"] - A).abs().max()) > 0.01, "two layers built under different seeds have the same lora_A: draw it from torch's random generator")
conv = lora_layer_run.learner("conv1d", 24, 40, 4, 8.0, 2, x)
expect.shape(conv["A0"], (4, 24), what="lora_A of a LoRALinear around Conv1D(40, 24), whose weight is stored (24, 40)",
             hint="the factors keep the mathematical shapes for a Conv1D too: in_out_features(base) gives (d_in, d_out)")
expect.close(conv["out_init"], conv["base_out"], atol=0, what="the output at initialisation of a LoRALinear around a Conv1D")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "lora_layer_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""LoRALinear's forward is base(x) + (alpha / r) B A x for nn.Linear and Conv1D layers, at several ranks and alphas, and its gradients reach A and B but not the frozen base"""
from grader.testing import expect

gen = torch.Generator().manual_seed(5)
x = torch.randn(2, 3, 6, generator=gen, dtype=torch.float64)
got = lora_layer_run.learner("linear", 6, 4, 2, 2.0, 6, x)
expect.shape(got["out"], (2, 3, 4), what="LoRALinear(nn.Linear(6, 4), r=2)(x) for x (2, 3, 6)")
expect.shape(got["base_out"], (2, 3, 4), what="the base layer's output on x (2, 3, 6)")
expect.true(float((got["out"] - got["base_out"]).abs().max()) > 1e-6,
            "with a non-zero lora_B the output still equals the base output: add the low-rank path (alpha / r) * (x @ A.T) @ B.T")
### BEGIN HIDDEN TESTS
hint = "h = base(x) + (alpha / r) * (x @ lora_A.T) @ lora_B.T: both factors, in this order, times the scaling alpha / r"
for kind, d_in, d_out, r, alpha, seed in [("linear", 6, 4, 2, 2.0, 6), ("linear", 20, 12, 4, 16.0, 7), ("conv1d", 16, 48, 3, 6.0, 8),
                                          ("conv1d", 16, 16, 8, 4.0, 9), ("linear", 5, 7, 1, 1.0, 10)]:
    x = torch.randn(2, 3, d_in, generator=gen, dtype=torch.float64)
    got = lora_layer_run.learner(kind, d_in, d_out, r, alpha, seed, x)
    expect.shape(got["out"], (2, 3, d_out), what=f"the output of a LoRALinear around {kind} ({d_in} -> {d_out})")
    expect.shape(got["base_out"], (2, 3, d_out), what=f"the base output of a {kind} ({d_in} -> {d_out})")
    expect.shape(got["base_weight"], (d_out, d_in) if kind == "linear" else (d_in, d_out), what=f"the weight of a {kind} ({d_in} -> {d_out})")
    expect.shape(got["A"], (r, d_in), what=f"lora_A of a LoRALinear around {kind} ({d_in} -> {d_out}, r={r})")
    expect.shape(got["B"], (d_out, r), what=f"lora_B of a LoRALinear around {kind} ({d_in} -> {d_out}, r={r})")
    bias_out = got["base_out"] - x @ (got["base_weight"].T if kind == "linear" else got["base_weight"])
    want = lora_by_hand(kind, got["base_weight"], bias_out[0, 0], got["A"], got["B"], alpha / r, x)
    delta = float((got["out"] - got["base_out"]).abs().max())
    expect.true(delta > 1e-6, f"a LoRALinear around {kind} ({d_in} -> {d_out}, r={r}, alpha={alpha:g}) with a random lora_B returns its base output: "
                "the low-rank path is missing")
    without_scaling = lora_by_hand(kind, got["base_weight"], bias_out[0, 0], got["A"], got["B"], 1.0, x)
    if alpha != r:
        expect.true(float((got["out"] - without_scaling).abs().max()) > 1e-9 or float((got["out"] - want).abs().max()) < 1e-10,
                    f"the output with r={r}, alpha={alpha:g} equals base(x) + B A x without the scaling: multiply the update by alpha / r")
    expect.close(got["out"], want, atol=1e-10, rtol=1e-10, what=f"the output of a LoRALinear around {kind} ({d_in} -> {d_out}, r={r}, alpha={alpha:g})", hint=hint)
    expect.equal(sorted(got["grads"]), ["lora_A", "lora_B"], what=f"the parameters of a LoRALinear around {kind} that receive gradients",
                 hint="freeze base; lora_A and lora_B must be parameters of the layer that the output depends on")
    h = got["out"]
    s = alpha / r
    grad_B = s * torch.einsum("bto,btr->or", 2 * h, x @ got["A"].T)
    expect.close(got["grads"]["lora_B"], grad_B, atol=1e-9, rtol=1e-9, what=f"the gradient of lora_B for the loss sum(h**2), {kind}, r={r}",
                 hint="the gradient flows through (alpha / r) * (x @ A.T) @ B.T: compute the path with autograd-tracked A and B")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "lora_layer_merge", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""merge adds (alpha / r) B A into the base weight (transposed for Conv1D) and leaves the output unchanged, a merged layer does not add the update twice, merge and unmerge are idempotent, and unmerge restores the base weight to rounding"""
from grader.testing import expect

gen = torch.Generator().manual_seed(11)
x = torch.randn(2, 4, 8, generator=gen, dtype=torch.float64)
got = lora_layer_run.learner("linear", 8, 6, 2, 4.0, 12, x)
expect.shape(got["delta"], (6, 8), what="delta_weight() of LoRALinear(nn.Linear(8, 6), r=2)", hint="(alpha / r) * B @ A is (d_out, d_in)")
expect.shape(got["merged_weight"], (6, 8), what="base.weight after merge()", hint="merge adds to the weight in place, keeping its shape")
expect.close(got["unmerged_weight"], got["base_weight"], atol=1e-12, what="base.weight after merge() then unmerge()",
             hint="unmerge subtracts exactly what merge added")
### BEGIN HIDDEN TESTS
for kind, d_in, d_out, r, alpha, seed in [("linear", 8, 6, 2, 4.0, 12), ("conv1d", 16, 16, 4, 8.0, 13), ("conv1d", 12, 36, 2, 1.0, 14),
                                          ("linear", 10, 10, 5, 10.0, 15)]:
    x = torch.randn(2, 4, d_in, generator=gen, dtype=torch.float64)
    got = lora_layer_run.learner(kind, d_in, d_out, r, alpha, seed, x)
    case = f"{kind} ({d_in} -> {d_out}, r={r}, alpha={alpha:g})"
    expect.shape(got["A"], (r, d_in), what=f"lora_A for {case}")
    expect.shape(got["B"], (d_out, r), what=f"lora_B for {case}")
    expect.shape(got["base_weight"], (d_out, d_in) if kind == "linear" else (d_in, d_out), what=f"the base weight for {case}")
    want_delta = (alpha / r) * got["B"] @ got["A"]
    expect.shape(got["delta"], (d_out, d_in), what=f"delta_weight() for {case}", hint="(alpha / r) * lora_B @ lora_A, shape (d_out, d_in)")
    expect.close(got["delta"], want_delta, atol=1e-12, rtol=1e-12, what=f"delta_weight() for {case}",
                 hint="delta_weight = (alpha / r) * lora_B @ lora_A: the scaling belongs to the update")
    stored = want_delta.T if kind == "conv1d" else want_delta
    expect.shape(got["merged_weight"], tuple(got["base_weight"].shape), what=f"base.weight after merge() for {case}")
    moved = got["merged_weight"] - got["base_weight"]
    if kind == "conv1d" and d_in == d_out:
        expect.true(float((moved - want_delta).abs().max()) > 1e-9 or float((moved - stored).abs().max()) < 1e-10,
                    f"merge() into a square Conv1D ({case}) added (alpha / r) B A untransposed: a Conv1D stores its weight (d_in, d_out), add delta.T")
    expect.true(float((moved - stored / (alpha / r)).abs().max()) > 1e-9 or alpha == r,
                f"merge() for {case} added B A without the scaling: W' = W + (alpha / r) B A, the same update the forward pass adds")
    expect.close(moved, stored, atol=1e-12, rtol=1e-12, what=f"the change of base.weight made by merge() for {case}",
                 hint="W' = W + (alpha / r) B A, added as delta.T to a Conv1D weight, which is stored (d_in, d_out)")
    expect.true(got["merged_flag"], f"LoRALinear.merged is not True after merge() ({case}): set it, forward and unmerge depend on it")
    expect.close(got["out_merged"], got["out"], atol=1e-10, rtol=1e-10, what=f"the output of the merged layer compared with the unmerged one, {case}",
                 hint="after merge() forward must return base(x) alone: the update is inside base.weight now, adding the path again counts it twice")
    expect.close(got["merged_twice_weight"], got["merged_weight"], atol=0, what=f"base.weight after a second merge() for {case}",
                 hint="merge() on a merged layer must change nothing (return if self.merged), else the update is added twice")
    expect.close(got["unmerged_weight"], got["base_weight"], atol=1e-13, rtol=1e-13, what=f"base.weight after merge(), merge(), unmerge() for {case}",
                 hint="unmerge subtracts the same (alpha / r) B A (transposed for Conv1D) that merge added, once")
    expect.close(got["unmerged_twice_weight"], got["unmerged_weight"], atol=0, what=f"base.weight after a second unmerge() for {case}",
                 hint="unmerge() on an unmerged layer must change nothing (return if not self.merged)")
    expect.close(got["out_unmerged"], got["out"], atol=1e-10, rtol=1e-10, what=f"the output after unmerge() for {case}",
                 hint="after unmerge() the layer adds the low-rank path again: set merged back to False")
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · Adapters on the course model
#
# peft decides which layers get an adapter from `target_modules`: a module is targeted when its
# full name equals an entry or *ends with* "." plus the entry. So `"c_proj"` matches both
# `transformer.h.0.attn.c_proj` and `transformer.h.0.mlp.c_proj`, and `"attn.c_proj"` only the
# first. This suffix rule is a common surprise: a target list meant for attention alone silently
# adapts the MLP too, or a typo matches nothing (peft then raises, a hand-written loop may not).
#
# **Where to put adapters.** Hu et al. adapted only $W_q$ and $W_v$ of GPT-3 and found that, for a
# fixed number of trained parameters, spreading a small rank over several matrices beats a large
# rank on one ($W_q, W_v$ at $r$ = 4 beat $W_q$ alone at $r$ = 8). Later work (QLoRA, Dettmers et
# al. 2023; Biderman et al. 2024, "LoRA learns less and forgets less") found that adapting *every*
# linear layer, attention and MLP, is what it takes to approach full fine-tuning, and that the MLP
# matters most for learning new knowledge. In GPT-2 the query, key and value projections are one
# fused `c_attn` $(D \to 3D)$: one rank-$r$ update of the fused matrix, not three separate ones.
# Embeddings and `lm_head` (tied to the embeddings in the course model) are usually left alone;
# layer norms are frozen too (a handful of parameters, sometimes trained as "biases").
#
# Write `add_lora` (about 5 minutes): freeze every parameter of the model, then replace each
# targeted layer by a `LoRALinear` around it, in place.

# %% nbgrader={"grade": false, "grade_id": "add_lora", "locked": false, "schema_version": 3, "solution": true, "task": false}
def targets_module(name: str, target_modules: list[str]) -> bool:
    """peft's rule: the module's full name equals a target or ends with '.' + target."""
    return any(name == target or name.endswith("." + target) for target in target_modules)


def add_lora(model: nn.Module, r: int, alpha: float, target_modules: list[str]) -> nn.Module:
    """Freeze model and wrap each nn.Linear / Conv1D whose name matches target_modules (targets_module) in a LoRALinear.

    Args:
        model: e.g. a GPT2LMHeadModel from load_course_model(); changed in place.
        r, alpha: rank and alpha of every adapter.
        target_modules: names as peft takes them, e.g. ["c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"].

    Returns:
        The same model: every original parameter frozen, the targeted layers now LoRALinear (their
        names stay, e.g. transformer.h.0.attn.c_attn, holding .base, .lora_A, .lora_B).

    Example:
        >>> model = add_lora(new_model(**TINY), r=4, alpha=8, target_modules=["c_attn"])
        >>> type(model.transformer.h[0].attn.c_attn).__name__
        'LoRALinear'
    """
    ### BEGIN SOLUTION
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    chosen = [name for name, module in model.named_modules()
              if isinstance(module, (nn.Linear, Conv1D)) and targets_module(name, target_modules)]
    for name in chosen:                                  # collect first: do not change the tree while walking it
        parent_name, _, child_name = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child_name, LoRALinear(getattr(parent, child_name), r, alpha))
    return model
    ### END SOLUTION

# %% [markdown]
# ### 3.1 Trainable parameters
#
# A LoRA adapter on a layer $d_{\text{in}} \to d_{\text{out}}$ has $r(d_{\text{in}} + d_{\text{out}})$
# parameters. Per GPT-2 block of width $D$:
#
# | layer | $d_{\text{in}} \to d_{\text{out}}$ | frozen weight + bias | LoRA parameters |
# |---|---|---|---|
# | `attn.c_attn` | $D \to 3D$ | $3D^2 + 3D$ | $4Dr$ |
# | `attn.c_proj` | $D \to D$ | $D^2 + D$ | $2Dr$ |
# | `mlp.c_fc` | $D \to 4D$ | $4D^2 + 4D$ | $5Dr$ |
# | `mlp.c_proj` | $4D \to D$ | $4D^2 + D$ | $5Dr$ |
#
# With all four in all $L$ blocks, $16\,L\,D\,r$ trainable parameters: for the course model
# ($L$ = 4, $D$ = 128) $8192\,r$, against about 800 000 in the model; for GPT-2 small ($L$ = 12,
# $D$ = 768) $147\,456\,r$, 1.2 million at $r$ = 8, 1 % of its 124 million.
#
# peft's `model.print_trainable_parameters()` prints "trainable params: ... || all params: ... ||
# trainable%: ..."; the numbers come from `model.get_nb_trainable_parameters()`, which returns
# `(trainable, all)`, *all* counting the frozen base **and** the adapters. Write both counts: one
# from a model (about 3 minutes), one from the formula (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "parameter_counts", "locked": false, "schema_version": 3, "solution": true, "task": false}
def count_trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, all) parameters of model, as peft's get_nb_trainable_parameters() counts them.

    Returns:
        trainable: the number of scalars in parameters with requires_grad; all: every scalar,
        frozen or not (each shared tensor counted once, as model.parameters() yields it).

    Example:
        >>> count_trainable_parameters(nn.Linear(3, 2))
        (8, 8)
    """
    ### BEGIN SOLUTION
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
    ### END SOLUTION


def lora_parameter_count(n_layer: int, n_embd: int, r: int, target_modules: list[str]) -> int:
    """The number of LoRA parameters that add_lora puts on a GPT-2 of n_layer blocks of width n_embd.

    Args:
        target_modules: a subset of GPT-2's layer names as peft matches them: "c_attn", "c_proj"
            (both attn.c_proj and mlp.c_proj), "attn.c_proj", "c_fc", "mlp.c_fc", "mlp.c_proj".

    Returns:
        An int: the sum over targeted layers of r * (d_in + d_out).

    Example:
        >>> lora_parameter_count(4, 128, 8, ["c_attn"])   # 4 blocks, 4 * 128 * 8 each
        16384
    """
    ### BEGIN SOLUTION
    D = n_embd
    shapes = {"attn.c_attn": (D, 3 * D), "attn.c_proj": (D, D), "mlp.c_fc": (D, 4 * D), "mlp.c_proj": (4 * D, D)}
    per_block = sum(r * (d_in + d_out) for name, (d_in, d_out) in shapes.items() if targets_module(name, target_modules))
    return n_layer * per_block
    ### END SOLUTION

# %% [markdown]
# ### 3.2 Memory saved
#
# Training with AdamW in float32 keeps, per *trained* parameter, the weight (4 bytes), its gradient
# (4) and Adam's two moments (8): 16 bytes. A *frozen* parameter needs its weight alone, with no
# gradient and no optimizer state (activations are still stored for the backward pass, which
# passes through the frozen layers: LoRA saves parameter memory, not activation memory). So
#
# $$\text{full: } 16N \text{ bytes}, \qquad \text{LoRA: } 4N + 16N_{\text{LoRA}} \text{ bytes}.$$
#
# For a 7B model ($N = 6.7 \cdot 10^9$) that is 108 GB against 27 GB, and the frozen base can be
# stored in bf16 (13 GB) or 4 bits (3.5 GB, QLoRA). The checkpoint of a fine-tuned model shrinks
# from the whole model to the adapter ($N_{\text{LoRA}}$ numbers), and many adapters can share one
# base in memory. The cell below computes these numbers for three models (dimensions from their
# published configurations, all four GPT-2-style projections adapted).

# %%
def training_bytes(n_frozen, n_trained, frozen_bytes=4):
    """Frozen weights (frozen_bytes each) + trained ones in float32 with gradient and two AdamW moments (16 bytes each)."""
    return n_frozen * frozen_bytes + n_trained * 16


print(f"{'model':22s} {'params':>10s} {'r':>3s} {'LoRA params':>12s} {'full FT':>10s} {'LoRA fp32 base':>15s} {'LoRA bf16 base':>15s}")
for name, n_params, L, D in [("course model", sum(p.numel() for p in base_model.parameters()), 4, 128),
                             ("GPT-2 small", 124_439_808, 12, 768), ("7B (D=4096, L=32)", 6_738_415_616, 32, 4096)]:
    r = 8
    n_lora = 16 * L * D * r
    print(f"{name:22s} {n_params:>10,} {r:>3d} {n_lora:>12,} {training_bytes(0, n_params) / 1e9:>8.3f}GB "
          f"{training_bytes(n_params, n_lora) / 1e9:>13.3f}GB {training_bytes(n_params, n_lora, 2) / 1e9:>13.3f}GB")

# %% [markdown]
# The tests of `add_lora` and the counts build the model in a scenario: a float64 copy of a GPT2
# of given sizes (or the course model), adapted by your `add_lora`, with every `lora_B` filled with
# random numbers so that the adapters change the output; it returns the adapted state dict, the
# logits, your counts, and the state dict after your `merge_and_unload` (section 4).

# %%
@scenario
def adapted_model(ns, sizes, r, alpha, target_modules, seed, tokens, trained=False, export=True):
    """A float64 GPT2LMHeadModel (course weights if trained) adapted by add_lora, lora_B random: states, logits, counts, export."""
    import torch
    from course_model import load_course_model, new_model
    torch.manual_seed(seed)
    model = (load_course_model() if trained else new_model(**sizes)).double()
    base_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
    model = ns.add_lora(model, r, alpha, target_modules)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("lora_B"):
                parameter.normal_(0.0, 0.05)
        logits = model(tokens).logits
    out = {"base_state": base_state, "state": {k: t.detach().clone() for k, t in model.state_dict().items()}, "logits": logits,
           "trainable_names": sorted(n for n, p in model.named_parameters() if p.requires_grad),
           "wrapped": sorted(n for n, m in model.named_modules() if type(m).__name__ == "LoRALinear"),
           "counts": ns.count_trainable_parameters(model)}
    if export:
        plain = ns.merge_and_unload(model)
        with torch.no_grad():
            out["export_logits"] = plain(tokens).logits
        out["export_state"] = {k: t.detach().clone() for k, t in plain.state_dict().items()}
        out["export_types"] = sorted({type(m).__name__ for m in plain.modules()})
    return out


def peft_model_from(base_state, sizes, r, alpha, target_modules, learner_state=None, trained=False):
    """The judge's reference: peft's LoRA on the same float64 base weights, the learner's lora_A / lora_B copied in."""
    from peft import LoraConfig, get_peft_model
    model = new_model(**({} if trained else sizes)).double()
    model.load_state_dict(base_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, target_modules=list(target_modules),
                                                      fan_in_fan_out=True, lora_dropout=0.0))
    if learner_state is not None:
        with torch.no_grad():
            for name, parameter in peft_model.named_parameters():
                if ".lora_A." in name or ".lora_B." in name:
                    ours = name.removeprefix("base_model.model.").replace(".default.weight", "")
                    parameter.copy_(learner_state[ours])
    return peft_model.eval()


def peft_merged_state(peft_model) -> dict:
    """The state dict of peft's merge_and_unload() of peft_model (which it changes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {name: t.detach().clone() for name, t in peft_model.merge_and_unload().state_dict().items()}


# %% nbgrader={"grade": true, "grade_id": "add_lora_matches_peft", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""add_lora wraps exactly the layers peft's target_modules selects, freezes everything else, and with the same lora_A / lora_B the adapted model's logits equal peft's LoRA (fan_in_fan_out=True) on the same base weights"""
from grader.testing import expect

tokens = torch.randint(0, 65, (2, 12), generator=torch.Generator().manual_seed(20))
got = adapted_model.learner(TINY, 4, 8.0, ["c_attn"], 21, tokens, export=False)
expect.equal(got["wrapped"], ["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"], what="the modules add_lora wraps for target_modules=['c_attn']",
             hint="replace each matching layer by LoRALinear(layer, r, alpha) under the same name (setattr on its parent module)")
expect.equal(got["trainable_names"], [f"transformer.h.{i}.attn.c_attn.lora_{f}" for i in range(2) for f in "AB"],
             what="the trainable parameters after add_lora", hint="freeze every parameter of the model first; only lora_A and lora_B train")
### BEGIN HIDDEN TESTS
hint = ("with lora_A / lora_B copied into peft, the logits differ: check the scaling alpha / r, the orientation of Conv1D layers, "
        "and which layers are wrapped (peft's suffix rule)")
for sizes, r, alpha, targets, seed in [(TINY, 4, 8.0, ["c_attn"], 21),
                                       (TINY, 2, 16.0, ["c_attn", "c_proj", "c_fc"], 22),
                                       (dict(n_layer=1, n_embd=48, n_head=3), 3, 3.0, ["attn.c_proj", "mlp.c_fc"], 23),
                                       (TINY, 8, 4.0, ["mlp.c_proj"], 24)]:
    case = f"r={r}, alpha={alpha:g}, target_modules={targets}"
    got = adapted_model.learner(sizes, r, alpha, targets, seed, tokens, export=False)
    reference_model = peft_model_from(got["base_state"], sizes, r, alpha, targets)
    want_wrapped = sorted(n.removeprefix("base_model.model.") for n, m in reference_model.named_modules()
                          if hasattr(m, "lora_A") and not n.endswith((".lora_A", ".lora_B")))
    expect.equal(got["wrapped"], want_wrapped, what=f"the modules add_lora wraps for {case}",
                 hint="a module is targeted when its name equals a target or ends with '.' + target (targets_module): 'c_proj' matches attn.c_proj and mlp.c_proj")
    want_trainable = sorted(f"{n}.lora_{f}" for n in want_wrapped for f in "AB")
    expect.equal(got["trainable_names"], want_trainable, what=f"the trainable parameters after add_lora, {case}",
                 hint="freeze all of the model's parameters, then wrap: only the adapters' lora_A and lora_B train")
    reference_model = peft_model_from(got["base_state"], sizes, r, alpha, targets, got["state"])
    with torch.no_grad():
        want = reference_model(tokens).logits
    expect.shape(got["logits"], tuple(want.shape), what=f"the logits of the adapted model, {case}")
    expect.close(got["logits"], want, atol=1e-10, rtol=1e-10, what=f"the adapted model's logits compared with peft's LoRA, {case}", hint=hint)
got = adapted_model.learner({}, 4, 8.0, ["c_attn", "c_proj", "c_fc"], 25, tokens, trained=True, export=False)
reference_model = peft_model_from(got["base_state"], {}, 4, 8.0, ["c_attn", "c_proj", "c_fc"], got["state"], trained=True)
with torch.no_grad():
    want = reference_model(tokens).logits
expect.close(got["logits"], want, atol=1e-10, rtol=1e-10, what="the adapted course model's logits compared with peft's LoRA (r=4, alpha=8, all four projections)", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "parameter_counts_match_peft", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""count_trainable_parameters equals peft's get_nb_trainable_parameters() and lora_parameter_count its trainable number, for the course model's sizes at several ranks and target sets"""
from grader.testing import expect, learner

expect.equal(learner.lora_parameter_count(4, 128, 8, ["c_attn"]), 16384, what="lora_parameter_count(4, 128, 8, ['c_attn'])",
             hint="c_attn maps D to 3D: r * (D + 3D) per block, times n_layer")
tokens = torch.randint(0, 65, (1, 8), generator=torch.Generator().manual_seed(30))
got = adapted_model.learner(TINY, 2, 4.0, ["c_attn"], 31, tokens, export=False)
expect.equal(len(got["counts"]), 2, what="the length of count_trainable_parameters(model)", hint="return a tuple (trainable, all)")
### BEGIN HIDDEN TESTS
for sizes, r, targets in [(TINY, 2, ["c_attn"]), (TINY, 4, ["c_attn", "c_proj"]), (dict(n_layer=1, n_embd=48, n_head=3), 8, ["c_attn", "c_proj", "c_fc"]),
                          (TINY, 1, ["attn.c_proj", "mlp.c_fc"])]:
    case = f"{sizes}, r={r}, target_modules={targets}"
    got = adapted_model.learner(sizes, r, 2.0 * r, targets, 31, tokens, export=False)
    trainable, total = peft_model_from(got["base_state"], sizes, r, 2.0 * r, targets).get_nb_trainable_parameters()
    expect.equal(len(got["counts"]), 2, what=f"count_trainable_parameters for {case}", hint="return a tuple (trainable, all)")
    expect.true(int(got["counts"][0]) < int(got["counts"][1]),
                f"the trainable count ({int(got['counts'][0]):,}) is not below the total for {case}: count only parameters with requires_grad, the frozen base is not trained")
    expect.equal(int(got["counts"][0]), trainable, what=f"the trainable count of the adapted model for {case}, compared with peft",
                 hint="sum p.numel() over model.parameters() with p.requires_grad: the adapters only, not the frozen base")
    expect.equal(int(got["counts"][1]), total, what=f"the total count of the adapted model for {case}, compared with peft",
                 hint="all parameters, frozen base and adapters, each tensor once (model.parameters())")
for n_layer, n_embd, r, targets, seed in [(4, 128, 1, ["c_attn"], 0), (4, 128, 4, ["c_attn", "c_proj"], 0), (4, 128, 8, ["c_attn", "c_proj", "c_fc"], 0),
                                          (4, 128, 16, ["c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"], 0), (4, 128, 2, ["mlp.c_proj"], 0),
                                          (4, 128, 4, ["c_fc", "attn.c_proj"], 0), (12, 768, 8, ["c_attn", "c_proj"], 0)]:
    if n_layer == 12:
        want = n_layer * r * (4 + 2 + 5) * n_embd   # GPT-2 small: c_attn 4D r, attn.c_proj 2D r, mlp.c_proj 5D r per block
    else:
        want = peft_model_from(new_model(n_layer=n_layer, n_embd=n_embd).double().state_dict(), dict(n_layer=n_layer, n_embd=n_embd),
                               r, 2.0 * r, targets).get_nb_trainable_parameters()[0]
    expect.equal(learner.lora_parameter_count(n_layer, n_embd, r, targets), want,
                 what=f"lora_parameter_count({n_layer}, {n_embd}, {r}, {targets})",
                 hint="r * (d_in + d_out) for each targeted layer of a block: c_attn D->3D, attn.c_proj D->D, mlp.c_fc D->4D, mlp.c_proj 4D->D; "
                      "'c_proj' alone matches both c_proj layers")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Export: merge and unload
#
# A trained LoRA model is shipped in one of two ways: the adapter alone (lora_A and lora_B of
# each layer, a few kilobytes here, megabytes for a 7B model) to be loaded on top of the same
# base with peft, or a *merged* model: each `LoRALinear` replaced by its base layer with
# $W' = W + sBA$ inside, a plain `GPT2LMHeadModel` with the original parameter names that any
# library can load, no peft needed. peft calls this `merge_and_unload()`.
#
# **Forgetting to merge before export** is among the commonest LoRA mistakes: saving
# `model.base_model` or the wrapped layers' `base` weights, or converting an unmerged model to
# another format (GGUF, ONNX), gives back the *base* model with none of the fine-tuning, and it
# runs without any error. The test below, and the habit it encodes, is to compare the exported
# model's logits with the adapted model's before shipping anything.
#
# Write `merge_and_unload` (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "merge_and_unload", "locked": false, "schema_version": 3, "solution": true, "task": false}
def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge every LoRALinear of model and put its base layer back in its place, in place.

    Args:
        model: a model adapted by add_lora (LoRALinear layers merged or not).

    Returns:
        The same model object without LoRALinear layers: each targeted layer is its original
        nn.Linear / Conv1D again, with weight W + (alpha / r) B A, so its state_dict has the
        base model's names and the logits of the adapted model.

    Example:
        >>> plain = merge_and_unload(add_lora(new_model(**TINY), 4, 8, ["c_attn"]))
        >>> type(plain.transformer.h[0].attn.c_attn).__name__
        'Conv1D'
    """
    ### BEGIN SOLUTION
    wrapped = [name for name, module in model.named_modules() if isinstance(module, LoRALinear)]
    for name in wrapped:
        parent_name, _, child_name = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        layer = getattr(parent, child_name)
        layer.merge()                                     # W' = W + (alpha / r) B A, once
        setattr(parent, child_name, layer.base)
    return model
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "merge_and_unload_matches_peft", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""merge_and_unload returns a model with the base model's names and no LoRALinear, whose logits equal the adapted model's and whose merged weights equal peft's merge_and_unload() on the same adapters"""
from grader.testing import expect

tokens = torch.randint(0, 65, (2, 10), generator=torch.Generator().manual_seed(40))
got = adapted_model.learner(TINY, 4, 8.0, ["c_attn", "c_proj"], 41, tokens)
expect.equal(sorted(got["export_state"]), sorted(got["base_state"]), what="the state_dict names of the exported model",
             hint="put each LoRALinear's base layer back under its name: the export has the base model's names, no lora_A / lora_B")
expect.true("LoRALinear" not in got["export_types"], "the exported model still contains LoRALinear layers: replace each by its (merged) base layer")
### BEGIN HIDDEN TESTS
hint = "merge each LoRALinear (W' = W + (alpha / r) B A, transposed for Conv1D) and then replace it by its base layer"
for sizes, r, alpha, targets, seed in [(TINY, 4, 8.0, ["c_attn", "c_proj"], 41), (TINY, 2, 6.0, ["c_attn", "c_proj", "c_fc"], 42),
                                       (dict(n_layer=1, n_embd=48, n_head=3), 4, 1.0, ["attn.c_proj", "mlp.c_proj"], 43)]:
    case = f"r={r}, alpha={alpha:g}, target_modules={targets}"
    got = adapted_model.learner(sizes, r, alpha, targets, seed, tokens)
    expect.equal(sorted(got["export_state"]), sorted(got["base_state"]), what=f"the exported model's parameter names, {case}")
    expect.shape(got["logits"], (2, 10, 65), what=f"the adapted model's logits, {case}")
    expect.shape(got["export_logits"], (2, 10, 65), what=f"the exported model's logits, {case}")
    expect.true(float((got["export_logits"] - got["logits"]).abs().max()) < 1e-8 or
                float((got["export_logits"] - peft_model_from(got["base_state"], sizes, r, alpha, targets).base_model.model(tokens).logits.detach()).abs().max()) > 1e-8,
                f"the exported model ({case}) gives the base model's logits: the adapters were dropped, not merged; call merge() before unwrapping")
    expect.close(got["export_logits"], got["logits"], atol=1e-10, rtol=1e-10, what=f"the exported model's logits compared with the adapted model's, {case}", hint=hint)
    reference_model = peft_model_from(got["base_state"], sizes, r, alpha, targets, got["state"])
    merged = peft_merged_state(reference_model)
    for name, tensor in merged.items():
        expect.shape(got["export_state"][name], tuple(tensor.shape), what=f"{name} of the exported model")
        expect.close(got["export_state"][name], tensor, atol=1e-12, rtol=1e-12, what=f"{name} after merge_and_unload compared with peft's, {case}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · A new style: the town crier
#
# To fine-tune, we need text the course model has not seen, made only of its 65 characters. No
# second corpus ships with the project, so we derive one from Tiny Shakespeare by three rules a
# reader can check by eye. Each speech becomes a **town crier's** proclamation:
#
# 1. speaker lines (`ROMEO:`) and blank lines stay as they are;
# 2. every other line is written in capital letters;
# 3. its final punctuation mark (`.`, `,`, `;`, `:`, `?`) becomes `!`, and a line without one
#    gets `!` appended, so that every spoken line ends with `!`.
#
# The style has two markers we can count in any text: the **share of capital letters** among the
# letters of spoken lines, and the **share of spoken lines ending with `!`**. In Shakespeare the
# first is about 4 % (capitals start sentences and lines) and the second about 5 %; in crier text
# both are 100 %. The words are unchanged, so what the model must learn is a *style*, not content,
# which is the kind of adaptation LoRA is known to do well. Training data: the crier version of the
# first 90 % of the text; held out: the crier version of the last 10 %, and the original last 10 %
# to measure what the model forgets of Shakespeare.

# %%
SPEAKER = re.compile(r"^[A-Za-z][A-Za-z ']*:$")


def town_crier(text: str) -> str:
    """Tiny Shakespeare rewritten by the three rules: speaker and blank lines kept, other lines upper-cased, ending in '!'."""
    lines = []
    for line in text.split("\n"):
        if not line.strip() or SPEAKER.match(line):
            lines.append(line)
            continue
        line = line.upper().rstrip()
        lines.append(line[:-1] + "!" if line[-1] in ".,;:?" else line + "!")
    return "\n".join(lines)


def style_markers(text: str) -> dict:
    """The crier markers of text: share of capitals among letters of spoken lines, share of spoken lines ending in '!'."""
    spoken = [line for line in text.split("\n") if line.strip() and not SPEAKER.match(line)]
    letters = [ch for line in spoken for ch in line if ch.isalpha()]
    return {"capitals": sum(ch.isupper() for ch in letters) / max(len(letters), 1),
            "exclaims": sum(line.rstrip().endswith("!") for line in spoken) / max(len(spoken), 1)}


def split_at_line(text: str, share: float) -> tuple[str, str]:
    """text cut at the first line break after `share` of its characters: (first part, rest), the break dropped."""
    cut = text.index("\n", int(share * len(text)))
    return text[:cut], text[cut + 1:]


SHAKESPEARE_TRAIN_TEXT, SHAKESPEARE_HELD_OUT_TEXT = split_at_line(TEXT, 0.9)
CRIER_TRAIN_TEXT, CRIER_HELD_OUT_TEXT = town_crier(SHAKESPEARE_TRAIN_TEXT), town_crier(SHAKESPEARE_HELD_OUT_TEXT)
CRIER_TRAIN, CRIER_HELD_OUT = encode(CRIER_TRAIN_TEXT), encode(CRIER_HELD_OUT_TEXT)   # LongTensors of token ids
SHAKESPEARE_HELD_OUT = encode(SHAKESPEARE_HELD_OUT_TEXT)

# %%
print(SHAKESPEARE_HELD_OUT_TEXT[:260])
print("-" * 40)
print(CRIER_HELD_OUT_TEXT[:260])
print("-" * 40)
print("markers, Shakespeare held out:", {k: round(v, 3) for k, v in style_markers(SHAKESPEARE_HELD_OUT_TEXT).items()})
print("markers, crier held out:      ", {k: round(v, 3) for k, v in style_markers(CRIER_HELD_OUT_TEXT).items()})

# %% [markdown]
# **How we measure the shift.** Three numbers before and after fine-tuning:
#
# - the held-out loss on crier text (it must fall: the model learns the style);
# - the held-out loss on original Shakespeare (it should move little: LoRA "learns less and
#   forgets less" than full fine-tuning, but a style that flips every letter's case *is* in
#   conflict with the old text, so some rise is expected and honest to report);
# - the two markers in the model's own continuations of held-out Shakespeare prompts (greedy
#   decoding, 100 characters each, prompts cut at a line start so the next line is spoken).
#
# The helpers below evaluate a model; they do not depend on your code.

# %%
@torch.no_grad()
def held_out_loss(model: nn.Module, data: torch.Tensor, n_windows: int = 16, length: int = 128, seed: int = 0) -> float:
    """The mean loss of model on n_windows fixed windows of the tokens data (B = n_windows, T = length)."""
    inputs, targets = batch_of_windows(data, n_windows, length, torch.Generator().manual_seed(seed))
    return float(lm_loss(model.eval(), inputs, targets))


def crier_prompts(n: int = 6, length: int = 80, seed: int = 0) -> list[str]:
    """n held-out Shakespeare excerpts of `length` characters, each ending just after a speaker line."""
    starts = [m.end() for m in re.finditer(r"\n[A-Z][A-Za-z ]*:\n", SHAKESPEARE_HELD_OUT_TEXT)]
    gen = np.random.default_rng(seed)
    return [SHAKESPEARE_HELD_OUT_TEXT[max(0, e - length):e] for e in gen.choice(starts, size=n, replace=False)]


@torch.no_grad()
def continuations(model: nn.Module, prompts: list[str], new_tokens: int = 100) -> list[str]:
    """Greedy continuations (new_tokens characters) of each prompt."""
    model.eval()
    out = []
    for prompt in prompts:
        tokens = encode(prompt)[None]
        for _ in range(new_tokens):
            next_token = model(tokens[:, -256:]).logits[0, -1].argmax()
            tokens = torch.cat([tokens, next_token.view(1, 1)], dim=1)
        out.append(decode(tokens[0, len(prompt):]))
    return out


def style_report(model: nn.Module, label: str) -> dict:
    """Held-out losses on both corpora and the crier markers of greedy continuations, printed and returned."""
    text = "\n".join(continuations(model, crier_prompts()))
    report = {"crier loss": held_out_loss(model, CRIER_HELD_OUT), "Shakespeare loss": held_out_loss(model, SHAKESPEARE_HELD_OUT),
              **style_markers(text)}
    print(f"{label:28s}" + "  ".join(f"{k} {v:.3f}" for k, v in report.items()))
    return report


before = style_report(base_model, "course model (before)")
print(continuations(base_model, crier_prompts(1))[0])

# %% [markdown]
# ## 6 · LoRA fine-tuning
#
# The loop is the loop of `16-gpt` with one change that matters: the optimizer receives **only the
# trainable parameters**, the adapters. Passing `model.parameters()` would also work here (frozen
# tensors have no gradient and AdamW skips them), but it allocates nothing less and hides the
# intention; in peft and every trainer the optimizer is built from the parameters with
# `requires_grad`. No weight decay on the adapters: decaying $A$ and $B$ towards zero pulls the
# model back towards the base, a regulariser you may want, but not by default.
#
# **Learning rate.** LoRA runs use learning rates about ten times those of full fine-tuning
# (2e-4 for 7B models against 1e-5 to 2e-5; here 3e-3): the adapters start at zero and must travel
# from there, and $s = \alpha/r$ divides their effect. **Too high a learning rate** is the most
# common way a LoRA run fails: the loss falls fast and then jumps, the adapters grow until
# $\|sBA\|$ rivals $\|W\|$, and the model produces repeated characters. Section 7 shows it.
#
# Write `train_lora` (about 10 minutes).

# %% nbgrader={"grade": false, "grade_id": "train_lora", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_lora(model: nn.Module, data: torch.Tensor, steps: int, lr: float, batch_size: int = 16, length: int = 64,
               seed: int = 0) -> list[float]:
    """Train the adapters of model (add_lora already applied) on the tokens data with AdamW, only the trainable parameters.

    Args:
        model: an adapted GPT2LMHeadModel; put in train mode, changed in place.
        data: LongTensor (N,) of token ids.
        steps, lr: optimizer steps and AdamW's learning rate (weight_decay 0, default betas).
        batch_size, length: each step one batch_of_windows(data, batch_size, length, generator).
        seed: the seed of the torch.Generator that draws the windows.

    Returns:
        The training loss (a float) of each step, in order: a list of `steps` floats.

    Example:
        >>> losses = train_lora(add_lora(load_course_model(), 4, 8, ["c_attn"]), CRIER_TRAIN, steps=5, lr=3e-3)
        >>> len(losses)
        5
    """
    ### BEGIN SOLUTION
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    losses = []
    for _ in range(steps):
        inputs, targets = batch_of_windows(data, batch_size, length, generator)
        loss = lm_loss(model, inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION

# %%
@scenario
def lora_training_run(ns, r, alpha, target_modules, steps, lr, seed):
    """The course model adapted by add_lora, trained by train_lora on crier text: losses, held-out losses, which tensors moved."""
    import torch
    from course_model import load_course_model
    torch.manual_seed(seed)
    model = ns.add_lora(load_course_model(), r, alpha, target_modules)
    before = {n: t.detach().clone() for n, t in model.state_dict().items()}
    crier_before = ns.held_out_loss(model, ns.CRIER_HELD_OUT, 8, 64)
    losses = ns.train_lora(model, ns.CRIER_TRAIN, steps, lr, 8, 64, seed)
    after = model.state_dict()
    changed = sorted(n for n, t in after.items() if not torch.equal(t, before[n]))
    return {"losses": [float(v) for v in losses], "changed": changed, "crier_before": crier_before,
            "crier_after": ns.held_out_loss(model, ns.CRIER_HELD_OUT, 8, 64),
            "shakespeare_after": ns.held_out_loss(model, ns.SHAKESPEARE_HELD_OUT, 8, 64)}


# %% grader={"time_limit": 60} nbgrader={"grade": true, "grade_id": "train_lora_learns_the_style", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""train_lora returns one loss per step, changes only lora_A and lora_B, and a few dozen steps on crier text lower the held-out crier loss by a margin calibrated on the reference over seeds"""
from grader.testing import expect

got = lora_training_run.learner(4, 8.0, ["c_attn", "c_proj", "c_fc"], 30, 3e-3, 0)
expect.equal(len(got["losses"]), 30, what="the number of losses train_lora returns for steps=30", hint="append loss.item() once per step")
expect.true(all(math.isfinite(v) for v in got["losses"]), "train_lora returned a loss that is not finite")
### BEGIN HIDDEN TESTS
base_names = [n for n in got["changed"] if not n.endswith(("lora_A", "lora_B"))]
expect.true(not base_names, f"train_lora changed frozen base weights ({len(base_names)} tensors, e.g. {base_names[:1]}): "
            "optimise only the parameters with requires_grad, and keep add_lora's freezing")
expect.true(any(n.endswith("lora_B") for n in got["changed"]), "train_lora did not change any lora_B: call optimizer.step() after loss.backward()")
for seed in (0, 1):
    got = lora_training_run.learner(4, 8.0, ["c_attn", "c_proj", "c_fc"], 30, 3e-3, seed)
    expect.shape(got["crier_after"], (), what="the held-out crier loss after train_lora")
    expect.shape(got["crier_before"], (), what="the held-out crier loss before train_lora")
    expect.shape(got["shakespeare_after"], (), what="the held-out Shakespeare loss after train_lora")
    expect.true(got["crier_after"] < got["crier_before"] - 0.5,
                f"30 steps at lr 3e-3 moved the held-out crier loss from {got['crier_before']:.2f} to {got['crier_after']:.2f} (seed {seed}), "
                "less than the reference does: zero the gradients each step, step AdamW on the trainable parameters, compute lm_loss on a fresh batch")
    expect.true(got["shakespeare_after"] < 3.5, f"after 30 steps the held-out Shakespeare loss is {got['shakespeare_after']:.2f}: "
                "the training diverged or trained the base; check the learning rate and the freezing")
### END HIDDEN TESTS

# %% [markdown]
# Now the real run (about 15 seconds): rank 8, $\alpha = 16$, adapters on all four projections of
# every block, 150 steps of 16 windows of 64 characters.

# %%
torch.manual_seed(0)
lora_model = add_lora(load_course_model(), r=8, alpha=16, target_modules=["c_attn", "c_proj", "c_fc"])
trainable, total = count_trainable_parameters(lora_model)
print(f"trainable params: {trainable:,} || all params: {total:,} || trainable%: {100 * trainable / total:.2f}")
start = time.time()
lora_losses = train_lora(lora_model, CRIER_TRAIN, steps=150, lr=3e-3)
print(f"trained in {time.time() - start:.1f} s")
after = style_report(lora_model, "LoRA r=8 (after)")
for prompt, text in zip(crier_prompts(2), continuations(lora_model, crier_prompts(2))):
    print("..." + prompt[-40:].replace("\n", " / "), "=>", text[:100].replace("\n", " / "))

# %% [markdown]
# For comparison, *full* fine-tuning of a copy of the course model on the same batches, at a
# learning rate suited to it (3e-4, ten times lower), and the figure of both runs: the training
# loss, and before/after bars of the held-out losses and the markers.

# %%
full_model = load_course_model()
full_losses = []
optimizer = torch.optim.AdamW(full_model.parameters(), lr=3e-4, weight_decay=0.0)
generator = torch.Generator().manual_seed(0)
full_model.train()
for step in range(150):
    inputs, targets = batch_of_windows(CRIER_TRAIN, 16, 64, generator)
    loss = lm_loss(full_model, inputs, targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    full_losses.append(loss.item())
full = style_report(full_model, "full fine-tuning (after)")

fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
axes[0].plot(lora_losses, label=f"LoRA r=8 ({trainable:,} trained)")
axes[0].plot(full_losses, label=f"full ({total - trainable:,} trained)", alpha=0.8)
axes[0].set(xlabel="step", ylabel="training loss (crier)", title="training"); axes[0].legend()
keys = ["crier loss", "Shakespeare loss"]
for i, (report, label) in enumerate([(before, "before"), (after, "LoRA"), (full, "full")]):
    axes[1].bar(np.arange(2) + 0.27 * i, [report[k] for k in keys], width=0.27, label=label)
    axes[2].bar(np.arange(2) + 0.27 * i, [report["capitals"], report["exclaims"]], width=0.27, label=label)
axes[1].set_xticks(np.arange(2) + 0.27, keys); axes[1].set(title="held-out loss"); axes[1].legend()
axes[2].set_xticks(np.arange(2) + 0.27, ["capitals", "lines ending in !"]); axes[2].set(title="style markers of continuations"); axes[2].legend()
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 7 · What the update looks like, and how LoRA runs fail
#
# ### 7.1 Singular values of the update
#
# Below: the singular values of the change of the first block's `c_attn` weight made by the LoRA
# run ($sBA$, rank 8 by construction) and by full fine-tuning ($W_{\text{full}} - W$, any rank),
# each divided by its largest. If the intrinsic-rank hypothesis holds, the full update's spectrum
# falls quickly too: most of its energy sits in a few directions, which the LoRA update can hold.
# The second panel asks how much the two updates agree: the share of the full update's Frobenius
# norm that lies in the span of LoRA's top-$k$ left singular vectors.

# %%
w_base = base_model.transformer.h[0].attn.c_attn.weight.detach().T          # (3D, D), mathematical orientation
lora_delta = lora_model.transformer.h[0].attn.c_attn.delta_weight().detach()
full_delta = full_model.transformer.h[0].attn.c_attn.weight.detach().T - w_base
s_lora, s_full = torch.linalg.svdvals(lora_delta), torch.linalg.svdvals(full_delta)
U_lora = torch.linalg.svd(lora_delta).U
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].semilogy(np.arange(1, 9), (s_lora[:8] / s_lora[0]).numpy(), "o-", label="LoRA r=8: $sBA$")
axes[0].semilogy(np.arange(1, len(s_full) + 1), (s_full / s_full[0]).numpy(), ".-", label="full fine-tuning: $W_{full} - W$")
axes[0].set(xlabel="index k", ylabel="$\\sigma_k / \\sigma_1$", title="h.0.attn.c_attn: spectrum of the update"); axes[0].legend()
energy = (s_full ** 2).cumsum(0) / (s_full ** 2).sum()
captured = [float((U_lora[:, :k].T @ full_delta).norm() ** 2 / full_delta.norm() ** 2) for k in range(1, 9)]
axes[1].plot(np.arange(1, 33), energy[:32].numpy(), label="full update: its own best rank k")
axes[1].plot(np.arange(1, 9), captured, "o-", label="full update inside LoRA's top-k directions")
axes[1].plot(np.arange(1, 33), np.arange(1, 33) / len(s_full), ":", label="a random k-dimensional subspace")
axes[1].set(xlabel="k", ylabel="share of $\\|W_{full} - W\\|_F^2$", title="how low-rank is the full update?"); axes[1].legend()
plt.tight_layout(); plt.show()
print(f"norm of the update / norm of W: LoRA {float(lora_delta.norm() / w_base.norm()):.3f}, full {float(full_delta.norm() / w_base.norm()):.3f}")

# %% [markdown]
# What this means: full fine-tuning's update is not exactly low rank (its spectrum has a long
# tail of small directions, partly optimisation noise), but its top directions carry a large share
# of its norm, and LoRA's few directions overlap them far more than a random subspace of the same
# size would. This is the evidence Hu et al. report for GPT-3 (their section 7).
#
# ### 7.2 Too high a learning rate
#
# The same LoRA run, 60 steps of 8 windows at three learning rates (about 15 seconds). The too-large one
# typically shows a fast start, then loss spikes, and the adapters' norm keeps growing.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for lr in [3e-3, 3e-2, 1e-1]:
    torch.manual_seed(0)
    model = add_lora(load_course_model(), r=8, alpha=16, target_modules=["c_attn", "c_proj", "c_fc"])
    losses = train_lora(model, CRIER_TRAIN, steps=60, lr=lr, batch_size=8)
    ratio = np.mean([float(m.delta_weight().norm() / m.base.weight.norm()) for m in model.modules() if isinstance(m, LoRALinear)])
    axes[0].plot(losses, label=f"lr {lr:g}")
    axes[1].bar(f"{lr:g}", ratio)
axes[0].set(xlabel="step", ylabel="training loss", yscale="log", title="LoRA r=8, alpha=16"); axes[0].legend()
axes[1].set(xlabel="learning rate", ylabel="mean $\\|sBA\\| / \\|W\\|$", title="how far the adapters moved")
plt.tight_layout(); plt.show()

# %% [markdown]
# ### 7.3 Merging into quantized weights
#
# With a 4-bit or 8-bit base (QLoRA, `25-quantization`), the adapters are trained against the
# *dequantized* weights $\hat W$. Merging is then not free: $\hat W + sBA$ is no longer on the
# quantization grid, and quantizing it again rounds each entry to the nearest level. A LoRA update
# of a large model is usually a few percent of $\|W\|$ or less, often smaller than the grid
# spacing, so the re-quantized merged weight loses much of it, or, worse, differs from $\hat W$ by
# whole grid steps at random entries. The cell below takes the direction of the update you trained
# on the first block's `c_attn`, rescales it to sizes from 0.1 % to 100 % of $\|W\|$, merges it into
# absmax int8 and int4 weights (one scale per row) and re-quantizes: below the grid spacing, the
# error of the merge is as large as the update itself.

# %%
def absmax_int8(W):
    """Round each row of W to 255 levels spaced max|row| / 127: the dequantized matrix."""
    scale = W.abs().amax(dim=1, keepdim=True) / 127
    return torch.round(W / scale).clamp(-127, 127) * scale


def absmax_int4(W):
    """Round each row of W to 15 levels spaced max|row| / 7: the dequantized matrix."""
    scale = W.abs().amax(dim=1, keepdim=True) / 7
    return torch.round(W / scale).clamp(-7, 7) * scale


sizes = np.logspace(-3, 0, 13)            # the update rescaled to these shares of ||W||
plt.figure(figsize=(6, 3.6))
for label, quantize in [("int8 absmax", absmax_int8), ("int4 absmax", absmax_int4)]:
    W_hat = quantize(w_base)
    errors = []
    for size in sizes:
        delta = lora_delta * (size * w_base.norm() / lora_delta.norm())
        requantized = quantize(W_hat + delta)
        errors.append(float((requantized - (W_hat + delta)).norm() / delta.norm()))
    plt.loglog(sizes, errors, "o-", label=label)
plt.axhline(1.0, color="gray", ls=":")
plt.xlabel("$\\|sBA\\| / \\|W\\|$"); plt.ylabel("error of the re-quantized merge / $\\|sBA\\|$")
plt.title("merging into quantized weights: small updates are rounded away"); plt.legend(); plt.tight_layout(); plt.show()

# %% [markdown]
# The practical rules: keep the adapter unmerged on a quantized base (peft does that), or
# dequantize to bf16/fp16, merge there and ship a 16-bit model; never merge into int4/int8
# weights and re-quantize without measuring the loss afterwards.

# %% [markdown]
# ## Practical considerations
#
# **Numerical precision.** Train the adapters in float32 even on a bf16 base (peft keeps
# `lora_A`/`lora_B` in the base's dtype unless told otherwise; `autocast` handles the matmuls).
# Merge in float32: $W + sBA$ rounded to bf16 loses the small update's low bits, and a bf16
# merge-unmerge round trip does not give $W$ back. Keep the original base file; do not rely on
# unmerge to restore it after many merges.
#
# **Common bugs, and how the tests here catch them.**
#
# | bug | symptom | caught by |
# |---|---|---|
# | no $\alpha/r$ scaling in forward | works, but every rank needs its own learning rate; outputs differ from peft | outputs vs a hand formula and vs peft with $\alpha \neq r$ |
# | $B$ initialised randomly | the model before training is not the pretrained model; early loss jumps | output at initialisation equals the base layer's |
# | $A$ and $B$ both zero | nothing trains: both gradients are zero | a statistical test of $A$; loss after training |
# | merge without the scaling | merged model differs from the adapted one | merged weight vs $(\alpha/r)BA$ and vs peft |
# | merge without the transpose for `Conv1D` | silent for square layers (`attn.c_proj`) | square `Conv1D` layers, peft's merged weights |
# | no merged flag, merge twice, forward after merge still adds $sBAx$ | update counted twice | output after merge, weight after two merges |
# | unmerge that does not restore $W$ | drift after each swap of adapters | merge, unmerge round trip |
# | trainable count including the frozen base | "100 % trainable"; wrong memory estimates | peft's `get_nb_trainable_parameters()` |
# | `target_modules` meant for one layer matching several | more (or fewer) adapters than planned | peft's own selection of layers |
# | export of the unmerged base | the fine-tuning silently lost | exported logits vs adapted logits |
#
# **Hyperparameters that matter.** The learning rate first (1e-4 to 3e-4 for 7B-70B models, larger
# for small ones; warm-up and cosine decay as in `19-training`); $r$ (4-16 for style and format,
# 64-256 for new knowledge or code, with rsLoRA's $\alpha/\sqrt r$ at large $r$); $\alpha$ (tied to
# the learning rate: change one, retune the other; $\alpha = 2r$ is a common default); which
# layers (all linear layers when in doubt); `lora_dropout` (0.05-0.1 on small data sets, it drops
# the *input* of the LoRA path only). Variants worth knowing: DoRA (learns a magnitude per column
# and a LoRA direction), LoRA+ (a larger learning rate for $B$ than for $A$), PiSSA (initialises
# $A, B$ from the top singular vectors of $W$ and freezes the rest).
#
# **Serving.** Several adapters on one base can be served side by side (S-LoRA, vLLM's multi-LoRA):
# the base matmul is shared, each request adds its own $sB(Ax)$. Merging gives one fast model per
# adapter; not merging gives many adapters on one copy of the weights.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | intrinsic rank | fine-tuning updates have low rank: $\Delta W = BA$, $r \ll d$ | $r(d_{\text{in}}+d_{\text{out}})$ numbers instead of $d_{\text{in}}d_{\text{out}}$ | why adapters of a few MB fine-tune 7B-70B models |
# | LoRA layer | $h = Wx + b + \frac{\alpha}{r}B(Ax)$ | `base(x) + s * (x @ A.T) @ B.T`, base frozen | attention and MLP projections of every adapted model |
# | initialisation | $A \sim \mathcal{N}(0, 1/d_{\text{in}})$ (peft: Kaiming-uniform), $B = 0$ | `randn(r, d_in) / sqrt(d_in)`, `zeros(d_out, r)` | the adapted model starts as the pretrained one |
# | scaling | $s = \alpha/r$; rsLoRA $\alpha/\sqrt r$ | `scaling = alpha / r` | learning rate independent of $r$ |
# | merge / unmerge | $W' = W \pm \frac{\alpha}{r}BA$ (transposed for `Conv1D`) | `weight += delta.T if fan_in_fan_out else delta`, a `merged` flag | zero-latency inference, swapping adapters |
# | parameter count | $16LDr$ for all four GPT-2 projections | `sum(p.numel() for p in params if p.requires_grad)` | `print_trainable_parameters()` |
# | memory | full $16N$ bytes, LoRA $4N + 16N_{\text{LoRA}}$ | optimizer over trainable parameters only | fine-tuning on one GPU; QLoRA with a 4-bit base |
# | export | `merge_and_unload`: base names, merged weights | compare exported and adapted logits | shipping a fine-tuned model without peft |

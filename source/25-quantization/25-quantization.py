# %% [markdown]
# # 25 · Quantization: int8, blockwise, NF4, double quantization and QLoRA
#
# A quantizer stores a tensor as small integers $q_i$ that index a short table of levels (a *code*
# $c$), plus one floating-point *scale* per block of values. Every method in this notebook is one
# instance of
#
# $$\boxed{\;\hat x_i = s_{b(i)}\; c\big[q_i\big], \qquad q_i = \arg\min_{k}\Big|\frac{x_i}{s_{b(i)}} - c_k\Big|,
# \qquad s_b = \max_{j \in \text{block } b} |x_j|\;}$$
#
# with a choice of code (255 evenly spaced levels for int8, 16 normal quantiles for NF4) and of
# block (the whole tensor, one row, 64 values).
#
# Why it matters for LLMs: generating a token reads every weight once, so decoding speed and the
# size of the model you can fit are set by *bytes per weight*. A 65-billion-parameter model is 130 GB
# in bf16 and 33.5 GB in NF4 with double quantization; QLoRA (Dettmers et al., 2023) fine-tunes it
# on one 48 GB GPU by freezing that 4-bit base and training LoRA adapters (`24-lora`) on top.
#
# **What you will build:** absmax (symmetric) int8, per tensor and per row, and zero-point
# (asymmetric) int8, checked against PyTorch's own quantization observers; blockwise quantization
# with any code, checked against bitsandbytes' `quantize_blockwise` and `quantize_4bit`; the NF4 code
# derived from normal quantiles, checked against bitsandbytes' table; 4-bit packing; double
# quantization of the scales and the memory it saves; the quantization error of each method measured
# on the course model; and a QLoRA step: the course model's projections in bitsandbytes `Linear4bit`
# layers, peft LoRA adapters on top, a few optimizer steps that change only the adapters.

# %% [markdown]
# ## Prerequisites
#
# - `22-memory`: bytes per parameter of weights, gradients and optimizer states; fp32, fp16, bf16.
# - `24-lora`: LoRA adapters, peft's `LoraConfig`, merging into quantized weights (its section 7.3).
# - `16-gpt`: the course model (`GPT2LMHeadModel`, 4 layers, width 128, 65 characters).
# - `03-probability`: the normal distribution, its CDF $\Phi$ and quantile function $\Phi^{-1}$; entropy.
#
# Packages: `torch`, `numpy`, `scipy` (normal quantiles), `matplotlib`, `transformers` (the course
# model), `bitsandbytes` (the reference quantizers and the `Linear4bit` layer; all of it runs on the
# CPU here), `peft` (LoRA on the 4-bit base). The course model, Tiny Shakespeare and its licence note
# (`DATA-LICENCE.md`) come with this notebook. Nothing is downloaded.
#
# **Notation.** $x$ a tensor of $n$ real numbers, $b$ bits, $s$ a scale, $z$ a zero point, $c$ a
# code (a sorted table of levels in $[-1, 1]$), $B$ the block size, $\Delta$ the spacing of an
# evenly spaced grid, $\sigma$ the standard deviation of the weights.

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
from scipy import stats

import bitsandbytes as bnb
import bitsandbytes.functional as bnbF

try:
    from course_model import config, decode, encode, load_course_model, new_model
except ModuleNotFoundError:   # a script run or the grader: course_model.py lies in the working directory, beside this notebook
    sys.path.insert(0, os.getcwd())
    from course_model import config, decode, encode, load_course_model, new_model
from transformers.pytorch_utils import Conv1D   # GPT-2's linear layer: weight (in, out), y = x @ W + b

INT8_CODE = torch.cat([torch.tensor([-1.0]), torch.arange(-127, 128, dtype=torch.float32) / 127])   # 256 sorted levels k/127 (-1 twice)
DYNAMIC_CODE = bnbF.create_dynamic_map()            # bitsandbytes' 8-bit "dynamic" code, the default of quantize_blockwise
TINY = dict(n_layer=2, n_embd=64, n_head=2)         # a small random GPT2LMHeadModel for the tests: new_model(**TINY)


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


def held_out_loss(model: nn.Module, data: torch.Tensor, n_windows: int = 16, length: int = 128, seed: int = 0) -> float:
    """The mean loss of model on n_windows fixed windows of data (no gradient)."""
    with torch.no_grad():
        inputs, targets = batch_of_windows(data, n_windows, length, torch.Generator().manual_seed(seed))
        return float(lm_loss(model, inputs, targets))


HELD_OUT = encode(TEXT[-100_000:])      # the last 100,000 characters, for the error budget of section 8

print("bitsandbytes", bnb.__version__, "| course model:", config())

# %% [markdown]
# ## 1 · Why quantize, and what it costs
#
# | format | bits per weight | 7B model | 65B model |
# |---|---|---|---|
# | fp32 | 32 | 28 GB | 260 GB |
# | bf16 / fp16 | 16 | 14 GB | 130 GB |
# | int8 (one scale per row) | ≈ 8 | 7 GB | 65 GB |
# | NF4, blocks of 64, fp32 scales | 4.5 | 3.9 GB | 36.6 GB |
# | NF4 + double quantization | ≈ 4.127 | 3.6 GB | 33.5 GB |
#
# Two reasons to care. **Memory:** the table decides which GPU a model fits on at all.
# **Speed:** decoding one token multiplies every weight matrix by one vector, about 2 flops per
# weight read; a GPU does hundreds of flops per byte it reads from memory, so decoding is
# memory-bound and its speed is (memory bandwidth) / (bytes of weights). Halving the bytes nearly
# doubles tokens per second, provided dequantization is fused into the matrix multiply.
#
# The cost is error. Rounding $x$ to a grid of spacing $\Delta$ makes an error $e = \hat x - x$
# that, for a value not clipped and a grid fine compared to the distribution, is close to uniform
# on $[-\Delta/2, \Delta/2]$:
#
# $$\mathbb{E}[e^2] = \frac{1}{\Delta}\int_{-\Delta/2}^{\Delta/2} e^2\,de = \frac{\Delta^2}{12}.$$
#
# A layer $y = Wx$ then computes $\hat y - y = (\hat W - W)x$; with independent errors of variance
# $\mathbb{E}[e^2]$ on the weights, each output gets an error of variance
# $d_{\text{in}}\,\mathbb{E}[e^2]\,\overline{x^2}$, while the output itself has variance about
# $d_{\text{in}}\,\sigma^2\,\overline{x^2}$. So the **relative** output error is
#
# $$\frac{\mathbb{E}[(\hat y - y)^2]}{\mathbb{E}[y^2]} \approx \frac{\mathbb{E}[e^2]}{\sigma^2}
# = \frac{\Delta^2}{12\,\sigma^2},$$
#
# independent of the width. Everything below is about making $\Delta/\sigma$ small with few bits:
# where to put the levels (the code) and how large a region one scale covers (the block). Each bit
# halves $\Delta$ and divides the error by 4: about 6 dB per bit, the rule of signal processing.

# %% [markdown]
# ## 2 · Absmax (symmetric) int8
#
# Map the largest magnitude to the largest integer $Q = 2^{b-1} - 1$ (127 for 8 bits) and round:
#
# $$s = \frac{\max_i |x_i|}{Q}, \qquad q_i = \operatorname{clamp}\!\Big(\operatorname{round}\big(x_i / s\big), -Q, Q\Big),
# \qquad \hat x_i = s\,q_i .$$
#
# The conventions used here (the tests check them exactly): everything in float32; `round` is
# `torch.round`, which rounds halves to the even integer; the code is symmetric, $-127..127$ (the
# int8 value $-128$ is never used, so that $-x$ quantizes to $-q$); the scale is computed as
# `absmax / 127`; a tensor (or a row) that is all zeros gets the scale 1 so that nothing divides by
# zero and its codes are all 0. The clamp never acts for the data itself ($|x_i|/s \leq Q$), but it
# protects against new values quantized with an old scale.
#
# **Per tensor or per row.** One scale for the whole matrix is the simplest; one scale per
# *row* of $W$ (per output channel, "vector-wise" in LLM.int8()) costs one float per row and keeps a
# row of small weights from being crushed by a large weight elsewhere. For a product $XW^\top$,
# per-row scales of $W$ and per-row (per-token) scales of $X$ both factor out of the integer matrix
# multiply: $\hat y_{ij} = s^X_i s^W_j \sum_k q^X_{ik} q^W_{jk}$, computed in int32 and rescaled once.
#
# **Is absmax a good scale?** It is the smallest scale with *no clipping*. For symmetric data
# without outliers and 8 bits it is nearly optimal. But the error is $\Delta^2/12$ with
# $\Delta = \max|x|/Q$: a single outlier sets $\Delta$ for every value. For $n$ Gaussian values the
# maximum grows like $\sigma\sqrt{2\ln n}$ (about $4.9\sigma$ for a million), and for heavy-tailed
# weights much faster. At 4 bits ($Q = 7$) a smaller scale that *clips* the few largest values is
# better in mean squared error, which the figure below shows: the MSE of a symmetric uniform
# quantizer as a function of the clipping threshold, for Gaussian and Laplace data, at 4 and 8 bits.
# The dots are absmax.

# %%
def uniform_quantize(x: torch.Tensor, threshold: float, bits: int) -> torch.Tensor:
    """Round x to the 2^bits - 1 levels k * threshold / Q (Q = 2^(bits-1) - 1), clipping at +-threshold; the dequantized tensor."""
    Q = 2 ** (bits - 1) - 1
    scale = threshold / Q
    return torch.round(x / scale).clamp(-Q, Q) * scale


gen = torch.Generator().manual_seed(0)
samples = {"Gaussian": torch.randn(200_000, generator=gen, dtype=torch.float64),
           "Laplace": torch.distributions.Laplace(0.0, 1 / math.sqrt(2)).sample((200_000,)).double()}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, bits in zip(axes, [4, 8]):
    for name, x in samples.items():
        thresholds = np.linspace(1.0, float(x.abs().max()), 60)
        mse = [float(((uniform_quantize(x, t, bits) - x) ** 2).mean()) for t in thresholds]
        line, = ax.semilogy(thresholds, mse, label=name)
        ax.semilogy([float(x.abs().max())], [mse[-1]], "o", color=line.get_color())
        best = int(np.argmin(mse))
        ax.axvline(thresholds[best], color=line.get_color(), ls=":", lw=1)
    ax.set(xlabel="clipping threshold (in units of sigma)", ylabel="mean squared error / sigma^2", title=f"{bits}-bit symmetric uniform quantizer")
    ax.legend()
plt.tight_layout(); plt.show()

# %% [markdown]
# What this means: at 8 bits the grid is fine enough that absmax costs little; at 4 bits the
# best threshold is around $2.5$ to $3\sigma$ for Gaussian data and the absmax error is several
# times larger. Two remedies exist: clip (search for the best threshold, as GPTQ-style and AWQ-style
# methods do per group), or make the region each scale covers small, so that its maximum is close to
# $2$ to $3\sigma$ anyway (section 4). QLoRA takes the second road.
#
# Write the absmax quantizer and its inverse (about 10 minutes).

# %% nbgrader={"grade": false, "grade_id": "absmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def absmax_quantize(x: torch.Tensor, per_row: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 quantization with scale absmax / 127.

    Args:
        x: float32 tensor; for per_row=True a 2-D tensor (rows, cols).
        per_row: one scale for the whole tensor (False) or one per row (True).

    Returns:
        q: int8 tensor of x's shape, values in [-127, 127], q = clamp(round(x / scale), -127, 127)
            with torch.round (halves to even).
        scale: float32, shape () for per_row=False, (rows, 1) for per_row=True; absmax / 127, or 1.0
            where the absmax is 0.

    Example:
        >>> q, s = absmax_quantize(torch.tensor([0.5, -1.27, 0.01]))
        >>> q, s
        (tensor([ 50, -127,    1], dtype=torch.int8), tensor(0.0100))
    """
    ### BEGIN SOLUTION
    x = x.to(torch.float32)
    absmax = x.abs().amax(dim=-1, keepdim=True) if per_row else x.abs().max()
    scale = absmax / 127
    scale = torch.where(absmax > 0, scale, torch.ones_like(scale))      # an all-zero tensor or row: codes 0, scale 1
    q = torch.round(x / scale).clamp(-127, 127).to(torch.int8)
    return q, scale
    ### END SOLUTION


def absmax_dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x_hat = scale * q as float32, q int8 of any shape, scale () or broadcastable (rows, 1).

    Example:
        >>> absmax_dequantize(torch.tensor([50, -127], dtype=torch.int8), torch.tensor(0.01))
        tensor([ 0.5000, -1.2700])
    """
    ### BEGIN SOLUTION
    return q.to(torch.float32) * scale
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "absmax_per_tensor", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""absmax_quantize per tensor: int8 codes in [-127, 127] and scale absmax / 127 as PyTorch's symmetric MinMaxObserver computes it, round-half-even, the error at most half a step, an all-zero tensor handled, and absmax_dequantize as scale * q"""
from grader.testing import expect, learner

q, s = learner.absmax_quantize(torch.tensor([0.5, -1.27, 0.01]))
expect.dtype(q, torch.int8, what="the codes of absmax_quantize", hint="cast with .to(torch.int8) after rounding and clamping")
expect.shape(q, (3,), what="the codes of absmax_quantize([0.5, -1.27, 0.01])")
expect.shape(s, (), what="the scale of absmax_quantize per tensor", hint="one scalar tensor: x.abs().max() / 127")
expect.equal(q.tolist(), [50, -127, 1], what="absmax_quantize([0.5, -1.27, 0.01]) codes")
expect.close(s, 0.01, atol=1e-9, rtol=0, what="absmax_quantize([0.5, -1.27, 0.01]) scale")
### BEGIN HIDDEN TESTS
from torch.ao.quantization.observer import MinMaxObserver

gen = torch.Generator().manual_seed(7)
for trial, x in enumerate([torch.randn(40, 24, generator=gen), torch.randn(1000, generator=gen) * 3 + 1, -torch.rand(5, 7, generator=gen)]):
    q, s = learner.absmax_quantize(x)
    expect.dtype(q, torch.int8, what=f"the codes of absmax_quantize (case {trial})")
    expect.shape(q, tuple(x.shape), what=f"the codes of absmax_quantize for x {tuple(x.shape)}")
    expect.shape(s, (), what=f"the scale of absmax_quantize for x {tuple(x.shape)}")
    observer = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric, quant_min=-127, quant_max=127)
    observer(x)
    torch_scale, _ = observer.calculate_qparams()
    expect.close(s, torch_scale[0], atol=0, rtol=1e-6, what=f"the per-tensor scale (case {trial}) compared with PyTorch's symmetric MinMaxObserver(quant_min=-127, quant_max=127)",
                 hint="scale = max |x| / 127: the largest magnitude maps to 127, not 128 or 255")
    want_q = torch.round(x / (x.abs().max() / 127)).clamp(-127, 127)
    expect.true(int(q.to(torch.int64).abs().max()) == 127, f"the largest |code| for x {tuple(x.shape)} is {int(q.to(torch.int64).abs().max())}: the largest |x| must map to 127")
    expect.equal(q.to(torch.int64), want_q.to(torch.int64), what=f"the codes for x {tuple(x.shape)}",
                 hint="q = clamp(round(x / scale), -127, 127) with torch.round (not floor, not truncation by .to(torch.int8))")
    x_hat = learner.absmax_dequantize(q, s)
    expect.shape(x_hat, tuple(x.shape), what="absmax_dequantize(q, scale)")
    expect.dtype(x_hat, torch.float32, what="absmax_dequantize(q, scale)", hint="return float32: q.to(torch.float32) * scale")
    expect.close(x_hat, want_q * (x.abs().max() / 127), atol=1e-7, rtol=1e-6, what=f"absmax_dequantize(*absmax_quantize(x)) for x {tuple(x.shape)}", hint="x_hat = scale * q")
    expect.true(float((x_hat - x).abs().max()) <= float(s) / 2 * (1 + 1e-5), "an error of dequantization exceeds half a step (scale / 2): round to the nearest integer")
q, s = learner.absmax_quantize(torch.zeros(3, 4))
expect.shape(q, (3, 4), what="the codes of an all-zero tensor")
expect.shape(s, (), what="the scale of an all-zero tensor")
expect.equal(q.to(torch.int64).abs().sum().item(), 0, what="the codes of an all-zero tensor", hint="all zeros; do not divide by a zero scale")
expect.close(s, 1.0, atol=0, what="the scale of an all-zero tensor", hint="use 1.0 where the absmax is 0 (torch.where), so that 0 / scale is 0 and not NaN")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "absmax_per_row", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""absmax_quantize per row: one scale per row, shape (rows, 1), equal to PyTorch's per-channel symmetric observer, an all-zero row handled, and a smaller error than one scale when rows differ in size"""
from grader.testing import expect, learner

x = torch.tensor([[1.0, -0.3], [0.04, 0.01]])
q, s = learner.absmax_quantize(x, per_row=True)
expect.shape(s, (2, 1), what="the scales of absmax_quantize(x (2, 2), per_row=True)", hint="amax over the last axis with keepdim=True")
expect.shape(q, (2, 2), what="the codes of absmax_quantize(x (2, 2), per_row=True)")
expect.equal(q.to(torch.int64).tolist(), [[127, -38], [127, 32]], what="absmax_quantize([[1, -0.3], [0.04, 0.01]], per_row=True) codes")
### BEGIN HIDDEN TESTS
from torch.ao.quantization.observer import PerChannelMinMaxObserver

gen = torch.Generator().manual_seed(8)
x = torch.randn(32, 48, generator=gen) * torch.logspace(-3, 1, 32)[:, None]
q, s = learner.absmax_quantize(x, per_row=True)
expect.shape(q, (32, 48), what="the per-row codes of x (32, 48)")
expect.dtype(q, torch.int8, what="the per-row codes")
expect.shape(s, (32, 1), what="the per-row scales of x (32, 48)")
observer = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=-127, quant_max=127)
observer(x)
torch_scales, _ = observer.calculate_qparams()
expect.close(s[:, 0], torch_scales, atol=0, rtol=1e-6, what="the per-row scales compared with PyTorch's PerChannelMinMaxObserver(ch_axis=0)",
             hint="scale of row i = max_j |x_ij| / 127, over the last axis")
want = torch.round(x / (x.abs().amax(dim=1, keepdim=True) / 127)).clamp(-127, 127)
expect.equal(q.to(torch.int64), want.to(torch.int64), what="the per-row codes of x (32, 48)", hint="divide each row by its own scale, then round")
x_hat = learner.absmax_dequantize(q, s)
expect.shape(x_hat, (32, 48), what="absmax_dequantize with per-row scales (32, 1)")
per_tensor_hat = learner.absmax_dequantize(*learner.absmax_quantize(x))
expect.shape(per_tensor_hat, (32, 48), what="the per-tensor round trip of x (32, 48)")
per_tensor_error = float((((per_tensor_hat - x) ** 2).sum(1) / (x ** 2).sum(1)).mean())     # the mean relative error of a row
per_row_error = float((((x_hat - x) ** 2).sum(1) / (x ** 2).sum(1)).mean())
expect.true(per_row_error < per_tensor_error / 10, "per-row quantization of rows of very different sizes is not much better than one scale: each row needs its own scale")
x[3] = 0.0
q, s = learner.absmax_quantize(x, per_row=True)
expect.shape(s, (32, 1), what="the per-row scales of a matrix with an all-zero row")
expect.close(s[3, 0], 1.0, atol=0, what="the scale of an all-zero row", hint="1.0 where the row's absmax is 0")
expect.finite(learner.absmax_dequantize(q, s), what="the dequantized matrix with an all-zero row")
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · Zero-point (asymmetric) int8
#
# Data that is not centred on zero (the output of a ReLU or GELU, attention probabilities, layer
# inputs with a bias) wastes half of a symmetric grid. The affine quantizer maps the range
# $[x_{\min}, x_{\max}]$ onto all 256 codes $0..255$ of a uint8:
#
# $$s = \frac{x_{\max} - x_{\min}}{255}, \qquad z = \operatorname{round}\!\Big(-\frac{x_{\min}}{s}\Big),
# \qquad q_i = \operatorname{clamp}\big(\operatorname{round}(x_i/s) + z,\ 0,\ 255\big),
# \qquad \hat x_i = s\,(q_i - z).$$
#
# The *zero point* $z$ is the integer code of the real number 0. That it is an integer is the point:
# $0$ is then represented **exactly** ($\hat 0 = s(z - z) = 0$), which matters for zero padding, for
# ReLU outputs and for sparse tensors, and the integer matmul
# $\sum_k (q^a_k - z^a)(q^b_k - z^b)$ expands into integer sums. Conventions, as PyTorch's
# `MinMaxObserver` (`torch.ao.quantization`) uses them: the range is widened to contain 0,
# $x_{\min} \leftarrow \min(x_{\min}, 0)$, $x_{\max} \leftarrow \max(x_{\max}, 0)$; the scale is at
# least float32's machine epsilon (`torch.finfo(torch.float32).eps`), so a constant-zero tensor
# does not divide by zero; $z$ is clamped to $[0, 255]$; rounding is `torch.round` throughout.
#
# The sign of $z$ is the classic slip: $x_{\min} < 0$ must map to code 0, so
# $x_{\min}/s + z = 0$, $z = -x_{\min}/s > 0$. With $+x_{\min}/s$ every code is shifted by twice the
# zero point and the clamp silently eats a large part of the range. Write it (about 10 minutes).

# %% nbgrader={"grade": false, "grade_id": "zeropoint", "locked": false, "schema_version": 3, "solution": true, "task": false}
def zeropoint_quantize(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric uint8 quantization of a float32 tensor, one scale and zero point for the whole tensor.

    Returns:
        q: uint8 tensor of x's shape, q = clamp(round(x / scale) + zero_point, 0, 255).
        scale: float32 tensor (), max((max(x_max, 0) - min(x_min, 0)) / 255, float32 eps).
        zero_point: int64 tensor (), clamp(-round(min(x_min, 0) / scale), 0, 255).

    Example:
        >>> q, s, z = zeropoint_quantize(torch.tensor([-1.0, 0.0, 2.0, 4.1]))
        >>> q.tolist(), round(float(s), 4), int(z)
        ([0, 50, 150, 255], 0.02, 50)
    """
    ### BEGIN SOLUTION
    x = x.to(torch.float32)
    x_min = torch.clamp(x.min(), max=0.0)                 # the range always contains 0
    x_max = torch.clamp(x.max(), min=0.0)
    scale = torch.clamp((x_max - x_min) / 255, min=torch.finfo(torch.float32).eps)
    zero_point = torch.clamp(-torch.round(x_min / scale), 0, 255).to(torch.int64)   # the code of the real number 0
    q = torch.clamp(torch.round(x / scale) + zero_point, 0, 255).to(torch.uint8)
    return q, scale, zero_point
    ### END SOLUTION


def zeropoint_dequantize(q: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    """x_hat = scale * (q - zero_point) as float32 (subtract in a signed type: q is uint8).

    Example:
        >>> zeropoint_dequantize(torch.tensor([0, 50, 255], dtype=torch.uint8), torch.tensor(0.02), torch.tensor(50))
        tensor([-1.0000,  0.0000,  4.1000])
    """
    ### BEGIN SOLUTION
    return (q.to(torch.float32) - zero_point.to(torch.float32)) * scale
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "zeropoint_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""zeropoint_quantize: scale and zero point equal to PyTorch's MinMaxObserver(quint8), codes equal to torch.quantize_per_tensor up to float ties, zero represented exactly, all-positive, all-negative and constant tensors, and the dequantization error at most half a step"""
from grader.testing import expect, learner

q, s, z = learner.zeropoint_quantize(torch.tensor([-1.0, 0.0, 2.0, 4.1]))
expect.dtype(q, torch.uint8, what="the codes of zeropoint_quantize", hint="codes are 0..255: cast with .to(torch.uint8) after clamping")
expect.shape(q, (4,), what="the codes of zeropoint_quantize([-1, 0, 2, 4.1])")
expect.shape(s, (), what="the scale of zeropoint_quantize")
expect.shape(z, (), what="the zero point of zeropoint_quantize")
expect.equal(int(z), 50, what="the zero point of [-1, 0, 2, 4.1]", hint="z = -round(x_min / scale): the code that stands for the real number 0")
expect.equal(q.tolist(), [0, 50, 150, 255], what="the codes of [-1, 0, 2, 4.1]")
### BEGIN HIDDEN TESTS
from torch.ao.quantization.observer import MinMaxObserver

gen = torch.Generator().manual_seed(9)
cases = {"a Gaussian shifted by +1": torch.randn(64, 32, generator=gen) + 1.0, "GELU outputs": F.gelu(torch.randn(2000, generator=gen) * 2),
         "all negative values": -torch.rand(300, generator=gen) - 0.5, "all positive values": torch.rand(10, 10, generator=gen) + 2.0,
         "a skewed range": torch.cat([torch.rand(500, generator=gen) * 6 - 0.3, torch.tensor([0.0])])}
for name, x in cases.items():
    q, s, z = learner.zeropoint_quantize(x)
    expect.dtype(q, torch.uint8, what=f"the codes for {name}")
    expect.shape(q, tuple(x.shape), what=f"the codes for {name}")
    expect.shape(s, (), what=f"the scale for {name}")
    expect.shape(z, (), what=f"the zero point for {name}")
    observer = MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    observer(x)
    torch_scale, torch_zero = observer.calculate_qparams()
    expect.close(s, torch_scale[0], atol=0, rtol=1e-6, what=f"the scale for {name} compared with PyTorch's MinMaxObserver(quint8)",
                 hint="scale = (max(x_max, 0) - min(x_min, 0)) / 255: the range always contains 0")
    expect.true(int(z) >= 0 and int(z) <= 255, f"the zero point for {name} is {int(z)}, outside 0..255: clamp it")
    expect.true(int(z) != 255 - int(torch_zero[0]) or int(z) == int(torch_zero[0]),
                f"the zero point for {name} is mirrored: the code of 0 is -round(x_min / scale), counted from the bottom of 0..255")
    expect.equal(int(z), int(torch_zero[0]), what=f"the zero point for {name} compared with PyTorch's MinMaxObserver",
                 hint="z = clamp(-round(min(x_min, 0) / scale), 0, 255): x_min maps to code 0, so z = -x_min / s is positive (a wrong sign shifts all codes)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                  # quantized tensors are deprecated in recent PyTorch
        torch_q = torch.quantize_per_tensor(x, float(torch_scale[0]), int(torch_zero[0]), torch.quint8).int_repr().to(torch.int64)
    diff = (q.to(torch.int64) - torch_q).abs()
    expect.true(int(diff.max()) <= 1 and float((diff > 0).float().mean()) < 0.01,
                f"the codes for {name} differ from torch.quantize_per_tensor in {int((diff > 0).sum())} of {diff.numel()} entries (by up to {int(diff.max())}): "
                "q = clamp(round(x / scale) + zero_point, 0, 255), rounding to the nearest integer, not floor")
    x_hat = learner.zeropoint_dequantize(q, s, z)
    expect.shape(x_hat, tuple(x.shape), what=f"the dequantized tensor for {name}")
    expect.dtype(x_hat, torch.float32, what=f"the dequantized tensor for {name}", hint="subtract in float32: uint8 arithmetic wraps around")
    expect.close(x_hat, (torch_q.to(torch.float32) - int(torch_zero[0])) * torch_scale[0], atol=float(torch_scale[0]) * 1.01, rtol=0,
                 what=f"zeropoint_dequantize for {name} compared with PyTorch's dequantized tensor", hint="x_hat = scale * (q - zero_point), in float32")
    expect.true(float((x_hat - x).abs().max()) <= float(s) * 0.5 * (1 + 1e-4), f"an error of dequantization for {name} exceeds half a step: round, do not floor")
zero = learner.zeropoint_dequantize(*learner.zeropoint_quantize(torch.tensor([0.0, -0.37, 1.91])))
expect.shape(zero, (3,), what="the dequantized [0, -0.37, 1.91]")
expect.equal(float(zero[0]), 0.0, what="the dequantized value of an exact 0", hint="0 must be represented exactly: z must be an integer code and x_hat = s (q - z)")
q, s, z = learner.zeropoint_quantize(torch.zeros(5))
expect.shape(q, (5,), what="the codes of a constant-zero tensor")
expect.finite(learner.zeropoint_dequantize(q, s, z), what="the dequantized constant-zero tensor",
              hint="clamp the scale at torch.finfo(torch.float32).eps so nothing divides by zero")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Outliers, LLM.int8() and blocks
#
# ### 4.1 Outlier features
#
# Dettmers et al. (2022, "LLM.int8()") found that from about 6.7 billion parameters on, transformers
# develop a few **outlier features**: hidden dimensions (about 6 in 4096 in OPT-6.7B, in the same
# dimensions across layers and tokens) whose activations reach 20 to 60 while the rest stay near 1.
# They matter: zeroing them wrecks the model's perplexity. Quantizing such activations with one
# absmax scale per token sets $\Delta \approx 60/127$ for *every* dimension of that token, and the
# information in the ordinary dimensions is rounded away. Per-token scales do not help (the outlier
# sits in every token); per-*column* scales for activations cannot be factored out of $XW^\top$.
#
# LLM.int8()'s answer is a **mixed-precision decomposition**: the few columns of $X$ (and the
# matching rows of $W^\top$) with any $|x| > 6$ are multiplied in fp16; everything else in int8 with
# per-token and per-output-channel absmax scales:
#
# $$XW^\top = X_{:,O}\,W_{:,O}^\top + \operatorname{diag}(s^X)\,\big(Q^X_{:,\bar O}\,{Q^W_{:,\bar O}}^{\top}\big)\,\operatorname{diag}(s^W).$$
#
# The cell below builds activations with two outlier dimensions and compares the error of the
# product for per-tensor, per-token and the decomposition (library code, a picture of the problem).
# bitsandbytes implements it as `Linear8bitLt(threshold=6.0)`.

# %%
def absmax_fake_quant(x: torch.Tensor, dim=None) -> torch.Tensor:
    """Symmetric int8 round trip with one scale (dim None) or one per slice along dim: the dequantized tensor."""
    absmax = x.abs().max() if dim is None else x.abs().amax(dim=dim, keepdim=True)
    scale = absmax.clamp(min=1e-12) / 127
    return torch.round(x / scale).clamp(-127, 127) * scale


gen = torch.Generator().manual_seed(0)
tokens, width, d_out = 256, 512, 256
acts = torch.randn(tokens, width, generator=gen)
w_proj = torch.randn(d_out, width, generator=gen) / math.sqrt(width)
exact = acts @ w_proj.T
magnitudes = [1, 3, 6, 10, 20, 40, 60]
errors = {"per-tensor int8": [], "per-token int8 (W per row)": [], "LLM.int8(): outlier columns in fp, rest per-token int8": []}
for magnitude in magnitudes:
    Xo = acts.clone()
    Xo[:, [17, 301]] *= magnitude                        # two outlier feature dimensions
    reference_product = Xo @ w_proj.T
    W_hat = absmax_fake_quant(w_proj, dim=1)
    errors["per-tensor int8"].append(float((absmax_fake_quant(Xo) @ absmax_fake_quant(w_proj).T - reference_product).norm() / reference_product.norm()))
    errors["per-token int8 (W per row)"].append(float((absmax_fake_quant(Xo, dim=1) @ W_hat.T - reference_product).norm() / reference_product.norm()))
    outlier = (Xo.abs() > 6).any(dim=0) if magnitude > 1 else torch.zeros(width, dtype=torch.bool)
    mixed = Xo[:, outlier] @ w_proj[:, outlier].T + absmax_fake_quant(Xo[:, ~outlier], dim=1) @ W_hat[:, ~outlier].T
    errors["LLM.int8(): outlier columns in fp, rest per-token int8"].append(float((mixed - reference_product).norm() / reference_product.norm()))
plt.figure(figsize=(6.5, 3.6))
for label, values in errors.items():
    plt.semilogy(magnitudes, values, "o-", label=label)
plt.xlabel("size of the two outlier dimensions (x their normal size)"); plt.ylabel("relative error of X W^T")
plt.title("outlier features ruin one-scale int8 activations"); plt.legend(fontsize=8); plt.tight_layout(); plt.show()

# %% [markdown]
# ### 4.2 Blockwise quantization
#
# Weights have outliers too, milder, and for weights there is a simpler remedy: cut the flattened
# tensor into blocks of $B$ consecutive values (64 in QLoRA, 4096 in 8-bit optimizers) and give each
# block its own absmax. An outlier then only coarsens the grid of its own 64 neighbours. And for
# Gaussian weights the maximum of 64 values is about $2.4\sigma$ (against $4.9\sigma$ for a
# million), close to the best clipping threshold of section 2 with no clipping at all.
#
# The price is one scale per block: 32 bits per 64 values is 0.5 extra bits per parameter, which
# section 7 reduces. Conventions (those of bitsandbytes, which the tests compare you with):
#
# 1. flatten $x$ (row-major, `x.reshape(-1)`) and cut it into $\lceil n/B \rceil$ blocks; pad the last
#    one with zeros (they do not change its absmax and are dropped again);
# 2. $s_b = \max_{j \in b} |x_j|$, stored in float32 (not divided by anything: the code lives in
#    $[-1, 1]$);
# 3. normalise $x_j/s_b \in [-1, 1]$ and store the index of the nearest entry of the sorted code;
#    a value exactly halfway between two levels takes the lower one. `torch.bucketize` against the
#    midpoints $(c_k + c_{k+1})/2$ does exactly this; an all-zero block has $s_b = 0$: divide by
#    `s.clamp(min=torch.finfo(torch.float32).tiny)` so its values go to the level nearest 0.
#
# The same function then gives int8 (code `INT8_CODE`, the levels $k/127$), bitsandbytes' 8-bit
# dynamic code (`DYNAMIC_CODE`) or NF4, depending only on the code. Write it (about 15 minutes).

# %% nbgrader={"grade": false, "grade_id": "blockwise", "locked": false, "schema_version": 3, "solution": true, "task": false}
def blockwise_quantize(x: torch.Tensor, code: torch.Tensor, block_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Absmax quantization of x in blocks of block_size consecutive values to the nearest entry of code.

    Args:
        x: float32 tensor of any shape, n values; flattened row-major.
        code: float32 (K,), sorted ascending, levels in [-1, 1] (K <= 256).
        block_size: values per block; the last block is padded with zeros.

    Returns:
        indices: uint8 (n,), the index into code of the level nearest x_j / absmax of its block
            (halfway: the lower level).
        absmax: float32 (ceil(n / block_size),), max |x| of each block.

    Example:
        >>> idx, absmax = blockwise_quantize(torch.tensor([0.1, -0.3, 4.0]), INT8_CODE, block_size=2)
        >>> idx.tolist(), absmax                # 0.1 / 0.3 * 127 = 42.3 -> level 42/127, index 128 + 42
        ([170, 0, 255], tensor([0.3000, 4.0000]))
    """
    ### BEGIN SOLUTION
    flat = x.reshape(-1).to(torch.float32)
    n = flat.numel()
    n_blocks = -(-n // block_size)
    blocks = F.pad(flat, (0, n_blocks * block_size - n)).reshape(n_blocks, block_size)
    absmax = blocks.abs().amax(dim=1)
    normalised = blocks / absmax.clamp(min=torch.finfo(torch.float32).tiny)[:, None]
    midpoints = (code[:-1] + code[1:]) / 2
    indices = torch.bucketize(normalised, midpoints)          # nearest level; halfway goes to the lower one
    return indices.to(torch.uint8).reshape(-1)[:n], absmax
    ### END SOLUTION


def blockwise_dequantize(indices: torch.Tensor, absmax: torch.Tensor, code: torch.Tensor, shape: tuple, block_size: int = 64) -> torch.Tensor:
    """The inverse: x_hat_j = absmax[block of j] * code[indices[j]], float32, reshaped to shape (n values).

    Example:
        >>> blockwise_dequantize(torch.tensor([170, 0, 255], dtype=torch.uint8), torch.tensor([0.3, 4.0]), INT8_CODE, (3,), 2)
        tensor([ 0.0992, -0.3000,  4.0000])
    """
    ### BEGIN SOLUTION
    n = indices.numel()
    values = code[indices.long()]
    padded = F.pad(values, (0, absmax.numel() * block_size - n)).reshape(-1, block_size)
    return (padded * absmax[:, None]).reshape(-1)[:n].reshape(shape)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "blockwise_matches_bitsandbytes", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""blockwise_quantize: one absmax per block equal to bitsandbytes.functional.quantize_blockwise's, the padded last block, indices of the nearest level at least as close as bitsandbytes' for the linear int8 code and the dynamic code, and blockwise_dequantize as its inverse"""
from grader.testing import expect, learner

idx, absmax = learner.blockwise_quantize(torch.tensor([0.1, -0.3, 4.0]), INT8_CODE, 2)
expect.dtype(idx, torch.uint8, what="the indices of blockwise_quantize")
expect.shape(idx, (3,), what="the indices of blockwise_quantize for 3 values", hint="one index per value, padding dropped")
expect.shape(absmax, (2,), what="absmax of 3 values in blocks of 2", hint="ceil(n / block_size) blocks: the last one is padded")
expect.equal(idx.tolist(), [170, 0, 255], what="blockwise_quantize([0.1, -0.3, 4.0], INT8_CODE, 2) indices",
             hint="index of the nearest level of the code to x / absmax of its block; -1 is both index 0 and 1 of INT8_CODE, the lower wins")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(10)
for n_rows, n_cols, block_size in [(50, 64, 64), (37, 29, 64), (16, 100, 256), (1, 5, 64), (8, 128, 4096)]:
    x = torch.randn(n_rows, n_cols, generator=gen) * torch.rand(n_rows, 1, generator=gen)
    x.view(-1)[3] = 40.0                                 # an outlier in the first block
    n = x.numel()
    n_blocks = -(-n // block_size)
    for code_name, code in [("INT8_CODE", INT8_CODE), ("DYNAMIC_CODE", DYNAMIC_CODE)]:
        case = f"x ({n_rows}, {n_cols}), block_size {block_size}, {code_name}"
        idx, absmax = learner.blockwise_quantize(x, code, block_size)
        expect.dtype(idx, torch.uint8, what=f"the indices for {case}")
        expect.shape(idx, (n,), what=f"the indices for {case}", hint="flat, one per value of x, the padding of the last block dropped")
        expect.shape(absmax, (n_blocks,), what=f"absmax for {case}", hint="one float per block of block_size consecutive values of x.reshape(-1), the last one partial")
        bnb_q, bnb_state = bnbF.quantize_blockwise(x, code=code, blocksize=block_size)
        expect.true(float(absmax[0]) > 39.0, f"absmax of the first block is {float(absmax[0]):.3g} ({case}): it is the block's largest |x|, not divided by anything")
        expect.close(absmax, bnb_state.absmax, atol=0, rtol=1e-6, what=f"absmax for {case} compared with bitsandbytes' quantize_blockwise",
                     hint="one absmax per block of block_size consecutive values of the flattened tensor, not one for the whole tensor, not per row")
        x_hat = learner.blockwise_dequantize(idx, absmax, code, tuple(x.shape), block_size)
        expect.shape(x_hat, tuple(x.shape), what=f"blockwise_dequantize for {case}", hint="reshape to the shape argument")
        bnb_hat = bnbF.dequantize_blockwise(bnb_q, bnb_state)
        mine, theirs = (x_hat - x).abs(), (bnb_hat - x).abs()
        expect.true(bool((mine <= theirs + 1e-6).all()), f"for {case} some of your dequantized values are farther from x than bitsandbytes': "
                    "take the nearest level of the code (torch.bucketize against the midpoints), per block")
        expect.close(x_hat, bnb_hat, atol=float(absmax.max()) * 0.03, rtol=0, what=f"your round trip for {case} compared with bitsandbytes' dequantize_blockwise",
                     hint="x_hat = absmax of the block * code[index]")
        want = code[idx.long()].reshape(-1)
        expect.close(learner.blockwise_dequantize(idx, torch.ones(n_blocks), code, (n,), block_size), want, atol=0,
                     what=f"blockwise_dequantize with all scales 1 ({case})", hint="code[indices] times the block's absmax")
zero_idx, zero_absmax = learner.blockwise_quantize(torch.zeros(70), INT8_CODE, 64)
expect.shape(zero_absmax, (2,), what="absmax of 70 zeros in blocks of 64")
expect.shape(zero_idx, (70,), what="the indices of 70 zeros")
expect.equal(zero_idx.tolist(), [128] * 70, what="the indices of an all-zero tensor with INT8_CODE", hint="an all-zero block: divide by absmax.clamp(min=tiny), so 0 maps to the level nearest 0, not NaN")
### END HIDDEN TESTS

# %% [markdown]
# Now the trade-off, on your function: weights $\mathcal{N}(0, 0.02^2)$ (a typical LLM weight
# scale) with a fraction of outliers 20 times larger, quantized with `INT8_CODE` and with a 4-bit
# uniform code, one scale for all values against blocks of 64 to 4096. The error is the relative mean
# squared error $\|\hat x - x\|^2 / \|x\|^2$ of the *ordinary* (non-outlier) weights.

# %%
INT4_CODE = torch.arange(-7, 8, dtype=torch.float32) / 7      # 15 evenly spaced levels, symmetric absmax int4
gen = torch.Generator().manual_seed(0)
weights = torch.randn(256 * 256, generator=gen) * 0.02
outlier_positions = torch.rand(weights.shape, generator=gen) < 0.001
weights[outlier_positions] *= 20
block_sizes = [64, 256, 1024, 4096, weights.numel()]
fig, ax = plt.subplots(figsize=(6.5, 3.6))
for code_name, code in [("int8", INT8_CODE), ("int4 (uniform)", INT4_CODE)]:
    rel = []
    for block_size in block_sizes:
        idx, absmax = blockwise_quantize(weights, code, block_size)
        w_hat = blockwise_dequantize(idx, absmax, code, weights.shape, block_size)
        ordinary = ~outlier_positions
        rel.append(float(((w_hat - weights)[ordinary] ** 2).sum() / (weights[ordinary] ** 2).sum()))
    ax.loglog(block_sizes, rel, "o-", label=code_name)
ax.set_xticks(block_sizes, [str(b) for b in block_sizes[:-1]] + ["one scale"])
ax.set(xlabel="block size", ylabel="relative MSE of the ordinary weights", title="0.1 % outliers x20: smaller blocks protect the rest")
ax.legend(); plt.tight_layout(); plt.show()

# %% [markdown]
# What this means: with one scale, the outliers set the grid spacing for everyone and int4 is
# useless; with blocks of 64 only the blocks that contain an outlier suffer (6 % of blocks here).
# Smaller blocks cost more scales: $32/B$ bits each. That is the block size trade-off; 64 is
# QLoRA's choice for weights, and bitsandbytes' 8-bit optimizers use 2048 to 4096 for their states.

# %% [markdown]
# ## 5 · NF4: levels from normal quantiles
#
# ### 5.1 Quantile quantization is the max-entropy code
#
# A $k$-bit code has $2^k$ levels. If each level is used equally often, each code carries the full
# $k$ bits of information: the entropy of the index, $-\sum_i p_i \log_2 p_i$, is maximal
# ($= k$) exactly when $p_i = 2^{-k}$. For data with CDF $F$, equal use means the bins between
# consecutive decision boundaries have equal probability: the boundaries are the **quantiles**
# $F^{-1}(i / 2^k)$ and each level sits inside its bin (at its median, say). This is *quantile
# quantization*, "information-theoretically optimal" in this sense (Dettmers et al.). It is not the
# same as minimum MSE (the Lloyd-Max quantizer puts levels at the bin *means* and boundaries at the
# midpoints between levels), but for a bell-shaped density the two are close, and both are far
# better than an evenly spaced grid, which wastes its outer levels on values that almost never occur.
#
# Estimating quantiles of each block at run time is expensive and noisy. The QLoRA insight: trained
# weights are close to $\mathcal{N}(0, \sigma^2)$ and absmax normalisation to $[-1, 1]$ removes
# $\sigma$, so one fixed table built from the quantiles of the standard normal $\Phi^{-1}$ fits every
# block. That table is **NormalFloat**, NF4 for $k = 4$.
#
# ### 5.2 The construction
#
# Two requirements shape it: the table must reach exactly $\pm 1$ (after absmax normalisation the
# block maximum is $\pm 1$), and it must contain an **exact zero** (zero padding, and the many weights
# near zero, must not be shifted). A symmetric table of 16 levels has no zero; 15 symmetric levels
# waste a code. NF4 is asymmetric: **8 positive** levels and **7 negative** ones around an exact zero.
#
# 1. $\Phi^{-1}(1) = \infty$, so the outermost probability is pulled in to an *offset* $p_{\max} < 1$:
#    QLoRA uses $p_{\max} = 1 - \delta$, $\delta = \tfrac12\big(\tfrac1{30} + \tfrac1{32}\big)$, so
#    $p_{\max} = 0.9677083$ (the middle of the last bin of the two halves, 15 and 16 bins).
# 2. **Positive half**: $2^{k-1} + 1 = 9$ evenly spaced probabilities from $p_{\max}$ down to $\tfrac12$;
#    drop the last ($\Phi^{-1}(\tfrac12) = 0$) and keep the 8 values $\Phi^{-1}(p)$, all $> 0$.
# 3. **Negative half**: $2^{k-1} = 8$ evenly spaced probabilities from $p_{\max}$ down to $\tfrac12$;
#    drop the last and keep $-\Phi^{-1}(p)$, 7 values $< 0$.
# 4. Add the exact $0$, sort, and divide all 16 by the largest, $\Phi^{-1}(p_{\max}) \approx 1.848$, so the
#    table runs from exactly $-1$ to exactly $1$.
#
# In code: `scipy.stats.norm.ppf` is $\Phi^{-1}$ (or `torch.distributions.Normal(0, 1).icdf` in
# float64); `np.linspace(p_max, 0.5, m)` gives the evenly spaced probabilities. The negative half
# is spaced more widely (7 levels for the same probability range) than the positive half (8 levels):
# the table is slightly asymmetric, as the printout of bitsandbytes' table below shows.
#
# Write it for any number of bits (about 10 minutes); `normal_float_levels(4)` is NF4.

# %%
print("bitsandbytes' NF4 table:", [round(v, 4) for v in bnbF.get_4bit_type("nf4", device="cpu").tolist()])

# %% nbgrader={"grade": false, "grade_id": "nf4", "locked": false, "schema_version": 3, "solution": true, "task": false}
def normal_float_levels(bits: int = 4, offset: float = 0.9677083) -> torch.Tensor:
    """The NormalFloat code of QLoRA: 2^(bits-1) positive and 2^(bits-1) - 1 negative normal quantiles and an exact 0.

    Args:
        bits: k; the code has 2^k levels.
        offset: p_max, the largest probability whose normal quantile is used.

    Returns:
        float32 (2^k,), sorted ascending, first -1.0, last 1.0, one entry exactly 0.0.

    Example:
        >>> levels = normal_float_levels(4)
        >>> levels.shape, float(levels[0]), float(levels[7]), float(levels[-1])
        (torch.Size([16]), -1.0, 0.0, 1.0)
    """
    ### BEGIN SOLUTION
    half = 2 ** (bits - 1)
    positive = stats.norm.ppf(np.linspace(offset, 0.5, half + 1)[:-1])       # 8 quantiles > 0 for NF4
    negative = -stats.norm.ppf(np.linspace(offset, 0.5, half)[:-1])          # 7 quantiles < 0
    levels = np.sort(np.concatenate([negative, [0.0], positive]))
    return torch.tensor(levels / levels.max(), dtype=torch.float32)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nf4_matches_bitsandbytes", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""normal_float_levels(4) equals bitsandbytes' NF4 table (get_4bit_type('nf4')) to 1e-4, with an exact zero, 7 negative and 8 positive levels, and other offsets and bit widths follow the same construction as bitsandbytes' create_normal_map"""
from grader.testing import expect, learner

levels = learner.normal_float_levels(4)
expect.shape(levels, (16,), what="normal_float_levels(4)", hint="2^4 levels: 8 positive, 7 negative and an exact 0")
expect.dtype(levels, torch.float32, what="normal_float_levels(4)")
expect.close(levels[[0, -1]], torch.tensor([-1.0, 1.0]), atol=1e-6, what="the smallest and largest NF4 levels", hint="divide all levels by the largest one")
### BEGIN HIDDEN TESTS
nf4 = bnbF.get_4bit_type("nf4", device="cpu")
expect.true(bool((levels[1:] > levels[:-1]).all()), "normal_float_levels(4) is not sorted strictly ascending: blockwise_quantize's midpoints need a sorted code")
expect.equal(int((levels == 0).sum()), 1, what="the number of levels of NF4 exactly equal to 0",
             hint="NF4 contains one exact zero: the two halves share it (drop Phi^-1(0.5) from each, add 0 once)")
expect.equal(int((levels < 0).sum()), 7, what="the number of negative NF4 levels",
             hint="7 negative levels (linspace(offset, 0.5, 8) without its last point) and 8 positive ones (linspace(offset, 0.5, 9) without its last)")
spacing = levels[1:] - levels[:-1]
expect.true(float(spacing.max() - spacing.min()) > 0.05, "the NF4 levels are evenly spaced: they must be normal quantiles, scipy.stats.norm.ppf of evenly spaced probabilities, "
            "which crowd near 0 and spread out towards +-1")
expect.close(levels, nf4, atol=1e-4, rtol=0, what="normal_float_levels(4) compared with bitsandbytes' NF4 table",
             hint="quantiles Phi^-1(p) for p in linspace(0.9677083, 0.5, 9)[:-1] and minus those of linspace(0.9677083, 0.5, 8)[:-1], plus 0, sorted, divided by the largest")
for offset in (0.99, 0.95):
    theirs = torch.unique(bnbF.create_normal_map(offset=offset))
    mine = learner.normal_float_levels(4, offset)
    expect.shape(mine, (16,), what=f"normal_float_levels(4, offset={offset})")
    expect.close(mine, theirs, atol=1e-4, rtol=0, what=f"normal_float_levels(4, offset={offset}) compared with bitsandbytes' create_normal_map(offset={offset})",
                 hint="use the offset argument as the largest probability p_max")
three = learner.normal_float_levels(3)
expect.shape(three, (8,), what="normal_float_levels(3)", hint="2^bits levels: 2^(bits-1) positive, 2^(bits-1) - 1 negative, one 0")
half = 4
positive = stats.norm.ppf(np.linspace(0.9677083, 0.5, half + 1)[:-1])
negative = -stats.norm.ppf(np.linspace(0.9677083, 0.5, half)[:-1])
want3 = np.sort(np.concatenate([negative, [0.0], positive]))
expect.close(three, torch.tensor(want3 / want3.max(), dtype=torch.float32), atol=1e-5, what="normal_float_levels(3), the 3-bit NormalFloat code",
             hint="the same construction with 2^(bits-1) in place of 8: nothing may be hard-coded for 4 bits")
### END HIDDEN TESTS

# %% [markdown]
# The picture: the three 4-bit codes of bitsandbytes' world (uniform int4, FP4 with 1 sign, 2
# exponent and 1 mantissa bits as bitsandbytes defines it, and your NF4), over the density of
# absmax-normalised Gaussian blocks of 64; then how often each code is used on such blocks, with the
# entropy of the index (4 bits at most) and the relative MSE of each.

# %%
nf4_code = normal_float_levels(4)
fp4_code = torch.sort(torch.unique(bnbF.get_4bit_type("fp4", device="cpu"))).values
gen = torch.Generator().manual_seed(1)
gaussian_weights = torch.randn(64 * 4000, generator=gen)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
_, absmax_g = blockwise_quantize(gaussian_weights, INT4_CODE, 64)
normalised = (gaussian_weights.reshape(-1, 64) / absmax_g[:, None]).reshape(-1)
axes[0].hist(normalised.numpy(), bins=200, density=True, color="lightgray", label="x / absmax, blocks of 64")
for row, (name, code) in enumerate([("int4", INT4_CODE), ("FP4", fp4_code), ("NF4", nf4_code)]):
    axes[0].plot(code.numpy(), np.full(len(code), 1.6 + 0.25 * row), "|", markersize=14, mew=2, label=name)
    idx, absmax = blockwise_quantize(gaussian_weights, code, 64)
    counts = torch.bincount(idx.long(), minlength=len(code)).double()
    p = counts / counts.sum()
    entropy = float(-(p[p > 0] * p[p > 0].log2()).sum())
    w_hat = blockwise_dequantize(idx, absmax, code, gaussian_weights.shape, 64)
    rel_mse = float(((w_hat - gaussian_weights) ** 2).mean() / gaussian_weights.var())
    axes[1].plot(np.arange(len(code)), p.numpy(), "o-", label=f"{name}: entropy {entropy:.2f} bits, rel. MSE {rel_mse:.4f}")
axes[0].set(xlabel="normalised value", title="levels over the data they quantize"); axes[0].legend(fontsize=8)
axes[1].set(xlabel="code index", ylabel="share of values", title="how often each code is used (Gaussian blocks of 64)"); axes[1].legend(fontsize=8)
plt.tight_layout(); plt.show()

# %% [markdown]
# What this means: NF4's index is used nearly uniformly (not exactly: each block's own maximum
# always lands on $\pm 1$, and $n = 64$ normal values are not exactly $\Phi$), so it carries close to
# the full 4 bits, and its error is the smallest of the three. The uniform int4 grid spends codes
# on the tails where almost nothing lies. QLoRA's paper reports the same ordering on real LLM weights:
# NF4 beats FP4 and int4 in perplexity and in downstream accuracy after fine-tuning.
#
# ### 5.3 Four bits in half a byte
#
# Memory holds bytes, so two 4-bit indices share one: bitsandbytes puts the first of each pair in
# the **high** nibble, `byte = (i[2j] << 4) | i[2j+1]`, and pads an odd count with a 0 index. Write
# the packing, its inverse, and NF4 quantization on top of your `blockwise_quantize` (about 10 minutes).

# %% nbgrader={"grade": false, "grade_id": "nf4_quantize", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pack_4bit(indices: torch.Tensor) -> torch.Tensor:
    """Two 4-bit indices per byte, the first in the high nibble: uint8 (n,) with values < 16 -> uint8 (ceil(n / 2),).

    Example:
        >>> pack_4bit(torch.tensor([1, 2, 15], dtype=torch.uint8)).tolist()
        [18, 240]
    """
    ### BEGIN SOLUTION
    indices = indices.reshape(-1).to(torch.uint8)
    if indices.numel() % 2:
        indices = torch.cat([indices, torch.zeros(1, dtype=torch.uint8)])
    return (indices[0::2] << 4) | indices[1::2]
    ### END SOLUTION


def unpack_4bit(packed: torch.Tensor, n: int) -> torch.Tensor:
    """The inverse of pack_4bit: uint8 (m,) -> uint8 (n,), high nibble first, padding dropped.

    Example:
        >>> unpack_4bit(torch.tensor([18, 240], dtype=torch.uint8), 3).tolist()
        [1, 2, 15]
    """
    ### BEGIN SOLUTION
    packed = packed.reshape(-1)
    return torch.stack([packed >> 4, packed & 0xF], dim=1).reshape(-1)[:n]
    ### END SOLUTION


def nf4_quantize(x: torch.Tensor, block_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """NF4 with blockwise absmax: (packed uint8 (ceil(n / 2),), absmax float32 (ceil(n / block_size),)), as bitsandbytes' quantize_4bit."""
    ### BEGIN SOLUTION
    indices, absmax = blockwise_quantize(x, normal_float_levels(4), block_size)
    return pack_4bit(indices), absmax
    ### END SOLUTION


def nf4_dequantize(packed: torch.Tensor, absmax: torch.Tensor, shape: tuple, block_size: int = 64) -> torch.Tensor:
    """The inverse of nf4_quantize: a float32 tensor of the given shape."""
    ### BEGIN SOLUTION
    n = math.prod(shape)
    return blockwise_dequantize(unpack_4bit(packed, n), absmax, normal_float_levels(4), shape, block_size)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nf4_quantize_matches_bitsandbytes", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""pack_4bit and unpack_4bit put the first index in the high nibble and invert each other; nf4_quantize gives the same packed bytes and absmax as bitsandbytes.functional.quantize_4bit(quant_type='nf4'), and nf4_dequantize the same tensor as dequantize_4bit, for several shapes and block sizes"""
from grader.testing import expect, learner

packed = learner.pack_4bit(torch.tensor([1, 2, 15], dtype=torch.uint8))
expect.dtype(packed, torch.uint8, what="pack_4bit([1, 2, 15])")
expect.shape(packed, (2,), what="pack_4bit of 3 indices", hint="ceil(n / 2) bytes: an odd count is padded with a 0 index")
expect.equal(packed.tolist(), [18, 240], what="pack_4bit([1, 2, 15])", hint="(i[0] << 4) | i[1]: the first index in the high nibble")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(11)
indices = torch.randint(0, 16, (101,), generator=gen, dtype=torch.uint8)
packed = learner.pack_4bit(indices)
expect.shape(packed, (51,), what="pack_4bit of 101 indices")
expect.equal(packed.to(torch.int64), (indices[0::2].to(torch.int64) << 4) | F.pad(indices[1::2], (0, 1)).to(torch.int64),
             what="pack_4bit of 101 random indices", hint="byte j = (i[2j] << 4) | i[2j + 1], the last low nibble 0")
back = learner.unpack_4bit(packed, 101)
expect.shape(back, (101,), what="unpack_4bit(pack_4bit(indices), 101)")
expect.equal(back.to(torch.int64), indices.to(torch.int64), what="unpack_4bit(pack_4bit(indices))", hint="high nibble (byte >> 4) first, then byte & 15")
for shape, block_size in [((48, 64), 64), ((33, 17), 64), ((7, 300), 128), ((5,), 64), ((64, 32), 32)]:
    x = torch.randn(*shape, generator=gen) * 0.05
    x.view(-1)[0] = 1.0
    n = x.numel()
    case = f"x {shape}, block_size {block_size}"
    packed, absmax = learner.nf4_quantize(x, block_size)
    bnb_packed, state = bnbF.quantize_4bit(x, blocksize=block_size, quant_type="nf4")
    expect.dtype(packed, torch.uint8, what=f"the packed bytes of nf4_quantize for {case}")
    expect.shape(packed, ((n + 1) // 2,), what=f"the packed bytes of nf4_quantize for {case}", hint="two indices per byte, one flat tensor")
    expect.shape(absmax, (-(-n // block_size),), what=f"absmax of nf4_quantize for {case}")
    expect.close(absmax, state.absmax, atol=0, rtol=1e-6, what=f"absmax of nf4_quantize for {case} compared with bitsandbytes' quantize_4bit",
                 hint="one absmax per block of block_size consecutive values")
    bnb_bytes = bnb_packed.reshape(-1).to(torch.int64)
    bnb_indices = torch.stack([bnb_bytes >> 4, bnb_bytes & 15], dim=1).reshape(-1)[:n]     # bitsandbytes pads with the code of 0.0, not index 0
    agree = float((learner.unpack_4bit(packed, n).to(torch.int64) == bnb_indices).float().mean())
    expect.true(agree > 0.999, f"only {100 * agree:.1f} % of the 4-bit indices for {case} equal bitsandbytes' quantize_4bit(quant_type='nf4'): "
                "use the NF4 code, the nearest level, and the first index of each pair in the high nibble")
    x_hat = learner.nf4_dequantize(packed, absmax, shape, block_size)
    expect.shape(x_hat, shape, what=f"nf4_dequantize for {case}")
    expect.close(x_hat, bnbF.dequantize_4bit(bnb_packed, state), atol=1e-6, rtol=1e-5, what=f"nf4_dequantize for {case} compared with bitsandbytes' dequantize_4bit",
                 hint="unpack, look the indices up in the NF4 code, multiply by the block's absmax")
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · Where the error goes: the course model
#
# Now the whole error budget on a real model: the course model's 16 projection matrices
# (`Conv1D` weights; embeddings and layer norms stay in float32, as in practice) replaced by their
# round trip through each scheme, and the held-out Shakespeare loss measured. This uses your
# functions (about 10 seconds).

# %%
def fake_quantize_model(model: nn.Module, round_trip) -> nn.Module:
    """Replace every Conv1D weight W (stored (in, out)) of model by round_trip(W.T).T, in place: the dequantized model."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, Conv1D):
                module.weight.copy_(round_trip(module.weight.T.contiguous()).T)
    return model


schemes = {
    "int8, one scale": lambda W: absmax_dequantize(*absmax_quantize(W)),
    "int8, per row": lambda W: absmax_dequantize(*absmax_quantize(W, per_row=True)),
    "int4, one scale": lambda W: blockwise_dequantize(*blockwise_quantize(W, INT4_CODE, W.numel()), INT4_CODE, W.shape, W.numel()),
    "int4, blocks of 64": lambda W: blockwise_dequantize(*blockwise_quantize(W, INT4_CODE, 64), INT4_CODE, W.shape, 64),
    "NF4, one scale": lambda W: blockwise_dequantize(*blockwise_quantize(W, nf4_code, W.numel()), nf4_code, W.shape, W.numel()),
    "NF4, blocks of 64": lambda W: nf4_dequantize(*nf4_quantize(W, 64), W.shape, 64),
}
baseline = held_out_loss(load_course_model(), HELD_OUT)
results = {name: held_out_loss(fake_quantize_model(load_course_model(), round_trip), HELD_OUT) for name, round_trip in schemes.items()}
plt.figure(figsize=(7, 3.6))
plt.barh(list(results), [v - baseline for v in results.values()])
plt.xscale("log"); plt.xlabel(f"increase of the held-out loss over float32 ({baseline:.3f} nats)")
plt.title("the course model's projections quantized"); plt.tight_layout(); plt.show()
for name, value in results.items():
    print(f"{name:20s} loss {value:.4f}  (+{value - baseline:.4f})")

# %% [markdown]
# What this means: int8 is nearly free; 4 bits with one scale per matrix is not; blocks of 64 and
# the NF4 code each cut the damage, and together (QLoRA's format) they keep the model close to its
# float32 self. On a model this small the differences are modest; on LLMs with outlier weights
# they decide between a working model and a broken one. This is also why QLoRA fine-tunes *on top
# of* the quantized weights: the adapters learn to compensate the remaining error.

# %% [markdown]
# ## 7 · Double quantization and the memory bill
#
# One float32 absmax per 64 weights adds $32/64 = 0.5$ bits to every 4-bit weight: 12.5 % of the
# model. QLoRA quantizes these *scales* too: take the $m$ absmax values $a_1..a_m$ of a tensor,
# subtract their mean $\mu$, and quantize $a - \mu$ blockwise with an 8-bit code (bitsandbytes'
# dynamic code) in blocks of 256, keeping one float32 second-level absmax per 256 scales and the one
# float32 $\mu$:
#
# $$\text{bits per parameter} = k + \frac{8}{B} + \frac{32}{B \cdot 256} = 4 + 0.125 + 0.0020 = 4.127 \qquad (B = 64),$$
#
# against $4 + 32/64 = 4.5$: about 3 GB saved on a 65B model. **Why subtract the mean?** The absmax
# values are all positive and bunched around their mean. Quantized directly with a signed code in
# $[-1, 1]$, every value lands in the positive half, and after the second-level absmax
# normalisation they cluster near $+1$: half the 256 codes are never used and the rest are spread
# over a range that is mostly empty. Centred, the values straddle 0 and use the whole code with a
# fine step where they are dense. Dequantization adds $\mu$ back:
# $\hat a = s_2\,c[q] + \mu$. The scales are positive by construction; a dequantized scale must
# stay close to its original, since it multiplies 64 weights at once.
#
# Write double quantization with your blockwise functions, and the bits-per-parameter count
# (about 10 minutes).

# %% nbgrader={"grade": false, "grade_id": "double_quant", "locked": false, "schema_version": 3, "solution": true, "task": false}
def double_quantize(absmax: torch.Tensor, code: torch.Tensor, block_size: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quantize the first-level scales: subtract their mean, then blockwise_quantize with code in blocks of block_size.

    Args:
        absmax: float32 (m,), the absmax values of blockwise_quantize.
        code: an 8-bit code (256,), e.g. DYNAMIC_CODE.

    Returns:
        indices: uint8 (m,); absmax2: float32 (ceil(m / block_size),); offset: float32 (), the mean of absmax.

    Example:
        >>> idx, absmax2, offset = double_quantize(torch.tensor([1.0, 2.0, 3.0]), DYNAMIC_CODE)
        >>> float(offset), absmax2.tolist()
        (2.0, [1.0])
    """
    ### BEGIN SOLUTION
    offset = absmax.mean()
    indices, absmax2 = blockwise_quantize(absmax - offset, code, block_size)   # centred: uses both halves of the signed code
    return indices, absmax2, offset
    ### END SOLUTION


def double_dequantize(indices: torch.Tensor, absmax2: torch.Tensor, offset: torch.Tensor, code: torch.Tensor, block_size: int = 256) -> torch.Tensor:
    """The dequantized first-level scales, float32 (m,): blockwise_dequantize(...) + offset."""
    ### BEGIN SOLUTION
    return blockwise_dequantize(indices, absmax2, code, (indices.numel(),), block_size) + offset
    ### END SOLUTION


def bits_per_parameter(bits: int, block_size: int, double_quant: bool = False, block_size2: int = 256) -> float:
    """Average storage per weight: bits, plus a float32 absmax per block, or with double_quant an 8-bit one per block
    plus a float32 second-level absmax per block_size2 blocks (the single float32 mean is negligible and left out).

    Example:
        >>> bits_per_parameter(4, 64), round(bits_per_parameter(4, 64, double_quant=True), 3)
        (4.5, 4.127)
    """
    ### BEGIN SOLUTION
    if not double_quant:
        return bits + 32 / block_size
    return bits + 8 / block_size + 32 / (block_size * block_size2)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "double_quant_matches_bitsandbytes", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""double_quantize subtracts the mean of the scales and quantizes the rest blockwise, as bitsandbytes' quantize_4bit(compress_statistics=True) does (same offset, second-level absmax and codes), double_dequantize restores the scales closely, and bits_per_parameter gives 4.5 and 4.127"""
from grader.testing import expect, learner

idx, absmax2, offset = learner.double_quantize(torch.tensor([1.0, 2.0, 3.0]), DYNAMIC_CODE)
expect.shape(offset, (), what="the offset of double_quantize")
expect.close(offset, 2.0, atol=1e-6, what="the offset of double_quantize([1, 2, 3])", hint="the mean of the absmax values")
expect.shape(idx, (3,), what="the indices of double_quantize for 3 scales")
expect.close(learner.bits_per_parameter(4, 64), 4.5, atol=1e-12, what="bits_per_parameter(4, 64)", hint="4 bits plus 32 / 64 for a float32 absmax per block")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(12)
for n_values in (64 * 600, 64 * 256 * 2 + 64 * 5, 64 * 7):
    x = torch.randn(n_values, generator=gen) * (0.02 + 0.01 * torch.rand(n_values // 64, generator=gen).repeat_interleave(64))
    packed, state = bnbF.quantize_4bit(x, blocksize=64, quant_type="nf4", compress_statistics=True)
    _, plain = bnbF.quantize_4bit(x, blocksize=64, quant_type="nf4")
    absmax = plain.absmax
    m = absmax.numel()
    idx, absmax2, offset = learner.double_quantize(absmax, DYNAMIC_CODE, 256)
    case = f"{m} scales"
    expect.dtype(idx, torch.uint8, what=f"the indices of double_quantize ({case})")
    expect.shape(idx, (m,), what=f"the indices of double_quantize ({case})")
    expect.shape(absmax2, (-(-m // 256),), what=f"the second-level absmax of double_quantize ({case})", hint="one per block of 256 scales")
    expect.shape(offset, (), what=f"the offset of double_quantize ({case})")
    expect.true(abs(float(offset)) > 0.5 * float(absmax.mean()), f"the offset of double_quantize ({case}) is far from the mean of the scales: "
                "subtract absmax.mean() before quantizing and return it, so that the centred scales use both halves of the signed code")
    expect.close(offset, state.offset, atol=0, rtol=1e-5, what=f"the offset ({case}) compared with bitsandbytes' compress_statistics=True")
    expect.close(absmax2, state.state2.absmax, atol=0, rtol=1e-5, what=f"the second-level absmax ({case}) compared with bitsandbytes'",
                 hint="blockwise_quantize(absmax - offset, code, 256): the absmax of the centred scales")
    diff = (idx.to(torch.int64) - state.absmax.to(torch.int64)).abs()
    expect.true(float((diff > 0).float().mean()) < 0.01 and int(diff.max()) <= 2,
                f"the indices of double_quantize ({case}) differ from bitsandbytes' in {int((diff > 0).sum())} of {m} entries")
    restored = learner.double_dequantize(idx, absmax2, offset, DYNAMIC_CODE, 256)
    expect.shape(restored, (m,), what=f"double_dequantize ({case})")
    expect.close(restored, bnbF.dequantize_blockwise(state.absmax, state.state2) + state.offset, atol=float(absmax.max()) * 0.01, rtol=0,
                 what=f"double_dequantize ({case}) compared with bitsandbytes' dequantized scales", hint="blockwise_dequantize(indices, absmax2, code, ...) + offset")
    expect.true(float(((restored - absmax).abs() / absmax).max()) < 0.02, f"the restored scales ({case}) are off by more than 2 % of a scale: did you add the offset back?")
expect.close(learner.bits_per_parameter(4, 64, double_quant=True), 4.0 + 8 / 64 + 32 / (64 * 256), atol=1e-12, what="bits_per_parameter(4, 64, double_quant=True)",
             hint="k + 8 / B for 8-bit scales + 32 / (B * block_size2) for the float32 second-level scales")
expect.close(learner.bits_per_parameter(8, 2048), 8.015625, atol=1e-12, what="bits_per_parameter(8, 2048)")
expect.close(learner.bits_per_parameter(3, 128, True, 64), 3 + 8 / 128 + 32 / (128 * 64), atol=1e-12, what="bits_per_parameter(3, 128, True, 64)",
             hint="use the block sizes you are given")
### END HIDDEN TESTS

# %% [markdown]
# The memory bill of QLoRA fine-tuning, by your formula, for three models (weights only: the 4-bit
# base, the LoRA adapters at $r = 64$ on all linear layers with their AdamW states at 16 bytes per
# parameter; activations and the paged optimizer's spill come on top).

# %%
def qlora_gigabytes(n_params: float, n_layer: int, width: int, r: int = 64) -> dict:
    """Gigabytes of a bf16 base, a 4-bit double-quantized base and LoRA adapters with AdamW states (a LLaMA-style block: 7 matrices)."""
    n_lora = n_layer * r * (4 * 2 * width + 3 * (width + 8 * width // 3))
    return {"bf16 base": n_params * 2 / 1e9, "NF4 base": n_params * bits_per_parameter(4, 64) / 8 / 1e9,
            "NF4 + DQ base": n_params * bits_per_parameter(4, 64, True) / 8 / 1e9, "LoRA + AdamW": n_lora * 16 / 1e9}


for name, n_params, n_layer, width in [("7B", 6.7e9, 32, 4096), ("33B", 32.5e9, 60, 6656), ("65B", 65.2e9, 80, 8192)]:
    print(f"{name:4s}", "  ".join(f"{k}: {v:6.1f} GB" for k, v in qlora_gigabytes(n_params, n_layer, width).items()))

# %% [markdown]
# ## 8 · QLoRA: a frozen 4-bit base with LoRA adapters
#
# QLoRA's three ingredients: the base weights in NF4 with double quantization, frozen; LoRA adapters
# in 16 or 32 bits on every linear layer; paged optimizers (optimizer states that spill to CPU memory
# on a spike). The forward pass of a quantized layer dequantizes the weight block by block to the
# *compute dtype* and multiplies: $h = \text{dequant}(W_{\text{NF4}})\,x + \frac{\alpha}{r} B A x$.
# Gradients flow *through* the dequantized base to the layers below and into $A$ and $B$; the base
# receives none (it is not a floating-point parameter any more) and never changes.
#
# **The compute dtype.** bitsandbytes dequantizes to `compute_dtype` (`bnb_4bit_compute_dtype` in
# transformers). On GPUs use **bf16**: it has float32's exponent range, so activations of 1e5 and
# gradients of 1e-8 survive; fp16 (max 65 504, smallest normal 6e-5) overflows on LLM activations
# (the outlier features of section 4 reach hundreds in large models) and underflows small gradients
# unless a loss scaler is used. fp16 has 3 more mantissa bits, which rarely matters next to 4-bit
# weights. On the CPU here the compute dtype is float32.
#
# **The course model.** Its projections are GPT-2 `Conv1D` layers (weight stored $(d_{\text{in}},
# d_{\text{out}})$, $y = xW + b$). bitsandbytes quantizes `nn.Linear`-shaped weights
# $(d_{\text{out}}, d_{\text{in}})$, so each `Conv1D` becomes a `bnb.nn.Linear4bit` holding $W^\top$:
# the same function, and the blocks of 64 then run along rows of the mathematical $W$, as they would
# in any LLaMA-style model. transformers' own `BitsAndBytesConfig(load_in_4bit=True)` path does the
# same for GPT-2 (it transposes `Conv1D` weights), but it expects a GPU, so here the replacement is
# done by hand. To build one:
#
# ```python
# layer = bnb.nn.Linear4bit(d_in, d_out, bias=True, compute_dtype=torch.float32, quant_type="nf4")
# layer.weight = bnb.nn.Params4bit(W, requires_grad=False, quant_type="nf4", blocksize=64,
#                                  compress_statistics=True).to("cpu")   # .to() quantizes; True: double quantization
# layer.bias = nn.Parameter(b, requires_grad=False)
# ```
#
# after which `layer.weight` is a uint8 tensor of packed indices with `layer.weight.quant_state`
# (absmax, code, shape). Write the conversion of one layer and of the model (about 10 minutes).

# %% nbgrader={"grade": false, "grade_id": "quantize_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
def to_linear4bit(layer: nn.Module, block_size: int = 64) -> nn.Module:
    """A frozen bnb.nn.Linear4bit (NF4, compute dtype float32) computing the same function as layer (nn.Linear or Conv1D).

    Example:
        >>> q = to_linear4bit(Conv1D(384, 128))
        >>> type(q).__name__, q.weight.dtype, (q.in_features, q.out_features)
        ('Linear4bit', torch.uint8, (128, 384))
    """
    ### BEGIN SOLUTION
    weight = layer.weight.detach()
    W = weight.T if isinstance(layer, Conv1D) else weight          # (d_out, d_in), as nn.Linear stores it
    d_out, d_in = W.shape
    quantized = bnb.nn.Linear4bit(d_in, d_out, bias=layer.bias is not None, compute_dtype=torch.float32, quant_type="nf4")
    quantized.weight = bnb.nn.Params4bit(W.contiguous().float(), requires_grad=False, quant_type="nf4", blocksize=block_size,
                                         compress_statistics=True).to(W.device)      # NF4 + double quantization, as QLoRA
    if layer.bias is not None:
        quantized.bias = nn.Parameter(layer.bias.detach().clone().float(), requires_grad=False)
    return quantized
    ### END SOLUTION


def quantize_model_4bit(model: nn.Module, target_modules: list[str], block_size: int = 64) -> nn.Module:
    """Freeze model and replace, in place, each nn.Linear / Conv1D whose name ends with '.' + a target by to_linear4bit(layer).

    Example:
        >>> model = quantize_model_4bit(new_model(**TINY), ["c_attn", "c_proj", "c_fc"])
        >>> type(model.transformer.h[0].mlp.c_fc).__name__
        'Linear4bit'
    """
    ### BEGIN SOLUTION
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    chosen = [name for name, module in model.named_modules()
              if isinstance(module, (nn.Linear, Conv1D)) and any(name == t or name.endswith("." + t) for t in target_modules)]
    for name in chosen:                                  # collect first: do not change the tree while walking it
        parent_name, _, child_name = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child_name, to_linear4bit(getattr(parent, child_name), block_size))
    return model
    ### END SOLUTION

# %%
from grader.testing import scenario

PROJECTIONS = ["c_attn", "c_proj", "c_fc"]


@scenario
def quantized_model(ns, seed, block_size, tokens):
    """A random GPT2 (TINY sizes) quantized by quantize_model_4bit: its layers, weights, logits, and those of the float model."""
    import torch
    from course_model import new_model
    from transformers.pytorch_utils import Conv1D
    torch.manual_seed(seed)
    model = new_model(n_layer=2, n_embd=64, n_head=2)
    with torch.no_grad():
        float_logits = model(tokens).logits
    float_weights = {n: m.weight.detach().clone() for n, m in model.named_modules() if isinstance(m, Conv1D)}
    model = ns.quantize_model_4bit(model, ["c_attn", "c_proj", "c_fc"], block_size)
    layers = {n: m for n, m in model.named_modules() if n in float_weights}
    with torch.no_grad():
        logits = model(tokens).logits
    return {"float_weights": float_weights, "float_logits": float_logits, "logits": logits,
            "types": {n: type(m).__name__ for n, m in layers.items()},
            "weight_dtypes": {n: str(m.weight.dtype) for n, m in layers.items()},
            "packed": {n: m.weight.detach().reshape(-1).clone() for n, m in layers.items()},
            "nested": {n: bool(getattr(getattr(m.weight, "quant_state", None), "nested", False)) for n, m in layers.items()},
            "absmax": {n: m.weight.quant_state.absmax.detach().clone() for n, m in layers.items() if getattr(m.weight, "quant_state", None) is not None},
            "trainable": sorted(n for n, p in model.named_parameters() if p.requires_grad)}


def dequantized_reference_logits(float_weights, seed, block_size, tokens):
    """The judge's own: the same random GPT2 with each Conv1D weight replaced by bitsandbytes' NF4 round trip of W^T."""
    torch.manual_seed(seed)
    model = new_model(n_layer=2, n_embd=64, n_head=2)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, Conv1D):
                W = float_weights[name].T.contiguous()
                packed, state = bnbF.quantize_4bit(W, blocksize=block_size, quant_type="nf4", compress_statistics=True)
                module.weight.copy_(bnbF.dequantize_4bit(packed, state).T)
        return model(tokens).logits

# %% nbgrader={"grade": true, "grade_id": "quantize_model_4bit", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""quantize_model_4bit turns every projection of a GPT2 into a frozen NF4 Linear4bit holding W^T, its packed weights and absmax equal bitsandbytes' quantize_4bit of W^T, and its logits equal a float model with the NF4-dequantized weights"""
from grader.testing import expect, learner

tokens = torch.randint(0, 65, (2, 12), generator=torch.Generator().manual_seed(13))
got = quantized_model.learner(0, 64, tokens)
expect.equal(sorted(set(got["types"].values())), ["Linear4bit"], what="the types of the layers attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj after quantize_model_4bit",
             hint="replace each targeted Conv1D by to_linear4bit(layer) with setattr on its parent")
expect.equal(sorted(set(got["weight_dtypes"].values())), ["torch.uint8"], what="the dtype of the quantized layers' weights",
             hint="Params4bit quantizes when moved with .to(device): the weight becomes packed uint8")
expect.shape(got["logits"], (2, 12, 65), what="the logits of the quantized model")
### BEGIN HIDDEN TESTS
expect.equal(got["trainable"], [], what="the trainable parameters of the quantized model", hint="freeze every parameter of the model (the base of QLoRA is frozen)")
for seed, block_size in [(0, 64), (1, 128)]:
    got = quantized_model.learner(seed, block_size, tokens)
    expect.shape(got["logits"], (2, 12, 65), what=f"the logits of the quantized model (seed {seed})")
    for name, W in got["float_weights"].items():
        expect.true(name in got["packed"] and name in got["absmax"], f"{name} has no quantized weight with a quant_state after quantize_model_4bit")
        d_in, d_out = W.shape
        packed, state = bnbF.quantize_4bit(W.T.contiguous(), blocksize=block_size, quant_type="nf4", compress_statistics=True)
        expect.shape(got["packed"][name], (d_in * d_out // 2,), what=f"the packed weight of {name}", hint="a Linear4bit of the right size: in_features = d_in, out_features = d_out")
        transposed, _ = bnbF.quantize_4bit(W.contiguous(), blocksize=block_size, quant_type="nf4")
        same = float((got["packed"][name].to(torch.int64) == packed.reshape(-1).to(torch.int64)).float().mean())
        wrong_way = float((got["packed"][name].to(torch.int64) == transposed.reshape(-1).to(torch.int64)).float().mean())
        expect.true(same > 0.999 or wrong_way < 0.999, f"{name}: the Linear4bit holds the Conv1D weight untransposed; a Conv1D stores (d_in, d_out), Linear4bit needs W.T (d_out, d_in)")
        expect.true(same > 0.999, f"only {100 * same:.1f} % of the packed bytes of {name} (block size {block_size}) equal bitsandbytes' quantize_4bit of W^T: "
                    "quantize W.T as NF4 with the given block size")
        expect.shape(got["absmax"][name], tuple(state.absmax.shape), what=f"the absmax of {name}'s quant_state", hint="blocksize=block_size in Params4bit")
        expect.true(got["nested"][name], f"{name}'s scales are not double-quantized: Params4bit(..., compress_statistics=True), as QLoRA")
    want = dequantized_reference_logits(got["float_weights"], seed, block_size, tokens)
    expect.close(got["logits"], want, atol=1e-4, rtol=1e-4, what=f"the logits of the quantized model (seed {seed}, block size {block_size}) compared with a float model holding the NF4-dequantized weights",
                 hint="same function as the Conv1D: weight W.T, the same bias, compute dtype float32")
    expect.shape(got["float_logits"], (2, 12, 65), what=f"the logits of the float model before quantization (seed {seed})")
    expect.true(float((got["logits"] - got["float_logits"]).abs().max()) > 1e-6, "the quantized model's logits equal the float model's exactly: the weights were not quantized")
### END HIDDEN TESTS

# %% [markdown]
# ### 8.1 Adapters on the 4-bit base, and a training step
#
# peft puts LoRA adapters around `Linear4bit` layers as around `nn.Linear` (`LoraConfig` with the
# same `target_modules`); the adapters are ordinary float32 parameters. Write `train_qlora` (about
# 10 minutes): wrap the quantized model with `get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha,
# target_modules=PROJECTIONS, lora_dropout=0.0))`, build AdamW on the parameters that require
# gradients only, and run `steps` steps on random windows of `data` (`batch_of_windows`, a generator
# seeded with `seed`), returning the peft model and the list of losses. peft and transformers warn on
# stderr about deprecated names; wrap the setup in `warnings.catch_warnings()` with
# `warnings.simplefilter("ignore")`.
#
# The data: Shakespeare in capital letters (`TEXT.upper()`), a "new task" every character of which
# is in the course model's vocabulary, that it has rarely seen (its loss starts high) and learns quickly.

# %% nbgrader={"grade": false, "grade_id": "train_qlora", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_qlora(model: nn.Module, data: torch.Tensor, steps: int, lr: float = 3e-3, r: int = 8, alpha: float = 16.0,
                batch_size: int = 8, length: int = 64, seed: int = 0) -> tuple[nn.Module, list[float]]:
    """Put peft LoRA adapters on the PROJECTIONS of a model from quantize_model_4bit and train only them with AdamW.

    Args:
        model: a GPT2LMHeadModel whose projections are Linear4bit (frozen).
        data: LongTensor (N,) of tokens; each step draws batch_size windows of length + 1 (batch_of_windows,
            torch.Generator().manual_seed(seed)).

    Returns:
        (peft_model, losses): the PeftModel and the training loss (a float) before each of the steps updates.

    Example:
        >>> peft_model, losses = train_qlora(quantize_model_4bit(new_model(**TINY), PROJECTIONS), encode(TEXT[:5000]), steps=3)
        >>> len(losses)
        3
    """
    ### BEGIN SOLUTION
    from peft import LoraConfig, get_peft_model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, target_modules=PROJECTIONS, lora_dropout=0.0))
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    peft_model.train()
    losses = []
    for _ in range(steps):
        inputs, targets = batch_of_windows(data, batch_size, length, generator)
        loss = lm_loss(peft_model, inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return peft_model, losses
    ### END SOLUTION

# %%
@scenario
def qlora_run(ns, steps, lr, seed, trained=True):
    """The course model (or a TINY random one) quantized and trained with train_qlora on capitalised Shakespeare: what changed, the losses."""
    import torch
    from course_model import encode, load_course_model, new_model
    torch.manual_seed(seed)
    model = load_course_model() if trained else new_model(n_layer=2, n_embd=64, n_head=2)
    model = ns.quantize_model_4bit(model, ["c_attn", "c_proj", "c_fc"], 64)
    data = encode(ns.TEXT[:200_000].upper())
    held = encode(ns.TEXT[-20_000:].upper())
    before = {n: t.detach().clone() for n, t in model.state_dict().items()}
    with torch.no_grad():
        windows = held[torch.arange(8)[:, None] * 1000 + torch.arange(129)]
        held_before = float(ns.lm_loss(model, windows[:, :-1], windows[:, 1:]))
    peft_model, losses = ns.train_qlora(model, data, steps, lr=lr, seed=seed)
    with torch.no_grad():
        held_after = float(ns.lm_loss(peft_model, windows[:, :-1], windows[:, 1:]))
    after = {}
    for n, t in peft_model.state_dict().items():
        after[n.replace("base_model.model.", "").replace(".base_layer", "")] = t
    changed = sorted(n for n, t in after.items() if n in before and (t.shape != before[n].shape or not torch.equal(t, before[n])))
    lora = sorted(n for n in after if "lora_" in n)
    lora_moved = sorted(n for n in lora if "lora_B" in n and float(after[n].abs().max()) > 0)
    trainable = sorted(n for n, p in peft_model.named_parameters() if p.requires_grad)
    types = sorted({type(m).__name__ for n, m in peft_model.named_modules() if n.endswith(("c_attn.base_layer", "c_proj.base_layer", "c_fc.base_layer"))})
    return {"losses": [float(v) for v in losses], "changed": changed, "missing": sorted(n for n in before if n not in after), "lora": lora, "lora_moved": lora_moved,
            "trainable": trainable, "base_types": types, "held_before": held_before, "held_after": held_after}

# %% grader={"time_limit": 40} nbgrader={"grade": true, "grade_id": "qlora_step", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""train_qlora on the 4-bit course model: only the LoRA parameters are trainable and change, the packed 4-bit base and everything else stay bit for bit the same and 4-bit, and a few dozen steps lower the held-out loss on capitalised Shakespeare by a margin calibrated on the reference"""
from grader.testing import expect, learner

got = qlora_run.learner(3, 3e-3, 0, False)
expect.equal(len(got["losses"]), 3, what="the number of losses train_qlora returns for steps=3", hint="append loss.item() once per step")
expect.true(all(math.isfinite(v) for v in got["losses"]), "train_qlora returned a loss that is not finite")
expect.true(len(got["lora"]) > 0, "the model train_qlora returns has no lora_ parameters: wrap it with get_peft_model(model, LoraConfig(...))")
### BEGIN HIDDEN TESTS
expect.true(all("lora_" in n for n in got["trainable"]) and len(got["trainable"]) > 0,
            f"train_qlora leaves {sum('lora_' not in n for n in got['trainable'])} non-LoRA parameters trainable: the base stays frozen, only the adapters train")
got = qlora_run.learner(25, 3e-3, 0)
expect.equal(got["base_types"], ["Linear4bit"], what="the layers under the adapters after training", hint="the base layers stay bnb Linear4bit: do not dequantize or replace them")
expect.equal(got["missing"], [], what="state-dict entries of the quantized model that are gone after train_qlora")
base_changed = [n for n in got["changed"] if "lora_" not in n]
expect.true(not base_changed, f"train_qlora changed {len(base_changed)} tensors of the frozen base (e.g. {base_changed[:1]}): "
            "optimise only the parameters that require gradients (the adapters)")
expect.true(len(got["lora_moved"]) == 16, f"only {len(got['lora_moved'])} of the 16 lora_B matrices moved from zero: step the optimizer over all adapter parameters")
expect.shape(got["held_before"], (), what="the held-out loss before train_qlora")
expect.shape(got["held_after"], (), what="the held-out loss after train_qlora")
expect.true(got["held_after"] < got["held_before"] - 0.3,
            f"25 QLoRA steps at lr 3e-3 moved the held-out loss on capitalised text from {got['held_before']:.2f} to {got['held_after']:.2f}, "
            "less than the reference does: zero the gradients each step, backward, step AdamW on the adapters, a fresh batch each step")
expect.true(float(np.mean(got["losses"][-5:])) < float(np.mean(got["losses"][:5])) - 0.3, "the training loss of train_qlora did not fall over 25 steps")
### END HIDDEN TESTS

# %% [markdown]
# The real run (about 10 seconds): the course model in NF4, rank 8 adapters on all projections,
# 60 steps on capitalised Shakespeare. Then the checks you would run on a GPU job: the base is still
# 4-bit, the adapters are the only trained tensors, and what the memory of the frozen base is.

# %%
qlora_base = quantize_model_4bit(load_course_model(), PROJECTIONS)
shouted = encode(TEXT[:200_000].upper())
shouted_held = encode(TEXT[-20_000:].upper())
print(f"held-out loss on capitals before: {held_out_loss(qlora_base, shouted_held):.3f}")
start = time.time()
qlora_model, qlora_losses = train_qlora(qlora_base, shouted, steps=60)
print(f"trained in {time.time() - start:.1f} s; held-out loss on capitals after: {held_out_loss(qlora_model, shouted_held):.3f}")
quantized_layers = [m for m in qlora_model.modules() if isinstance(m, bnb.nn.Linear4bit)]
print(f"{len(quantized_layers)} Linear4bit layers, weight dtypes {sorted({str(m.weight.dtype) for m in quantized_layers})}")
trainable = sum(p.numel() for p in qlora_model.parameters() if p.requires_grad)
base_bytes = sum(m.weight.numel() + m.weight.quant_state.absmax.numel() for m in quantized_layers)   # packed bytes + 8-bit scales (double quantization)
float_bytes = sum(4 * m.in_features * m.out_features for m in quantized_layers)
print(f"trainable (LoRA) parameters: {trainable:,}; projection weights {float_bytes / 1e6:.2f} MB in float32 -> {base_bytes / 1e6:.2f} MB in NF4 with 8-bit scales")
plt.figure(figsize=(6, 3.4))
plt.plot(qlora_losses)
plt.xlabel("step"); plt.ylabel("training loss"); plt.title("QLoRA on the course model: capitalised Shakespeare")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## Practical considerations
#
# **Failure modes practitioners hit.**
#
# | problem | symptom | what to do |
# |---|---|---|
# | one scale per tensor with outliers | int4/int8 model's perplexity explodes | per-row (int8), blocks of 64 (4-bit), LLM.int8()'s fp16 outlier columns for activations |
# | fp16 compute dtype | NaN or inf losses in QLoRA, mostly in large models | `bnb_4bit_compute_dtype=torch.bfloat16` |
# | merging LoRA into 4-bit weights and re-quantizing | the fine-tuning silently lost (`24-lora`, 7.3) | keep adapters separate, or dequantize to bf16 and merge there |
# | quantizing embeddings, `lm_head`, layer norms | outsized damage for few bytes saved | leave them in 16 bits (bitsandbytes and transformers do by default) |
# | zero point with the wrong sign or not an integer | a shifted, clipped range; 0 not exact | $z = -\operatorname{round}(x_{\min}/s)$, clamped to the code range |
# | symmetric code with $-128$ | $-x$ does not quantize to $-q$; absmax / 128 clips the maximum | use $\pm 127$ for weights |
# | double quantization without the mean | half the 8-bit code unused for the scales | subtract the mean, add it back |
# | expecting a speed-up on every device | 4-bit is *slower* than bf16 on a CPU, and for large batches on a GPU | the gain is memory and memory-bound decoding; compute happens in the compute dtype |
# | `prepare_model_for_kbit_training` forgotten with gradient checkpointing | no gradient reaches the adapters of early layers | enable input gradients (peft's helper does) |
#
# **Hyperparameters that matter.** Block size (64 for 4-bit weights; smaller is better but costs
# $32/B$ bits, which double quantization makes cheap); code (NF4 for normally distributed weights,
# FP4 rarely); compute dtype (bf16); for QLoRA the LoRA rank and, per the paper, adapters on *all*
# linear layers, which matter more than $r$ for recovering 16-bit fine-tuning quality.
#
# **Beyond this notebook.** GPTQ and AWQ quantize *post-training* with calibration data (GPTQ
# corrects each column's rounding error in the not-yet-quantized columns using the inverse Hessian;
# AWQ scales salient input channels before rounding); SmoothQuant moves activation outliers into
# the weights by a per-channel rescaling; FP8 (E4M3, E5M2) training on H100-class GPUs; 1.58-bit
# ternary models trained quantized from the start (BitNet).

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | uniform error | $\mathbb{E}[e^2] = \Delta^2/12$, relative output error $\approx \Delta^2 / (12\sigma^2)$ | `((x_hat - x) ** 2).mean()` | budgeting bits: 6 dB per bit |
# | absmax int8 | $s = \max\lvert x \rvert/127$, $q = \operatorname{round}(x/s)$ | `torch.round(x / s).clamp(-127, 127).to(torch.int8)` | LLM.int8() weights (per row) and activations (per token) |
# | zero-point int8 | $s = (x_{\max}-x_{\min})/255$, $z = -\operatorname{round}(x_{\min}/s)$ | `clamp(round(x / s) + z, 0, 255)` | activations after ReLU/GELU; PyTorch's `quint8` |
# | outlier features | a few dimensions of size 20-60 from 6.7B on | fp16 for columns with $\lvert x\rvert > 6$ | `Linear8bitLt(threshold=6.0)` |
# | blockwise absmax | one $s_b$ per $B$ values, last block padded | `reshape(-1, B).abs().amax(1)`, `bucketize(x / s, midpoints)` | bitsandbytes 4-bit weights ($B$ = 64), 8-bit optimizers |
# | NF4 | $\Phi^{-1}$ of evenly spaced $p$: 8 positive, 7 negative, exact 0, scaled to $[-1, 1]$ | `norm.ppf(np.linspace(0.9677, 0.5, 9)[:-1])` | QLoRA base weights |
# | 4-bit packing | `(i[2j] << 4) \| i[2j+1]` | two indices per uint8 | every 4-bit format |
# | double quantization | $4 + 8/64 + 32/(64 \cdot 256) = 4.127$ bits | `blockwise_quantize(absmax - absmax.mean(), code, 256)` | `bnb_4bit_use_double_quant=True` |
# | QLoRA | $h = \text{dequant}(W_{\text{NF4}})x + \frac{\alpha}{r}BAx$, base frozen | `Linear4bit` + `get_peft_model(model, LoraConfig(...))` | fine-tuning 7B-65B models on one GPU |

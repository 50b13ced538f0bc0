# %% [markdown]
# # 18 · LLaMA: RMSNorm, SwiGLU, grouped-query attention and RoPE
#
# LLaMA (Touvron et al., 2023) is a GPT with four parts swapped for better ones, and nothing else.
# One LLaMA block reads a residual stream $x \in \mathbb{R}^{T \times D}$ and writes back two
# updates, both computed from an RMS-normalised copy of the stream:
#
# $$\boxed{\;h = x + \operatorname{GQA}_{\text{RoPE}}\big(\operatorname{RMSNorm}(x)\big), \qquad
# y = h + W_{\text{down}}\Big(\operatorname{SiLU}\big(W_{\text{gate}}\,\tilde h\big) \odot W_{\text{up}}\,\tilde h\Big),
# \quad \tilde h = \operatorname{RMSNorm}(h),
# \qquad \operatorname{RMSNorm}(x) = \frac{x}{\sqrt{\operatorname{mean}(x^2) + \varepsilon}} \odot g\;}$$
#
# Why it matters for LLMs: this block is the default architecture of open-weight language models.
# Llama 2 and 3, Mistral, Qwen, Gemma and DeepSeek's dense models are all variations of it; a
# reader who knows it line by line can read their code and their checkpoints.
#
# **What you will build:** RMSNorm, exactly as `torch.nn.RMSNorm` and transformers' `LlamaRMSNorm`
# compute it (half precision included); the SwiGLU feed-forward layer and LLaMA's rule for its
# width; the rotary position embedding (RoPE) in the layout transformers uses; grouped-query
# attention with shared key/value heads; and from these a LLaMA block and a whole model whose
# parameters carry the names of transformers' `LlamaForCausalLM`, so that your weights load into
# it and both give the same logits. Last, the parameter count of real LLaMA models from their
# configuration numbers.

# %% [markdown]
# ## Prerequisites
#
# - `13-attention`: scaled dot-product attention, the causal mask, splitting and merging heads.
# - `16-gpt`: the decoder-only GPT whose block this assignment modifies, the causal LM loss.
# - `14-positions`: rotary embeddings in depth (section 4 recalls what you need).
# - `07-regularization`: layer norm, the normalisation RMSNorm simplifies.
#
# Packages: `torch` (CPU is enough), `numpy`, `matplotlib`, and `transformers`, only as the
# reference: its LLaMA classes are built here from a configuration with random weights, and
# nothing is ever downloaded. Tests run in `float64`, so most comparisons hold to about $10^{-12}$.
#
# **Shapes and names used throughout.** $B$ batch size, $T$ sequence length, $D$ model width
# (`hidden_size`), $H$ query heads (`num_attention_heads`), $H_{kv}$ key/value heads
# (`num_key_value_heads`), $d_h = D / H$ head width, $g = H / H_{kv}$ query heads per key/value
# head, $F$ the feed-forward width (`intermediate_size`), $L$ layers (`num_hidden_layers`), $V$
# vocabulary size. The names in brackets are the fields of transformers' `LlamaConfig`; this
# notebook uses the same names, so a configuration here is a configuration there.

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = torch.float64  # tests run in float64: exact enough to compare with transformers to 1e-12

# %% [markdown]
# ## 1 · From GPT to LLaMA: four changes
#
# | part | GPT-2 (`16-gpt`) | LLaMA | why |
# |---|---|---|---|
# | normalisation | LayerNorm (subtract mean, divide by std, gain and bias) | **RMSNorm** (divide by root mean square, gain only) | as good, cheaper: one reduction, no bias |
# | feed-forward | $W_2\,\operatorname{GELU}(W_1 x)$, width $4D$ | **SwiGLU** $W_{\text{down}}(\operatorname{SiLU}(W_{\text{gate}}x) \odot W_{\text{up}}x)$, width $\approx \frac{8}{3}D$ | better loss for the same parameters and compute |
# | attention | $H$ heads, each with its own keys and values | **grouped-query attention**: $H_{kv} \le H$ key/value heads shared by groups of query heads (Llama 2 70B, Llama 3) | a KV cache $H/H_{kv}$ times smaller at generation time |
# | positions | a learned vector added to each token embedding | **RoPE**: queries and keys rotated by an angle proportional to their position | attention scores depend on relative positions; no table of positions to learn |
#
# Two smaller differences: no linear layer has a bias, and the output projection `lm_head` is a
# matrix of its own, not the transposed embedding (the small Llama 3.2 models tie them again). The
# block keeps GPT-2's *pre-norm* residual layout: each sub-layer reads a normalised copy of the
# stream and adds its result to the unnormalised stream.
#
# The reference implementation here is transformers' `LlamaForCausalLM`. The cell below defines
# two helpers used by the demos and the tests: one builds that model from one of this notebook's
# configurations (random weights, nothing downloaded), the other renames your model's parameters
# to its names. Your model will use transformers' names without the `model.` prefix that
# `LlamaForCausalLM` puts in front of everything except `lm_head`:
#
# | your parameter | shape | `LlamaForCausalLM` state-dict key |
# |---|---|---|
# | `embed_tokens.weight` | $(V, D)$ | `model.embed_tokens.weight` |
# | `layers.{i}.input_layernorm.weight` | $(D,)$ | `model.layers.{i}.input_layernorm.weight` |
# | `layers.{i}.self_attn.q_proj.weight` | $(H d_h, D)$ | `model.layers.{i}.self_attn.q_proj.weight` |
# | `layers.{i}.self_attn.k_proj.weight`, `v_proj.weight` | $(H_{kv} d_h, D)$ | `model.layers.{i}.self_attn.k_proj.weight`, `...v_proj.weight` |
# | `layers.{i}.self_attn.o_proj.weight` | $(D, H d_h)$ | `model.layers.{i}.self_attn.o_proj.weight` |
# | `layers.{i}.post_attention_layernorm.weight` | $(D,)$ | `model.layers.{i}.post_attention_layernorm.weight` |
# | `layers.{i}.mlp.gate_proj.weight`, `up_proj.weight` | $(F, D)$ | `model.layers.{i}.mlp.gate_proj.weight`, `...up_proj.weight` |
# | `layers.{i}.mlp.down_proj.weight` | $(D, F)$ | `model.layers.{i}.mlp.down_proj.weight` |
# | `norm.weight` | $(D,)$ | `model.norm.weight` |
# | `lm_head.weight` | $(V, D)$ | `lm_head.weight` |

# %%
TINY = dict(vocab_size=64, hidden_size=32, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0)


def to_transformers_state_dict(state_dict: dict) -> dict:
    """Rename this notebook's parameter names to LlamaForCausalLM's: 'model.' in front of all but lm_head.

    Args:
        state_dict: {name: tensor}, the state_dict() of a Llama of section 6.

    Returns:
        {name: tensor} with the same tensors under transformers' names (the table above).
    """
    return {(name if name.startswith("lm_head.") else "model." + name): tensor for name, tensor in state_dict.items()}


def transformers_llama(config: dict, state_dict: dict | None = None, dtype: torch.dtype = DTYPE) -> nn.Module:
    """transformers' LlamaForCausalLM built from a configuration of this notebook, in eval mode (nothing is downloaded).

    Args:
        config: the keyword arguments of Llama (section 6), e.g. TINY; they are LlamaConfig's field names.
        state_dict: optional weights under this notebook's names (a Llama's state_dict()); random weights if None.
        dtype: the model's floating-point dtype.

    Returns:
        A LlamaForCausalLM; model(tokens).logits are the logits (B, T, V).
    """
    from transformers import LlamaConfig, LlamaForCausalLM  # imported when first used: it takes a few seconds

    model = LlamaForCausalLM(LlamaConfig(**config)).to(dtype)
    if state_dict is not None:
        model.load_state_dict(to_transformers_state_dict(state_dict), strict=True)
    return model.eval()


# %% [markdown]
# The names and shapes of a tiny `LlamaForCausalLM` (two layers; the second one has the same names
# with `layers.1`). Note the shapes of `k_proj` and `v_proj`: with 4 query heads and 2 key/value
# heads of width 8, they produce 16 features where `q_proj` produces 32.

# %%
hf_tiny = transformers_llama(TINY)
for name, tensor in hf_tiny.state_dict().items():
    if ".layers.1." not in name:
        print(f"{name:45s} {tuple(tensor.shape)}")
print("parameters:", sum(p.numel() for p in hf_tiny.parameters()))

# %% [markdown]
# ## 2 · RMSNorm
#
# Layer norm (`07-regularization`) recentres and rescales each token's vector:
# $\operatorname{LN}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} \odot g + b$ with $\mu$ and
# $\sigma^2$ the mean and variance of its $D$ features. Zhang and Sennrich (2019) observed that the
# recentring is not what makes it work and kept only the rescaling. **RMSNorm** divides by the
# root mean square of the features:
#
# $$\operatorname{RMSNorm}(x) = \frac{x}{\operatorname{RMS}(x)} \odot g, \qquad
# \operatorname{RMS}(x) = \sqrt{\frac{1}{D}\sum_{i=1}^{D} x_i^2 + \varepsilon},$$
#
# with a learned gain $g \in \mathbb{R}^D$ (the parameter `weight`, initialised to ones) and no bias.
#
# **What this means.** After RMSNorm every token's vector has root mean square 1 (before the
# gain), so it lies on a sphere of radius $\sqrt{D}$; its direction, including any common offset of
# its features, is kept. LayerNorm also removes the offset: it projects onto the hyperplane of
# zero-mean vectors first. RMSNorm is invariant to rescaling, $\operatorname{RMSNorm}(\alpha x) =
# \operatorname{RMSNorm}(x)$ for $\alpha > 0$ (up to $\varepsilon$), but not to shifting; it needs
# one reduction over the features instead of two.
#
# **Where $\varepsilon$ goes.** Inside the square root. For a vector near zero,
# $x / \sqrt{\operatorname{mean}(x^2) + \varepsilon}$ tends smoothly to $x/\sqrt{\varepsilon}$, a
# bounded gain with bounded gradients. Written as $x / (\sqrt{\operatorname{mean}(x^2)} + \varepsilon)$
# it is a different function (for tiny vectors it blows up to $x/\varepsilon$), and it does not
# match a pretrained model's numbers.
#
# **Precision.** In half precision $x^2$ overflows: float16 cannot hold numbers above 65504, so any
# feature with $|x| > 256$ makes $\operatorname{mean}(x^2)$ infinite and the output zero.
# Activations of that size are common in the residual stream of real LLMs (a few "massive
# activations" reach thousands). `LlamaRMSNorm` therefore computes in float32 and casts the
# normalised vector back to the input's dtype before multiplying by the gain. A worked example:

# %%
x_demo = torch.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=DTYPE)
for shift in [0.0, 10.0]:
    shifted = x_demo + shift
    print(f"x + {shift:4}: RMSNorm {F.rms_norm(shifted, (4,)).numpy().round(4)}   "
          f"LayerNorm {F.layer_norm(shifted, (4,)).numpy().round(4)}")
big = torch.tensor([[300.0, -400.0, 500.0, 1000.0]], dtype=torch.float16)
print("mean(x^2) in float16:", big.pow(2).mean().item(), "   in float32:", big.float().pow(2).mean().item())

# %% [markdown]
# LayerNorm gives the same answer for $x$ and $x + 10$; RMSNorm does not, because the offset is
# part of the direction it keeps. The picture in two dimensions: RMSNorm puts every point on the
# circle of radius $\sqrt 2$ in its own direction; LayerNorm of a 2-vector can only give
# $\pm(1, -1)$.

# %%
gen_demo = torch.Generator().manual_seed(0)
cloud = torch.randn(300, 2, generator=gen_demo, dtype=DTYPE) * torch.tensor([1.5, 0.6], dtype=DTYPE) + torch.tensor([1.0, 2.0], dtype=DTYPE)
fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharex=True, sharey=True)
for ax, (title, points) in zip(axes, [("input", cloud), ("RMSNorm", F.rms_norm(cloud, (2,))),
                                      ("LayerNorm", F.layer_norm(cloud, (2,), eps=1e-5))]):
    ax.scatter(points[:, 0], points[:, 1], s=8, c=torch.atan2(cloud[:, 1] - 2.0, cloud[:, 0] - 1.0), cmap="hsv")
    ax.add_patch(plt.Circle((0, 0), math.sqrt(2), fill=False, ls=":", color="grey"))
    ax.axhline(0, color="lightgrey", lw=0.5)
    ax.axvline(0, color="lightgrey", lw=0.5)
    ax.set(title=title, aspect="equal", xlim=(-4, 5), ylim=(-3, 5))
fig.suptitle("RMSNorm keeps each vector's direction; LayerNorm first removes the mean of its features")
fig.tight_layout()
plt.show()

# %% [markdown]
# Now write RMSNorm (about 10 minutes). Normalise over the last axis; compute in float32 when the
# input is float16 or bfloat16 (`torch.promote_types(x.dtype, torch.float32)` gives the dtype to
# compute in: float32 for those, float64 for float64), cast the normalised vector back to the input
# dtype, then multiply by the gain, in that order, as `LlamaRMSNorm` does.

# %% nbgrader={"grade": false, "grade_id": "rms_norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Root-mean-square normalisation over the last axis, with a learned gain.

    Args:
        x: float tensor (..., D), any float dtype (float16, bfloat16, float32, float64).
        weight: the gain g, tensor (D,) of x's dtype.
        eps: added to the mean of the squares, inside the square root.

    Returns:
        weight * (x / sqrt(mean(x**2, last axis) + eps)), shape (..., D), x's dtype. The
        normalisation is computed in float32 for float16/bfloat16 inputs (no overflow for
        |x| up to 1e4), cast back to x's dtype, then multiplied by weight; the result equals
        torch.nn.functional.rms_norm(x, (D,), weight, eps) and transformers' LlamaRMSNorm.

    Example:
        >>> rms_norm(torch.tensor([[3.0, 4.0]]), torch.ones(2), 0.0)   # RMS of (3, 4) is sqrt(12.5)
        tensor([[0.8485, 1.1314]])
    """
    ### BEGIN SOLUTION
    compute_dtype = torch.promote_types(x.dtype, torch.float32)   # float16/bfloat16 -> float32, float64 stays
    x_wide = x.to(compute_dtype)
    mean_square = x_wide.pow(2).mean(dim=-1, keepdim=True)
    normalised = x_wide * torch.rsqrt(mean_square + eps)          # eps inside the square root
    return weight * normalised.to(x.dtype)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "rms_norm_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""RMSNorm of two hand-computed rows: each row divided by its root mean square, times the gain, in the input's shape and dtype"""
from grader.testing import learner, expect

x = torch.tensor([[3.0, 4.0], [1.0, 1.0]], dtype=DTYPE)
weight = torch.tensor([1.0, 2.0], dtype=DTYPE)
y = learner.rms_norm(x, weight, 0.0)
expect.shape(y, (2, 2), what="rms_norm of a (2, 2) input", hint="RMSNorm keeps the shape of its input")
expect.dtype(y, DTYPE, what="rms_norm of a float64 input", hint="keep the input's dtype")
rms = math.sqrt(12.5)
expect.close(y, torch.tensor([[3.0 / rms, 8.0 / rms], [1.0, 2.0]], dtype=DTYPE), atol=1e-12,
             what="rms_norm([[3, 4], [1, 1]], weight=[1, 2], eps=0)",
             hint="divide each row by the square root of the mean of its squares (last axis), then multiply by weight; "
                  "RMSNorm does not subtract the mean")

# %% nbgrader={"grade": true, "grade_id": "rms_norm_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""RMSNorm matches torch.nn.functional.rms_norm, torch.nn.RMSNorm and transformers' LlamaRMSNorm, on inputs with a non-zero mean, on tiny inputs where eps matters, with one feature and with an all-zero row"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(1)
x = torch.randn(2, 3, 8, generator=gen, dtype=DTYPE)
y = learner.rms_norm(x, torch.ones(8, dtype=DTYPE), 0.0)
expect.shape(y, (2, 3, 8), what="rms_norm of a (2, 3, 8) input")
expect.close(y.pow(2).mean(-1).sqrt(), torch.ones(2, 3, dtype=DTYPE), atol=1e-12, what="the root mean square of each normalised row (gain 1, eps 0)",
             hint="normalise over the last axis (the D features of one token), not over the batch or the tokens")
### BEGIN HIDDEN TESTS
from transformers.models.llama.modeling_llama import LlamaRMSNorm

hint = "weight * x * rsqrt(mean(x**2 over the last axis) + eps): no mean subtracted, eps inside the square root"
weight = 1.0 + 0.3 * torch.randn(8, generator=gen, dtype=DTYPE)

# tiny inputs: here eps is comparable to mean(x^2), so where it goes shows
tiny = 1e-3 * torch.randn(4, 8, generator=gen, dtype=DTYPE)
expect.close(learner.rms_norm(tiny, weight, 1e-5), F.rms_norm(tiny, (8,), weight, 1e-5), atol=1e-12, rtol=1e-10,
             what="rms_norm of inputs of size 1e-3 with eps=1e-5", hint="eps goes inside the square root: x / sqrt(mean(x**2) + eps)")

for shift, case in [(0.0, "random inputs"), (5.0, "inputs with mean 5 (RMSNorm does not subtract the mean)")]:
    expect.close(learner.rms_norm(x + shift, weight, 1e-6), F.rms_norm(x + shift, (8,), weight, 1e-6), atol=1e-12, rtol=1e-12,
                 what=f"rms_norm on {case}, compared with F.rms_norm", hint=hint)

module = nn.RMSNorm(8, eps=1e-5, dtype=DTYPE)
llama_norm = LlamaRMSNorm(8, eps=1e-5)   # LlamaRMSNorm always normalises in float32: compare in float32
x32, weight32 = x.float(), weight.float()
with torch.no_grad():
    module.weight.copy_(weight)
    llama_norm.weight.copy_(weight32)
    expect.close(learner.rms_norm(x, weight, 1e-5), module(x), atol=1e-12, rtol=1e-12, what="rms_norm compared with nn.RMSNorm", hint=hint)
    got32 = learner.rms_norm(x32, weight32, 1e-5)
    expect.dtype(got32, torch.float32, what="rms_norm of a float32 input")
    expect.close(got32, llama_norm(x32), atol=1e-6, rtol=1e-6, what="rms_norm of float32 inputs compared with transformers' LlamaRMSNorm", hint=hint)

# one feature, and a row of zeros
single = torch.tensor([[2.0], [-0.5]], dtype=DTYPE)
expect.close(learner.rms_norm(single, torch.tensor([3.0], dtype=DTYPE), 1e-6), F.rms_norm(single, (1,), torch.tensor([3.0], dtype=DTYPE), 1e-6),
             atol=1e-12, what="rms_norm with a single feature (D=1)", hint=hint)
zeros = learner.rms_norm(torch.zeros(2, 8, dtype=DTYPE), weight, 1e-6)
expect.finite(zeros, what="rms_norm of an all-zero row", hint="eps inside the square root keeps the division finite")
expect.close(zeros, torch.zeros(2, 8, dtype=DTYPE), atol=0, what="rms_norm of an all-zero row")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "rms_norm_half_precision", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""RMSNorm of float16 and bfloat16 activations as large as 1e3 stays finite, keeps the dtype and matches transformers' LlamaRMSNorm (normalised in float32)"""
from grader.testing import learner, expect

big = torch.tensor([[300.0, -400.0, 500.0, 1000.0]], dtype=torch.float16)
y = learner.rms_norm(big, torch.ones(4, dtype=torch.float16), 1e-6)
expect.dtype(y, torch.float16, what="rms_norm of a float16 input", hint="cast the normalised vector back to the input's dtype")
expect.finite(y, what="rms_norm of float16 inputs up to 1000")
expect.close(y.float().pow(2).mean(-1).sqrt(), torch.ones(1), atol=2e-3, what="the root mean square of a normalised float16 row",
             hint="x**2 overflows float16 above 256: compute the mean of the squares in float32")
### BEGIN HIDDEN TESTS
from transformers.models.llama.modeling_llama import LlamaRMSNorm

gen = torch.Generator().manual_seed(2)
hint = "normalise in float32 (x.to(torch.float32)), cast the result back to the input dtype, then multiply by the gain"
for dtype, scale in [(torch.float16, 1000.0), (torch.bfloat16, 1000.0), (torch.float16, 1.0)]:
    x = (scale * torch.randn(3, 5, 16, generator=gen)).to(dtype)
    weight = (1.0 + 0.3 * torch.randn(16, generator=gen)).to(dtype)
    llama_norm = LlamaRMSNorm(16, eps=1e-6).to(dtype)
    with torch.no_grad():
        llama_norm.weight.copy_(weight)
        want = llama_norm(x)
    got = learner.rms_norm(x, weight, 1e-6)
    name = str(dtype).removeprefix("torch.")
    expect.dtype(got, dtype, what=f"rms_norm of a {name} input", hint="keep the input's dtype")
    expect.finite(got, what=f"rms_norm of {name} inputs of size {scale:g}", hint=hint)
    eps16 = torch.finfo(dtype).eps   # one unit in the last place of the result: float16 and bfloat16 round differently
    expect.close(got.float(), want.float(), atol=2 * eps16, rtol=2 * eps16, what=f"rms_norm of {name} inputs of size {scale:g}, compared with LlamaRMSNorm", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · The SwiGLU feed-forward layer
#
# GPT's feed-forward layer is $W_2\,\phi(W_1 x)$: widen to $4D$, apply a nonlinearity, project back.
# A **gated linear unit** (Dauphin et al., 2017) computes two projections and lets one of them
# gate the other elementwise. Shazeer (2020) compared the variants inside a transformer and found
# the one with a Swish/SiLU gate, **SwiGLU**, best; LLaMA uses it:
#
# $$\operatorname{FFN}(x) = W_{\text{down}}\Big(\operatorname{SiLU}(W_{\text{gate}}\, x) \odot (W_{\text{up}}\, x)\Big),
# \qquad \operatorname{SiLU}(z) = z\,\sigma(z) = \frac{z}{1 + e^{-z}},$$
#
# with $W_{\text{gate}}, W_{\text{up}} \in \mathbb{R}^{F \times D}$ and $W_{\text{down}} \in
# \mathbb{R}^{D\times F}$ (the layers `gate_proj`, `up_proj`, `down_proj`; as in every `nn.Linear`
# the weights are stored (out, in), so a row-vector batch computes $x W^\top$).
#
# **What this means.** Each of the $F$ hidden units has two inputs: a *value* $W_{\text{up}}x$
# and a *gate* $\operatorname{SiLU}(W_{\text{gate}}x)$ that decides how much of the value passes,
# and with which sign. The product makes the layer quadratic in $x$, an interaction a single
# nonlinearity of one projection cannot express. Only the gate goes through SiLU; the up
# projection stays linear. Two mistakes give the right shapes and wrong numbers: swapping the
# roles of the gate and up matrices (the pretrained weights then mean something else), and
# $\sigma$ in place of SiLU (that is the original GLU).
#
# **The width.** Three matrices of $F \times D$ cost $3DF$ parameters, against $8D^2$ for GPT's two
# matrices of width $4D$. Equal cost gives $F = \frac{2}{3}\cdot 4D = \frac{8}{3}D$. Meta's code
# rounds it *up* to a multiple of `multiple_of` (256 for LLaMA 1 and 2, 1024 or 4096 in later
# models: widths that tile well on GPUs), after an optional factor `ffn_dim_multiplier`:
#
# $$F = m \left\lceil \frac{\big\lfloor c \cdot \lfloor 8D/3 \rfloor \big\rfloor}{m} \right\rceil
# \qquad (m = \texttt{multiple\_of},\; c = \texttt{ffn\_dim\_multiplier} \text{ or } 1).$$
#
# For LLaMA 7B, $D = 4096$: $\lfloor 8 \cdot 4096/3 \rfloor = 10922$, rounded up to a multiple of
# 256 is $43 \cdot 256 = 11008$, the `intermediate_size` of its configuration.
#
# The activations in a picture (library code): SiLU is smooth, dips to about $-0.28$ at
# $z \approx -1.28$, and grows like ReLU for large $z$; its derivative exceeds 1 just above zero.

# %%
z = torch.linspace(-6, 6, 601, dtype=DTYPE, requires_grad=True)
fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(11, 3.8))
for name, function in [("SiLU $z\\sigma(z)$", F.silu), ("GELU", F.gelu), ("ReLU", F.relu), ("sigmoid $\\sigma(z)$", torch.sigmoid)]:
    values = function(z)
    (slope,) = torch.autograd.grad(values.sum(), z)
    ax_f.plot(z.detach(), values.detach(), label=name)
    ax_d.plot(z.detach(), slope, label=name)
ax_f.set(xlabel="$z$", title="activation", ylim=(-1, 6))
ax_d.set(xlabel="$z$", title="derivative")
ax_f.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Write the layer (about 5 minutes) and the width rule (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "swiglu", "locked": false, "schema_version": 3, "solution": true, "task": false}
def swiglu(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor) -> torch.Tensor:
    """The SwiGLU feed-forward layer of LLaMA, with nn.Linear's (out, in) weight layout and no biases.

    Args:
        x: float tensor (..., D).
        w_gate: (F, D), gate_proj.weight: its output goes through SiLU.
        w_up: (F, D), up_proj.weight: its output stays linear.
        w_down: (D, F), down_proj.weight.

    Returns:
        (SiLU(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T, shape (..., D), x's dtype; equals
        transformers' LlamaMLP with these weights.

    Example:
        >>> swiglu(torch.randn(2, 5, 8), torch.randn(20, 8), torch.randn(20, 8), torch.randn(8, 20)).shape
        torch.Size([2, 5, 8])
    """
    ### BEGIN SOLUTION
    gate = F.silu(x @ w_gate.T)   # (..., F), SiLU(z) = z * sigmoid(z)
    value = x @ w_up.T            # (..., F), linear
    return (gate * value) @ w_down.T
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "swiglu_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""SwiGLU with one hidden unit on a hand-computed case: SiLU of the gate times the linear up projection, then the down projection"""
from grader.testing import learner, expect

x = torch.tensor([[2.0, 3.0]], dtype=DTYPE)
w_gate = torch.tensor([[1.0, 0.0]], dtype=DTYPE)   # gate input 2
w_up = torch.tensor([[0.0, 1.0]], dtype=DTYPE)     # up input 3
w_down = torch.tensor([[1.0], [-1.0]], dtype=DTYPE)
y = learner.swiglu(x, w_gate, w_up, w_down)
expect.shape(y, (1, 2), what="swiglu of a (1, 2) input with F=1", hint="the result has the input's width D: (..., D)")
silu_2 = 2.0 / (1.0 + math.exp(-2.0))
expect.close(y, torch.tensor([[3.0 * silu_2, -3.0 * silu_2]], dtype=DTYPE), atol=1e-12,
             what="swiglu with gate input 2, up input 3 and w_down = (1, -1)",
             hint="SiLU(x @ w_gate.T) * (x @ w_up.T): only the gate goes through SiLU(z) = z * sigmoid(z)")

# %% nbgrader={"grade": true, "grade_id": "swiglu_matches_transformers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""SwiGLU equals transformers' LlamaMLP with the same weights, for batched and unbatched inputs and for large gate inputs"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(3)
weights = [torch.randn(*shape, generator=gen, dtype=DTYPE) / math.sqrt(shape[1]) for shape in [(20, 8), (20, 8), (8, 20)]]
y = learner.swiglu(torch.randn(2, 3, 8, generator=gen, dtype=DTYPE), *weights)
expect.shape(y, (2, 3, 8), what="swiglu of a (2, 3, 8) input with F=20")
expect.dtype(y, DTYPE, what="swiglu of a float64 input")
### BEGIN HIDDEN TESTS
from transformers.models.llama.modeling_llama import LlamaConfig, LlamaMLP

hint = "down_proj(SiLU(gate_proj(x)) * up_proj(x)): SiLU on the gate only, not on the up projection, and not a sigmoid"
for D, F_, shape, scale in [(8, 20, (2, 3, 8), 1.0), (6, 16, (5, 6), 1.0), (4, 12, (1, 1, 4), 1.0), (8, 20, (3, 8), 30.0)]:
    mlp = LlamaMLP(LlamaConfig(hidden_size=D, intermediate_size=F_, num_attention_heads=2, num_key_value_heads=2)).to(DTYPE)
    with torch.no_grad():
        for layer in (mlp.gate_proj, mlp.up_proj, mlp.down_proj):
            layer.weight.normal_(0.0, 1.0 / math.sqrt(layer.weight.shape[1]), generator=gen)
        x = scale * torch.randn(*shape, generator=gen, dtype=DTYPE)
        want = mlp(x)
    got = learner.swiglu(x, mlp.gate_proj.weight.detach(), mlp.up_proj.weight.detach(), mlp.down_proj.weight.detach())
    expect.finite(got, what=f"swiglu of inputs of size {scale:g}", hint="F.silu is stable for large |z|")
    expect.close(got, want, atol=1e-12, rtol=1e-10, what=f"swiglu on inputs {shape} (D={D}, F={F_}, size {scale:g}), compared with LlamaMLP", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "ffn_hidden_size", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ffn_hidden_size(hidden_size: int, multiple_of: int = 256, ffn_dim_multiplier: float | None = None) -> int:
    """LLaMA's feed-forward width F (intermediate_size) for a model width D, as Meta's reference code computes it.

    Args:
        hidden_size: the model width D.
        multiple_of: F is rounded up to a multiple of this.
        ffn_dim_multiplier: an optional factor applied to the 2/3 * 4D width before rounding (Llama 2 70B and Llama 3 use it).

    Returns:
        An int: int(8 * D / 3), times ffn_dim_multiplier if given (truncated to an int again), rounded up to a
        multiple of multiple_of (a width that already is a multiple stays as it is).

    Example:
        >>> ffn_hidden_size(4096)              # LLaMA 7B
        11008
    """
    ### BEGIN SOLUTION
    width = int(2 * (4 * hidden_size) / 3)   # the width at which SwiGLU costs as much as a 4D GELU layer
    if ffn_dim_multiplier is not None:
        width = int(ffn_dim_multiplier * width)
    return multiple_of * ((width + multiple_of - 1) // multiple_of)   # round up
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ffn_hidden_size_llama_7b", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the feed-forward width of LLaMA 7B (D = 4096) is 11008, an int"""
from grader.testing import learner, expect

expect.equal(learner.ffn_hidden_size(4096), 11008, what="ffn_hidden_size(4096)",
             hint="int(8 * 4096 / 3) = 10922, rounded *up* to a multiple of 256")

# %% nbgrader={"grade": true, "grade_id": "ffn_hidden_size_published_configs", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the feed-forward width matches the intermediate_size of published LLaMA configurations (LLaMA 1, Llama 2, Llama 3, 3.1, 3.2), with and without ffn_dim_multiplier, and keeps a width that is already a multiple"""
from grader.testing import learner, expect

expect.equal(learner.ffn_hidden_size(5120), 13824, what="ffn_hidden_size(5120), LLaMA 13B")
### BEGIN HIDDEN TESTS
hint = "int(8 * D / 3), then int(multiplier * width) if a multiplier is given, then round up: m * ceil(width / m)"
for args, want, model in [
    ((6656,), 17920, "LLaMA 33B"), ((8192,), 22016, "LLaMA 65B"),
    ((8192, 4096, 1.3), 28672, "Llama 2 70B and Llama 3 70B"), ((4096, 1024, 1.3), 14336, "Llama 3 8B"),
    ((16384, 4096, 1.2), 53248, "Llama 3.1 405B"), ((2048, 256, 1.5), 8192, "Llama 3.2 1B"), ((3072, 256, 1.0), 8192, "Llama 3.2 3B"),
    ((96, 256), 256, "D=96, a width of exactly 256"), ((64, 1), 170, "D=64 with multiple_of=1"), ((64, 16), 176, "D=64 with multiple_of=16"),
]:
    expect.equal(learner.ffn_hidden_size(*args), want, what=f"ffn_hidden_size for {model}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Rotary position embeddings (RoPE)
#
# Attention by itself is blind to order (`13-attention`). GPT adds a learned vector per position to
# each token embedding. RoPE (Su et al., 2021) instead **rotates** every query and key by an angle
# proportional to its position, just before the scores are computed. The $d_h$ features of one head
# are grouped in $d_h/2$ pairs; pair $i$ turns by $m\,\theta_i$ at position $m$, with frequencies
#
# $$\theta_i = \text{base}^{-2i/d_h}, \qquad i = 0, 1, \dots, \tfrac{d_h}{2} - 1,$$
#
# from 1 radian per position ($i = 0$) down to nearly $1/\text{base}$ (`rope_theta`, 10 000 in
# LLaMA 1 and 2, 500 000 in Llama 3). Because rotations are orthogonal and compose,
# $R_m^\top R_n = R_{n-m}$, the score of a query at position $m$ with a key at position $n$ is
#
# $$\langle R_m q,\, R_n k\rangle = \langle q,\, R_{n-m}\, k\rangle ,$$
#
# a function of the offset $n - m$ only. **What this means.** A head learns patterns such as
# "the previous token" or "three tokens back" once, for every position. Slow pairs (small
# $\theta_i$) barely turn over a whole context and carry content; fast pairs distinguish nearby
# positions. Values are **not** rotated: the position decides *where* a query looks, not *what*
# it reads.
#
# **Which features form a pair.** Meta's code pairs neighbours, $(x_{2i}, x_{2i+1})$, and rotates
# them as complex numbers. transformers pairs the two halves of the head, $(x_i, x_{i+d_h/2})$,
# and permutes the rows of $W_Q$ and $W_K$ when it converts Meta's checkpoints so that the model
# computes the same function. On transformers-layout weights, which the tests load, you must use
# the half layout:
#
# $$\operatorname{RoPE}(x)_m = x \odot \cos(m\boldsymbol{\theta}) + \operatorname{rotate\_half}(x) \odot \sin(m\boldsymbol{\theta}),
# \qquad \operatorname{rotate\_half}(x) = (-x_{d_h/2:},\; x_{:d_h/2}),
# \qquad \boldsymbol\theta = (\theta_0, \dots, \theta_{d_h/2-1},\ \theta_0, \dots, \theta_{d_h/2-1}).$$
#
# Written out for pair $i$: $x'_i = x_i\cos m\theta_i - x_{i+d_h/2}\sin m\theta_i$ and
# $x'_{i+d_h/2} = x_{i+d_h/2}\cos m\theta_i + x_i \sin m\theta_i$, a counter-clockwise rotation.
# Flipping the sign of the sine rotates the other way: norms and the relative-position property
# survive, so only a comparison with transformers catches it.
#
# **Precision.** An angle $m\theta_0 = m$ radians at position 4000 needs to be exact to a small
# fraction of a radian. bfloat16 keeps 8 significant bits: near 4000 its numbers are 16 apart.
# Compute the angles and their cosines in float64 (or at least float32, as transformers and Meta
# do) and cast to the activations' dtype at the end.
#
# The picture (library code only): the table of $\cos(m\theta_i)$ over positions and pairs, and
# how the score of a vector with a rotated copy of itself falls off with the offset for two bases.

# %%
head_dim_demo = 64
inv_freq_demo = 1.0 / 10000.0 ** (torch.arange(0, head_dim_demo, 2, dtype=DTYPE) / head_dim_demo)
angles_demo = torch.arange(128, dtype=DTYPE)[:, None] * inv_freq_demo[None, :]     # (positions, pairs)
offsets = torch.arange(0, 2048, dtype=DTYPE)
fig, (ax_table, ax_decay) = plt.subplots(1, 2, figsize=(12, 4))
image = ax_table.imshow(torch.cos(angles_demo).T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
ax_table.set(xlabel="position $m$", ylabel="pair $i$ (frequency $\\theta_i$ falls downwards)", title="$\\cos(m\\,\\theta_i)$, $d_h = 64$, base 10 000")
fig.colorbar(image, ax=ax_table)
for base in [10000.0, 500000.0]:
    inv = 1.0 / base ** (torch.arange(0, head_dim_demo, 2, dtype=DTYPE) / head_dim_demo)
    # q = k = all ones: <R_m q, R_n q> = sum over pairs of 2 cos((n - m) theta_i), divided by its value at offset 0
    score = (2 * torch.cos(offsets[:, None] * inv[None, :])).sum(-1) / head_dim_demo
    ax_decay.plot(offsets, score, label=f"base {base:,.0f}", lw=0.8)
ax_decay.set(xscale="symlog", xlabel="offset $n - m$", ylabel="relative score", title="score of a vector with its rotated copy")
ax_decay.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Write the table of cosines and sines (about 10 minutes) and the rotation (about 10 minutes).
# `rope_cos_sin` returns float64 tables; whoever uses them casts them to the activations' dtype.

# %% nbgrader={"grade": false, "grade_id": "rope_cos_sin", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rope_cos_sin(positions: torch.Tensor, head_dim: int, theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The cosine and sine tables of RoPE in transformers' layout (each frequency twice: both halves of a head).

    Args:
        positions: int64 tensor (T,), the positions m of the tokens (0, 1, 2, ... for a whole sequence).
        head_dim: d_h, even.
        theta: the base of the frequencies (rope_theta).

    Returns:
        (cos, sin), each float64 (T, head_dim) on positions' device: cos[t, j] = cos(positions[t] * f[j]) with
        f = (theta_0, ..., theta_{d/2-1}, theta_0, ..., theta_{d/2-1}) and theta_i = theta ** (-2i / head_dim).
        The angles are computed in float64.

    Example:
        >>> cos, sin = rope_cos_sin(torch.arange(5), 8)      # each (5, 8); cos[0] is all ones
    """
    ### BEGIN SOLUTION
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float64, device=positions.device) / head_dim   # 2i / d_h
    inv_freq = 1.0 / theta ** exponents                                           # (d_h/2,)
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]             # (T, d_h/2)
    angles = torch.cat([angles, angles], dim=-1)                                  # (T, d_h): pair i with i + d_h/2
    return angles.cos(), angles.sin()
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "rope_cos_sin_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the RoPE tables have shape (T, head_dim) in float64, are cos 1 and sin 0 at position 0, and with head_dim 2 turn by one radian per position"""
from grader.testing import learner, expect

cos, sin = learner.rope_cos_sin(torch.arange(4), 2, 10000.0)
expect.shape(cos, (4, 2), what="cos of rope_cos_sin(arange(4), head_dim=2)", hint="one row per position, one column per feature of a head")
expect.shape(sin, (4, 2), what="sin of rope_cos_sin(arange(4), head_dim=2)")
expect.dtype(cos, DTYPE, what="cos of rope_cos_sin", hint="compute the angles and their cosines in float64")
m = torch.arange(4, dtype=DTYPE)
expect.close(cos, torch.stack([torch.cos(m), torch.cos(m)], dim=1), atol=1e-12, what="cos for head_dim 2 (theta_0 = 1)",
             hint="with head_dim 2 there is one pair, frequency theta ** 0 = 1, and its angle m appears in both halves")
expect.close(sin, torch.stack([torch.sin(m), torch.sin(m)], dim=1), atol=1e-12, what="sin for head_dim 2 (theta_0 = 1)")

# %% nbgrader={"grade": true, "grade_id": "rope_cos_sin_matches_transformers", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the RoPE tables match the frequencies theta ** (-2i/d) computed independently in NumPy and transformers' LlamaRotaryEmbedding, for several head widths, bases and arbitrary positions"""
from grader.testing import learner, expect

cos, sin = learner.rope_cos_sin(torch.arange(6), 8, 10000.0)
expect.shape(cos, (6, 8), what="cos of rope_cos_sin(arange(6), head_dim=8)")
expect.close(cos[0], torch.ones(8, dtype=DTYPE), atol=1e-15, what="cos at position 0", hint="position 0 is not rotated: cos 1, sin 0")
expect.close(sin[0], torch.zeros(8, dtype=DTYPE), atol=1e-15, what="sin at position 0")
### BEGIN HIDDEN TESTS
from transformers.models.llama.modeling_llama import LlamaConfig, LlamaRotaryEmbedding

hint = "angles positions[:, None] * theta ** (-arange(0, d, 2) / d), the (T, d/2) block repeated twice along the last axis: cat([a, a])"
for positions, head_dim, base in [(np.arange(12), 8, 10000.0), (np.arange(100, 111), 16, 500000.0), (np.array([0, 5, 3, 9]), 4, 100.0),
                                  (np.arange(3), 64, 10000.0)]:
    inv = 1.0 / base ** (np.arange(0, head_dim, 2) / head_dim)
    angles = np.concatenate([np.outer(positions, inv)] * 2, axis=1)
    cos, sin = learner.rope_cos_sin(torch.from_numpy(positions), head_dim, base)
    case = f"positions {positions.tolist()}, head_dim {head_dim}, base {base:g}"
    expect.shape(cos, angles.shape, what=f"cos for {case}")
    expect.close(cos, np.cos(angles), atol=1e-12, what=f"cos for {case}", hint=hint)
    expect.close(sin, np.sin(angles), atol=1e-12, what=f"sin for {case}", hint=hint)

# transformers computes its angles in float32: compare to float32 precision (angles below 16 radians)
for head_dim, base in [(8, 10000.0), (16, 500000.0)]:
    rotary = LlamaRotaryEmbedding(LlamaConfig(hidden_size=2 * head_dim, num_attention_heads=2, num_key_value_heads=2, rope_theta=base))
    want_cos, want_sin = rotary(torch.zeros(1), torch.arange(16)[None])
    cos, sin = learner.rope_cos_sin(torch.arange(16), head_dim, base)
    expect.close(cos, want_cos[0].double(), atol=5e-6, what=f"cos compared with LlamaRotaryEmbedding, head_dim {head_dim}, base {base:g}", hint=hint)
    expect.close(sin, want_sin[0].double(), atol=5e-6, what=f"sin compared with LlamaRotaryEmbedding, head_dim {head_dim}, base {base:g}", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "apply_rope", "locked": false, "schema_version": 3, "solution": true, "task": false}
def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x_i, x_{i + d/2}) of the last axis by its position's angle (transformers' rotate_half layout).

    Args:
        x: queries or keys, float tensor (..., T, d) (e.g. (B, H, T, d)), d even.
        cos, sin: the tables of rope_cos_sin for these T positions, (T, d), in x's dtype (they broadcast
            against x's leading axes).

    Returns:
        x * cos + rotate_half(x) * sin with rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2]): shape and dtype of x.
        Position 0 (cos 1, sin 0) is left unchanged; every pair keeps its length.

    Example:
        >>> cos, sin = rope_cos_sin(torch.arange(5), 8)
        >>> apply_rope(torch.randn(2, 4, 5, 8, dtype=torch.float64), cos, sin).shape
        torch.Size([2, 4, 5, 8])
    """
    ### BEGIN SOLUTION
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    rotated_half = torch.cat([-second, first], dim=-1)   # the 90-degree turn of every pair (x_i, x_{i+d/2})
    return x * cos + rotated_half * sin
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "apply_rope_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""RoPE leaves position 0 unchanged and turns the pair (1, 0) counter-clockwise to (0, 1) at an angle of 90 degrees"""
from grader.testing import learner, expect

x = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=DTYPE)   # T = 2 tokens, d = 2: one pair
cos = torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=DTYPE)  # angles 0 and pi/2
sin = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=DTYPE)
y = learner.apply_rope(x, cos, sin)
expect.shape(y, (2, 2), what="apply_rope of a (2, 2) input", hint="RoPE keeps the shape of its input")
expect.close(y, torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=DTYPE), atol=1e-12, what="apply_rope of (1, 0) at the angles 0 and pi/2",
             hint="x * cos + rotate_half(x) * sin with rotate_half(x) = (-x_second_half, x_first_half): a counter-clockwise turn")

# %% nbgrader={"grade": true, "grade_id": "apply_rope_matches_transformers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""RoPE keeps the length of every vector, equals transformers' apply_rotary_pos_emb on queries and keys, and makes scores depend only on the offset between positions"""
from grader.testing import learner, expect


def rope_tables(positions, head_dim, base=10000.0):
    """float64 cos and sin tables (T, head_dim) in the half layout, computed here, not by your code."""
    inv = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=DTYPE) / head_dim)
    angles = positions.to(DTYPE)[:, None] * inv[None, :]
    return torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()


gen = torch.Generator().manual_seed(4)
q = torch.randn(2, 3, 5, 8, generator=gen, dtype=DTYPE)
cos, sin = rope_tables(torch.arange(5), 8)
rotated = learner.apply_rope(q, cos, sin)
expect.shape(rotated, (2, 3, 5, 8), what="apply_rope of (B=2, H=3, T=5, d=8) queries")
expect.close(rotated.norm(dim=-1), q.norm(dim=-1), atol=1e-12, what="the length of each rotated vector",
             hint="a rotation keeps lengths: pair feature i with feature i + d/2 and rotate the pair")
### BEGIN HIDDEN TESTS
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

hint = "x * cos + rotate_half(x) * sin, with rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2]) (pairs i and i + d/2, not neighbours)"
for shape, positions, base in [((2, 3, 5, 8), torch.arange(5), 10000.0), ((1, 2, 7, 16), torch.arange(40, 47), 500000.0),
                               ((3, 6, 4), torch.tensor([0, 7, 2, 3, 11, 1]), 100.0)]:
    q, k = torch.randn(*shape, generator=gen, dtype=DTYPE), torch.randn(*shape, generator=gen, dtype=DTYPE)
    cos, sin = rope_tables(positions, shape[-1], base)
    want_q, want_k = apply_rotary_pos_emb(q, k, cos[None], sin[None], unsqueeze_dim=1) if len(shape) == 4 else \
        apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=0)
    expect.close(learner.apply_rope(q, cos, sin), want_q, atol=1e-12, rtol=1e-10, what=f"rotated queries {shape}, compared with apply_rotary_pos_emb", hint=hint)
    expect.close(learner.apply_rope(k, cos, sin), want_k, atol=1e-12, rtol=1e-10, what=f"rotated keys {shape}, compared with apply_rotary_pos_emb", hint=hint)

# the score of a query at m with a key at n depends on n - m only: shifting both positions by 13 changes nothing
q, k = torch.randn(16, generator=gen, dtype=DTYPE), torch.randn(16, generator=gen, dtype=DTYPE)
positions = torch.tensor([2, 9, 30])
scores = []
for shift in [0, 13]:
    cos, sin = rope_tables(positions + shift, 16)
    rq, rk = learner.apply_rope(q.expand(3, 16), cos, sin), learner.apply_rope(k.expand(3, 16), cos, sin)
    scores.append(rq @ rk.T)
expect.close(scores[1], scores[0], atol=1e-12, what="RoPE scores after shifting every position by 13",
             hint="the same rotation must be applied to queries and keys, so that only the offset between their positions matters")
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · Grouped-query attention
#
# During generation a model keeps the keys and values of every past token (the **KV cache**,
# `31-kv-cache`), per layer and per key/value head: $2 \cdot L \cdot H_{kv} \cdot d_h$ numbers per
# token. For long contexts and large batches this cache, not the weights, fills the GPU.
# **Multi-query attention** (Shazeer, 2019) keeps $H$ query heads but only one key/value head;
# **grouped-query attention** (GQA, Ainslie et al., 2023) sits in between: $H_{kv}$ key/value heads,
# each shared by a group of $g = H/H_{kv}$ consecutive query heads. Query head $h$ reads key/value
# head $\lfloor h/g \rfloor$:
#
# $$\text{head}_h = \operatorname{softmax}\!\Big(\frac{\tilde q_h \tilde k_{\lfloor h/g\rfloor}^\top}{\sqrt{d_h}} + M_{\text{causal}}\Big)\, v_{\lfloor h/g\rfloor},
# \qquad \operatorname{GQA}(x) = \operatorname{Concat}(\text{head}_0, \dots, \text{head}_{H-1})\, W_O^\top,$$
#
# where $q_h$, $k_j$, $v_j$ are slices of $xW_Q^\top$, $xW_K^\top$, $xW_V^\top$ as in `13-attention`,
# and the tilde marks RoPE, applied to queries and keys only.
#
# **What this means.** $H_{kv} = H$ is ordinary multi-head attention; $H_{kv} = 1$ is multi-query
# attention. Llama 2 70B uses $H = 64$ and $H_{kv} = 8$: an eight times smaller cache for almost the
# quality of full multi-head attention. The queries keep all their heads, so each query head still
# asks its own question; the groups only share what can be looked up.
#
# **Computing it.** The simplest implementation copies each key/value head $g$ times so that the
# tensors line up with the query heads, then runs ordinary attention: transformers' `repeat_kv`,
# which is `torch.repeat_interleave(x, g, dim=1)`, giving the head order
# $k_0, k_0, \dots, k_1, k_1, \dots$. `Tensor.repeat` gives $k_0, k_1, \dots, k_0, k_1, \dots$ instead:
# the same shapes and a different model, one where query head $h$ reads key/value head $h \bmod H_{kv}$.
# (Fused kernels skip the copies; `F.scaled_dot_product_attention(..., enable_gqa=True)` does the
# same grouping.)

# %%
kv_demo = torch.arange(2).reshape(1, 2, 1, 1)   # two key/value heads, labelled 0 and 1
print("repeat_interleave (query head h reads kv head h // g):", kv_demo.repeat_interleave(2, dim=1).flatten().tolist())
print("repeat            (query head h reads kv head h % H_kv):", kv_demo.repeat(1, 2, 1, 1).flatten().tolist())

# %% [markdown]
# Which key/value head each query head reads, and what the cache costs per sequence of 4096 tokens
# in 16-bit numbers for real configurations (library code):

# %%
fig, axes = plt.subplots(1, 4, figsize=(14, 3.6), gridspec_kw={"width_ratios": [1, 1, 1, 2.2]})
for ax, (title, n_kv) in zip(axes[:3], [("multi-head, $H_{kv} = 8$", 8), ("grouped, $H_{kv} = 2$", 2), ("multi-query, $H_{kv} = 1$", 1)]):
    reads = torch.zeros(8, 8)
    reads[torch.arange(8), torch.arange(8) // (8 // n_kv)] = 1.0
    ax.imshow(reads[:, :n_kv], cmap="Greens", vmin=0, vmax=1, aspect="auto")
    ax.set(title=title, xlabel="key/value head", ylabel="query head", xticks=range(n_kv), yticks=range(8))
cache_models = [("LLaMA 7B", 32, 32, 128), ("Llama 2 70B\nif it were MHA", 80, 64, 128), ("Llama 2 70B\n(GQA, 8 kv heads)", 80, 8, 128),
                ("Llama 3 8B\n(GQA, 8 kv heads)", 32, 8, 128)]
gib = [2 * n_layers * n_kv * d_h * 2 * 4096 / 2**30 for _, n_layers, n_kv, d_h in cache_models]
axes[3].barh([name for name, *_ in cache_models], gib, color=["grey", "lightcoral", "seagreen", "seagreen"])
for i, value in enumerate(gib):
    axes[3].text(value, i, f" {value:.2f} GiB", va="center")
axes[3].set(xlabel="KV cache for 4096 tokens, 16-bit (GiB)", title="2 L $H_{kv}$ $d_h$ numbers per token", xlim=(0, 13))
axes[3].invert_yaxis()
fig.tight_layout()
plt.show()

# %% [markdown]
# Write `repeat_kv` (about 5 minutes), then the whole attention layer (about 20 minutes):
# project, split heads with a transpose (`13-attention`), rotate queries and keys, expand the
# key/value heads, attend with the causal mask and the $1/\sqrt{d_h}$ scaling, merge heads, and
# apply the output projection. Use your own `apply_rope` and `repeat_kv`; for the attention itself
# an explicit `torch.softmax` over masked scores is the clearest (`F.scaled_dot_product_attention`
# with `is_causal=True` on the expanded heads computes the same).

# %% nbgrader={"grade": false, "grade_id": "repeat_kv", "locked": false, "schema_version": 3, "solution": true, "task": false}
def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Repeat each key/value head n_rep times in a row, so that query head h finds its key/value head h // n_rep.

    Args:
        x: keys or values, tensor (B, H_kv, T, d).
        n_rep: g = H / H_kv, the number of query heads per key/value head.

    Returns:
        A tensor (B, H_kv * n_rep, T, d) whose head h is x's head h // n_rep (the order k0, k0, ..., k1, k1, ...),
        as transformers' repeat_kv and torch.repeat_interleave(x, n_rep, dim=1) give it.

    Example:
        >>> repeat_kv(torch.zeros(2, 2, 5, 4), 3).shape
        torch.Size([2, 6, 5, 4])
    """
    ### BEGIN SOLUTION
    return x.repeat_interleave(n_rep, dim=1)   # head j becomes heads j*n_rep, ..., j*n_rep + n_rep - 1
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "repeat_kv_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""repeat_kv turns (B, H_kv, T, d) into (B, H_kv * n_rep, T, d) and leaves the input as it is for n_rep = 1"""
from grader.testing import learner, expect

x = torch.randn(2, 2, 3, 4, generator=torch.Generator().manual_seed(5), dtype=DTYPE)
expect.shape(learner.repeat_kv(x, 3), (2, 6, 3, 4), what="repeat_kv of a (2, 2, 3, 4) tensor with n_rep=3",
             hint="the head axis (axis 1) grows n_rep times")
expect.close(learner.repeat_kv(x, 1), x, atol=0, what="repeat_kv(x, 1)", hint="one query head per key/value head: nothing to repeat")

# %% nbgrader={"grade": true, "grade_id": "repeat_kv_matches_transformers", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""repeat_kv puts the copies of each key/value head next to each other (k0, k0, k1, k1), exactly as transformers' repeat_kv and torch.repeat_interleave do"""
from grader.testing import learner, expect

labelled = torch.arange(2, dtype=DTYPE).reshape(1, 2, 1, 1)   # two key/value heads, labelled 0 and 1
expect.close(learner.repeat_kv(labelled, 2).flatten(), torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=DTYPE), atol=0,
             what="the head labels of repeat_kv(heads labelled 0, 1; n_rep=2)",
             hint="query heads 0 and 1 share key/value head 0: repeat each head n_rep times in a row (repeat_interleave), not the whole block (repeat)")
### BEGIN HIDDEN TESTS
from transformers.models.llama.modeling_llama import repeat_kv as transformers_repeat_kv

gen = torch.Generator().manual_seed(6)
hint = "head h of the result is head h // n_rep of the input: torch.repeat_interleave(x, n_rep, dim=1)"
for shape, n_rep in [((2, 2, 3, 4), 3), ((1, 4, 5, 2), 2), ((3, 1, 2, 6), 4), ((2, 3, 1, 4), 1)]:
    x = torch.randn(*shape, generator=gen, dtype=DTYPE)
    got = learner.repeat_kv(x, n_rep)
    expect.shape(got, (shape[0], shape[1] * n_rep, *shape[2:]), what=f"repeat_kv of a {shape} tensor with n_rep={n_rep}")
    expect.close(got, transformers_repeat_kv(x, n_rep), atol=0, what=f"repeat_kv of a {shape} tensor with n_rep={n_rep}, compared with transformers", hint=hint)
    expect.close(got, torch.repeat_interleave(x, n_rep, dim=1), atol=0, what=f"repeat_kv of a {shape} tensor with n_rep={n_rep}, compared with repeat_interleave", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "grouped_query_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def grouped_query_attention(
    x: torch.Tensor,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    w_o: torch.Tensor,
    n_heads: int,
    n_kv_heads: int,
    cos: torch.Tensor,
    sin: torch.Tensor,
) -> torch.Tensor:
    """Causal grouped-query self-attention with RoPE, LLaMA's attention layer (no biases).

    Args:
        x: float tensor (B, T, D), the normalised residual stream.
        w_q: (H * d_h, D), q_proj.weight.   w_k, w_v: (H_kv * d_h, D), k_proj.weight and v_proj.weight.
        w_o: (D, H * d_h), o_proj.weight.
        n_heads: H.   n_kv_heads: H_kv, must divide H; d_h = w_q.shape[0] // H.
        cos, sin: the RoPE tables (T, d_h) of positions 0..T-1, in x's dtype.

    Returns:
        (B, T, D) in x's dtype: queries and keys rotated by RoPE (values not), key/value head h // (H / H_kv)
        serving query head h, scores divided by sqrt(d_h), a causal mask (token t sees tokens 0..t), the
        heads merged and projected by w_o. Equals transformers' LlamaAttention with these weights.

    Raises:
        ValueError if n_heads is not a multiple of n_kv_heads.

    Example:
        >>> cos, sin = rope_cos_sin(torch.arange(5), 4)
        >>> x, w_q, w_k, w_v, w_o = torch.randn(2, 5, 16), torch.randn(16, 16), torch.randn(8, 16), torch.randn(8, 16), torch.randn(16, 16)
        >>> grouped_query_attention(x, w_q, w_k, w_v, w_o, 4, 2, cos.float(), sin.float()).shape   # H=4, H_kv=2, d_h=4
        torch.Size([2, 5, 16])
    """
    ### BEGIN SOLUTION
    if n_heads % n_kv_heads != 0:
        raise ValueError(f"{n_heads} query heads cannot be shared evenly by {n_kv_heads} key/value heads")
    B, T, _ = x.shape
    head_dim = w_q.shape[0] // n_heads
    q = (x @ w_q.T).reshape(B, T, n_heads, head_dim).transpose(1, 2)      # (B, H, T, d_h)
    k = (x @ w_k.T).reshape(B, T, n_kv_heads, head_dim).transpose(1, 2)   # (B, H_kv, T, d_h)
    v = (x @ w_v.T).reshape(B, T, n_kv_heads, head_dim).transpose(1, 2)   # (B, H_kv, T, d_h)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)               # positions enter queries and keys only
    group = n_heads // n_kv_heads
    k, v = repeat_kv(k, group), repeat_kv(v, group)                       # (B, H, T, d_h)
    scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)                # (B, H, T, T)
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
    weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
    heads = (weights @ v).transpose(1, 2).reshape(B, T, n_heads * head_dim)
    return heads @ w_o.T
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "gqa_shapes_and_single_token", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""grouped-query attention returns (B, T, D), and for a single token returns each query head's shared value head, merged and projected"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(7)
D, H, H_kv, d_h = 16, 4, 2, 4
w_q, w_k, w_v = (torch.randn(n * d_h, D, generator=gen, dtype=DTYPE) / 4.0 for n in (H, H_kv, H_kv))
w_o = torch.randn(D, H * d_h, generator=gen, dtype=DTYPE) / 4.0
x = torch.randn(2, 5, D, generator=gen, dtype=DTYPE)
out = learner.grouped_query_attention(x, w_q, w_k, w_v, w_o, H, H_kv, torch.ones(5, d_h, dtype=DTYPE), torch.zeros(5, d_h, dtype=DTYPE))
expect.shape(out, (2, 5, D), what="grouped_query_attention of a (2, 5, 16) input, H=4, H_kv=2", hint="the result has the input's shape (B, T, D)")
expect.dtype(out, DTYPE, what="grouped_query_attention of a float64 input")

# one token attends only to itself: query heads 0, 1 return value head 0, heads 2, 3 value head 1
one = x[:, :1]
v = (one @ w_v.T).reshape(2, 1, H_kv, d_h)
want = torch.cat([v[:, :, h // 2] for h in range(H)], dim=-1) @ w_o.T
got = learner.grouped_query_attention(one, w_q, w_k, w_v, w_o, H, H_kv, torch.ones(1, d_h, dtype=DTYPE), torch.zeros(1, d_h, dtype=DTYPE))
expect.close(got, want, atol=1e-12, what="grouped_query_attention of a single token",
             hint="a single token's weights are all on itself, so query head h returns value head h // (H / H_kv); merge the heads in order, then apply w_o")

# %% nbgrader={"grade": true, "grade_id": "gqa_is_causal", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""grouped-query attention is causal (changing later tokens leaves earlier outputs unchanged) and equals F.scaled_dot_product_attention with is_causal=True and enable_gqa=True on the rotated queries and keys"""
from grader.testing import scenario, expect


@scenario
def gqa_future_changes(ns, x, weights, n_heads, n_kv_heads, cos, sin):
    """Outputs of the attention on x, and on x with its tokens from position 3 on replaced."""
    before = ns.grouped_query_attention(x, *weights, n_heads, n_kv_heads, cos, sin)
    changed = x.clone()
    changed[:, 3:] = -2.0 * changed[:, 3:] + 1.0
    after = ns.grouped_query_attention(changed, *weights, n_heads, n_kv_heads, cos, sin)
    return {"before": before, "after": after}


gen = torch.Generator().manual_seed(8)
D, H, H_kv, d_h, T = 16, 4, 2, 4, 6
weights = [torch.randn(n * d_h, D, generator=gen, dtype=DTYPE) / 4.0 for n in (H, H_kv, H_kv)] + [torch.randn(D, H * d_h, generator=gen, dtype=DTYPE) / 4.0]
x = torch.randn(2, T, D, generator=gen, dtype=DTYPE)
inv = 1.0 / 10000.0 ** (torch.arange(0, d_h, 2, dtype=DTYPE) / d_h)
angles = torch.arange(T, dtype=DTYPE)[:, None] * inv[None, :]
cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
got = gqa_future_changes.learner(x, weights, H, H_kv, cos, sin)
expect.shape(got["before"], (2, T, D), what="grouped_query_attention of a (2, 6, 16) input")
expect.close(got["after"][:, :3], got["before"][:, :3], atol=1e-12, what="outputs at positions 0-2 after changing the tokens at positions 3-5",
             hint="the future leaks into the past: mask the scores of keys after the query (a causal mask, tril of ones) before the softmax")
### BEGIN HIDDEN TESTS
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

w_q, w_k, w_v, w_o = weights
hint = ("rotate queries and keys (not values), repeat each key/value head H / H_kv times in a row, scale by 1/sqrt(d_h), "
        "mask the future, softmax over the keys, merge heads, then w_o")
for case, inputs in [("the original tokens", x), ("the changed tokens", None)]:
    if inputs is None:
        inputs = x.clone()
        inputs[:, 3:] = -2.0 * inputs[:, 3:] + 1.0
    q = (inputs @ w_q.T).reshape(2, T, H, d_h).transpose(1, 2)
    k = (inputs @ w_k.T).reshape(2, T, H_kv, d_h).transpose(1, 2)
    v = (inputs @ w_v.T).reshape(2, T, H_kv, d_h).transpose(1, 2)
    q, k = apply_rotary_pos_emb(q, k, cos[None], sin[None])
    heads = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    want = heads.transpose(1, 2).reshape(2, T, H * d_h) @ w_o.T
    expect.close(got["before" if case == "the original tokens" else "after"], want, atol=1e-12, rtol=1e-10,
                 what=f"grouped_query_attention on {case}, compared with F.scaled_dot_product_attention(enable_gqa=True)", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "gqa_matches_transformers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""grouped-query attention equals transformers' LlamaAttention with the same weights and RoPE tables, for grouped, multi-query and multi-head configurations, a batch of one, a single token and heads whose widths do not add up to D, and refuses H not divisible by H_kv"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(9)
x = torch.randn(1, 4, 8, generator=gen, dtype=DTYPE)
w = [torch.randn(8, 8, generator=gen, dtype=DTYPE) / 3.0 for _ in range(4)]
out = learner.grouped_query_attention(x, *w, 2, 2, torch.ones(4, 4, dtype=DTYPE), torch.zeros(4, 4, dtype=DTYPE))
expect.shape(out, (1, 4, 8), what="multi-head attention (H = H_kv = 2) of a (1, 4, 8) input")
### BEGIN HIDDEN TESTS
from transformers.models.llama.modeling_llama import LlamaAttention, LlamaConfig

hint = ("project, split heads with a transpose, rotate queries and keys with apply_rope, repeat_kv the keys and values, "
        "causal softmax of q k^T / sqrt(d_h), merge heads, o_proj")
# the last case has heads of width 6 for D = 12 and H = 4 (H * d_h != D, as in some later models): d_h comes from w_q
for D, H, H_kv, B, T, base, d_h in [(16, 4, 2, 2, 6, 10000.0, 4), (12, 3, 1, 2, 5, 100.0, 4), (8, 2, 2, 3, 4, 10000.0, 4),
                                    (24, 6, 3, 1, 7, 500000.0, 4), (16, 8, 2, 2, 1, 10000.0, 2), (12, 4, 2, 2, 5, 10000.0, 6)]:
    # the sdpa implementation keeps float64 throughout (the eager one takes its softmax in float32)
    config = LlamaConfig(hidden_size=D, num_attention_heads=H, num_key_value_heads=H_kv, head_dim=d_h, attn_implementation="sdpa")
    attention = LlamaAttention(config, layer_idx=0).to(DTYPE).eval()
    inv = 1.0 / base ** (torch.arange(0, d_h, 2, dtype=DTYPE) / d_h)
    angles = torch.arange(T, dtype=DTYPE)[:, None] * inv[None, :]
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
    x = torch.randn(B, T, D, generator=gen, dtype=DTYPE)
    causal = torch.full((T, T), float("-inf"), dtype=DTYPE).triu(1)[None, None]
    with torch.no_grad():
        for layer in (attention.q_proj, attention.k_proj, attention.v_proj, attention.o_proj):
            layer.weight.normal_(0.0, 1.0 / math.sqrt(layer.weight.shape[1]), generator=gen)
        want, _ = attention(x, position_embeddings=(cos[None], sin[None]), attention_mask=causal)
    params = [layer.weight.detach() for layer in (attention.q_proj, attention.k_proj, attention.v_proj, attention.o_proj)]
    got = learner.grouped_query_attention(x, *params, H, H_kv, cos, sin)
    expect.close(got, want, atol=1e-12, rtol=1e-10, what=f"grouped_query_attention with D={D}, H={H}, H_kv={H_kv}, d_h={d_h}, B={B}, T={T}, compared with LlamaAttention", hint=hint)

w_q, w_k, w_o = (torch.randn(12, 12, generator=gen, dtype=DTYPE) for _ in range(3))
expect.raises("ValueError", learner.grouped_query_attention, torch.randn(1, 2, 12, dtype=DTYPE), w_q, w_k[:8], w_k[:8], w_o, 3, 2,
              torch.ones(2, 4, dtype=DTYPE), torch.zeros(2, 4, dtype=DTYPE))
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · The LLaMA block and the model
#
# A block is two pre-norm residual updates (the boxed equation at the top), and the model is
#
# $$\text{logits} = \operatorname{RMSNorm}\big(\text{block}_{L-1} \circ \dots \circ \text{block}_0(E[\text{tokens}])\big)\, W_{\text{lm\_head}}^\top ,$$
#
# with the RoPE tables of positions $0, \dots, T-1$ computed once and shared by every layer. There is
# no position embedding to add: positions enter only through the rotations inside attention.
#
# **What this means.** The residual stream $x$ is never normalised in place. Each sub-layer reads a
# normalised copy and *adds* its contribution, so a block whose output projections are zero is the
# identity, and the gradient flows through the sum unchanged. The final RMSNorm before `lm_head`
# is needed because the stream's scale grows with depth. (GPT-1 and BERT used *post*-norm,
# $x \leftarrow \operatorname{LN}(x + f(x))$, which is harder to train deep without a warm-up.)
#
# The modules below are given: they hold the parameters under transformers' names and call your
# functions. You write the two `forward` methods after them.

# %%
class RMSNorm(nn.Module):
    """RMSNorm with a gain `weight` (D,), initialised to ones (transformers' LlamaRMSNorm); calls your rms_norm."""

    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


class LlamaMLP(nn.Module):
    """The SwiGLU layer's three bias-free projections (transformers' LlamaMLP); calls your swiglu."""

    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swiglu(x, self.gate_proj.weight, self.up_proj.weight, self.down_proj.weight)


class LlamaAttention(nn.Module):
    """Grouped-query attention's four bias-free projections (transformers' LlamaAttention); calls your grouped_query_attention."""

    def __init__(self, hidden_size: int, num_attention_heads: int, num_key_value_heads: int):
        super().__init__()
        head_dim = hidden_size // num_attention_heads
        self.num_attention_heads, self.num_key_value_heads = num_attention_heads, num_key_value_heads
        self.q_proj = nn.Linear(hidden_size, num_attention_heads * head_dim, bias=False)
        self.k_proj = nn.Linear(hidden_size, num_key_value_heads * head_dim, bias=False)
        self.v_proj = nn.Linear(hidden_size, num_key_value_heads * head_dim, bias=False)
        self.o_proj = nn.Linear(num_attention_heads * head_dim, hidden_size, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        return grouped_query_attention(x, self.q_proj.weight, self.k_proj.weight, self.v_proj.weight, self.o_proj.weight,
                                       self.num_attention_heads, self.num_key_value_heads, cos, sin)


# %% nbgrader={"grade": false, "grade_id": "llama_block", "locked": false, "schema_version": 3, "solution": true, "task": false}
class LlamaBlock(nn.Module):
    """One LLaMA decoder layer: pre-norm grouped-query attention and pre-norm SwiGLU, each added to the residual stream.

    Parameters (given), transformers' LlamaDecoderLayer names: input_layernorm.weight (D,);
    self_attn.q_proj.weight (H d_h, D), self_attn.k_proj.weight and v_proj.weight (H_kv d_h, D),
    self_attn.o_proj.weight (D, H d_h); post_attention_layernorm.weight (D,);
    mlp.gate_proj.weight and up_proj.weight (F, D), mlp.down_proj.weight (D, F).
    """

    def __init__(self, hidden_size: int, intermediate_size: int, num_attention_heads: int, num_key_value_heads: int,
                 rms_norm_eps: float = 1e-6):
        super().__init__()
        self.input_layernorm = RMSNorm(hidden_size, rms_norm_eps)
        self.self_attn = LlamaAttention(hidden_size, num_attention_heads, num_key_value_heads)
        self.post_attention_layernorm = RMSNorm(hidden_size, rms_norm_eps)
        self.mlp = LlamaMLP(hidden_size, intermediate_size)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """The block's output (about 5 minutes).

        Args:
            x: the residual stream (B, T, D).
            cos, sin: the RoPE tables (T, d_h) of positions 0..T-1, in x's dtype.

        Returns:
            (B, T, D): h = x + self_attn(input_layernorm(x)), then h + mlp(post_attention_layernorm(h)).
            Equals transformers' LlamaDecoderLayer with these weights.

        Example:
            >>> block = LlamaBlock(32, 96, 4, 2).double()
            >>> cos, sin = rope_cos_sin(torch.arange(7), 8)
            >>> block(torch.randn(2, 7, 32, dtype=torch.float64), cos, sin).shape
            torch.Size([2, 7, 32])
        """
        ### BEGIN SOLUTION
        h = x + self.self_attn(self.input_layernorm(x), cos, sin)    # attention reads a normalised copy
        return h + self.mlp(self.post_attention_layernorm(h))        # so does the feed-forward layer
        ### END SOLUTION

# %% [markdown]
# Both block tests build the block through one scenario: a seeded block in float64 whose norm gains
# are moved away from 1 (so that it matters which norm sits where), optionally with its two output
# projections set to zero, run on given inputs and RoPE tables.

# %%
from grader.testing import scenario


@scenario
def block_outputs(ns, sizes, seed, x, cos, sin, zero_outputs=False):
    """A float64 LlamaBlock(**sizes) from a seed, with gains drawn around 1: its parameters and its output on x."""
    torch.manual_seed(seed)
    block = ns.LlamaBlock(**sizes).double()
    with torch.no_grad():
        for name, parameter in block.named_parameters():
            if name.endswith("layernorm.weight"):
                parameter.normal_(1.0, 0.3)
        if zero_outputs:
            block.self_attn.o_proj.weight.zero_()
            block.mlp.down_proj.weight.zero_()
        out = block(x, cos, sin)
    return {"state": {name: t.detach().clone() for name, t in block.state_dict().items()}, "out": out}


# %% nbgrader={"grade": true, "grade_id": "llama_block_residuals", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""a block whose two output projections are zero is exactly the identity (both sub-layers are added to the residual stream), and a block keeps the shape (B, T, D)"""
from grader.testing import expect

gen = torch.Generator().manual_seed(10)
sizes = dict(hidden_size=16, intermediate_size=40, num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5)
x = torch.randn(2, 5, 16, generator=gen, dtype=DTYPE)
cos, sin = torch.ones(5, 4, dtype=DTYPE), torch.zeros(5, 4, dtype=DTYPE)
got = block_outputs.learner(sizes, 11, x, cos, sin, True)
expect.shape(got["out"], (2, 5, 16), what="the output of LlamaBlock on a (2, 5, 16) input", hint="a block keeps the shape of the residual stream")
expect.close(got["out"], x, atol=1e-14, what="the output of a block whose o_proj and down_proj are zero",
             hint="add each sub-layer's result to the residual stream, x + attention(norm(x)), and never normalise the stream itself")

# %% nbgrader={"grade": true, "grade_id": "llama_block_matches_transformers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""a LLaMA block equals transformers' LlamaDecoderLayer (its norms computed in float64 by torch.nn.RMSNorm) with the same weights and RoPE tables, for grouped, multi-query and multi-head configurations"""
from grader.testing import expect

gen = torch.Generator().manual_seed(12)
sizes = dict(hidden_size=16, intermediate_size=40, num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5)
x = torch.randn(2, 5, 16, generator=gen, dtype=DTYPE)
got = block_outputs.learner(sizes, 13, x, torch.ones(5, 4, dtype=DTYPE), torch.zeros(5, 4, dtype=DTYPE))
expect.shape(got["out"], (2, 5, 16), what="the block's output for x of shape (2, 5, 16)", hint="a block keeps the shape of its input")
expect.true(float((got["out"] - x).abs().max()) > 1e-3,
            "the block returns its input unchanged: it must add the attention and the feed-forward results to the residual stream")
### BEGIN HIDDEN TESTS
from transformers.models.llama.modeling_llama import LlamaConfig, LlamaDecoderLayer

hint = ("h = x + self_attn(input_layernorm(x), cos, sin), then h + mlp(post_attention_layernorm(h)): "
        "pre-norm, each norm in its place, both results added to the stream")
for sizes, B, T, seed in [
    (dict(hidden_size=12, intermediate_size=32, num_attention_heads=3, num_key_value_heads=1, rms_norm_eps=1e-2), 1, 5, 15),
    (dict(hidden_size=16, intermediate_size=40, num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5), 2, 6, 14),
    (dict(hidden_size=8, intermediate_size=24, num_attention_heads=2, num_key_value_heads=2, rms_norm_eps=1e-6), 3, 4, 16),
]:
    d_h = sizes["hidden_size"] // sizes["num_attention_heads"]
    inv = 1.0 / 10000.0 ** (torch.arange(0, d_h, 2, dtype=DTYPE) / d_h)
    angles = torch.arange(T, dtype=DTYPE)[:, None] * inv[None, :]
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
    x = torch.randn(B, T, sizes["hidden_size"], generator=gen, dtype=DTYPE)
    got = block_outputs.learner(sizes, seed, x, cos, sin)
    layer = LlamaDecoderLayer(LlamaConfig(**sizes, attn_implementation="sdpa"), layer_idx=0).to(DTYPE).eval()
    # LlamaRMSNorm always normalises in float32; torch's own RMSNorm (same parameter name, weight) keeps float64
    layer.input_layernorm = nn.RMSNorm(sizes["hidden_size"], eps=sizes["rms_norm_eps"], dtype=DTYPE)
    layer.post_attention_layernorm = nn.RMSNorm(sizes["hidden_size"], eps=sizes["rms_norm_eps"], dtype=DTYPE)
    expect.equal(sorted(got["state"]), sorted(layer.state_dict()), what="the parameter names of LlamaBlock",
                 hint="keep the given __init__: its names are those of transformers' LlamaDecoderLayer")
    for name, tensor in layer.state_dict().items():
        expect.shape(got["state"][name], tuple(tensor.shape), what=f"the parameter {name} of LlamaBlock", hint="keep the given __init__")
    layer.load_state_dict(got["state"])
    causal = torch.full((T, T), float("-inf"), dtype=DTYPE).triu(1)[None, None]
    with torch.no_grad():
        want = layer(x, attention_mask=causal, position_embeddings=(cos[None], sin[None]))
    expect.close(got["out"], want, atol=1e-12, rtol=1e-10,
                 what=f"the block's output with H={sizes['num_attention_heads']}, H_kv={sizes['num_key_value_heads']}, compared with LlamaDecoderLayer", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Now the whole model (about 10 minutes). Compute the RoPE tables for positions $0..T-1$ once, on the
# tokens' device, cast them to the embeddings' dtype, and hand them to every block. The given
# `__init__` ties `lm_head` to the embedding when `tie_word_embeddings` is true (one matrix under
# two names, as transformers does).

# %% nbgrader={"grade": false, "grade_id": "llama_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Llama(nn.Module):
    """A LLaMA language model whose parameters map one-to-one onto transformers' LlamaForCausalLM.

    The keyword arguments are LlamaConfig's field names, so transformers_llama(config) builds the same model.
    Parameters (given): embed_tokens.weight (V, D); layers.{i}.* as in LlamaBlock; norm.weight (D,);
    lm_head.weight (V, D), the same tensor as embed_tokens.weight when tie_word_embeddings is true.
    to_transformers_state_dict(model.state_dict()) gives LlamaForCausalLM's state dict.
    """

    def __init__(self, vocab_size: int, hidden_size: int, intermediate_size: int, num_hidden_layers: int,
                 num_attention_heads: int, num_key_value_heads: int, rms_norm_eps: float = 1e-6,
                 rope_theta: float = 10000.0, tie_word_embeddings: bool = False):
        super().__init__()
        self.head_dim = hidden_size // num_attention_heads
        self.rope_theta = rope_theta
        self.embed_tokens = nn.Embedding(vocab_size, hidden_size)
        self.layers = nn.ModuleList(
            LlamaBlock(hidden_size, intermediate_size, num_attention_heads, num_key_value_heads, rms_norm_eps)
            for _ in range(num_hidden_layers)
        )
        self.norm = RMSNorm(hidden_size, rms_norm_eps)
        self.lm_head = nn.Linear(hidden_size, vocab_size, bias=False)
        if tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits for every position.

        Args:
            tokens: int64 (B, T), token ids in [0, V), T >= 1.

        Returns:
            logits (B, T, V) in the model's dtype; logits[b, t] scores the token after tokens[b, t] and depends
            only on tokens[b, :t+1]. Equals LlamaForCausalLM(...)(tokens).logits with the same weights.

        Example:
            >>> model = Llama(**TINY)
            >>> model(torch.randint(0, 64, (2, 7))).shape
            torch.Size([2, 7, 64])
        """
        ### BEGIN SOLUTION
        x = self.embed_tokens(tokens)                                             # (B, T, D)
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        cos, sin = rope_cos_sin(positions, self.head_dim, self.rope_theta)        # float64 (T, d_h)
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x))                                         # (B, T, V)
        ### END SOLUTION

# %% [markdown]
# The model tests share one scenario: a seeded model in the given dtype whose norm gains are drawn
# around 1, its parameters, its logits on some tokens, and its logits on the first half of them.

# %%
@scenario
def llama_outputs(ns, config, seed, tokens, dtype_name="float64"):
    """A Llama(**config) from a seed in the named dtype, gains drawn around 1: parameters, logits, logits of the first half."""
    torch.manual_seed(seed)
    model = ns.Llama(**config).to(getattr(torch, dtype_name))
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 1:
                parameter.normal_(1.0, 0.3)
        logits = model(tokens)
        first_half = model(tokens[:, : (tokens.shape[1] + 1) // 2])
    return {"state": {name: t.detach().clone() for name, t in model.state_dict().items()}, "logits": logits, "first_half": first_half}


# %% nbgrader={"grade": true, "grade_id": "llama_model_shapes_and_names", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the model returns logits (B, T, V), reads causally (the logits of a prefix do not depend on what follows), and its parameters carry LlamaForCausalLM's names and shapes"""
from grader.testing import expect

tokens = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(20))
got = llama_outputs.learner(TINY, 21, tokens)
expect.shape(got["logits"], (2, 8, 64), what="the logits of Llama(**TINY) on tokens (2, 8)", hint="one row of V logits per position: (B, T, V)")
expect.dtype(got["logits"], DTYPE, what="the logits of a float64 model", hint="cast the RoPE tables to the embeddings' dtype")
expect.close(got["first_half"], got["logits"][:, :4], atol=1e-12, what="the logits of the first 4 tokens read alone, against the same positions of the whole sequence",
             hint="position t must see only tokens 0..t (the causal mask), and positions always start at 0")
want_keys = transformers_llama(TINY).state_dict()
expect.equal(sorted(to_transformers_state_dict(got["state"])), sorted(want_keys), what="the parameter names of Llama(**TINY), renamed",
             hint="keep the given __init__: its names are transformers' names without the 'model.' prefix")
for name, tensor in to_transformers_state_dict(got["state"]).items():
    expect.shape(tensor, tuple(want_keys[name].shape), what=f"the parameter {name}", hint="keep the given __init__")

# %% nbgrader={"grade": true, "grade_id": "llama_model_matches_transformers", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""your weights loaded into transformers' LlamaForCausalLM give the same logits as your model in float64, for grouped, multi-query with tied embeddings and multi-head configurations with different bases and epsilons"""
from grader.testing import expect

tokens = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(22))
got = llama_outputs.learner(TINY, 23, tokens)
expect.finite(got["logits"], what="the logits of Llama(**TINY)")
### BEGIN HIDDEN TESTS
# transformers computes the RoPE angles and the RMSNorm normalisation in float32 even in a float64 model
# (float32 angles of positions below 12 are off by up to about 1e-6 radians), so logits agree to about 1e-7, not 1e-12
hint = ("embed, RoPE tables of positions 0..T-1 (shared by all layers), every block in order, the final norm, then lm_head; "
        "no position embedding is added")
for config, seed, shape in [
    (dict(vocab_size=50, hidden_size=24, intermediate_size=64, num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=1,
          rms_norm_eps=1e-2, rope_theta=100.0, tie_word_embeddings=True), 24, (3, 11)),
    (TINY, 23, (2, 8)),
    (dict(vocab_size=40, hidden_size=16, intermediate_size=48, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=2,
          rms_norm_eps=1e-6, rope_theta=500000.0), 25, (1, 12)),
]:
    tokens = torch.randint(0, config["vocab_size"], shape, generator=torch.Generator().manual_seed(seed))
    got = llama_outputs.learner(config, seed, tokens)
    reference_model = transformers_llama(config)
    expect.equal(sorted(to_transformers_state_dict(got["state"])), sorted(reference_model.state_dict()),
                 what="the parameter names of your model, renamed", hint="keep the given __init__")
    if not config.get("tie_word_embeddings", False):
        expect.true(not torch.equal(got["state"]["lm_head.weight"], got["state"]["embed_tokens.weight"]),
                    "lm_head is the embedding matrix although tie_word_embeddings is false (LlamaConfig's default): keep the given __init__")
    reference_model.load_state_dict(to_transformers_state_dict(got["state"]))
    with torch.no_grad():
        want = reference_model(tokens).logits
    case = f"H={config['num_attention_heads']}, H_kv={config['num_key_value_heads']}, tied={config.get('tie_word_embeddings', False)}, tokens {shape}"
    expect.shape(got["logits"], tuple(want.shape), what=f"the logits with {case}")
    expect.close(got["logits"], want, atol=2e-6, rtol=2e-6, what=f"the logits with {case}, compared with LlamaForCausalLM", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "llama_model_float32", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""in float32, the dtype models are stored and run in, your model keeps float32 throughout and gives the logits of transformers' LlamaForCausalLM in float32"""
from grader.testing import expect

tokens = torch.randint(0, 64, (2, 10), generator=torch.Generator().manual_seed(26))
got = llama_outputs.learner(TINY, 27, tokens, "float32")
expect.dtype(got["logits"], torch.float32, what="the logits of a float32 model",
             hint="cast the float64 RoPE tables to the activations' dtype (cos.to(x.dtype)) before using them")
### BEGIN HIDDEN TESTS
reference_model = transformers_llama(TINY, got["state"], dtype=torch.float32)
with torch.no_grad():
    want = reference_model(tokens).logits
expect.close(got["logits"], want, atol=2e-5, rtol=2e-5, what="the float32 logits, compared with LlamaForCausalLM in float32",
             hint="embed, shared RoPE tables of positions 0..T-1, blocks, final norm, lm_head")
### END HIDDEN TESTS

# %% [markdown]
# Check yourself against transformers: build your model, copy its weights into `LlamaForCausalLM`
# under the renamed keys, and compare the logits.

# %%
torch.manual_seed(0)
mine = Llama(**TINY).double()
theirs = transformers_llama(TINY, mine.state_dict())
demo_tokens = torch.randint(0, TINY["vocab_size"], (2, 10))
with torch.no_grad():
    difference = (mine(demo_tokens) - theirs(demo_tokens).logits).abs().max().item()
print(f"largest difference from LlamaForCausalLM: {difference:.2e} (transformers' float32 RoPE angles and norms limit it to about 1e-7)")

# %% [markdown]
# ### A tiny LLaMA reads Shakespeare
#
# Your model trains like any GPT (`16-gpt`). A character-level model with 2 layers, width 64, 4 query
# heads and 2 key/value heads, trained for a few hundred steps of AdamW on the bundled Tiny
# Shakespeare, goes from the loss of a uniform guess, $\ln V \approx 4.2$, to about 2 nats per
# character and starts to produce words and line breaks. (About 10 seconds on a laptop CPU.)

# %%
with open("tinyshakespeare.txt", encoding="utf-8") as file:
    shakespeare = file.read()
alphabet = sorted(set(shakespeare))
char_to_id = {c: i for i, c in enumerate(alphabet)}
text_ids = torch.tensor([char_to_id[c] for c in shakespeare], dtype=torch.long)

torch.manual_seed(0)
char_llama = Llama(vocab_size=len(alphabet), hidden_size=64, intermediate_size=ffn_hidden_size(64, multiple_of=32), num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5)
optimizer = torch.optim.AdamW(char_llama.parameters(), lr=3e-3, weight_decay=0.0)
losses, started = [], time.time()
for step in range(300):
    starts = torch.randint(0, len(text_ids) - 65, (32,))
    windows = torch.stack([text_ids[s:s + 65] for s in starts])
    logits = char_llama(windows[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, len(alphabet)), windows[:, 1:].reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(f"300 steps in {time.time() - started:.1f} s, last loss {np.mean(losses[-20:]):.3f}")

context = torch.tensor([[char_to_id[c] for c in "ROMEO:\n"]])
sampler = torch.Generator().manual_seed(1)
with torch.no_grad():
    for _ in range(200):
        probs = torch.softmax(char_llama(context[:, -64:])[0, -1] / 0.8, dim=-1)
        context = torch.cat([context, torch.multinomial(probs, 1, generator=sampler)[None]], dim=1)
print("".join(alphabet[i] for i in context[0].tolist()))

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(losses, lw=0.8)
ax.axhline(math.log(len(alphabet)), color="grey", ls=":", label="uniform guess, ln V")
ax.set(xlabel="step", ylabel="cross-entropy (nats per character)", title="a tiny LLaMA on Tiny Shakespeare")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 7 · Counting parameters
#
# Every weight of a LLaMA is in a table above, so its size follows from seven numbers of its
# configuration. With $d_h = D/H$:
#
# $$N = \underbrace{V D}_{\texttt{embed\_tokens}}
# + L\Big(\underbrace{2\,D\,H d_h + 2\,D\,H_{kv} d_h}_{\text{q, o and k, v projections}} + \underbrace{3\,D F}_{\text{SwiGLU}} + \underbrace{2D}_{\text{two norms}}\Big)
# + \underbrace{D}_{\texttt{norm}} + \underbrace{V D}_{\texttt{lm\_head}\text{, unless tied}} .$$
#
# **LLaMA 7B** ($V = 32000$, $D = 4096$, $L = 32$, $H = H_{kv} = 32$, $d_h = 128$, $F = 11008$):
#
# | part | count |
# |---|---|
# | embeddings $VD$ | 131 072 000 |
# | attention per layer $4D^2$ | 67 108 864 |
# | SwiGLU per layer $3DF$ | 135 266 304 |
# | norms per layer $2D$ | 8 192 |
# | 32 layers | 6 476 267 520 |
# | final norm $D$ | 4 096 |
# | `lm_head` $VD$ | 131 072 000 |
# | **total** | **6 738 415 616** |
#
# **What this means.** "7B" is 6.74 billion. About two thirds sit in the SwiGLU layers, one third
# in attention; the embeddings matter only for small models or large vocabularies (Llama 3's
# 128 256 tokens put 1.05 billion parameters into the two tables of its 8B model). GQA shrinks the
# key and value projections by $H/H_{kv}$, which is why Llama 2 70B has 69 billion parameters and
# not the 78 billion the same shape would have with full multi-head attention.
#
# Where the parameters go in four real models (the formula above, written out in plain arithmetic):

# %%
REAL_CONFIGS = {
    "LLaMA 7B": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                     num_attention_heads=32, num_key_value_heads=32),
    "LLaMA 65B": dict(vocab_size=32000, hidden_size=8192, intermediate_size=22016, num_hidden_layers=80,
                      num_attention_heads=64, num_key_value_heads=64),
    "Llama 2 70B": dict(vocab_size=32000, hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                        num_attention_heads=64, num_key_value_heads=8),
    "Llama 3 8B": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=8),
    "Llama 3.2 1B": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=True),
}
LLAMA_7B = REAL_CONFIGS["LLaMA 7B"]
TINY_SIZES = {key: value for key, value in TINY.items() if key not in ("rms_norm_eps", "rope_theta")}  # what the count needs

fig, ax = plt.subplots(figsize=(9, 3.5))
names = [name for name in REAL_CONFIGS if name != "LLaMA 65B"]
for i, name in enumerate(names):
    c = REAL_CONFIGS[name]
    d_h = c["hidden_size"] // c["num_attention_heads"]
    parts = {"embeddings and lm_head": c["vocab_size"] * c["hidden_size"] * (1 if c.get("tie_word_embeddings") else 2),
             "attention": c["num_hidden_layers"] * 2 * c["hidden_size"] * d_h * (c["num_attention_heads"] + c["num_key_value_heads"]),
             "SwiGLU": c["num_hidden_layers"] * 3 * c["hidden_size"] * c["intermediate_size"]}
    total = sum(parts.values())
    left = 0.0
    for (part, count), colour in zip(parts.items(), ["tab:grey", "tab:blue", "tab:orange"]):
        ax.barh(i, count / total, left=left, color=colour, label=part if i == 0 else None)
        left += count / total
    ax.text(1.01, i, f"{total / 1e9:.2f} B", va="center")
ax.set(yticks=range(len(names)), yticklabels=names, xlim=(0, 1.15), xlabel="share of the parameters (norms are negligible)")
ax.invert_yaxis()
ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
fig.tight_layout()
plt.show()

# %% [markdown]
# Write the count (about 10 minutes). It must agree with the number of parameters transformers
# builds for the same configuration (counting a tied matrix once).

# %% nbgrader={"grade": false, "grade_id": "llama_parameter_count", "locked": false, "schema_version": 3, "solution": true, "task": false}
def llama_parameter_count(vocab_size: int, hidden_size: int, intermediate_size: int, num_hidden_layers: int,
                          num_attention_heads: int, num_key_value_heads: int, tie_word_embeddings: bool = False) -> int:
    """The number of parameters of a LLaMA model with this configuration (LlamaConfig's field names).

    Args:
        vocab_size (V), hidden_size (D), intermediate_size (F), num_hidden_layers (L),
        num_attention_heads (H), num_key_value_heads (H_kv): the configuration; the head width is D // H.
        tie_word_embeddings: whether lm_head shares the embedding matrix (then it is counted once).

    Returns:
        An int: embeddings, L blocks (q, k, v, o projections, the three SwiGLU matrices, two norms),
        the final norm and, unless tied, lm_head. No biases.

    Example:
        >>> llama_parameter_count(**LLAMA_7B)
        6738415616
    """
    ### BEGIN SOLUTION
    head_dim = hidden_size // num_attention_heads
    attention = 2 * hidden_size * num_attention_heads * head_dim + 2 * hidden_size * num_key_value_heads * head_dim
    feed_forward = 3 * hidden_size * intermediate_size
    norms = 2 * hidden_size
    embeddings = vocab_size * hidden_size
    lm_head = 0 if tie_word_embeddings else vocab_size * hidden_size
    return embeddings + num_hidden_layers * (attention + feed_forward + norms) + hidden_size + lm_head
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "parameter_count_llama_7b", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""LLaMA 7B has 6 738 415 616 parameters, and the count of the tiny configuration equals the number of parameters of the given Llama module"""
from grader.testing import learner, scenario, expect


@scenario
def module_parameter_count(ns, config):
    """How many parameters the given Llama(**config) holds (a tied matrix counted once)."""
    return sum(p.numel() for p in ns.Llama(**config).parameters())


expect.equal(learner.llama_parameter_count(**LLAMA_7B), 6738415616, what="llama_parameter_count(**LLAMA_7B)",
             hint="embeddings V*D, 32 layers of 4*D*D attention + 3*D*F SwiGLU + 2*D norms, the final norm D, and lm_head V*D")
expect.equal(learner.llama_parameter_count(**TINY_SIZES), module_parameter_count.learner(TINY_SIZES),
             what="llama_parameter_count(**TINY_SIZES) against the parameters of Llama(**TINY_SIZES)",
             hint="k_proj and v_proj have H_kv * d_h rows, q_proj and o_proj H * d_h")

# %% nbgrader={"grade": true, "grade_id": "parameter_count_matches_transformers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the parameter count equals the number of parameters of transformers' LlamaForCausalLM built (without memory, on the meta device) from real configurations: LLaMA 13B and 65B, Llama 2 70B and Llama 3 8B with grouped-query attention, Llama 3.1 405B, Llama 3.2 1B with tied embeddings, and tiny multi-query ones"""
from grader.testing import learner, expect

expect.equal(learner.llama_parameter_count(**REAL_CONFIGS["LLaMA 65B"]), 65285660672, what="llama_parameter_count for LLaMA 65B")
### BEGIN HIDDEN TESTS
from transformers.models.llama.modeling_llama import LlamaConfig, LlamaForCausalLM

hint = ("count q_proj and o_proj as D * H * d_h each and k_proj and v_proj as D * H_kv * d_h each; "
        "with tie_word_embeddings the embedding matrix is counted once")
configs = {
    "LLaMA 13B": dict(vocab_size=32000, hidden_size=5120, intermediate_size=13824, num_hidden_layers=40, num_attention_heads=40, num_key_value_heads=40),
    "Llama 2 70B": REAL_CONFIGS["Llama 2 70B"],
    "Llama 3 8B": REAL_CONFIGS["Llama 3 8B"],
    "Llama 3.1 405B": dict(vocab_size=128256, hidden_size=16384, intermediate_size=53248, num_hidden_layers=126, num_attention_heads=128, num_key_value_heads=8),
    "Llama 3.2 1B (tied)": REAL_CONFIGS["Llama 3.2 1B"],
    "a tiny multi-query model": dict(vocab_size=50, hidden_size=24, intermediate_size=64, num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=1),
    "a tiny tied multi-query model": dict(vocab_size=50, hidden_size=24, intermediate_size=64, num_hidden_layers=3, num_attention_heads=6,
                                          num_key_value_heads=1, tie_word_embeddings=True),
}
for name, config in configs.items():
    with torch.device("meta"):
        built = LlamaForCausalLM(LlamaConfig(**config))
    expect.equal(learner.llama_parameter_count(**config), sum(p.numel() for p in built.parameters()),
                 what=f"llama_parameter_count for {name}, compared with LlamaForCausalLM", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# The real models counted by your function:

# %%
for name, config in REAL_CONFIGS.items():
    print(f"{name:14s} {llama_parameter_count(**config):>16,d} parameters")

# %% [markdown]
# ## Practical considerations
#
# **Numerical stability.**
# - Normalise in float32 (RMSNorm), compute RoPE angles in float32 or better, and take the softmax
#   of attention in float32: these three are where bfloat16 training and inference lose accuracy.
#   transformers' eager attention calls `softmax(..., dtype=torch.float32)`, fused kernels accumulate
#   in float32.
# - $\varepsilon$ goes inside the square root of RMSNorm; the value (1e-5 or 1e-6) is part of the
#   checkpoint's configuration: using another one changes every activation slightly.
# - The residual stream grows with depth and a few features reach very large values; that is why the
#   final `norm` exists and why `LlamaRMSNorm` upcasts.
#
# **Common bugs, and how the tests here catch them.**
#
# | bug | symptom | caught by |
# |---|---|---|
# | RMSNorm subtracting the mean (LayerNorm) | differs on inputs with a non-zero mean | `F.rms_norm`, `LlamaRMSNorm` on shifted inputs |
# | $\varepsilon$ outside the square root | visible only for small activations or large $\varepsilon$ | inputs of size 1e-3, a model with $\varepsilon$ = 1e-2 |
# | RMSNorm without the float32 upcast | zeros (or NaN) for float16 activations above 256 | `LlamaRMSNorm` in float16 |
# | gate and up projections swapped, or $\sigma$ instead of SiLU | right shapes, pretrained weights give garbage | `LlamaMLP` with copied weights |
# | feed-forward width rounded down | 10752 instead of 11008 for LLaMA 7B: checkpoints do not load | published `intermediate_size` values |
# | RoPE with neighbouring pairs on transformers-layout weights | relative positions still work, logits differ | `apply_rotary_pos_emb`, `LlamaRotaryEmbedding` |
# | RoPE rotating the wrong way (sign of the sine) | norms and offsets fine, numbers wrong | `apply_rotary_pos_emb` |
# | RoPE applied to the values | outputs depend on absolute positions | `LlamaAttention`, `F.scaled_dot_product_attention` |
# | key/value heads repeated with `repeat` instead of `repeat_interleave` | each query head reads the wrong key/value head | `repeat_kv`, `enable_gqa=True` |
# | no causal mask | the future leaks into the past; training loss too good to be true | changing later tokens, `is_causal=True` |
# | post-norm instead of pre-norm, a missing residual, a missing final norm | the model is another model | `LlamaDecoderLayer`, `LlamaForCausalLM` |
# | parameter count with $H$ key/value heads | right for LLaMA 1, 9 billion too many for Llama 2 70B | `LlamaForCausalLM` on the meta device |
#
# **Hyperparameters that matter.** `rope_theta` (10 000, then 500 000 in Llama 3 for contexts of
# 8k-128k tokens; context extension methods such as NTK scaling, YaRN or Llama 3.1's scaling change
# the frequencies, not the rotation); the number of key/value heads (8 is the usual choice for large
# models; 1 saves most memory but costs quality); head width 128 in nearly every large model; the
# feed-forward width from `ffn_hidden_size`; `rms_norm_eps`; whether to tie the embeddings (only
# worth it when the vocabulary tables are a large share of a small model).
#
# **Loading real checkpoints.** `LlamaForCausalLM.from_pretrained(...)` downloads weights in exactly
# the names of section 1, which is why your model's names were chosen to match. Meta's own
# checkpoints use other names (`tok_embeddings`, `attention.wq`, `feed_forward.w1`/`w3`/`w2` for
# gate/up/down) and the neighbouring-pair RoPE layout: transformers' conversion script renames them
# and permutes the rows of `wq` and `wk`, so a converted model must use the half layout.
#
# **Speed.** `repeat_kv` copies keys and values; fused kernels (`F.scaled_dot_product_attention`
# with `enable_gqa=True`, FlashAttention) index the shared heads directly. During generation, the KV
# cache (`31-kv-cache`) stores $k$ *after* RoPE, so each cached key keeps the rotation of its own
# position and new queries are rotated with theirs.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | RMSNorm | $x/\sqrt{\operatorname{mean}(x^2)+\varepsilon} \odot g$ | `x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)` in float32, then `weight * y.to(dtype)` | before every sub-layer and before `lm_head` in LLaMA, Mistral, Qwen, Gemma |
# | SwiGLU | $W_{\text{down}}(\operatorname{SiLU}(W_{\text{gate}}x)\odot W_{\text{up}}x)$ | `(F.silu(x @ Wg.T) * (x @ Wu.T)) @ Wd.T` | the feed-forward layer of nearly every current LLM; two thirds of its parameters |
# | feed-forward width | $F = m\lceil \lfloor c\lfloor 8D/3\rfloor\rfloor / m\rceil$ | `m * ((w + m - 1) // m)` | `intermediate_size` of every LLaMA configuration |
# | RoPE | $x\odot\cos m\boldsymbol\theta + \operatorname{rotate\_half}(x)\odot\sin m\boldsymbol\theta$, $\theta_i = b^{-2i/d}$ | `torch.cat([-x2, x1], -1)`, tables `cat([a, a], -1)` | queries and keys of every layer; `rope_theta` sets the usable context |
# | relative positions | $\langle R_m q, R_n k\rangle = \langle q, R_{n-m}k\rangle$ | same tables for queries and keys, none for values | length generalisation, context extension (NTK, YaRN) |
# | grouped-query attention | head $h$ reads key/value head $\lfloor h/g\rfloor$ | `k.repeat_interleave(g, dim=1)` or `enable_gqa=True` | Llama 2 70B, Llama 3, Mistral: a KV cache $H/H_{kv}$ times smaller |
# | LLaMA block | $h = x + \operatorname{GQA}(\operatorname{RMSNorm}(x))$, $y = h + \operatorname{FFN}(\operatorname{RMSNorm}(h))$ | two residual additions, norms on the copies only | every layer of every LLaMA-family model |
# | checkpoint names | ours = transformers' without `model.` | `to_transformers_state_dict`, `load_state_dict(strict=True)` | loading and converting pretrained weights |
# | parameter count | $VD(2 - \text{tied}) + L(2DHd_h + 2DH_{kv}d_h + 3DF + 2D) + D$ | plain integer arithmetic | sizing memory and compute (`20-scaling-laws`, `22-memory`) |

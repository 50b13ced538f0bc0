# %% [markdown]
# # 22 · Memory, precision and the roofline
#
# A model's memory is a sum of tensors, and each tensor costs its number of elements times the
# bytes of its number format. Training with Adam in mixed precision keeps, per parameter, a 16-bit
# weight and gradient, an fp32 master copy and two fp32 moments; on top of that come the
# activations saved for the backward pass, per transformer layer:
#
# $$\boxed{\;M_{\text{train}} \approx \underbrace{(2 + 2 + 4 + 4 + 4)\,N}_{\text{16 bytes per parameter}}
# \;+\; L \cdot s\,b\,h\left(34 + 5\,\frac{a\,s}{h}\right)\ \text{bytes},
# \qquad \text{time} \ge \max\!\left(\frac{\text{FLOPs}}{\text{peak FLOP/s}},\ \frac{\text{bytes moved}}{\text{bandwidth}}\right)\;}$$
#
# ($N$ parameters, $L$ layers, sequence length $s$, batch $b$, width $h$, $a$ heads.) Why it
# matters for LLMs: these two lines decide which GPU a model fits on, how large a batch can be,
# whether fine-tuning a 7B model needs eight GPUs or one, and why generating text one token at a
# time is limited by memory bandwidth rather than by arithmetic.
#
# **What you will build:** the bytes per parameter of every number format in use (fp32 down to
# NF4 with its block scales and double quantization), checked against torch's `element_size()` and
# bitsandbytes' quantizer; the exact parameter count of GPT-2, checked against transformers' model
# built on the meta device; the memory of training with AdamW, checked against the tensors a real
# `torch.optim.AdamW` step allocates; a measurement of the activations autograd saves, with
# `torch.autograd.graph.saved_tensors_hooks`, and the formula of Korthikanti et al. (2022) that
# predicts it; and the arithmetic intensity of a matrix product, with the roofline that says whether
# it is limited by compute or by memory.

# %% [markdown]
# ## Prerequisites
#
# - `19-training`: the training loop, AdamW and its two moment estimates, mixed precision.
# - `16-gpt` and `18-llama`: the GPT-2 and LLaMA architectures and their parameter counts; one demo uses a GPT-2 of
#   the shape of `16-gpt`'s course model.
# - `08-pytorch`: tensors, dtypes, autograd.
#
# Packages: `torch` (CPU is enough), `numpy`, `matplotlib`, `transformers` (models built from a
# configuration on the meta device: no weights, no memory, nothing downloaded) and `bitsandbytes`
# (its 4-bit quantizer runs on the CPU). Two tests at the end need a CUDA GPU and are skipped
# without one.
#
# **Units.** Bytes are counted exactly, as integers, wherever possible. GB means $10^9$ bytes and
# GiB $2^{30}$ bytes: a "24 GB" card holds about 22.4 GiB. This notebook quotes GB, like the papers
# and the hardware data sheets.

# %%
import math
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore")   # transformers and bitsandbytes warn on stderr, which nbgrader counts as a failure
from transformers.utils import logging as transformers_logging

transformers_logging.set_verbosity_error()
GB = 1e9

# %% [markdown]
# ## 1 · Bytes per parameter
#
# A floating-point number is a sign, an exponent and a mantissa. The exponent bits set the range,
# the mantissa bits the precision:
#
# | format | bits: sign + exponent + mantissa | bytes | largest value | spacing near 1 | used for |
# |---|---|---|---|---|---|
# | fp32 (`torch.float32`) | 1 + 8 + 23 | 4 | $3.4\times10^{38}$ | $1.2\times10^{-7}$ | master weights, optimizer states, reductions |
# | fp16 (`torch.float16`) | 1 + 5 + 10 | 2 | 65 504 | $9.8\times10^{-4}$ | inference; training with loss scaling |
# | bf16 (`torch.bfloat16`) | 1 + 8 + 7 | 2 | $3.4\times10^{38}$ | $7.8\times10^{-3}$ | training and inference of current LLMs |
# | int8 (`torch.int8`) | 8, an integer | 1 | 127 (times a scale) | uniform | LLM.int8(), 8-bit weights |
# | int4 / NF4 | 4, an index into 16 levels | 0.5 (+ scales) | the block's absmax | 16 levels per block | GPTQ, AWQ, QLoRA |
#
# **What this means.** bf16 is fp32 with the last 16 mantissa bits cut off: the same range (no
# overflow, no loss scaling) at 2 bytes, with only 2-3 significant decimal digits. fp16 has more
# precision but overflows above 65 504. Both are **2 bytes**: the number of bits, not the name,
# sets the memory.
#
# **Quantized formats.** Below 8 bits numbers are not stored as floats: each weight is an index
# into a small table of levels, and a block of weights shares one scale. NF4 (QLoRA, Dettmers et
# al. 2023) uses 16 levels placed at the quantiles of a normal distribution, normalised to
# $[-1, 1]$; each block of 64 weights is divided by its absolute maximum (the **absmax**), stored as
# one fp32 number. So the true cost is
#
# $$\text{NF4: } 4 + \frac{32}{64} = 4.5 \text{ bits} = 0.5625 \text{ bytes per parameter}.$$
#
# **Double quantization** quantizes these scales too: the fp32 absmaxes are stored as 8-bit
# numbers, with one fp32 scale per block of 256 absmaxes (bitsandbytes also subtracts their mean, one
# number per tensor, negligible):
#
# $$\text{NF4 + double quantization: } 4 + \frac{8}{64} + \frac{32}{64 \cdot 256} \approx 4.127 \text{ bits} \approx 0.516 \text{ bytes per parameter}.$$
#
# Plain int4 (no scales counted) is 0.5 bytes; plain int8 1 byte (LLM.int8() adds one fp32 scale
# per row, negligible for rows of thousands of weights).
#
# torch knows the byte size of its own dtypes (`element_size()`), and bitsandbytes' 4-bit
# quantizer runs on the CPU: the cell below quantizes a matrix to NF4 and lists what it stores.

# %%
for dtype in [torch.float32, torch.float16, torch.bfloat16, torch.int8]:
    info = torch.finfo(dtype) if dtype.is_floating_point else torch.iinfo(dtype)
    print(f"{str(dtype):16s} element_size {torch.empty(0, dtype=dtype).element_size()}  max {info.max:.4g}")

import bitsandbytes.functional as bnb_functional

weight_demo = torch.randn(128, 512, dtype=torch.bfloat16, generator=torch.Generator().manual_seed(0))
packed, state = bnb_functional.quantize_4bit(weight_demo, blocksize=64, quant_type="nf4")
print(f"\nNF4 of a {tuple(weight_demo.shape)} bf16 matrix ({weight_demo.numel()} weights, {weight_demo.numel() * 2} bytes):")
print(f"  packed 4-bit codes: {packed.numel()} x {packed.dtype} = {packed.numel() * packed.element_size()} bytes (two codes per byte)")
print(f"  absmax scales:      {state.absmax.numel()} x {state.absmax.dtype} = {state.absmax.numel() * state.absmax.element_size()} bytes (one per block of {state.blocksize})")
print("  the 16 NF4 levels:", np.round(state.code.numpy(), 3))
restored = bnb_functional.dequantize_4bit(packed, state)
print(f"  round-trip error: mean |w - dequant(quant(w))| = {(restored - weight_demo).abs().float().mean():.4f}  (weights have std 1)")

# %% [markdown]
# Write the table as a function (about 10 minutes). Return bytes as a float: 4-bit formats cost
# fractions of a byte.

# %% nbgrader={"grade": false, "grade_id": "bytes_per_parameter", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bytes_per_parameter(precision: str) -> float:
    """Bytes of memory one parameter takes in a number format, scales of quantized formats included.

    Args:
        precision: one of "fp32", "fp16", "bf16", "int8", "int4", "nf4", "nf4_double_quant".
            "int8" and "int4" are plain integers, no scales counted. "nf4" is 4-bit codes plus one
            fp32 absmax per block of 64 weights; "nf4_double_quant" stores those absmaxes in 8 bits,
            with one fp32 scale per 256 absmaxes.

    Returns:
        A float: the bytes per parameter (e.g. 2.0 for "fp16", 0.5625 for "nf4").

    Example:
        >>> bytes_per_parameter("fp32")
        4.0
    """
    ### BEGIN SOLUTION
    bits = {
        "fp32": 32.0,
        "fp16": 16.0,
        "bf16": 16.0,                              # 1 + 8 + 7 bits: fp32's range, 2 bytes
        "int8": 8.0,
        "int4": 4.0,
        "nf4": 4.0 + 32 / 64,                      # one fp32 absmax per block of 64
        "nf4_double_quant": 4.0 + 8 / 64 + 32 / (64 * 256),   # 8-bit absmaxes, one fp32 scale per 256 of them
    }
    if precision not in bits:
        raise ValueError(f"unknown precision {precision!r}: use one of {sorted(bits)}")
    return bits[precision] / 8
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "bytes_per_parameter_floats", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""fp32 takes 4 bytes and fp16 2 bytes per parameter, returned as floats"""
from grader.testing import learner, expect

expect.close(learner.bytes_per_parameter("fp32"), 4.0, atol=0, what='bytes_per_parameter("fp32")', hint="32 bits are 4 bytes")
expect.close(learner.bytes_per_parameter("fp16"), 2.0, atol=0, what='bytes_per_parameter("fp16")', hint="16 bits are 2 bytes")

# %% nbgrader={"grade": true, "grade_id": "bytes_per_parameter_match_torch_and_bitsandbytes", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the bytes per parameter equal torch's element_size() for fp32, fp16, bf16 and int8, and the bytes bitsandbytes' NF4 quantizer stores per weight, codes and block scales included, with and without double quantization"""
from grader.testing import learner, expect

expect.close(learner.bytes_per_parameter("int8"), 1.0, atol=0, what='bytes_per_parameter("int8")')
### BEGIN HIDDEN TESTS
import bitsandbytes.functional as bnb_functional

for name, dtype in [("fp32", torch.float32), ("fp16", torch.float16), ("bf16", torch.bfloat16), ("int8", torch.int8)]:
    expect.close(learner.bytes_per_parameter(name), float(torch.empty(0, dtype=dtype).element_size()), atol=0,
                 what=f'bytes_per_parameter("{name}") compared with torch.empty(0, dtype={dtype}).element_size()',
                 hint="the bytes are the number of bits / 8; bf16 is a 16-bit format like fp16 (1 sign, 8 exponent, 7 mantissa bits)")

weight = torch.randn(256, 256, generator=torch.Generator().manual_seed(5)).to(torch.bfloat16)   # 4 x 64 x 256 weights
packed, state = bnb_functional.quantize_4bit(weight, blocksize=64, quant_type="nf4")
codes_only = packed.numel() * packed.element_size() / weight.numel()
expect.close(learner.bytes_per_parameter("int4"), codes_only, atol=0, what='bytes_per_parameter("int4") compared with the packed 4-bit codes of bitsandbytes',
             hint="a 4-bit number is half a byte: two of them share one uint8")
with_scales = (packed.numel() * packed.element_size() + state.absmax.numel() * state.absmax.element_size()) / weight.numel()
expect.close(learner.bytes_per_parameter("nf4"), with_scales, atol=1e-12,
             what='bytes_per_parameter("nf4") compared with the codes plus the fp32 absmax scales bitsandbytes stores',
             hint="NF4 stores 4 bits per weight plus one fp32 absmax (32 bits) per block of 64 weights: (4 + 32/64) / 8 bytes")
packed, state = bnb_functional.quantize_4bit(weight, blocksize=64, quant_type="nf4", compress_statistics=True)
double = (packed.numel() * packed.element_size() + state.absmax.numel() * state.absmax.element_size()
          + state.state2.absmax.numel() * state.state2.absmax.element_size()) / weight.numel()
expect.close(learner.bytes_per_parameter("nf4_double_quant"), double, atol=1e-12,
             what='bytes_per_parameter("nf4_double_quant") compared with bitsandbytes with compress_statistics=True',
             hint="double quantization keeps 8 bits per block of 64 (the quantized absmax) and one fp32 scale per 256 blocks")
### END HIDDEN TESTS

# %% [markdown]
# ### Why a 13B model needs 26 GB in fp16 and 4 to 7 GB in 4-bit
#
# Weights alone cost $N \times$ bytes per parameter. Llama 2 13B has $N = 13.0$ billion
# parameters: in fp16 that is $13.0 \times 2 = 26$ GB, more than a 24 GB card. In 4 bits the codes
# alone are $13.0 \times 0.5 = 6.5$ GB; NF4's block scales add $0.0625$ bytes per parameter (0.8 GB,
# 7.3 GB in all), double quantization cuts that to 6.7 GB; 3-bit quantizations (GPTQ, AWQ at 3 bits,
# llama.cpp's Q3 formats) go below 5 GB. In practice the embedding and output matrices are often kept in
# 16 bits (0.65 GB for a 13B model), and generation needs a KV cache on top (`31-kv-cache`). So:
# "26 GB in fp16, 4 to 7 GB in 4-bit", and the model fits on a laptop GPU.
#
# The parameter counts come straight from transformers: a model built **on the meta device** has
# every parameter's shape and dtype, but no storage, so it costs no memory and no time.

# %%
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

GPT2_CONFIGS = {   # vocab_size, n_positions, n_embd, n_layer, as in the released GPT-2 checkpoints
    "GPT-2 small": dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12),
    "GPT-2 medium": dict(vocab_size=50257, n_positions=1024, n_embd=1024, n_layer=24, n_head=16),
    "GPT-2 XL": dict(vocab_size=50257, n_positions=1024, n_embd=1600, n_layer=48, n_head=25),
}
LLAMA_CONFIGS = {
    "Llama 2 7B": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32),
    "Llama 2 13B": dict(vocab_size=32000, hidden_size=5120, intermediate_size=13824, num_hidden_layers=40, num_attention_heads=40),
}


def meta_parameter_count(name: str) -> int:
    """The exact number of parameters of a model of GPT2_CONFIGS or LLAMA_CONFIGS, built on the meta device (no memory)."""
    with torch.device("meta"):
        if name in GPT2_CONFIGS:
            model = GPT2LMHeadModel(GPT2Config(**GPT2_CONFIGS[name]))
        else:
            model = LlamaForCausalLM(LlamaConfig(**LLAMA_CONFIGS[name]))
    return sum(p.numel() for p in model.parameters())   # parameters() lists a tied matrix once


PARAMETER_COUNTS = {name: meta_parameter_count(name) for name in [*GPT2_CONFIGS, *LLAMA_CONFIGS]}
for name, count in PARAMETER_COUNTS.items():
    print(f"{name:13s} {count:>15,d} parameters")

# %% [markdown]
# Weights of these five models in each format (library code: the table of section 1, typed out
# here so that the figure shows before your function is done):

# %%
FORMAT_BYTES = {"fp32": 4.0, "bf16": 2.0, "int8": 1.0, "nf4": 0.5625, "nf4 + DQ": 0.515869140625}
fig, ax = plt.subplots(figsize=(10, 4))
width = 0.16
for j, (fmt, size) in enumerate(FORMAT_BYTES.items()):
    values = [count * size / GB for count in PARAMETER_COUNTS.values()]
    ax.bar(np.arange(len(values)) + (j - 2) * width, values, width, label=fmt)
for limit, label in [(24, "24 GB card"), (80, "80 GB card")]:
    ax.axhline(limit, color="grey", ls=":", lw=1)
    ax.text(4.45, limit, label, va="bottom", ha="right", fontsize=8, color="grey")
ax.set(xticks=range(len(PARAMETER_COUNTS)), xticklabels=list(PARAMETER_COUNTS), yscale="log", ylabel="weights (GB, log scale)",
       title="memory of the weights alone")
ax.legend(ncol=5, fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2 · Counting GPT-2's parameters
#
# GPT-2 (`16-gpt`) has a token embedding $V \times D$, a learned position embedding $P \times D$,
# $L$ blocks and a final layer norm; its output matrix is the token embedding, transposed (tied),
# so it adds nothing. Every linear layer has a bias. One block holds
#
# $$\underbrace{2D}_{\text{ln\_1}} + \underbrace{3D^2 + 3D}_{\text{c\_attn}} + \underbrace{D^2 + D}_{\text{attn.c\_proj}}
# + \underbrace{2D}_{\text{ln\_2}} + \underbrace{4D^2 + 4D}_{\text{c\_fc}} + \underbrace{4D^2 + D}_{\text{mlp.c\_proj}}
# = 12D^2 + 13D,$$
#
# so $N = VD + PD + L(12D^2 + 13D) + 2D$. **What this means.** For GPT-2 small, $12D^2 L = 85$
# million of its 124 million parameters sit in the blocks and 39 million in the embedding: at that
# size the vocabulary is a third of the model, at 1.5 billion (XL) it is 5 %. The rule of thumb
# $N \approx 12 L D^2$ holds for large models only.
#
# Write the count (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "gpt2_parameter_count", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gpt2_parameter_count(vocab_size: int, n_positions: int, n_embd: int, n_layer: int) -> int:
    """The number of parameters of transformers' GPT2LMHeadModel (lm_head tied to the token embedding).

    Args:
        vocab_size (V), n_positions (P, the context length), n_embd (D), n_layer (L).

    Returns:
        An int: V*D + P*D + L*(12*D*D + 13*D) + 2*D (every linear layer has a bias, the final
        layer norm a gain and a bias, lm_head is the embedding and is not counted again).

    Example:
        >>> gpt2_parameter_count(50257, 1024, 768, 12)   # GPT-2 small
        124439808
    """
    ### BEGIN SOLUTION
    embeddings = vocab_size * n_embd + n_positions * n_embd
    attention = (3 * n_embd * n_embd + 3 * n_embd) + (n_embd * n_embd + n_embd)
    mlp = (4 * n_embd * n_embd + 4 * n_embd) + (4 * n_embd * n_embd + n_embd)
    layer_norms = 2 * (2 * n_embd)
    final_norm = 2 * n_embd
    return embeddings + n_layer * (attention + mlp + layer_norms) + final_norm
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "gpt2_parameter_count_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""GPT-2 small has 124 439 808 parameters, an int"""
from grader.testing import learner, expect

got = learner.gpt2_parameter_count(50257, 1024, 768, 12)
expect.true(isinstance(got, int), f"gpt2_parameter_count returned a {type(got).__name__}: return an int (use // and integer products)")
expect.equal(got, 124439808, what="gpt2_parameter_count(50257, 1024, 768, 12)",
             hint="V*D + P*D for the two embeddings, 12*D*D + 13*D per block, 2*D for ln_f; the tied lm_head is not counted again")

# %% nbgrader={"grade": true, "grade_id": "gpt2_parameter_count_matches_transformers", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the GPT-2 count equals the parameters of transformers' GPT2LMHeadModel built on the meta device, for GPT-2 medium and XL and for small and one-layer configurations"""
from grader.testing import learner, expect

expect.equal(learner.gpt2_parameter_count(**{k: v for k, v in GPT2_CONFIGS["GPT-2 medium"].items() if k != "n_head"}),
             PARAMETER_COUNTS["GPT-2 medium"], what="gpt2_parameter_count for GPT-2 medium, compared with GPT2LMHeadModel on the meta device")
### BEGIN HIDDEN TESTS
hint = "each block: ln_1 and ln_2 (2*D each), c_attn (3*D*D + 3*D), attn.c_proj (D*D + D), mlp.c_fc (4*D*D + 4*D), mlp.c_proj (4*D*D + D)"
for config in [GPT2_CONFIGS["GPT-2 XL"], dict(vocab_size=65, n_positions=256, n_embd=128, n_layer=4, n_head=4),
               dict(vocab_size=10, n_positions=7, n_embd=6, n_layer=1, n_head=2), dict(vocab_size=3, n_positions=5, n_embd=4, n_layer=0, n_head=1)]:
    config = {**config, "bos_token_id": 0, "eos_token_id": 0}   # GPT-2's default 50256 lies outside a small vocabulary
    with torch.device("meta"):
        model = GPT2LMHeadModel(GPT2Config(**config))
    sizes = {k: config[k] for k in ("vocab_size", "n_positions", "n_embd", "n_layer")}
    expect.equal(learner.gpt2_parameter_count(**sizes), sum(p.numel() for p in model.parameters()),
                 what=f"gpt2_parameter_count{tuple(sizes.values())}, compared with GPT2LMHeadModel on the meta device", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · Training memory: weights, gradients and Adam
#
# Training keeps, for every parameter, more than the parameter. With **AdamW** in fp32
# (`19-training`):
#
# | tensor | bytes per parameter | why |
# |---|---|---|
# | weights | 4 | the model |
# | gradients | 4 | `p.grad`, one per parameter, alive from `backward()` to `step()` |
# | Adam first moment $m$ (`exp_avg`) | 4 | running mean of gradients |
# | Adam second moment $v$ (`exp_avg_sq`) | 4 | running mean of squared gradients |
# | **total** | **16** | |
#
# **Mixed precision** (Micikevicius et al., 2018) runs the forward and backward passes with 16-bit
# weights and gradients, but keeps an fp32 **master copy** of the weights for the update (a bf16
# weight cannot absorb an update smaller than $2^{-8}$ of itself: $1 + 10^{-3}$ rounds to 1) and
# fp32 moments:
#
# $$\underbrace{2}_{\text{bf16 weights}} + \underbrace{2}_{\text{bf16 gradients}}
# + \underbrace{4}_{\text{fp32 master}} + \underbrace{4 + 4}_{\text{fp32 } m,\ v} = 16 \text{ bytes per parameter}.$$
#
# This is the "$2\Psi + 2\Psi + K\Psi$ with $K = 12$" of the ZeRO paper (Rajbhandari et al., 2020):
# a 7.5 billion parameter model needs 120 GB before a single activation. **What this means.** Mixed
# precision does not save memory on the model states; it saves time (16-bit matrix products run
# at many times fp32's speed) and activation memory. To save memory on the states you shard them
# (ZeRO, FSDP: `21-distributed`), quantize the optimizer (8-bit Adam), or train few parameters
# (LoRA, below).
#
# **Measuring it.** Every one of these tensors is a torch tensor, so the truth is
# $\sum$ `t.numel() * t.element_size()` over them. AdamW creates its states lazily, at the first
# `step()`; each parameter also gets a `step` counter, a one-element fp32 tensor (4 bytes per
# parameter *tensor*, not per parameter, so it is left out of the count). On a GPT-2 of the course
# model's shape (`16-gpt`: 4 layers, width 128, 65 characters), with random weights:

# %%
def tensor_bytes(tensors) -> int:
    """Sum of numel * element_size over an iterable of tensors."""
    return sum(t.numel() * t.element_size() for t in tensors)


torch.manual_seed(0)
demo_model = GPT2LMHeadModel(GPT2Config(vocab_size=65, n_positions=256, n_embd=128, n_layer=4, n_head=4,   # the shape of
                                         bos_token_id=0, eos_token_id=0))                              # 16-gpt's course model
demo_model.loss_type = "ForCausalLM"   # named outright, else transformers warns on stderr
demo_optimizer = torch.optim.AdamW(demo_model.parameters(), lr=1e-3)
demo_tokens = torch.randint(0, 65, (4, 64))
demo_model(demo_tokens, labels=demo_tokens).loss.backward()
demo_optimizer.step()

n_demo = sum(p.numel() for p in demo_model.parameters())
measured = {
    "weights": tensor_bytes(demo_model.parameters()),
    "gradients": tensor_bytes(p.grad for p in demo_model.parameters()),
    "adam_moments": tensor_bytes(s[key] for s in demo_optimizer.state.values() for key in ("exp_avg", "exp_avg_sq")),
    "step counters": tensor_bytes(s["step"] for s in demo_optimizer.state.values()),
}
print(f"course-model-sized GPT-2: {n_demo:,d} parameters in {len(list(demo_model.parameters()))} tensors")
for part, size in measured.items():
    print(f"  {part:14s} {size:>10,d} bytes = {size / n_demo:5.2f} bytes per parameter")
print("  optimizer state keys of one parameter:", sorted(next(iter(demo_optimizer.state.values()))))

# %% [markdown]
# Write the budget (about 10 minutes): a dictionary with the four parts, so that the tests can
# say which one is wrong.

# %% nbgrader={"grade": false, "grade_id": "training_memory_bytes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def training_memory_bytes(n_params: int, mixed_precision: bool) -> dict:
    """Bytes of the model states when every one of n_params parameters is trained with AdamW.

    Args:
        n_params: the number of trained parameters.
        mixed_precision: False for plain fp32 training; True for 16-bit (bf16 or fp16) weights and
            gradients with an fp32 master copy of the weights.

    Returns:
        {"weights": int, "gradients": int, "master_weights": int, "adam_moments": int}: the bytes of
        the weights the forward pass uses, of their gradients, of the fp32 master copy (0 without mixed
        precision) and of Adam's two fp32 moments. Activations and Adam's per-tensor step counters are
        not included.

    Example:
        >>> sum(training_memory_bytes(1_000, mixed_precision=False).values())   # 16 bytes per parameter
        16000
    """
    ### BEGIN SOLUTION
    weight_bytes = 2 if mixed_precision else 4
    return {
        "weights": weight_bytes * n_params,
        "gradients": weight_bytes * n_params,          # one gradient per parameter, in the weights' dtype
        "master_weights": 4 * n_params if mixed_precision else 0,
        "adam_moments": 2 * 4 * n_params,              # exp_avg and exp_avg_sq, both fp32
    }
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "training_memory_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the training budget has the four parts as ints and adds up to 16 bytes per parameter in fp32"""
from grader.testing import learner, expect

got = learner.training_memory_bytes(1000, False)
expect.true(isinstance(got, dict) and set(got) == {"weights", "gradients", "master_weights", "adam_moments"},
            "training_memory_bytes must return a dict with the keys weights, gradients, master_weights, adam_moments")
expect.equal(got["weights"], 4000, what="the fp32 weights of 1000 parameters", hint="fp32 is 4 bytes per parameter")
expect.equal(sum(got.values()), 16000, what="the total for 1000 parameters in fp32",
             hint="4 bytes of weights, 4 of gradients and 8 of Adam's moments per parameter")

# %% nbgrader={"grade": true, "grade_id": "training_memory_matches_adamw", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the training budget equals the bytes of the parameters, their gradients and the exp_avg and exp_avg_sq tensors of torch.optim.AdamW after one real step, in fp32 and in mixed precision with a bf16 model and an fp32 master copy, and scales to the ZeRO paper's 7.5 billion parameters"""
from grader.testing import learner, expect


def adamw_states_after_one_step(model, mixed_precision):
    """One AdamW step on `model`; the bytes of its tensors, counted part by part."""
    gen = torch.Generator().manual_seed(7)
    trained = [p for p in model.parameters()]
    master = [p.detach().float().clone().requires_grad_(True) for p in trained] if mixed_precision else trained
    optimizer = torch.optim.AdamW(master, lr=1e-3)
    x = torch.randn(8, model[0].in_features, generator=gen).to(trained[0].dtype)
    model(x).float().pow(2).mean().backward()
    if mixed_precision:
        for p, m in zip(trained, master):
            m.grad = p.grad.float()
    optimizer.step()
    if mixed_precision:
        for m in master:
            m.grad = None    # the fp32 copy of a gradient is a temporary, freed after the step
    return {"weights": tensor_bytes(trained), "gradients": tensor_bytes(p.grad for p in trained),
            "master_weights": tensor_bytes(master) if mixed_precision else 0,
            "adam_moments": tensor_bytes(s[k] for s in optimizer.state.values() for k in ("exp_avg", "exp_avg_sq"))}


torch.manual_seed(8)
mlp = nn.Sequential(nn.Linear(12, 20), nn.GELU(), nn.Linear(20, 5))
n = sum(p.numel() for p in mlp.parameters())
got = learner.training_memory_bytes(n, False)
want = adamw_states_after_one_step(mlp, False)
expect.equal(got["weights"], want["weights"], what="the fp32 weights, compared with sum(p.numel() * p.element_size())")
### BEGIN HIDDEN TESTS
for part, hint in [("gradients", "every trained parameter has a gradient p.grad of its own shape and dtype, alive until the step"),
                   ("master_weights", "plain fp32 training has no master copy: 0 bytes"),
                   ("adam_moments", "AdamW keeps two fp32 tensors per parameter, exp_avg and exp_avg_sq: 8 bytes per parameter")]:
    expect.equal(got[part], want[part], what=f"the fp32 {part} of a {n}-parameter MLP, compared with a real AdamW step", hint=hint)

torch.manual_seed(9)
mlp16 = nn.Sequential(nn.Linear(16, 24), nn.GELU(), nn.Linear(24, 8)).to(torch.bfloat16)
n16 = sum(p.numel() for p in mlp16.parameters())
got16 = learner.training_memory_bytes(n16, True)
want16 = adamw_states_after_one_step(mlp16, True)
for part, hint in [("weights", "the forward pass uses 16-bit weights: 2 bytes per parameter"),
                   ("gradients", "the gradients of 16-bit weights are 16-bit: 2 bytes per parameter"),
                   ("master_weights", "mixed precision keeps an fp32 master copy of every weight for the update: 4 bytes per parameter"),
                   ("adam_moments", "Adam's moments stay in fp32 in mixed precision, two of them: 8 bytes per parameter")]:
    expect.equal(got16[part], want16[part], what=f"the mixed-precision {part} of a {n16}-parameter bf16 MLP, compared with a real AdamW step", hint=hint)

zero_paper = learner.training_memory_bytes(7_500_000_000, True)
expect.equal(sum(zero_paper.values()), 16 * 7_500_000_000, what="the mixed-precision model states of 7.5 billion parameters (the ZeRO paper's example)",
             hint="2 + 2 + K bytes per parameter with K = 12 (fp32 master, momentum, variance)")
expect.equal(sum(learner.training_memory_bytes(0, True).values()), 0, what="the training memory of 0 parameters")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Activations: what autograd keeps for the backward pass
#
# The backward pass of $y = xW^\top$ needs $x$ to compute $\partial L/\partial W = (\partial L/\partial y)^\top x$;
# the backward pass of GELU needs its input; that of softmax its output. Autograd **saves** these
# tensors during the forward pass and frees them when the backward pass has used them. Their total
# grows with the batch and the sequence length, not with the parameters, and for long sequences it is
# the largest item of training memory.
#
# Korthikanti et al. (2022, "Reducing activation recomputation in large transformer models")
# counted them for one GPT layer with 16-bit activations and dropout, for sequence length $s$,
# micro-batch $b$, width $h$, $a$ heads:
#
# | saved for backward | bytes |
# |---|---|
# | attention: input of the QKV projection | $2sbh$ |
# | $Q$ and $K$ for $QK^\top$ | $4sbh$ |
# | softmax output | $2as^2b$ |
# | attention dropout mask (1 byte per element) | $as^2b$ |
# | dropout output, for the product with $V$ | $2as^2b$ |
# | $V$ | $2sbh$ |
# | input of the output projection | $2sbh$ |
# | residual dropout mask | $sbh$ |
# | MLP: input of the first linear layer | $2sbh$ |
# | GELU input ($4h$ wide) | $8sbh$ |
# | input of the second linear layer (GELU output) | $8sbh$ |
# | residual dropout mask | $sbh$ |
# | two layer norms: their inputs | $4sbh$ |
# | **per layer** | $sbh\left(34 + 5\dfrac{as}{h}\right)$ |
#
# **What this means.** The $34\,sbh$ part grows linearly with the sequence, the $5as^2b$ part of
# the attention scores quadratically: for GPT-3's $h = 12288$, $a = 96$ and $s = 2048$, $5as/h = 80$, so
# the attention scores take 70 % of the layer's activations. FlashAttention (`32-flash-attention`)
# never stores the $s \times s$ scores, leaving $34\,sbh$. Korthikanti et al. reached the same
# result by **selective recomputation**: keep the $34\,sbh$, recompute the cheap softmax and dropout in the
# backward pass. **Full recomputation** (activation checkpointing) keeps only each layer's input,
# $2sbh$, and recomputes the whole layer in the backward pass: about a third more compute for a
# memory that no longer depends on what happens inside the layer.
#
# **Measuring it.** `torch.autograd.graph.saved_tensors_hooks(pack, unpack)` calls `pack(t)` on every
# tensor autograd saves. Several saved tensors can be views of one storage (the $Q$, $K$, $V$
# slices of one projection) or the same tensor saved twice; the memory kept alive is that of the
# distinct **storages** (`t.untyped_storage()`, identified by its `data_ptr()`, its size `nbytes()`).
# Linear layers also save their weight: that is a parameter, already counted in section 3, not
# an activation.
#
# The layer below is Korthikanti's GPT layer written out in plain torch operations (library code):
# pre-norm, attention with a causal mask, exact GELU, and dropout that keeps its mask as one byte
# per element (`torch.bool`), as Megatron-LM's fused kernels do (PyTorch's own CPU dropout keeps a
# 16-bit mask).

# %%
def dropout_with_bool_mask(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout that autograd saves as a 1-byte bool mask."""
    if not training or p == 0.0:
        return x
    keep = torch.rand(x.shape, device=x.device) >= p
    return x * keep / (1.0 - p)


class GPTLayer(nn.Module):
    """One pre-norm GPT layer (Korthikanti et al.'s accounting), x of shape (b, s, h) -> (b, s, h)."""

    def __init__(self, hidden: int, heads: int, dropout: float = 0.1):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.ln_1, self.ln_2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.qkv, self.proj = nn.Linear(hidden, 3 * hidden), nn.Linear(hidden, hidden)
        self.fc, self.fc_out = nn.Linear(hidden, 4 * hidden), nn.Linear(4 * hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        d = h // self.heads
        q, k, v = self.qkv(self.ln_1(x)).split(h, dim=-1)
        q, k, v = (t.view(b, s, self.heads, d).transpose(1, 2) for t in (q, k, v))
        causal = torch.full((s, s), float("-inf"), dtype=x.dtype, device=x.device).triu(1)
        probs = torch.softmax((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d)) + causal, dim=-1)
        attended = dropout_with_bool_mask(probs, self.dropout, self.training) @ v
        x = x + dropout_with_bool_mask(self.proj(attended.transpose(1, 2).reshape(b, s, h)), self.dropout, self.training)
        return x + dropout_with_bool_mask(self.fc_out(F.gelu(self.fc(self.ln_2(x)))), self.dropout, self.training)


# %% [markdown]
# What autograd saves in one small layer, tensor by tensor (bf16, $b = 2$, $s = 16$, $h = 64$, $a = 4$):

# %%
torch.manual_seed(0)
layer_demo = GPTLayer(64, 4).to(torch.bfloat16).train()
parameter_storages = {p.untyped_storage().data_ptr() for p in layer_demo.parameters()}
listing = []


def print_saved(t):
    storage = t.untyped_storage()
    kind = "parameter" if storage.data_ptr() in parameter_storages else "activation"
    listing.append(f"  {str(tuple(t.shape)):16s} {str(t.dtype):15s} storage {storage.nbytes():6d} bytes  {kind}")
    return t


with torch.autograd.graph.saved_tensors_hooks(print_saved, lambda t: t):
    layer_demo(torch.randn(2, 16, 64, dtype=torch.bfloat16))
print("\n".join(listing))

# %% [markdown]
# The (2, 16, 1) tensors are the mean and reciprocal standard deviation each layer norm keeps, two
# numbers per token: $4sb$ elements the paper leaves out as negligible.
#
# Write the measurement (about 15 minutes) and the formula (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "saved_activation_bytes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def saved_activation_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the activations autograd saves for the backward pass of module(x).

    Args:
        module: an nn.Module in the mode (train or eval) to measure.
        x: its input tensor, of any shape the module accepts.

    Returns:
        An int: the total nbytes() of the distinct storages of the tensors saved during module(x),
        recorded with torch.autograd.graph.saved_tensors_hooks; each storage counted once however many
        saved tensors view it, and the storages of the module's parameters left out.

    Example:
        >>> saved_activation_bytes(nn.Linear(8, 4), torch.randn(3, 8))   # the linear layer keeps its input
        96
    """
    ### BEGIN SOLUTION
    parameter_storages = {p.untyped_storage().data_ptr() for p in module.parameters()}
    saved = {}   # data_ptr -> nbytes, one entry per distinct storage

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in parameter_storages:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return sum(saved.values())
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "saved_activation_bytes_linear", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""a linear layer saves its input (the weight is a parameter, not an activation): 3 x 8 fp32 numbers are 96 bytes"""
from grader.testing import learner, scenario, expect


@scenario
def saved_by_linear(ns, dtype_name):
    """saved_activation_bytes of nn.Linear(8, 4) on a (3, 8) input of the given dtype."""
    torch.manual_seed(0)
    dtype = getattr(torch, dtype_name)
    return ns.saved_activation_bytes(nn.Linear(8, 4).to(dtype), torch.randn(3, 8).to(dtype))


got = saved_by_linear.learner("float32")
expect.true(isinstance(got, int), f"saved_activation_bytes returned a {type(got).__name__}: return an int")
expect.equal(got, 96, what="saved_activation_bytes(nn.Linear(8, 4), a (3, 8) fp32 input)",
             hint="count the input x (3 * 8 * 4 bytes) and leave out the weight, which is a parameter")

# %% nbgrader={"grade": true, "grade_id": "saved_activation_bytes_matches_reference", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the measured activations equal an independent count of the saved storages for a bf16 GPT layer in training mode, a layer in eval mode, an MLP in fp32 and a layer under activation checkpointing, counting each storage once and no parameter"""
from grader.testing import learner, scenario, expect


@scenario
def saved_by_gpt_layer(ns, batch, seq, hidden, heads, dtype_name, training):
    """saved_activation_bytes of a GPTLayer (defined in the notebook) with seeded weights and input."""
    torch.manual_seed(1)
    dtype = getattr(torch, dtype_name)
    layer = ns.GPTLayer(hidden, heads).to(dtype).train(training)
    return ns.saved_activation_bytes(layer, torch.randn(batch, seq, hidden).to(dtype))


@scenario
def saved_by_shared_input(ns):
    """An MLP whose input feeds two branches: the input is saved twice, one storage."""
    torch.manual_seed(2)

    class TwoBranches(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(10, 6), nn.Linear(10, 6)

        def forward(self, x):
            return torch.tanh(self.a(x)) * self.b(x)

    return ns.saved_activation_bytes(TwoBranches(), torch.randn(5, 10))


got = saved_by_gpt_layer.learner(2, 16, 64, 4, "bfloat16", True)
expect.true(isinstance(got, int) and got > 0, "saved_activation_bytes of a GPT layer must be a positive int")
### BEGIN HIDDEN TESTS


def independent_count(module, x):
    """Saved storages, identified by (data_ptr, nbytes), minus any storage a parameter lives in."""
    params = {(p.untyped_storage().data_ptr(), p.untyped_storage().nbytes()) for p in module.parameters()}
    storages = set()

    def pack(t):
        storages.add((t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return sum(size for key, size in storages - params)


hint = ("record every tensor pack() receives, key it by t.untyped_storage().data_ptr() so each storage counts once, "
        "skip the storages of module.parameters(), and add up storage.nbytes()")
for batch, seq, hidden, heads, dtype_name, training in [(2, 16, 64, 4, "bfloat16", True), (1, 24, 32, 2, "float32", False), (3, 8, 48, 6, "float16", True)]:
    torch.manual_seed(1)
    dtype = getattr(torch, dtype_name)
    layer = GPTLayer(hidden, heads).to(dtype).train(training)
    want = independent_count(layer, torch.randn(batch, seq, hidden).to(dtype))
    got = saved_by_gpt_layer.learner(batch, seq, hidden, heads, dtype_name, training)
    expect.equal(got, want, what=f"saved_activation_bytes of a {dtype_name} GPTLayer (b={batch}, s={seq}, h={hidden}, a={heads}, training={training})", hint=hint)


# saved: x (200 bytes, by both layers), tanh's output (120, by tanh and by the product), b(x) (120, by the product)
expect.equal(saved_by_shared_input.learner(), 200 + 120 + 120, what="saved_activation_bytes when one input feeds two linear layers",
             hint="the input is saved by both layers but lives in one storage: count each storage once")
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "activation_bytes_per_layer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def activation_bytes_per_layer(seq_len: int, batch: int, hidden: int, heads: int, recompute: str = "none") -> int:
    """Korthikanti et al.'s activation memory of one GPT layer, 16-bit activations, 1-byte dropout masks.

    Args:
        seq_len (s), batch (b), hidden (h), heads (a): the shapes.
        recompute: "none" (everything saved: s*b*h*(34 + 5*a*s/h)), "selective" (the attention
            scores, softmax and dropout recomputed: 34*s*b*h) or "full" (activation checkpointing:
            only the layer input, 2*s*b*h).

    Returns:
        An int: the bytes, 34*s*b*h + 5*a*s*s*b for "none".

    Example:
        >>> activation_bytes_per_layer(2048, 1, 12288, 96)    # one GPT-3 layer, one sequence
        1862270976
    """
    ### BEGIN SOLUTION
    sbh = seq_len * batch * hidden
    if recompute == "none":
        return 34 * sbh + 5 * heads * seq_len * seq_len * batch    # = s*b*h*(34 + 5*a*s/h)
    if recompute == "selective":
        return 34 * sbh
    if recompute == "full":
        return 2 * sbh                                            # the layer's 16-bit input
    raise ValueError(f"recompute must be 'none', 'selective' or 'full', not {recompute!r}")
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "activation_formula_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the activation formula of a small layer without recomputation, as an int"""
from grader.testing import learner, expect

got = learner.activation_bytes_per_layer(16, 2, 64, 4)
expect.true(isinstance(got, int), f"activation_bytes_per_layer returned a {type(got).__name__}: return an int (34*s*b*h + 5*a*s*s*b)")
expect.equal(got, 16 * 2 * 64 * 34 + 5 * 4 * 16 * 16 * 2, what="activation_bytes_per_layer(16, 2, 64, 4)",
             hint="s*b*h*(34 + 5*a*s/h) = 34*s*b*h + 5*a*s*s*b")

# %% nbgrader={"grade": true, "grade_id": "activation_formula_matches_measurement", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the activation formula predicts the bytes autograd saves in a bf16 and an fp16 GPT layer in training (up to the layer norms' statistics, 4 numbers per token), for several shapes, and gives 34sbh with selective and 2sbh with full recomputation"""
from grader.testing import learner, expect

expect.equal(learner.activation_bytes_per_layer(2048, 1, 12288, 96, "full"), 2 * 2048 * 12288, what='activation_bytes_per_layer(..., "full") for a GPT-3 layer',
             hint="with full recomputation only the layer's 16-bit input is kept: 2*s*b*h")
### BEGIN HIDDEN TESTS


def measured_layer_bytes(batch, seq, hidden, heads, dtype):
    """The saved storages of a GPTLayer in training, minus its layer norms' mean and rstd (4 numbers per token)."""
    torch.manual_seed(3)
    layer = GPTLayer(hidden, heads).to(dtype).train()
    params = {p.untyped_storage().data_ptr() for p in layer.parameters()}
    storages = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(torch.randn(batch, seq, hidden).to(dtype))
    return sum(storages.values()) - 4 * batch * seq * torch.empty(0, dtype=dtype).element_size()


for batch, seq, hidden, heads, dtype in [(2, 16, 64, 4, torch.bfloat16), (1, 64, 32, 8, torch.float16), (3, 8, 96, 2, torch.bfloat16)]:
    expect.equal(learner.activation_bytes_per_layer(seq, batch, hidden, heads), measured_layer_bytes(batch, seq, hidden, heads, dtype),
                 what=f"activation_bytes_per_layer(s={seq}, b={batch}, h={hidden}, a={heads}) against the bytes autograd saves in a 16-bit GPTLayer",
                 hint="34*s*b*h for the linear-size tensors (table of section 4) plus 5*a*s*s*b for the scores: softmax output (2), dropout mask (1) and dropout output (2)")
for seq, batch, hidden, heads in [(2048, 1, 12288, 96), (4096, 8, 4096, 32), (1, 1, 8, 1)]:
    expect.equal(learner.activation_bytes_per_layer(seq, batch, hidden, heads, "selective"), 34 * seq * batch * hidden,
                 what=f'activation_bytes_per_layer(s={seq}, b={batch}, h={hidden}, a={heads}, "selective")',
                 hint="selective recomputation drops the 5*a*s*s*b of the attention scores and keeps 34*s*b*h")
    expect.equal(learner.activation_bytes_per_layer(seq, batch, hidden, heads, "full"), 2 * seq * batch * hidden,
                 what=f'activation_bytes_per_layer(s={seq}, b={batch}, h={hidden}, a={heads}, "full")')
    expect.equal(learner.activation_bytes_per_layer(seq, batch, hidden, heads), 34 * seq * batch * hidden + 5 * heads * seq * seq * batch,
                 what=f"activation_bytes_per_layer(s={seq}, b={batch}, h={hidden}, a={heads}) without recomputation",
                 hint="s*b*h*(34 + 5*a*s/h); compute it in integers: 34*s*b*h + 5*a*s*s*b")
### END HIDDEN TESTS

# %% [markdown]
# Your measurement against your formula for one layer, and what activation checkpointing
# (`torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False)`) keeps: only the layer's input,
# the rest is recomputed in the backward pass.

# %%
class Checkpointed(nn.Module):
    """A module run under activation checkpointing: autograd keeps its input and recomputes the rest."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return torch.utils.checkpoint.checkpoint(self.inner, x, use_reentrant=False)


torch.manual_seed(0)
for s, b, h, a in [(64, 2, 64, 4), (128, 1, 128, 4)]:
    layer = GPTLayer(h, a).to(torch.bfloat16).train()
    x = torch.randn(b, s, h, dtype=torch.bfloat16)
    print(f"s={s:3d} b={b} h={h:3d} a={a}:  measured {saved_activation_bytes(layer, x):>9,d}   "
          f"formula {activation_bytes_per_layer(s, b, h, a):>9,d}   checkpointed: measured {saved_activation_bytes(Checkpointed(layer), x):>7,d}"
          f"  formula {activation_bytes_per_layer(s, b, h, a, 'full'):>7,d}")

# %% [markdown]
# (The measurement is larger by the layer norms' statistics, 4 numbers per token.) Where a real
# layer's activations go, for Llama-2-7B-sized shapes ($h = 4096$, $a = 32$) and batch 1, and the
# total over 32 layers with and without recomputation:

# %%
def activation_parts(s, b, h, a):
    """Korthikanti's table of section 4 grouped in five parts, in bytes."""
    return {"attention scores ($5as^2b$)": 5 * a * s * s * b, "MLP ($19sbh$)": 19 * s * b * h,
            "Q, K, V ($6sbh$)": 6 * s * b * h, "other attention ($5sbh$)": 5 * s * b * h, "layer norms ($4sbh$)": 4 * s * b * h}


seqs = [512, 1024, 2048, 4096, 8192]
fig, (ax_parts, ax_total) = plt.subplots(1, 2, figsize=(12, 4))
bottom = np.zeros(len(seqs))
for part in activation_parts(1, 1, 1, 1):
    values = np.array([activation_parts(s, 1, 4096, 32)[part] for s in seqs]) / GB
    ax_parts.bar([str(s) for s in seqs], values, bottom=bottom, label=part)
    bottom += values
ax_parts.set(xlabel="sequence length $s$", ylabel="GB per layer", title="one layer, $h$ = 4096, $a$ = 32, $b$ = 1")
ax_parts.legend(fontsize=8)
for strategy, formula in [("none", lambda s: 32 * (34 * s * 4096 + 5 * 32 * s * s)), ("selective", lambda s: 32 * 34 * s * 4096),
                          ("full", lambda s: 32 * 2 * s * 4096)]:
    ax_total.plot(seqs, [formula(s) / GB for s in seqs], marker="o", label=f"recompute = {strategy}")
ax_total.set(xscale="log", yscale="log", xlabel="sequence length $s$", ylabel="GB for 32 layers", title="32 layers, $b$ = 1")
ax_total.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5 · A worked budget: fine-tuning Llama 2 7B
#
# Four ways to fine-tune Llama 2 7B ($N = 6.74 \times 10^9$) on sequences of 2048 tokens, batch 1.
# **LoRA** (`24-lora`) freezes the base model and trains two small matrices $B A$ of rank $r$ beside
# each linear layer; with $r = 16$ on all seven projections of every layer that is
# $32 \cdot 16 \cdot \big(4 \cdot (4096 + 4096) + 3 \cdot (4096 + 11008)\big) = 40.0$ million trainable
# parameters, 0.6 % of the model. **QLoRA** also stores the frozen base in NF4 with double
# quantization. Frozen weights need no gradients and no optimizer states; the gradients still flow
# *through* them to the adapters, so the activations stay. Activations with full recomputation:
# $32 \times 2sbh$ for the checkpoints plus one layer's full activations during its recomputation.
#
# | GB | weights | gradients | fp32 master | Adam moments | activations | **total** |
# |---|---|---|---|---|---|---|
# | full fine-tuning, fp32 | 26.95 | 26.95 | — | 53.91 | 1.49 | **109.3** |
# | full fine-tuning, mixed precision | 13.48 | 13.48 | 26.95 | 53.91 | 1.49 | **109.3** |
# | LoRA $r = 16$, bf16 base | 13.56 | 0.08 | 0.16 | 0.32 | 1.49 | **15.6** |
# | QLoRA $r = 16$, NF4 + DQ base | 3.56 | 0.08 | 0.16 | 0.32 | 1.49 | **5.6** |
#
# (Activations: $32 \cdot 2sbh + sbh(34 + 5as/h) = 0.54 + 0.96$ GB; without recomputation they would be
# $32 \times 0.96 = 30.6$ GB. The LoRA adapters are trained in mixed precision: bf16 weights and
# gradients, fp32 master and moments. Not counted: the CUDA context (about 0.5 GB), temporaries and
# fragmentation of the allocator, the logits of the 32 000-word vocabulary: $2 \cdot s \cdot V$ bytes, 0.13 GB in bf16, more
# in fp32 for the loss.)
#
# **What this means.** Full fine-tuning of a 7B model needs more than one 80 GB GPU, whatever
# the precision: the model states alone are 108 GB, and ZeRO-3 or FSDP shard them over several GPUs.
# LoRA removes almost all gradient and optimizer memory; QLoRA also shrinks the frozen weights by
# a factor of four, so the whole fine-tuning fits on a 24 GB consumer card with room for longer
# sequences. The same table, computed by your functions:

# %%
def lora_parameter_count(config: dict, rank: int) -> int:
    """Trainable parameters of LoRA adapters of rank `rank` on q, k, v, o, gate, up and down of a LLaMA config."""
    d, f = config["hidden_size"], config["intermediate_size"]
    per_layer = 4 * rank * (d + d) + 3 * rank * (d + f)     # each adapter: A (r x in) and B (out x r)
    return config["num_hidden_layers"] * per_layer


def finetune_budget(n_params: int, config: dict, seq_len: int, batch: int, rank: int = 16) -> dict:
    """GB per part for four ways of fine-tuning a LLaMA model, with your functions; full recomputation of activations."""
    h, a, layers = config["hidden_size"], config["num_attention_heads"], config["num_hidden_layers"]
    activations = layers * activation_bytes_per_layer(seq_len, batch, h, a, "full") + activation_bytes_per_layer(seq_len, batch, h, a)
    n_lora = lora_parameter_count(config, rank)
    lora_states = training_memory_bytes(n_lora, mixed_precision=True)
    budget = {}
    for name, states, frozen in [("full, fp32", training_memory_bytes(n_params, False), 0),
                                 ("full, mixed precision", training_memory_bytes(n_params, True), 0),
                                 ("LoRA, bf16 base", lora_states, n_params * bytes_per_parameter("bf16")),
                                 ("QLoRA, NF4 + DQ base", lora_states, n_params * bytes_per_parameter("nf4_double_quant"))]:
        budget[name] = {"weights": (states["weights"] + frozen) / GB, "gradients": states["gradients"] / GB,
                        "fp32 master": states["master_weights"] / GB, "Adam moments": states["adam_moments"] / GB,
                        "activations": activations / GB}
    return budget


budget_7b = finetune_budget(PARAMETER_COUNTS["Llama 2 7B"], LLAMA_CONFIGS["Llama 2 7B"], seq_len=2048, batch=1)
print(f"{'GB':24s}" + "".join(f"{part:>14s}" for part in next(iter(budget_7b.values()))) + f"{'total':>10s}")
for name, parts in budget_7b.items():
    print(f"{name:24s}" + "".join(f"{value:14.2f}" for value in parts.values()) + f"{sum(parts.values()):10.1f}")

fig, ax = plt.subplots(figsize=(9, 4))
left = np.zeros(len(budget_7b))
for part in next(iter(budget_7b.values())):
    values = np.array([parts[part] for parts in budget_7b.values()])
    ax.barh(list(budget_7b), values, left=left, label=part)
    left += values
for limit, label in [(24, "24 GB"), (80, "80 GB")]:
    ax.axvline(limit, color="grey", ls=":", lw=1)
    ax.text(limit, -0.6, label, ha="center", fontsize=8, color="grey")
ax.invert_yaxis()
ax.set(xlabel="GB", title="fine-tuning Llama 2 7B, s = 2048, b = 1, activation checkpointing")
ax.legend(fontsize=8, loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6 · Arithmetic intensity and the roofline
#
# A GPU does two things: arithmetic, at a peak rate $\pi$ (FLOP/s), and moving bytes between its
# memory (HBM) and its cores, at a bandwidth $\beta$ (bytes/s). An operation doing $W$ FLOPs on $Q$
# bytes takes at least $\max(W/\pi,\ Q/\beta)$. Its **arithmetic intensity** $I = W/Q$ (FLOPs per
# byte) decides which limit applies; the attainable rate is the **roofline** (Williams et al., 2009)
#
# $$P(I) = \min(\pi,\ \beta\, I), \qquad \text{ridge point } I^* = \pi/\beta .$$
#
# Below $I^*$ an operation is **memory-bound**: the cores wait for data. Above it, **compute-bound**.
#
# **A matrix product** $C = AB$ with $A \in \mathbb{R}^{m \times k}$, $B \in \mathbb{R}^{k \times n}$:
# each of the $mn$ outputs is a dot product of length $k$, $k$ multiplications and $k$ additions, so
# $W = 2mnk$ (a multiply-add is two FLOPs, as `torch.utils.flop_counter` and every data sheet count
# them). At best each operand is read once and the result written once:
# $Q = (mk + kn + mn) \times$ bytes per element. So
#
# $$I = \frac{2mnk}{(mk + kn + mn)\,\text{bytes}} .$$
#
# **What this means.** For a square product $m = n = k$ in bf16, $I = 2n^3/(6n^2) = n/3$: large
# products are compute-bound. A linear layer applied to $m$ tokens has $k \times n$ weights; for
# $m \ll k, n$ the weights dominate $Q$ and $I \approx 2mkn/(2kn) = m$ FLOPs per byte in bf16: the
# intensity is the number of tokens processed at once. **Batch-1 decoding** ($m = 1$) does 2 FLOPs
# per weight and reads each 2-byte weight once: $I \approx 1$, far below the ridge (about 300 on an
# H100). **Training** on $m = $ batch $\times$ sequence $= 10^5$ or more tokens per step is far above.
#
# Published peak numbers (dense, no sparsity; NVIDIA data sheets):
#
# | GPU | bf16 peak $\pi$ | HBM bandwidth $\beta$ | ridge point $\pi/\beta$ |
# |---|---|---|---|
# | A100 SXM 80 GB | 312 TFLOP/s | 2.04 TB/s | 153 FLOP/byte |
# | H100 SXM | 989 TFLOP/s | 3.35 TB/s | 295 FLOP/byte |
#
# torch counts the FLOPs of every operation it runs with `torch.utils.flop_counter.FlopCounterMode`:

# %%
from torch.utils.flop_counter import FlopCounterMode

a_demo, b_demo = torch.randn(3, 5), torch.randn(5, 7)
with FlopCounterMode(display=False) as counter:
    a_demo @ b_demo
print("FLOPs of a (3, 5) @ (5, 7) product counted by torch:", counter.get_total_flops(), "= 2 * 3 * 7 * 5")

# %% [markdown]
# Write the intensity (about 5 minutes) and the roofline (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "matmul_arithmetic_intensity", "locked": false, "schema_version": 3, "solution": true, "task": false}
def matmul_arithmetic_intensity(m: int, n: int, k: int, bytes_per_element: float = 2.0) -> float:
    """FLOPs per byte of C = A @ B, A (m, k), B (k, n), each operand read once and C written once.

    Args:
        m, n, k: the shapes.
        bytes_per_element: bytes of one number (2.0 for bf16, 4.0 for fp32), the same for A, B and C.

    Returns:
        A float: 2*m*n*k / ((m*k + k*n + m*n) * bytes_per_element).

    Example:
        >>> matmul_arithmetic_intensity(4096, 4096, 4096)    # a large square product in bf16: n / 3
        1365.3333333333333
    """
    ### BEGIN SOLUTION
    flops = 2 * m * n * k                                      # one multiply and one add per term of every dot product
    bytes_moved = (m * k + k * n + m * n) * bytes_per_element  # read A and B, write C
    return flops / bytes_moved
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "intensity_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the intensity of a square bf16 product is n / 3 FLOPs per byte"""
from grader.testing import learner, expect

expect.close(learner.matmul_arithmetic_intensity(300, 300, 300, 2.0), 100.0, atol=1e-9, what="matmul_arithmetic_intensity(300, 300, 300, 2.0)",
             hint="2*m*n*k FLOPs over (m*k + k*n + m*n) * bytes: 2 * 300**3 / (3 * 300**2 * 2)")

# %% nbgrader={"grade": true, "grade_id": "intensity_matches_flop_counter", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the intensity equals torch's FlopCounterMode FLOPs of the product over the bytes of A, B and C, for rectangular shapes, batch-1 decoding shapes and fp32"""
from grader.testing import learner, expect

expect.close(learner.matmul_arithmetic_intensity(1, 4096, 4096, 2.0), 2 * 4096 * 4096 / ((4096 + 4096 * 4096 + 4096) * 2), rtol=1e-12,
             what="matmul_arithmetic_intensity(1, 4096, 4096), one token through a 4096 x 4096 layer",
             hint="2*m*n*k FLOPs; the bytes are those of A (m*k), B (k*n) and the written output C (m*n)")
### BEGIN HIDDEN TESTS
from torch.utils.flop_counter import FlopCounterMode

hint = ("FLOPs are 2*m*n*k (a multiply and an add per term, as FlopCounterMode counts them); the bytes include the "
        "output C = m*n elements written, besides A and B read")
for m, n, k, dtype in [(3, 5, 7, torch.bfloat16), (64, 8, 128, torch.float32), (1, 11008, 4096, torch.float16), (512, 512, 1, torch.float32),
                       (2048, 4096, 4096, torch.bfloat16)]:
    a, b = torch.empty(m, k, dtype=dtype, device="meta"), torch.empty(k, n, dtype=dtype, device="meta")
    with FlopCounterMode(display=False) as counter:
        c = a @ b
    size = torch.empty(0, dtype=dtype).element_size()
    want = counter.get_total_flops() / ((a.numel() + b.numel() + c.numel()) * size)
    expect.close(learner.matmul_arithmetic_intensity(m, n, k, float(size)), want, rtol=1e-12, atol=0,
                 what=f"matmul_arithmetic_intensity({m}, {n}, {k}, {float(size)}), compared with FlopCounterMode and the tensors' bytes", hint=hint)
expect.close(learner.matmul_arithmetic_intensity(96, 48, 24), 2 * 96 * 48 * 24 / ((96 * 24 + 24 * 48 + 96 * 48) * 2.0), rtol=1e-12, atol=0,
             what="matmul_arithmetic_intensity(96, 48, 24) with the default bytes_per_element", hint="the default is bf16: 2.0 bytes per element")
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "attainable_flops", "locked": false, "schema_version": 3, "solution": true, "task": false}
def attainable_flops(intensity, peak_flops: float, bandwidth: float):
    """The roofline: the FLOP/s an operation of a given arithmetic intensity can reach.

    Args:
        intensity: FLOPs per byte, a float or a float64 numpy array of any shape.
        peak_flops: the peak compute rate (FLOP/s).
        bandwidth: the memory bandwidth (bytes/s).

    Returns:
        min(peak_flops, bandwidth * intensity), elementwise: a float for a float, an array of intensity's shape for an array.

    Example:
        >>> attainable_flops(1.0, 989e12, 3.35e12)     # batch-1 decoding on an H100: 3.35 TFLOP/s
        3350000000000.0
    """
    ### BEGIN SOLUTION
    attainable = np.minimum(peak_flops, bandwidth * np.asarray(intensity, dtype=np.float64))
    return float(attainable) if attainable.ndim == 0 else attainable
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "attainable_flops_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the roofline is bandwidth times intensity below the ridge point and the peak above it"""
from grader.testing import learner, expect

expect.close(learner.attainable_flops(10.0, 1000.0, 2.0), 20.0, atol=1e-12, what="attainable_flops(10, peak 1000, bandwidth 2)",
             hint="below the ridge point the bandwidth limits: bandwidth * intensity")
expect.close(learner.attainable_flops(1e4, 1000.0, 2.0), 1000.0, atol=1e-12, what="attainable_flops(1e4, peak 1000, bandwidth 2)",
             hint="above the ridge point the peak limits: min(peak, bandwidth * intensity)")

# %% nbgrader={"grade": true, "grade_id": "attainable_flops_arrays_and_gpus", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the roofline works elementwise on arrays, meets the peak exactly at the ridge point and reproduces the published A100 and H100 ridge points"""
from grader.testing import learner, expect

got = learner.attainable_flops(np.array([0.5, 1.0, 1000.0]), 312e12, 2.039e12)
expect.shape(got, (3,), what="attainable_flops of an array of 3 intensities", hint="np.minimum works elementwise")
### BEGIN HIDDEN TESTS
hint = "min(peak, bandwidth * intensity), elementwise (np.minimum, not min() or max)"
intensities = np.logspace(-1, 4, 41)
for peak, bandwidth, gpu in [(312e12, 2.039e12, "A100"), (989e12, 3.35e12, "H100")]:
    got = learner.attainable_flops(intensities, peak, bandwidth)
    expect.shape(got, (41,), what=f"the {gpu} roofline over 41 intensities")
    expect.close(got, np.minimum(peak, bandwidth * intensities), rtol=1e-12, atol=0, what=f"the {gpu} roofline over intensities 0.1 to 1e4", hint=hint)
    expect.close(learner.attainable_flops(peak / bandwidth, peak, bandwidth), peak, rtol=1e-12, atol=0, what=f"the {gpu} roofline at its ridge point", hint=hint)
expect.close(learner.attainable_flops(np.array([[1.0, 2.0], [3.0, 4.0]]), 5.0, 2.0), np.array([[2.0, 4.0], [5.0, 5.0]]), atol=1e-12,
             what="attainable_flops of a (2, 2) array of intensities", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# The roofline of both GPUs, with the linear layers of a Llama 2 7B forward pass ($4096 \times 11008$,
# bf16) for growing numbers of tokens $m$ per step, drawn with your functions:

# %%
GPUS = {"A100 SXM": (312e12, 2.039e12), "H100 SXM": (989e12, 3.35e12)}
grid = np.logspace(-1, 4, 200)
fig, ax = plt.subplots(figsize=(8, 4.5))
for name, (peak, bandwidth) in GPUS.items():
    ax.plot(grid, attainable_flops(grid, peak, bandwidth) / 1e12, label=f"{name}: ridge at {peak / bandwidth:.0f} FLOP/byte")
for tokens, label in [(1, "decode, batch 1"), (16, "decode, batch 16"), (256, "256 tokens"), (4096, "prefill / training, 4096 tokens")]:
    intensity = matmul_arithmetic_intensity(tokens, 11008, 4096, 2.0)
    ax.scatter([intensity], [attainable_flops(intensity, *GPUS["H100 SXM"]) / 1e12], zorder=3)
    ax.annotate(f"{label}\nI = {intensity:.0f}", (intensity, attainable_flops(intensity, *GPUS["H100 SXM"]) / 1e12),
                textcoords="offset points", xytext=(6, -22), fontsize=8)
ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOPs per byte)", ylabel="attainable TFLOP/s",
       title="roofline, bf16, with a (m x 4096) @ (4096 x 11008) product")
ax.legend(fontsize=8, loc="upper left")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Why batch-1 decoding speed is set by memory bandwidth
#
# Generating one token with batch 1 multiplies one vector by every weight matrix: each weight is
# read from memory once and used for 2 FLOPs. The time of a token is therefore at least the time
# to read the weights (plus the KV cache, small for short contexts):
#
# $$\text{tokens/s} \approx \frac{\beta}{\text{bytes of the weights}} = \frac{\beta}{N \times \text{bytes per parameter}} .$$
#
# Llama 2 7B in bf16 on an H100: $3.35 \times 10^{12} / (6.74 \times 10^9 \times 2) \approx 250$ tokens/s at
# best, using 0.3 % of the GPU's arithmetic. **What this means.** Quantizing the weights to 4 bits speeds
# up decoding almost 4 times, although every weight must be dequantized before it is used: the
# arithmetic is free, the bytes are not. Batching $b$ sequences reads each weight once for $b$ tokens,
# so throughput grows almost linearly with $b$ until the intensity reaches the ridge point; this is
# why serving systems batch many users together (`31-kv-cache`). Speculative decoding
# (`33-speculative-decoding`) uses the same slack.

# %%
print(f"{'upper bound, tokens/s at batch 1':34s}" + "".join(f"{gpu:>12s}" for gpu in GPUS))
for model in ["Llama 2 7B", "Llama 2 13B"]:
    for fmt, size in [("bf16", 2.0), ("int8", 1.0), ("nf4", 0.5625)]:
        weight_bytes = PARAMETER_COUNTS[model] * size
        print(f"{model + ', ' + fmt:34s}" + "".join(f"{bandwidth / weight_bytes:12.0f}" for _, bandwidth in GPUS.values()))

# %% [markdown]
# ## Practical considerations
#
# **Where memory goes that these formulas miss.** The CUDA context (0.3-1 GB per process, before any
# tensor), the caching allocator's rounding (blocks of 512 bytes, segments of 2 MB) and
# fragmentation; temporaries of the largest operation (the logits and their softmax for a large
# vocabulary: $s \cdot b \cdot V$ numbers, often in fp32 for the loss); cuBLAS and attention
# workspaces. `torch.cuda.max_memory_allocated()` is the peak of the tensors torch allocated, and
# `torch.cuda.memory_reserved()` what the allocator holds from the driver; `nvidia-smi` shows the
# latter plus the context.
#
# **The peak is not the sum.** Gradients are created during the backward pass while activations are
# freed; the optimizer's states appear at the first `step()` (which is why out-of-memory errors
# often come at step 1, not step 0). `optimizer.zero_grad(set_to_none=True)` (the default) frees the
# gradients between steps.
#
# **Common bugs, and how the tests here catch them.**
#
# | mistake | symptom | caught by |
# |---|---|---|
# | Adam state counted once (4 bytes instead of 8) | 12 bytes per parameter instead of 16 | `exp_avg` and `exp_avg_sq` of a real AdamW step |
# | bf16 taken as 4 bytes, or a 4-bit number as one byte | the name "16" of bf16 overlooked; two 4-bit codes share a byte | `element_size()`, bitsandbytes' packed codes |
# | gradients forgotten | training seems to need 12 (fp32) or 14 (mixed) bytes per parameter | `p.grad` after `backward()` |
# | NF4 without its block scales | 0.5 instead of 0.5625 bytes per parameter: 0.8 GB missing for 13B | bitsandbytes' `absmax` |
# | intensity without the output write | overestimates the intensity of small and rectangular products | FLOPs and bytes of real tensors |
# | FLOPs $= mnk$ | intensities and MFU half the true value | `FlopCounterMode` |
# | saved storages counted per tensor | views and tensors saved twice counted several times | an input feeding two layers |
# | weights counted as activations | the activation memory depends on the parameters | `nn.Linear` |
#
# **Hyperparameters that matter.** The micro-batch size and the sequence length (activations grow as
# $sb$ and $s^2b$); the recomputation strategy (none, selective, full, or every $k$-th layer); the
# precision of the weights and of the optimizer states (8-bit Adam cuts 8 bytes to 2); the LoRA rank
# and which layers get adapters; the sharding degree (ZeRO stage 1 shards the optimizer states,
# stage 2 also the gradients, stage 3 the weights: `21-distributed`).

# %% [markdown]
# ## On a GPU: torch's CUDA memory counters
#
# The two tests below (tagged `gpu`, run only where CUDA is present) compare your predictions with
# `torch.cuda.memory_allocated()`, which counts the bytes of every tensor torch has allocated on
# the GPU (rounded up to multiples of 512 bytes). The first builds a model on the GPU, runs one
# AdamW step and compares the increase with `training_memory_bytes`; the second runs one bf16
# `GPTLayer` forward pass and compares what stays allocated (the saved activations and the output)
# with `activation_bytes_per_layer` plus the output.

# %% nbgrader={"grade": true, "grade_id": "training_memory_on_cuda", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["gpu"]
"""on a CUDA GPU, the memory torch.cuda.memory_allocated reports after one AdamW step of an fp32 model equals training_memory_bytes to 1 %"""
from grader.testing import needs_gpu; needs_gpu()
from grader.testing import learner, expect

warm_up = nn.Linear(1024, 1024, bias=False).cuda()   # the first matrix product allocates cuBLAS's workspace, which stays allocated
warm_up(torch.randn(4, 1024, device="cuda")).sum().backward()
del warm_up
torch.cuda.synchronize()
torch.cuda.empty_cache()
before = torch.cuda.memory_allocated()
torch.manual_seed(10)
model = nn.Sequential(*[nn.Linear(1024, 1024, bias=False) for _ in range(8)]).cuda()   # 8 x 4 MiB tensors: no rounding
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=False)
model(torch.randn(4, 1024, device="cuda")).pow(2).mean().backward()
optimizer.step()
torch.cuda.synchronize()
states = torch.cuda.memory_allocated() - before   # weights, gradients, moments and the small step counters
n = sum(p.numel() for p in model.parameters())
predicted = learner.training_memory_bytes(n, False)
expect.close(sum(predicted.values()), states, rtol=0.01, atol=0, what="the total of training_memory_bytes against torch.cuda.memory_allocated after one AdamW step",
             hint="weights, gradients (p.grad) and Adam's exp_avg and exp_avg_sq: 16 bytes per fp32 parameter")
### BEGIN HIDDEN TESTS
expect.close(float(predicted["adam_moments"]), float(sum(s[k].numel() * s[k].element_size() for s in optimizer.state.values() for k in ("exp_avg", "exp_avg_sq"))),
             rtol=0, atol=0, what="the Adam moments of the CUDA model", hint="two fp32 moments per parameter")
del model, optimizer
torch.cuda.empty_cache()
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "activation_memory_on_cuda", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["gpu"]
"""on a CUDA GPU, the memory a bf16 GPT layer keeps allocated after its forward pass, measured with torch.cuda.memory_allocated, equals activation_bytes_per_layer plus the output to 5 %"""
from grader.testing import needs_gpu; needs_gpu()
from grader.testing import learner, expect

s, b, h, a = 1024, 4, 1024, 16
torch.manual_seed(11)
layer = GPTLayer(h, a).to(device="cuda", dtype=torch.bfloat16).train()
x = torch.randn(b, s, h, device="cuda", dtype=torch.bfloat16)
layer(x).float().sum().backward()   # warm-up: cuBLAS workspaces are allocated once and stay
layer.zero_grad(set_to_none=True)
torch.cuda.synchronize()
before = torch.cuda.memory_allocated()
y = layer(x)
torch.cuda.synchronize()
kept = torch.cuda.memory_allocated() - before    # saved activations (the input x was allocated before) and the output y
predicted = learner.activation_bytes_per_layer(s, b, h, a) + y.numel() * y.element_size() - x.numel() * x.element_size()
expect.close(float(predicted), float(kept), rtol=0.05, atol=0, what="activation_bytes_per_layer + the output - the input (allocated before) against torch.cuda.memory_allocated",
             hint="s*b*h*(34 + 5*a*s/h) bytes: the attention scores alone are 5*a*s*s*b")
### BEGIN HIDDEN TESTS
expect.close(float(learner.activation_bytes_per_layer(s, b, h, a, "selective")), float(34 * s * b * h), rtol=0, atol=0,
             what="selective recomputation on the CUDA shapes")
del layer, x, y
torch.cuda.empty_cache()
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | bytes per parameter | fp32 4, fp16 and bf16 2, int8 1, int4 0.5, NF4 $(4 + 32/64)/8$, NF4 + DQ $(4 + 8/64 + 32/16384)/8$ | `t.element_size()`; bitsandbytes' `absmax` | choosing the precision a model is stored, served and fine-tuned in |
# | weights in memory | $N \times$ bytes per parameter | build on `torch.device("meta")`, sum `p.numel()` | 13B: 26 GB in fp16, 6.5-7.3 GB in 4-bit |
# | GPT-2 parameters | $VD + PD + L(12D^2 + 13D) + 2D$ | integer arithmetic, checked on the meta device | sizing GPT-2-style models |
# | training states (AdamW) | 16 bytes per parameter: $4+4+8$ (fp32) or $2+2+4+8$ (mixed) | sum over `p`, `p.grad`, `optimizer.state[p]` | why full fine-tuning needs sharding (ZeRO, FSDP) |
# | saved activations | distinct storages of saved tensors | `torch.autograd.graph.saved_tensors_hooks`, `untyped_storage()` | finding what fills the GPU during training |
# | activations per layer | $sbh(34 + 5as/h)$; $34sbh$ selective; $2sbh$ full recomputation | `torch.utils.checkpoint.checkpoint(..., use_reentrant=False)` | batch size and context length of training runs |
# | LoRA / QLoRA budget | frozen base in bf16 or NF4 + 16 bytes per trainable parameter | peft adapters on a quantized base | fine-tuning 7-70B models on one GPU |
# | arithmetic intensity | $2mnk / ((mk + kn + mn)\,\text{bytes})$ | `FlopCounterMode` | which kernels are worth optimising; MFU |
# | roofline | $\min(\pi, \beta I)$, ridge $\pi/\beta$ (A100 153, H100 295 FLOP/byte in bf16) | `np.minimum(peak, bandwidth * I)` | compute-bound training and prefill, memory-bound decoding |
# | decoding speed | tokens/s $\approx \beta / (N \times \text{bytes per parameter})$ at batch 1 | bandwidth over weight bytes | why quantization and batching speed up serving |

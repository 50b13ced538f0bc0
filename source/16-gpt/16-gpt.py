# %% [markdown]
# # 16 · GPT: a decoder-only transformer trained on Tiny Shakespeare
#
# A GPT reads a sequence of tokens $x_1, \dots, x_t$ and outputs, at every position, a probability
# distribution over the token that comes next. It is a stack of $L$ pre-norm transformer blocks
# between a token-plus-position embedding and a final LayerNorm, and it reads the embedding matrix
# $W_E$ a second time, transposed, to score the vocabulary:
#
# $$\boxed{\;h^{(0)}_t = W_E[x_t] + P_t,\quad
# h^{(l)} = a^{(l)} + \operatorname{MLP}\big(\operatorname{LN}_2(a^{(l)})\big),\;
# a^{(l)} = h^{(l-1)} + \operatorname{CausalAttn}\big(\operatorname{LN}_1(h^{(l-1)})\big),\quad
# p_\theta(x_{t+1} \mid x_{\le t}) = \operatorname{softmax}\big(\operatorname{LN}_f(h^{(L)}_t)\, W_E^\top\big)\;}$$
#
# and it is trained by minimising the **causal language-modelling loss**, the average of
# $-\log p_\theta(x_{t+1} \mid x_{\le t})$ over every position of the training text.
#
# Why it matters for LLMs: this is the architecture of GPT-2, and every later decoder (GPT-3 and 4,
# LLaMA, Mistral, Qwen) is this model with some parts swapped. The model you train here is the
# course's own language model: the one later assignments fine-tune, align, quantize and serve.
#
# **What you will build:** causal self-attention that can also return its attention weights; the
# pre-norm block; the whole GPT with learned positions and weight tying, under parameter names
# that load GPT-2-style checkpoints (and give the same logits as transformers' `GPT2LMHeadModel`);
# the causal LM loss; a warmup-plus-cosine learning-rate schedule and the training loop; the three
# sampling filters (temperature, top-k, top-p) and a generation loop; and two small tools to read
# attention patterns. Then you load the **course model**, a GPT trained on Tiny Shakespeare by the
# course's own script, into your class, sample from it, and look at what its heads attend to.

# %% [markdown]
# ## Prerequisites
#
# - `15-transformer`: the pre-LN block, residual connections, the position-wise feed-forward layer.
# - `13-attention`: scaled dot-product attention, the causal mask, splitting and merging heads.
# - `12-tokenization`: tokens and vocabularies; here the tokens are single characters.
# - `14-positions`: learned absolute position embeddings, the kind GPT-2 uses.
# - `10-rnn`: a character language model, batches of shifted windows, sampling with a temperature.
# - `04-optimization`: Adam and AdamW, learning-rate schedules, gradient clipping.
#
# Packages: `torch` (CPU is enough), `numpy`, `matplotlib`, `safetensors` (to read the shipped
# checkpoint), `scipy` (statistics in the tests) and `transformers`, only as a reference: its
# `GPT2LMHeadModel` is built here from a configuration with random weights, nothing is downloaded.
#
# **Shapes and names used throughout.** $B$ batch size, $T$ sequence length (at most the context
# length `block_size`), $D$ model width (`n_embd`), $H$ heads (`n_head`), $d_h = D/H$ head width,
# $L$ layers (`n_layer`), $V$ vocabulary size (`vocab_size`). Tests run in `float64`.

# %%
import json
import math
import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = torch.float64          # tests compare with transformers in float64, to about 1e-12
COURSE_MODEL = "course_model"  # the folder of the shipped checkpoint (section 8)

# %% [markdown]
# ## 1 · The data: Tiny Shakespeare, one token per character
#
# The corpus is Andrej Karpathy's *Tiny Shakespeare* (about 1.1 million characters of the plays,
# public domain; the file ships with the course, see `DATA-LICENCE.md`). The tokenizer is the
# simplest one `12-tokenization` knows: every distinct character is a token, 65 of them. It is a
# byte-pair encoder with zero merges, so sequences are long (one token per character) but the
# vocabulary is tiny and nothing is ever unknown.
#
# As in nanoGPT, the first 90 % of the text is for training and the last 10 % is held out. The
# held-out part starts in the middle of *The Winter's Tale*: plays, characters and lines the model
# has never seen, in the same style.

# %%
def character_vocabulary(text: str) -> list[str]:
    """The sorted list of distinct characters of text: token i is vocabulary[i]."""
    return sorted(set(text))


def encode(text: str, vocabulary: list[str]) -> torch.Tensor:
    """Characters to token ids, int64 (len(text),)."""
    index = {character: i for i, character in enumerate(vocabulary)}
    return torch.tensor([index[character] for character in text], dtype=torch.long)


def decode(ids, vocabulary: list[str]) -> str:
    """Token ids (any iterable of ints) back to a string."""
    return "".join(vocabulary[int(i)] for i in ids)


with open("tinyshakespeare.txt", encoding="utf-8") as file:
    shakespeare = file.read()
vocabulary = character_vocabulary(shakespeare)
text_ids = encode(shakespeare, vocabulary)
split = int(0.9 * len(text_ids))
train_ids, held_out_ids = text_ids[:split], text_ids[split:]
print(f"{len(shakespeare):,} characters; {len(train_ids):,} for training, {len(held_out_ids):,} held out")
print(f"vocabulary of {len(vocabulary)}: {''.join(vocabulary)!r}")
print(repr(shakespeare[:200]))

# %% [markdown]
# **What a loss means here.** The loss is measured in **nats per character** (natural
# logarithms). Before training anything, three baselines put numbers on the scale: a uniform
# guess over the 65 characters costs $\ln 65 = 4.17$ nats; knowing only how frequent each
# character is (a unigram model) costs its entropy; knowing the previous character (a bigram
# model, `11-ngram`) costs less again. The cell below measures the last two on the held-out text,
# with add-one smoothing. A GPT with a context of hundreds of characters must beat all three by a
# wide margin: nanoGPT's small CPU run reaches 1.88, and the course model below goes further.

# %%
n_vocab = len(vocabulary)
train_np, held_np = train_ids.numpy(), held_out_ids.numpy()
unigram = (np.bincount(train_np, minlength=n_vocab) + 1.0) / (len(train_np) + n_vocab)
bigram_counts = np.ones((n_vocab, n_vocab))
np.add.at(bigram_counts, (train_np[:-1], train_np[1:]), 1.0)
bigram = bigram_counts / bigram_counts.sum(axis=1, keepdims=True)
baselines = {
    "uniform": math.log(n_vocab),
    "unigram": -np.log(unigram[held_np]).mean(),
    "bigram": -np.log(bigram[held_np[:-1], held_np[1:]]).mean(),
}
for name, loss in baselines.items():
    print(f"{name:8s} {loss:.3f} nats per character (perplexity {math.exp(loss):5.1f})")

fig, ax = plt.subplots(figsize=(10, 3))
order = np.argsort(-unigram)
ax.bar(range(n_vocab), unigram[order])
ax.set_xticks(range(n_vocab), [repr(vocabulary[i])[1:-1] for i in order], fontsize=7)
ax.set(ylabel="frequency", title="character frequencies in the training text (space, e, t, o, a lead; a newline every ~40 characters)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Batches are random windows of the training text, as in `10-rnn`. A window holds $T + 1$
# characters: the model reads the first $T$ and is scored on predicting the last $T$ (each
# character from the ones before it). The helper below draws them with a `torch.Generator`, so a
# training run can be repeated exactly.

# %%
def random_windows(data: torch.Tensor, batch_size: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """B windows of `length` consecutive tokens at uniformly random offsets of data.

    Args:
        data: int64 (N,), N >= length.
        batch_size: B. length: the window length (block_size + 1 for training).
        generator: the torch.Generator the offsets are drawn from.

    Returns:
        int64 (B, length): row b is data[o_b : o_b + length], o_b uniform in 0..N - length.
    """
    offsets = torch.randint(0, len(data) - length + 1, (batch_size,), generator=generator)
    return data[offsets[:, None] + torch.arange(length)]


print(random_windows(torch.arange(100), 3, 6, torch.Generator().manual_seed(0)))

# %% [markdown]
# ## 2 · The architecture and its parameter names
#
# The model is GPT-2's, in nanoGPT's code layout (Radford et al., 2019; Karpathy, 2022):
#
# 1. **Embeddings.** Token $x_t$ becomes row $x_t$ of the token embedding $W_E \in \mathbb{R}^{V \times D}$
#    (`wte`), plus row $t$ of a *learned* position embedding $P \in \mathbb{R}^{T_{\max} \times D}$
#    (`wpe`, `14-positions`). Without $P$ attention cannot tell positions apart: a model that
#    permutes its inputs would permute its outputs.
# 2. **$L$ blocks**, each pre-norm: $a = h + \operatorname{CausalAttn}(\operatorname{LN}_1(h))$,
#    then $h' = a + \operatorname{MLP}(\operatorname{LN}_2(a))$ with
#    $\operatorname{MLP}(z) = W_2\, \operatorname{GELU}(W_1 z + b_1) + b_2$ of width $4D$.
# 3. **Final LayerNorm** $\operatorname{LN}_f$ and the **output layer**: logits
#    $= \operatorname{LN}_f(h^{(L)})\, W_E^\top$. The output matrix *is* the embedding matrix
#    (weight tying, section 5).
#
# Every linear layer has a bias; every LayerNorm has a gain and a bias ($\varepsilon = 10^{-5}$).
# The parameter names are GPT-2's: they are also the keys of transformers' `GPT2LMHeadModel`, and of
# the course checkpoint, which loads with `model.load_state_dict`. Your model must use exactly these
# names (with $i = 0, \dots, L-1$):
#
# | parameter | shape | what it is |
# |---|---|---|
# | `transformer.wte.weight` | $(V, D)$ | token embedding $W_E$ (also the output layer) |
# | `transformer.wpe.weight` | $(T_{\max}, D)$ | position embedding $P$, $T_{\max}$ = `block_size` |
# | `transformer.h.{i}.ln_1.weight`, `.bias` | $(D,)$ | LayerNorm before attention |
# | `transformer.h.{i}.attn.c_attn.weight`, `.bias` | $(3D, D)$, $(3D,)$ | queries, keys and values stacked: rows $0..D-1$, $D..2D-1$, $2D..3D-1$ |
# | `transformer.h.{i}.attn.c_proj.weight`, `.bias` | $(D, D)$, $(D,)$ | output projection of attention |
# | `transformer.h.{i}.ln_2.weight`, `.bias` | $(D,)$ | LayerNorm before the MLP |
# | `transformer.h.{i}.mlp.c_fc.weight`, `.bias` | $(4D, D)$, $(4D,)$ | MLP widening layer $W_1$ |
# | `transformer.h.{i}.mlp.c_proj.weight`, `.bias` | $(D, 4D)$, $(D,)$ | MLP output layer $W_2$ |
# | `transformer.ln_f.weight`, `.bias` | $(D,)$ | final LayerNorm |
# | `lm_head.weight` | $(V, D)$ | the *same tensor* as `transformer.wte.weight` |
#
# **Layouts.** Every weight is stored as `nn.Linear` stores it, (out, in), so a batch of row vectors
# computes $x W^\top + b$. transformers' GPT-2 keeps OpenAI's original layout instead: its `Conv1D`
# layers store the four matrices `c_attn`, `c_proj`, `c_fc`, `mlp.c_proj` as (in, out), and a
# conversion transposes exactly those four (nanoGPT's `from_pretrained` does the same). The state
# dict lists `lm_head.weight` as well as `transformer.wte.weight`, but `model.parameters()` yields
# the tied tensor once.
#
# The given pieces: a configuration, the MLP, the attention module (it holds `c_attn` and `c_proj`
# and calls your `causal_self_attention` of section 3), GPT-2's initialisation, and the conversion
# to transformers' layout for comparisons.

# %%
@dataclass
class GPTConfig:
    """The sizes of a GPT: V, T_max (the longest context), L, H and D. The defaults are the course model's."""

    vocab_size: int = 65
    block_size: int = 256
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128


class MLP(nn.Module):
    """The position-wise feed-forward layer: c_proj(GELU(c_fc(x))), width 4D, exact (erf) GELU."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))


class CausalSelfAttention(nn.Module):
    """Causal multi-head self-attention's parameters, c_attn (3D, D) and c_proj (D, D); calls your causal_self_attention.

    Set keep_weights = True to keep the attention weights (B, H, T, T) of the last call in
    self.attention_weights (detached): that is how section 10 reads a trained model's heads.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.keep_weights = False
        self.attention_weights = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, weights = causal_self_attention(x, self.c_attn.weight, self.c_attn.bias, self.c_proj.weight, self.c_proj.bias,
                                           self.n_head, need_weights=self.keep_weights)
        self.attention_weights = weights.detach() if self.keep_weights else None
        return y


def init_gpt2_weights_(model: nn.Module) -> None:
    """GPT-2's initialisation, in place: every matrix and embedding N(0, 0.02), biases 0, LayerNorm gains 1.

    The two output projections of each block (names ending in c_proj.weight) get the smaller
    standard deviation 0.02 / sqrt(2 L): each block adds two of them to the residual stream, so
    the stream's variance at initialisation stays about the same however deep the model is.
    model.config.n_layer gives L; a tied lm_head is initialised once, as the embedding.
    """
    n_layer = model.config.n_layer
    for name, parameter in model.named_parameters():
        if parameter.dim() >= 2:
            std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02
            nn.init.normal_(parameter, mean=0.0, std=std)
        elif name.endswith(".weight"):
            nn.init.ones_(parameter)   # LayerNorm gains
        else:
            nn.init.zeros_(parameter)  # every bias


CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def to_transformers_state_dict(state_dict: dict) -> dict:
    """This notebook's state dict in transformers' GPT-2 layout: the four Conv1D matrices of each block transposed.

    Args:
        state_dict: {name: tensor} of a GPT of section 5 (the names of the table above).

    Returns:
        {name: tensor}, the same names, with every weight ending in one of CONV1D_WEIGHTS transposed to (in, out).
    """
    return {name: (tensor.T.contiguous() if name.endswith(CONV1D_WEIGHTS) else tensor) for name, tensor in state_dict.items()}


def transformers_gpt2(config: dict, state_dict: dict | None = None, dtype: torch.dtype = DTYPE) -> nn.Module:
    """transformers' GPT2LMHeadModel with the sizes of a GPTConfig, exact GELU, no dropout, in eval mode.

    Args:
        config: GPTConfig's fields as a dict (vocab_size, block_size, n_layer, n_head, n_embd).
        state_dict: optional weights under this notebook's names (a GPT's state_dict()); random weights if None.
        dtype: the model's floating-point dtype.

    Returns:
        A GPT2LMHeadModel; model(tokens).logits are the logits (B, T, V). Nothing is downloaded.
    """
    from transformers import GPT2Config, GPT2LMHeadModel  # imported when first used: it takes a few seconds

    hf_config = GPT2Config(vocab_size=config["vocab_size"], n_positions=config["block_size"], n_embd=config["n_embd"],
                           n_layer=config["n_layer"], n_head=config["n_head"], activation_function="gelu",
                           resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
                           bos_token_id=0, eos_token_id=0, tie_word_embeddings=True)
    model = GPT2LMHeadModel(hf_config).to(dtype)
    model.loss_type = "ForCausalLM"  # its labels= loss, named outright (else transformers warns on stderr, which nbgrader counts as a failure)
    if state_dict is not None:
        model.load_state_dict(to_transformers_state_dict(state_dict), strict=True)
    return model.eval()


# %% [markdown]
# transformers' names and shapes for a tiny GPT-2 (one block shown; note the (in, out) Conv1D
# matrices, e.g. `c_attn.weight` of shape $(D, 3D)$, where your model has $(3D, D)$):

# %%
hf_tiny = transformers_gpt2(dict(vocab_size=65, block_size=32, n_layer=2, n_head=4, n_embd=32))
for name, tensor in hf_tiny.state_dict().items():
    if ".h.1." not in name:
        print(f"{name:34s} {tuple(tensor.shape)}")
print("parameters (the tied matrix counted once):", sum(p.numel() for p in hf_tiny.parameters()))

# %% [markdown]
# **Counting parameters.** Per block: attention $3D^2 + 3D$ (queries, keys, values) plus $D^2 + D$
# (output), the MLP $4D^2 + 4D$ plus $4D^2 + D$, two LayerNorms $4D$: in all $12D^2 + 13D$. With the
# embeddings and the final LayerNorm,
#
# $$N = L\,(12D^2 + 13D) + VD + T_{\max} D + 2D,$$
#
# and `lm_head` adds nothing because it is tied. For the course model ($L = 4$, $D = 128$, $V = 65$,
# $T_{\max} = 256$) that is $N = 4 \cdot 198\,272 + 8\,320 + 32\,768 + 256 = 834\,432$: 3.3 MB in
# float32. For GPT-2 small ($L = 12$, $D = 768$, $V = 50\,257$, $T_{\max} = 1024$) it is 124 million,
# and there the embedding is 31 % of the model: tying it saves 38.6 million parameters.

# %%
def gpt_parameter_count(vocab_size, block_size, n_layer, n_embd, **_):
    return n_layer * (12 * n_embd**2 + 13 * n_embd) + vocab_size * n_embd + block_size * n_embd + 2 * n_embd


print(f"course model: {gpt_parameter_count(65, 256, 4, 128):,} parameters")
print(f"GPT-2 small:  {gpt_parameter_count(50257, 1024, 12, 768):,} parameters")

# %% [markdown]
# ## 3 · Causal self-attention
#
# One projection makes queries, keys and values for every position at once:
# $[Q\;K\;V] = X W_{\text{attn}}^\top + b_{\text{attn}}$ with $X \in \mathbb{R}^{T \times D}$ and
# $W_{\text{attn}} \in \mathbb{R}^{3D \times D}$. Each of $Q, K, V$ is split into $H$ heads of width
# $d_h = D/H$ (reshape to $(B, T, H, d_h)$, then *transpose* to $(B, H, T, d_h)$, `13-attention`),
# each head attends causally,
#
# $$A_h = \operatorname{softmax}\Big(\frac{Q_h K_h^\top}{\sqrt{d_h}} + M\Big), \qquad
# M_{ts} = \begin{cases} 0 & s \le t \\ -\infty & s > t \end{cases}, \qquad
# \operatorname{head}_h = A_h V_h,$$
#
# and the heads are merged back (transpose, reshape to $(B, T, D)$) and projected:
# $Y = [\operatorname{head}_1 \cdots \operatorname{head}_H]\, W_{\text{proj}}^\top + b_{\text{proj}}$.
#
# **What this means.** Row $t$ of $A_h$ is a probability distribution over the positions $0..t$:
# where head $h$ looks when it computes the update for position $t$. The mask is what makes the
# model a *language model*: the output at $t$ may depend on $x_{\le t}$ only, so that the prediction
# of $x_{t+1}$ cannot peek at it. Training computes all $T$ predictions of a window in one pass;
# without the mask each prediction could read its own answer, the training loss would fall to
# nearly zero and the model would be useless at generation time, when the future does not exist.
# The scale is $\sqrt{d_h}$, the width of *one head*: the scores are dot products of $d_h$-vectors.
#
# **Two ways to compute it.** Written out, the $T \times T$ matrix $A_h$ is built in memory; that is
# what you need to *look at* attention. For training, `F.scaled_dot_product_attention(q, k, v,
# is_causal=True)` computes the same output with a fused kernel (FlashAttention-style on CPU and GPU)
# that never stores $A_h$ and is about twice as fast here. Your function does both, like PyTorch's own
# `nn.MultiheadAttention(need_weights=...)`: explicit weights when asked for, the fused path otherwise.
#
# A worked example with one head of width 1 and three tokens: the causal mask turns the score
# matrix into a lower-triangular matrix of weights.

# %%
q_demo = torch.tensor([[1.0], [2.0], [3.0]], dtype=DTYPE)   # T = 3 queries of width d_h = 1
k_demo = torch.tensor([[1.0], [0.0], [-1.0]], dtype=DTYPE)  # keys
scores_demo = q_demo @ k_demo.T / math.sqrt(1)
causal_demo = torch.ones(3, 3, dtype=torch.bool).tril()
print("scores\n", scores_demo.numpy())
print("causal weights (rows sum to 1, zeros above the diagonal)\n",
      torch.softmax(scores_demo.masked_fill(~causal_demo, float("-inf")), dim=-1).numpy().round(4))

# %% [markdown]
# Write it (about 15 minutes). Split `c_attn`'s output into queries, keys and values in that order
# (`.split(D, dim=-1)`), split heads with a transpose, and merge them back in the same order.

# %% nbgrader={"grade": false, "grade_id": "causal_self_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def causal_self_attention(
    x: torch.Tensor,
    w_attn: torch.Tensor,
    b_attn: torch.Tensor,
    w_proj: torch.Tensor,
    b_proj: torch.Tensor,
    n_head: int,
    need_weights: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Causal multi-head self-attention of GPT-2, with nn.Linear's (out, in) weights.

    Args:
        x: float tensor (B, T, D), the normalised residual stream.
        w_attn: (3D, D), c_attn.weight: rows 0..D-1 make queries, D..2D-1 keys, 2D..3D-1 values.
        b_attn: (3D,), c_attn.bias.
        w_proj: (D, D), c_proj.weight.   b_proj: (D,), c_proj.bias.
        n_head: H; the head width is d_h = D // H.
        need_weights: if True, compute the attention weights explicitly and return them; if False,
            return None for them (the output may then come from F.scaled_dot_product_attention).

    Returns:
        (y, weights): y (B, T, D) in x's dtype, the heads merged and projected; weights (B, H, T, T),
        softmax(q k^T / sqrt(d_h)) with the causal mask (zero above the diagonal, rows summing to 1),
        or None when need_weights is False. y is the same either way, and equals
        nn.MultiheadAttention with in_proj = (w_attn, b_attn), out_proj = (w_proj, b_proj) and a causal mask.

    Example:
        >>> y, w = causal_self_attention(torch.randn(2, 5, 16), torch.randn(48, 16), torch.zeros(48),
        ...                              torch.randn(16, 16), torch.zeros(16), 4, need_weights=True)
        >>> y.shape, w.shape
        (torch.Size([2, 5, 16]), torch.Size([2, 4, 5, 5]))
    """
    ### BEGIN SOLUTION
    B, T, D = x.shape
    d_head = D // n_head
    q, k, v = F.linear(x, w_attn, b_attn).split(D, dim=-1)                      # each (B, T, D)
    q, k, v = (t.reshape(B, T, n_head, d_head).transpose(1, 2) for t in (q, k, v))  # each (B, H, T, d_h)
    if need_weights:
        scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)                     # (B, H, T, T)
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()      # key s visible from query t iff s <= t
        weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        heads = weights @ v
    else:
        weights = None
        heads = F.scaled_dot_product_attention(q, k, v, is_causal=True)          # the same, fused
    merged = heads.transpose(1, 2).reshape(B, T, D)                              # heads side by side again
    return F.linear(merged, w_proj, b_proj), weights
    ### END SOLUTION

# %% [markdown]
# The attention tests share one scenario: random weights of a given size in float64, the learner's
# attention on x with and without the weights, and on x with its later tokens changed.

# %%
from grader.testing import scenario


@scenario
def attention_outputs(ns, seed, x, n_head):
    """causal_self_attention with seeded float64 weights on x (B, T, D): outputs both ways, weights, and outputs after changing tokens 3 on."""
    gen = torch.Generator().manual_seed(seed)
    D = x.shape[-1]
    w_attn = torch.randn(3 * D, D, generator=gen, dtype=torch.float64) / math.sqrt(D)
    b_attn = 0.1 * torch.randn(3 * D, generator=gen, dtype=torch.float64)
    w_proj = torch.randn(D, D, generator=gen, dtype=torch.float64) / math.sqrt(D)
    b_proj = 0.1 * torch.randn(D, generator=gen, dtype=torch.float64)
    y, weights = ns.causal_self_attention(x, w_attn, b_attn, w_proj, b_proj, n_head, need_weights=True)
    y_fast, no_weights = ns.causal_self_attention(x, w_attn, b_attn, w_proj, b_proj, n_head)
    changed = x.clone()
    changed[:, 3:] = -2.0 * changed[:, 3:] + 1.0
    y_changed, _ = ns.causal_self_attention(changed, w_attn, b_attn, w_proj, b_proj, n_head, need_weights=True)
    return {"params": [w_attn, b_attn, w_proj, b_proj], "y": y, "weights": weights, "y_fast": y_fast,
            "fast_weights_is_none": no_weights is None, "y_changed": y_changed}


# %% nbgrader={"grade": true, "grade_id": "attention_shapes_and_single_token", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""causal self-attention returns y (B, T, D) and weights (B, H, T, T) whose rows sum to one with zeros above the diagonal, None for the weights when they are not asked for, and for a single token the projected value of that token"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(0)
x = torch.randn(2, 5, 16, generator=gen, dtype=DTYPE)
got = attention_outputs.learner(1, x, 4)
expect.shape(got["y"], (2, 5, 16), what="y for x (2, 5, 16) and 4 heads", hint="the output has the input's shape (B, T, D)")
expect.dtype(got["y"], DTYPE, what="y for a float64 input", hint="keep the input's dtype")
expect.shape(got["weights"], (2, 4, 5, 5), what="the attention weights for x (2, 5, 16) and 4 heads",
             hint="one (T, T) matrix per batch row and head: (B, H, T, T)")
expect.close(got["weights"].sum(-1), torch.ones(2, 4, 5, dtype=DTYPE), atol=1e-12, what="the row sums of the attention weights",
             hint="softmax over the keys, the last axis")
expect.close(got["weights"].triu(1), torch.zeros(2, 4, 5, 5, dtype=DTYPE), atol=0, what="the weights above the diagonal",
             hint="query t may only look at keys s <= t: fill the scores above the diagonal with -inf before the softmax")
expect.true(got["fast_weights_is_none"], "with need_weights=False the second result must be None")

# one token sees only itself: the output is its value, projected
w_attn = torch.randn(48, 16, generator=gen, dtype=DTYPE) / 4.0
b_attn, w_proj, b_proj = torch.randn(48, generator=gen, dtype=DTYPE), torch.randn(16, 16, generator=gen, dtype=DTYPE) / 4.0, torch.randn(16, generator=gen, dtype=DTYPE)
one = x[:, :1]
y, _ = learner.causal_self_attention(one, w_attn, b_attn, w_proj, b_proj, 4)
expect.shape(y, (2, 1, 16), what="y for a single token")
value = one @ w_attn[32:].T + b_attn[32:]
expect.close(y, value @ w_proj.T + b_proj, atol=1e-12, what="y for a single token",
             hint="a single token attends only to itself, so y = c_proj(its value); the values are the last D outputs of c_attn")

# %% nbgrader={"grade": true, "grade_id": "attention_is_causal", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""causal self-attention is causal: changing the tokens from position 3 on leaves the outputs at positions 0-2 unchanged; and the explicit path (need_weights=True) and the fast path give the same output, equal to F.scaled_dot_product_attention with is_causal=True on the same queries, keys and values"""
from grader.testing import expect

x = torch.randn(2, 7, 24, generator=torch.Generator().manual_seed(2), dtype=DTYPE)
got = attention_outputs.learner(3, x, 3)
expect.shape(got["y_changed"], (2, 7, 24), what="y for x (2, 7, 24) and 3 heads")
expect.shape(got["y"], (2, 7, 24), what="y for x (2, 7, 24) and 3 heads")
expect.close(got["y_changed"][:, :3], got["y"][:, :3], atol=1e-12, what="y at positions 0-2 after changing the tokens at positions 3-6",
             hint="the future leaks into the past: mask the keys after each query (a causal mask) before the softmax")
### BEGIN HIDDEN TESTS
expect.shape(got["y_fast"], (2, 7, 24), what="y of the fast path (need_weights=False)")
w_attn, b_attn, w_proj, b_proj = got["params"]
q, k, v = (x @ w_attn.T + b_attn).split(24, dim=-1)
q, k, v = (t.reshape(2, 7, 3, 8).transpose(1, 2) for t in (q, k, v))
want = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(2, 7, 24) @ w_proj.T + b_proj
hint = ("queries, keys, values = split of c_attn(x) in that order; heads by reshape (B, T, H, d_h) then transpose(1, 2); "
        "causal softmax of q k^T / sqrt(d_h); merge by transpose back and reshape; then c_proj")
expect.close(got["y"], want, atol=1e-12, rtol=1e-10, what="y of the explicit path, compared with F.scaled_dot_product_attention(is_causal=True)", hint=hint)
expect.close(got["y_fast"], want, atol=1e-12, rtol=1e-10, what="y of the fast path, compared with F.scaled_dot_product_attention(is_causal=True)", hint=hint)
scores = q @ k.transpose(-2, -1) / math.sqrt(8)
want_weights = torch.softmax(scores.masked_fill(~torch.ones(7, 7, dtype=torch.bool).tril(), float("-inf")), dim=-1)
expect.close(got["weights"], want_weights, atol=1e-12, rtol=1e-10, what="the attention weights (B=2, H=3, T=7, d_h=8)",
             hint="softmax over the keys of q k^T / sqrt(d_h), d_h the width of one head, with the causal mask")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "attention_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""causal self-attention equals torch.nn.MultiheadAttention (same in_proj and out_proj weights, causal mask, per-head weights) for several widths and head counts, a batch of one and a single head, in both paths, and in float32"""
from grader.testing import learner, expect

x = torch.randn(1, 4, 8, generator=torch.Generator().manual_seed(4), dtype=DTYPE)
got = attention_outputs.learner(5, x, 2)
expect.shape(got["weights"], (1, 2, 4, 4), what="the weights for x (1, 4, 8) and 2 heads")
### BEGIN HIDDEN TESTS
hint = ("c_attn gives [q k v] stacked along the features; heads of width D // H split with a transpose; "
        "softmax(q k^T / sqrt(d_h)) with the causal mask; merge the heads in order and apply c_proj")
for (B, T, D, H, seed) in [(1, 4, 8, 2, 5), (3, 6, 12, 3, 6), (2, 9, 16, 1, 7), (2, 5, 32, 8, 8), (2, 1, 16, 4, 9)]:
    x = torch.randn(B, T, D, generator=torch.Generator().manual_seed(10 + seed), dtype=DTYPE)
    got = attention_outputs.learner(seed, x, H)
    mha = nn.MultiheadAttention(D, H, batch_first=True, dtype=DTYPE)
    w_attn, b_attn, w_proj, b_proj = got["params"]
    with torch.no_grad():
        mha.in_proj_weight.copy_(w_attn)
        mha.in_proj_bias.copy_(b_attn)
        mha.out_proj.weight.copy_(w_proj)
        mha.out_proj.bias.copy_(b_proj)
        future = torch.ones(T, T, dtype=torch.bool).triu(1)   # True = not allowed, nn.MultiheadAttention's convention
        want_y, want_weights = mha(x, x, x, attn_mask=future, need_weights=True, average_attn_weights=False)
    case = f"B={B}, T={T}, D={D}, H={H}"
    expect.shape(got["y"], (B, T, D), what=f"y with {case}")
    expect.shape(got["weights"], (B, H, T, T), what=f"the weights with {case}")
    expect.close(got["y"], want_y, atol=1e-12, rtol=1e-10, what=f"y with {case}, compared with nn.MultiheadAttention", hint=hint)
    expect.close(got["y_fast"], want_y, atol=1e-12, rtol=1e-10, what=f"y of the fast path with {case}, compared with nn.MultiheadAttention", hint=hint)
    expect.close(got["weights"], want_weights, atol=1e-12, rtol=1e-10, what=f"the weights with {case}, compared with nn.MultiheadAttention", hint=hint)

x32 = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(20)).float()
params = [torch.randn(48, 16, generator=torch.Generator().manual_seed(21)) / 4.0, torch.zeros(48),
          torch.randn(16, 16, generator=torch.Generator().manual_seed(22)) / 4.0, torch.zeros(16)]
y32, _ = learner.causal_self_attention(x32, *params, 4)
expect.dtype(y32, torch.float32, what="y for a float32 input", hint="keep the input's dtype")
mha = nn.MultiheadAttention(16, 4, batch_first=True)
with torch.no_grad():
    mha.in_proj_weight.copy_(params[0])
    mha.in_proj_bias.copy_(params[1])
    mha.out_proj.weight.copy_(params[2])
    mha.out_proj.bias.copy_(params[3])
    want32, _ = mha(x32, x32, x32, attn_mask=torch.ones(6, 6, dtype=torch.bool).triu(1))
expect.close(y32, want32, atol=1e-5, rtol=1e-5, what="y in float32, compared with nn.MultiheadAttention", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · The pre-norm block
#
# A block makes two residual updates. In GPT-2's **pre-norm** layout each sub-layer reads a
# LayerNorm-ed copy of the stream and adds its result to the *unnormalised* stream:
#
# $$a = x + \operatorname{attn}\big(\operatorname{LN}_1(x)\big), \qquad y = a + \operatorname{mlp}\big(\operatorname{LN}_2(a)\big).$$
#
# The original transformer and GPT-1 were **post-norm**, $a = \operatorname{LN}_1(x + \operatorname{attn}(x))$:
# the stream itself is normalised after every sub-layer.
#
# **What this means.** In pre-norm the stream $x$ is a running sum: every block adds to it and
# nothing ever rescales it, so there is a straight path (the identity) from the embeddings to the
# final LayerNorm, and the gradient reaches the first layers undiminished. In post-norm every
# LayerNorm on the path divides the gradient by the stream's scale; deep post-norm models need a
# long learning-rate warm-up or they diverge (Xiong et al., 2020, "On Layer Normalization in the
# Transformer Architecture"). The price of pre-norm is that the stream grows with depth, which is
# why GPT-2 added the final LayerNorm $\operatorname{LN}_f$ before the output layer.
#
# The picture below measures it with PyTorch's own `nn.TransformerEncoderLayer` (library code,
# `norm_first=True` is pre-norm): 12 layers at initialisation, causal mask, the size of the
# gradient that reaches each layer's weights from a random loss.

# %%
def gradient_norms_per_layer(norm_first: bool, n_layers: int = 12, width: int = 64, seed: int = 0) -> list[float]:
    """Gradient norm of each layer's first linear weight for a random loss, at initialisation (library layers)."""
    torch.manual_seed(seed)
    layers = nn.ModuleList(nn.TransformerEncoderLayer(width, 4, 4 * width, dropout=0.0, batch_first=True, norm_first=norm_first)
                           for _ in range(n_layers))
    x = torch.randn(8, 32, width)
    mask = nn.Transformer.generate_square_subsequent_mask(32)
    for layer in layers:
        x = layer(x, src_mask=mask, is_causal=True)
    (x * torch.randn_like(x)).sum().backward()
    return [layer.linear1.weight.grad.norm().item() for layer in layers]


fig, ax = plt.subplots(figsize=(7, 3.5))
for norm_first, label in [(True, "pre-norm (GPT-2)"), (False, "post-norm (original transformer)")]:
    ax.plot(range(1, 13), gradient_norms_per_layer(norm_first), marker="o", label=label)
ax.set(xlabel="layer", ylabel="gradient norm of linear1.weight", yscale="log",
       title="at initialisation: post-norm's gradients shrink towards the input layers")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Write the block's `forward` (about 5 minutes); its `__init__` is given and fixes the names
# `ln_1`, `attn`, `ln_2`, `mlp`.

# %% nbgrader={"grade": false, "grade_id": "block", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Block(nn.Module):
    """One GPT-2 block: pre-norm causal self-attention, then a pre-norm MLP, each added to the residual stream.

    Parameters (given): ln_1.weight, ln_1.bias (D,); attn.c_attn.weight (3D, D), attn.c_attn.bias (3D,);
    attn.c_proj.weight (D, D), attn.c_proj.bias (D,); ln_2.weight, ln_2.bias (D,);
    mlp.c_fc.weight (4D, D), mlp.c_fc.bias (4D,); mlp.c_proj.weight (D, 4D), mlp.c_proj.bias (D,).
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output.

        Args:
            x: the residual stream, float (B, T, D).

        Returns:
            (B, T, D): a = x + attn(ln_1(x)), then a + mlp(ln_2(a)). Equals transformers' GPT2Block with these weights.

        Example:
            >>> Block(GPTConfig(n_embd=32, n_head=4))(torch.randn(2, 7, 32)).shape
            torch.Size([2, 7, 32])
        """
        ### BEGIN SOLUTION
        a = x + self.attn(self.ln_1(x))      # attention reads a normalised copy of the stream
        return a + self.mlp(self.ln_2(a))    # and so does the MLP; the stream itself is never normalised
        ### END SOLUTION

# %% [markdown]
# The block tests build a seeded float64 block whose LayerNorm gains and biases are moved away from
# 1 and 0 (so that it shows which norm sits where), optionally with both output projections zero.

# %%
@scenario
def block_outputs(ns, config, seed, x, zero_outputs=False):
    """A float64 Block(GPTConfig(**config)) from a seed, LayerNorm parameters drawn around (1, 0): its parameters and its output on x."""
    torch.manual_seed(seed)
    block = ns.Block(ns.GPTConfig(**config)).double()
    with torch.no_grad():
        for name, parameter in block.named_parameters():
            if name.startswith("ln_"):
                parameter.normal_(1.0 if name.endswith("weight") else 0.0, 0.3)
            elif name.endswith("bias"):
                parameter.normal_(0.0, 0.1)
        if zero_outputs:
            for layer in (block.attn.c_proj, block.mlp.c_proj):
                layer.weight.zero_()
                layer.bias.zero_()
        out = block(x)
    return {"state": {name: t.detach().clone() for name, t in block.state_dict().items()}, "out": out}


# %% nbgrader={"grade": true, "grade_id": "block_residuals", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""a block whose two output projections (attn.c_proj and mlp.c_proj) are zero is exactly the identity, so both sub-layers are added to an unnormalised residual stream, and a block keeps the shape (B, T, D)"""
from grader.testing import expect

x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(30), dtype=DTYPE)
got = block_outputs.learner(dict(n_embd=16, n_head=4), 31, x, True)
expect.shape(got["out"], (2, 5, 16), what="the output of Block on a (2, 5, 16) input", hint="a block keeps the shape of the residual stream")
expect.close(got["out"], x, atol=1e-14, what="the output of a block whose output projections are zero",
             hint="add each sub-layer's result to the stream, x + attn(ln_1(x)), and never normalise the stream itself (pre-norm)")

# %% nbgrader={"grade": true, "grade_id": "block_matches_transformers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""a block equals transformers' GPT2Block (pre-norm, exact GELU) with the same weights, for several widths and head counts and a single token"""
from grader.testing import expect

x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(32), dtype=DTYPE)
got = block_outputs.learner(dict(n_embd=16, n_head=4), 33, x)
expect.shape(got["out"], (2, 5, 16), what="the block's output for x of shape (2, 5, 16)")
expect.true(float((got["out"] - x).abs().max()) > 1e-3, "the block returns its input unchanged: add the attention and MLP results to the stream")
### BEGIN HIDDEN TESTS
from transformers.models.gpt2.modeling_gpt2 import GPT2Block, GPT2Config

hint = "a = x + attn(ln_1(x)), then a + mlp(ln_2(a)): pre-norm, each LayerNorm in its place, both results added to the stream"
for config, B, T, seed in [(dict(n_embd=16, n_head=4), 2, 5, 33), (dict(n_embd=12, n_head=3), 1, 7, 34), (dict(n_embd=8, n_head=1), 3, 4, 35),
                           (dict(n_embd=16, n_head=2), 2, 1, 36)]:
    x = torch.randn(B, T, config["n_embd"], generator=torch.Generator().manual_seed(seed + 100), dtype=DTYPE)
    got = block_outputs.learner(config, seed, x)
    layer = GPT2Block(GPT2Config(n_embd=config["n_embd"], n_head=config["n_head"], activation_function="gelu", resid_pdrop=0.0,
                                 attn_pdrop=0.0, layer_norm_epsilon=1e-5, attn_implementation="sdpa"), layer_idx=0).to(DTYPE).eval()
    want_names = sorted(layer.state_dict())
    expect.equal(sorted(got["state"]), want_names, what="the parameter names of Block", hint="keep the given __init__: ln_1, attn, ln_2, mlp")
    converted = to_transformers_state_dict(got["state"])
    for name, tensor in layer.state_dict().items():
        expect.shape(converted[name], tuple(tensor.shape), what=f"the parameter {name} of Block", hint="keep the given __init__")
    layer.load_state_dict(converted)
    causal = torch.full((T, T), float("-inf"), dtype=DTYPE).triu(1)[None, None]
    with torch.no_grad():
        want = layer(x, attention_mask=causal)
    want = want[0] if isinstance(want, tuple) else want
    expect.close(got["out"], want, atol=1e-12, rtol=1e-10, what=f"the block's output with D={config['n_embd']}, H={config['n_head']}, T={T}, compared with GPT2Block", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · The model: embeddings, positions, blocks and a tied output layer
#
# $$\text{logits} = \operatorname{LN}_f\Big(\text{block}_{L-1} \circ \dots \circ \text{block}_0\big(W_E[x] + P_{0..T-1}\big)\Big)\, W_E^\top
# \;\in\; \mathbb{R}^{B \times T \times V}.$$
#
# **Weight tying** (Press and Wolf, 2017; Inan et al., 2017): the output layer scores token $v$ by the
# dot product of the final hidden state with $v$'s own input embedding, so `lm_head.weight` and
# `transformer.wte.weight` are one tensor. In PyTorch that is one assignment,
# `self.lm_head.weight = self.transformer.wte.weight`: both modules then hold the same `Parameter`,
# it receives the gradients of both uses, and `model.parameters()` yields it once.
#
# **What this means.** An embedding says what a token *is*; an output row says when it is *expected*.
# Tying them makes tokens that appear in similar contexts get similar vectors from both sides, and
# it removes $VD$ parameters (31 % of GPT-2 small). GPT-2, BERT, T5 and many small modern models
# (Llama 3.2 1B, Gemma) tie; large LLaMAs do not, because for them $VD$ is a small share.
#
# **The initialisation check.** A freshly initialised model should be *uncertain*: its logits near
# zero, its distribution near uniform, its loss near $\ln V$. GPT-2's initialisation (given,
# `init_gpt2_weights_`) gives logits of size about $0.02\sqrt{D}$; PyTorch's default `nn.Embedding`
# initialisation, $\mathcal{N}(0, 1)$, tied to the output layer would give logits of size about
# $\sqrt{D}$ and a loss far above $\ln V$ at step 0, wasted steps un-learning confidence. Checking
# the loss at initialisation is the cheapest test of a new model there is.
#
# Write the model (about 20 minutes): build the modules of the table in section 2 under exactly
# those names (`nn.ModuleDict` for `transformer`, `nn.ModuleList` of `Block`s for `h`), tie the
# output layer, finish `__init__` with `init_gpt2_weights_(self)`, and write `forward`. Positions are
# $0..T-1$ on the tokens' device; refuse sequences longer than `block_size` with a `ValueError`
# (there is no position embedding for them).

# %% nbgrader={"grade": false, "grade_id": "gpt_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
class GPT(nn.Module):
    """A GPT-2-style language model whose parameters carry the names of section 2's table.

    transformer.wte (V, D) and transformer.wpe (block_size, D) embeddings, transformer.h: a ModuleList
    of n_layer Blocks, transformer.ln_f: a LayerNorm, lm_head: a bias-free Linear(D, V) whose weight
    is transformer.wte.weight (tied). Initialised by init_gpt2_weights_.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        ### BEGIN SOLUTION
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            h=nn.ModuleList(Block(config) for _ in range(config.n_layer)),
            ln_f=nn.LayerNorm(config.n_embd),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight   # weight tying: one Parameter, two uses
        init_gpt2_weights_(self)
        ### END SOLUTION

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits for every position.

        Args:
            tokens: int64 (B, T), token ids in [0, V), 1 <= T <= block_size.

        Returns:
            logits (B, T, V) in the model's dtype; logits[b, t] scores the token after tokens[b, t]
            and depends only on tokens[b, :t+1]. Equals GPT2LMHeadModel(...)(tokens).logits with the same weights.

        Raises:
            ValueError if T > block_size.

        Example:
            >>> GPT(GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32))(torch.randint(0, 65, (3, 10))).shape
            torch.Size([3, 10, 65])
        """
        ### BEGIN SOLUTION
        T = tokens.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"a sequence of {T} tokens is longer than the context of {self.config.block_size}")
        positions = torch.arange(T, device=tokens.device)
        x = self.transformer.wte(tokens) + self.transformer.wpe(positions)   # (B, T, D) + (T, D)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))                       # (B, T, V)
        ### END SOLUTION

# %% [markdown]
# The model tests share a scenario: a seeded `GPT` in float64 with its LayerNorm parameters and
# biases moved away from (1, 0), its state dict, its logits on some tokens and on their first half,
# its parameter count, and whether `lm_head` and the token embedding are one tensor.

# %%
@scenario
def gpt_outputs(ns, config, seed, tokens, perturb=True):
    """A float64 GPT(GPTConfig(**config)) from a seed: state, logits, logits of the first half, parameter count, tying."""
    torch.manual_seed(seed)
    model = ns.GPT(ns.GPTConfig(**config)).double()
    with torch.no_grad():
        if perturb:
            for name, parameter in model.named_parameters():
                if parameter.dim() == 1:
                    parameter.normal_(1.0 if ".ln_" in name and name.endswith("weight") else 0.0, 0.2)
        logits = model(tokens)
        first_half = model(tokens[:, : (tokens.shape[1] + 1) // 2])
    return {"state": {name: t.detach().clone() for name, t in model.state_dict().items()}, "logits": logits, "first_half": first_half,
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "tied": model.lm_head.weight is model.transformer.wte.weight}


def gpt_parameter_names(n_layer: int) -> list[str]:
    """The sorted state-dict keys of a GPT with n_layer blocks (section 2's table)."""
    per_block = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
                 "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"]
    names = ["transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight", "transformer.ln_f.bias", "lm_head.weight"]
    return sorted(names + [f"transformer.h.{i}.{name}" for i in range(n_layer) for name in per_block])


TINY = dict(vocab_size=65, block_size=16, n_layer=2, n_head=4, n_embd=32)

# %% nbgrader={"grade": true, "grade_id": "gpt_names_and_tying", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the model's parameters carry section 2's names and shapes, lm_head.weight is the token embedding itself (tied), and the parameter count, the tied matrix counted once, is the formula's and transformers' GPT2LMHeadModel's"""
from grader.testing import expect

tokens = torch.randint(0, 65, (2, 8), generator=torch.Generator().manual_seed(40))
got = gpt_outputs.learner(TINY, 41, tokens)
expect.equal(sorted(got["state"]), gpt_parameter_names(2), what="the state-dict keys of GPT(GPTConfig(**TINY))",
             hint="use exactly the names of the table in section 2: transformer = nn.ModuleDict(wte, wpe, h, ln_f), and lm_head")
shapes = {"transformer.wte.weight": (65, 32), "transformer.wpe.weight": (16, 32), "transformer.h.0.attn.c_attn.weight": (96, 32),
          "transformer.h.1.mlp.c_fc.weight": (128, 32), "transformer.h.1.mlp.c_proj.weight": (32, 128), "lm_head.weight": (65, 32)}
for name, shape in shapes.items():
    expect.shape(got["state"][name], shape, what=f"the parameter {name}")
expect.true(got["tied"], "lm_head.weight must be the token embedding itself: self.lm_head.weight = self.transformer.wte.weight (weight tying)")
expect.equal(got["n_parameters"], gpt_parameter_count(**TINY), what="the number of parameters of GPT(GPTConfig(**TINY))",
             hint="with weight tying lm_head adds no parameter: L (12 D^2 + 13 D) + V D + T_max D + 2 D")
### BEGIN HIDDEN TESTS
for config, seed in [(dict(vocab_size=11, block_size=9, n_layer=3, n_head=2, n_embd=8), 42), (dict(vocab_size=65, block_size=256, n_layer=4, n_head=4, n_embd=128), 43)]:
    got = gpt_outputs.learner(config, seed, torch.zeros(1, 2, dtype=torch.long))
    reference_model = transformers_gpt2(config)
    expect.equal(sorted(got["state"]), sorted(reference_model.state_dict()), what=f"the state-dict keys with {config['n_layer']} layers, compared with GPT2LMHeadModel",
                 hint="the names of section 2's table")
    converted = to_transformers_state_dict(got["state"])
    for name, tensor in reference_model.state_dict().items():
        expect.shape(converted[name], tuple(tensor.shape), what=f"the parameter {name} (as transformers stores it)")
    expect.true(got["tied"], "lm_head.weight is not the token embedding: tie them, self.lm_head.weight = self.transformer.wte.weight")
    expect.equal(got["n_parameters"], sum(p.numel() for p in reference_model.parameters()),
                 what=f"the number of parameters with {config['n_layer']} layers and D={config['n_embd']}, compared with GPT2LMHeadModel",
                 hint="lm_head is tied (no parameter of its own) and has no bias")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "gpt_init_and_causality", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the model returns logits (B, T, V), reads causally (the logits of the first half do not depend on the second), refuses more tokens than block_size, and at GPT-2's initialisation its loss is close to ln V (its distribution close to uniform)"""
from grader.testing import learner, scenario, expect


@scenario
def loss_at_initialisation(ns, config, seed, tokens):
    """Mean cross-entropy of a freshly initialised GPT on tokens (B, T+1): the logits of the first T against the next tokens."""
    torch.manual_seed(seed)
    model = ns.GPT(ns.GPTConfig(**config))
    with torch.no_grad():
        logits = model(tokens[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), tokens[:, 1:].reshape(-1)).item()


@scenario
def too_long(ns, config):
    """The model fed one token more than its context: should raise ValueError."""
    return ns.GPT(ns.GPTConfig(**config))(torch.zeros(1, config["block_size"] + 1, dtype=torch.long))


tokens = torch.randint(0, 65, (2, 10), generator=torch.Generator().manual_seed(44))
got = gpt_outputs.learner(TINY, 45, tokens)
expect.shape(got["logits"], (2, 10, 65), what="the logits of GPT(GPTConfig(**TINY)) on tokens (2, 10)", hint="one row of V logits per position: (B, T, V)")
expect.dtype(got["logits"], DTYPE, what="the logits of a float64 model")
expect.close(got["first_half"], got["logits"][:, :5], atol=1e-12, what="the logits of the first 5 tokens read alone, against the same positions of the whole sequence",
             hint="position t must see tokens 0..t only, and positions always start at 0")
expect.raises("ValueError", too_long.learner, TINY)
window = torch.randint(0, 65, (8, 17), generator=torch.Generator().manual_seed(46))
initial_loss = loss_at_initialisation.learner(TINY, 47, window)
expect.close(initial_loss, math.log(65), atol=0.05, rtol=0, what="the loss at initialisation, against ln V = ln 65",
             hint="end __init__ with init_gpt2_weights_(self) (small weights: near-uniform predictions), after tying the output layer")
### BEGIN HIDDEN TESTS
initial_loss = loss_at_initialisation.learner(dict(vocab_size=30, block_size=64, n_layer=4, n_head=2, n_embd=64), 48,
                                              torch.randint(0, 30, (4, 65), generator=torch.Generator().manual_seed(49)))
expect.close(initial_loss, math.log(30), atol=0.05, rtol=0, what="the loss at initialisation of a 4-layer GPT with V = 30, against ln V",
             hint="call init_gpt2_weights_(self) at the end of __init__, after tying")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "gpt_matches_transformers", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""your weights loaded into transformers' GPT2LMHeadModel give the same logits as your model in float64, for several sizes, a batch of one, a single token and a full context"""
from grader.testing import expect

tokens = torch.randint(0, 65, (2, 8), generator=torch.Generator().manual_seed(50))
got = gpt_outputs.learner(TINY, 51, tokens)
expect.finite(got["logits"], what="the logits of GPT(GPTConfig(**TINY))")
### BEGIN HIDDEN TESTS
hint = ("token embedding plus position embedding of positions 0..T-1, every block in order, the final LayerNorm ln_f, "
        "then lm_head, whose weight is the token embedding")
for config, seed, shape in [(TINY, 51, (2, 8)), (dict(vocab_size=11, block_size=12, n_layer=3, n_head=2, n_embd=8), 52, (3, 12)),
                            (dict(vocab_size=40, block_size=20, n_layer=1, n_head=4, n_embd=16), 53, (1, 5)),
                            (dict(vocab_size=40, block_size=20, n_layer=2, n_head=1, n_embd=16), 54, (2, 1))]:
    tokens = torch.randint(0, config["vocab_size"], shape, generator=torch.Generator().manual_seed(seed))
    got = gpt_outputs.learner(config, seed, tokens)
    expect.equal(sorted(got["state"]), gpt_parameter_names(config["n_layer"]), what="the state-dict keys of your GPT",
                 hint="the names of section 2's table")
    reference_model = transformers_gpt2(config, got["state"])
    with torch.no_grad():
        want = reference_model(tokens).logits
    case = f"L={config['n_layer']}, H={config['n_head']}, D={config['n_embd']}, tokens {shape}"
    expect.shape(got["logits"], tuple(want.shape), what=f"the logits with {case}")
    expect.close(got["logits"], want, atol=1e-11, rtol=1e-9, what=f"the logits with {case}, compared with GPT2LMHeadModel", hint=hint)

### END HIDDEN TESTS

# %% [markdown]
# Your model against transformers' on the same weights (and, once your class works, PyTorch's
# default initialisation against GPT-2's, measured by the loss at step 0):

# %%
try:
    torch.manual_seed(0)
    mine = GPT(GPTConfig(**TINY)).double()
    theirs = transformers_gpt2(TINY, mine.state_dict())
    demo_tokens = torch.randint(0, 65, (2, 16))
    with torch.no_grad():
        print(f"largest difference from GPT2LMHeadModel: {(mine(demo_tokens) - theirs(demo_tokens).logits).abs().max().item():.1e}")
        window = random_windows(train_ids, 16, 17, torch.Generator().manual_seed(0))
        for name in ["GPT-2's N(0, 0.02)", "PyTorch's defaults"]:
            if name == "PyTorch's defaults":
                for module in mine.modules():
                    if isinstance(module, (nn.Linear, nn.Embedding, nn.LayerNorm)):
                        module.reset_parameters()
            logits = mine(window[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, 65), window[:, 1:].reshape(-1)).item()
            print(f"loss at initialisation with {name:20s}: {loss:6.2f} nats (ln V = {math.log(65):.2f}); logits' std {logits.std().item():.2f}")
except NotImplementedError:
    print("write causal_self_attention, Block.forward and GPT above to compare your model with transformers'")

# %% [markdown]
# ## 6 · The causal language-modelling loss
#
# A window of $T + 1$ tokens $x_0, \dots, x_T$ gives $T$ predictions at once: the model reads
# $x_0, \dots, x_{T-1}$ and its logits at position $t$ score the token $x_{t+1}$. The loss is their
# mean negative log-likelihood,
#
# $$\mathcal{L} = -\frac{1}{BT}\sum_{b=1}^{B}\sum_{t=0}^{T-1} \log \operatorname{softmax}\big(z_{b,t}\big)_{x_{b,t+1}},
# \qquad z_{b} = \operatorname{GPT}(x_{b,0:T}) \in \mathbb{R}^{T \times V},$$
#
# which is `F.cross_entropy` of the logits flattened to $(BT, V)$ and the targets, the inputs shifted
# by one, flattened to $(BT,)$. `transformers` does the same shift inside `GPT2LMHeadModel(tokens,
# labels=tokens)`: its logits at position $t$ against the label at $t + 1$.
#
# **What this means.** One forward pass trains $T$ predictions, each with its own context length
# $1, \dots, T$: that is why the causal mask matters and why transformers train so efficiently on
# text. The number is in **nats per token**; $e^{\mathcal{L}}$ is the perplexity, the number of
# characters the model is "choosing between" on average, and $\mathcal{L} / \ln 2$ is in bits.
# Forgetting the shift (scoring the logits at $t$ against $x_t$ itself) teaches the model to copy
# its input: with the causal mask, position $t$ can see $x_t$, so the loss falls to almost zero and
# the model predicts nothing.
#
# Write it (about 5 minutes). It takes the model, so that it can be tested on any model with
# GPT's interface (`model(tokens) -> logits`).

# %% nbgrader={"grade": false, "grade_id": "lm_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lm_loss(model: nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """The causal LM loss of model on windows of T + 1 tokens.

    Args:
        model: model(tokens (B, T) int64) -> logits (B, T, V), such as GPT.
        windows: int64 (B, T + 1).

    Returns:
        A scalar tensor (it keeps the graph, for backward): the mean cross-entropy in nats of the
        model's logits on windows[:, :-1] against the next tokens windows[:, 1:].

    Example:
        >>> lm_loss(GPT(GPTConfig(**TINY)), torch.randint(0, 65, (4, 17)))   # about ln 65 = 4.17 at initialisation
    """
    ### BEGIN SOLUTION
    logits = model(windows[:, :-1])                     # (B, T, V): logits[:, t] score windows[:, t + 1]
    targets = windows[:, 1:]                            # (B, T)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    ### END SOLUTION

# %% [markdown]
# The loss tests use a model whose logits are known: a bigram table, $z_t = W[x_t]$ (the logits
# depend on the current token only), with the table as its one parameter.

# %%
@scenario
def table_model_loss(ns, table, windows):
    """lm_loss of a bigram model (logits = table[tokens]) on windows: the loss and its gradient with respect to the table."""
    class TableModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Parameter(table.clone())

        def forward(self, tokens):
            return self.table[tokens]

    model = TableModel()
    loss = ns.lm_loss(model, windows)
    loss.backward()
    return {"loss": loss.detach(), "grad": model.table.grad}


# %% nbgrader={"grade": true, "grade_id": "lm_loss_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the loss of a bigram model on one window is the mean of -log p(next | current), computed by hand, a scalar that keeps its gradient"""
from grader.testing import expect

table = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]], dtype=DTYPE))
windows = torch.tensor([[0, 2, 1, 2]])   # predictions: 2 after 0, 1 after 2, 2 after 1
got = table_model_loss.learner(table, windows)
expect.shape(got["loss"], (), what="lm_loss on one window", hint="return the mean over all predictions: a scalar")
want = -(math.log(0.25) + math.log(1 / 3) + math.log(0.8)) / 3
expect.close(got["loss"], want, atol=1e-12, what="lm_loss of the bigram model on the window (0, 2, 1, 2)",
             hint="logits at position t score the NEXT token: cross-entropy of model(windows[:, :-1]) against windows[:, 1:]")

# %% nbgrader={"grade": true, "grade_id": "lm_loss_matches_transformers", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the loss equals the shifted cross-entropy computed by hand (loss and gradient) on batches of windows, and transformers' GPT2LMHeadModel(tokens, labels=tokens).loss on your model's weights"""
from grader.testing import scenario, expect


@scenario
def gpt_loss(ns, config, seed, windows):
    """lm_loss of a seeded float64 GPT on windows, with the GPT's state dict."""
    torch.manual_seed(seed)
    model = ns.GPT(ns.GPTConfig(**config)).double()
    with torch.no_grad():
        loss = ns.lm_loss(model, windows)
    return {"loss": loss, "state": {name: t.detach().clone() for name, t in model.state_dict().items()}}


gen = torch.Generator().manual_seed(60)
table = torch.randn(5, 5, generator=gen, dtype=DTYPE)
windows = torch.randint(0, 5, (3, 7), generator=gen)
got = table_model_loss.learner(table, windows)
expect.shape(got["loss"], (), what="lm_loss on windows (3, 7)")
expect.shape(got["grad"], (5, 5), what="the gradient of lm_loss with respect to the table",
             hint="return the loss as a tensor that keeps its graph (no .item(), no torch.no_grad)")
### BEGIN HIDDEN TESTS
hint = "the logits of model(windows[:, :-1]) flattened to (B*T, V) against windows[:, 1:] flattened to (B*T,), mean cross-entropy"
for shape in [(3, 7), (1, 2), (6, 12)]:
    windows = torch.randint(0, 5, shape, generator=gen)
    got = table_model_loss.learner(table, windows)
    leaf = table.clone().requires_grad_(True)
    want = F.cross_entropy(leaf[windows[:, :-1]].reshape(-1, 5), windows[:, 1:].reshape(-1))
    want.backward()
    expect.close(got["loss"], want.detach(), atol=1e-12, what=f"lm_loss of the bigram model on windows {shape}", hint=hint)
    expect.close(got["grad"], leaf.grad, atol=1e-12, what=f"the gradient of lm_loss on windows {shape}", hint=hint)

windows = torch.randint(0, 65, (3, 13), generator=gen)
got = gpt_loss.learner(TINY, 61, windows)
expect.shape(got["loss"], (), what="lm_loss of a GPT on windows (3, 13)")
with torch.no_grad():
    want = transformers_gpt2(TINY, got["state"])(windows, labels=windows).loss
expect.close(got["loss"], want, atol=1e-11, what="lm_loss of your GPT, compared with GPT2LMHeadModel(tokens, labels=tokens).loss", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 7 · Training: AdamW, warm-up and cosine decay
#
# The optimiser is **AdamW** (`04-optimization`): Adam's per-parameter step sizes with weight decay
# applied directly to the weights, $\theta \leftarrow \theta - \eta\,(\hat m / (\sqrt{\hat v} + \epsilon) + \lambda\theta)$.
# Three choices GPT training makes, and why:
#
# - **Decay only the matrices.** Weight decay pulls parameters towards 0. For matrices and
#   embeddings that is regularisation; for a LayerNorm gain it would pull the gain towards 0
#   (not 1), and biases gain nothing from it. nanoGPT, minGPT and GPT-3 decay parameters with 2 or
#   more dimensions only: two parameter groups.
# - **$\beta_2 = 0.99$** instead of 0.999: the second-moment estimate forgets faster, which suits
#   small models trained for a few thousand steps with large learning rates (nanoGPT's Shakespeare
#   setting; large runs use 0.95).
# - **Clip the gradient norm** to 1 (`nn.utils.clip_grad_norm_`): one unlucky batch cannot throw the
#   weights away.
#
# **The learning-rate schedule.** A linear **warm-up** over the first $w$ steps, then a **cosine
# decay** from the peak $\eta_{\max}$ to $\eta_{\min}$ at the last step $S$:
#
# $$\eta(s) = \begin{cases} \eta_{\max}\,\dfrac{s + 1}{w} & s < w, \\[2mm]
# \eta_{\min} + \tfrac{1}{2}\big(1 + \cos(\pi\,\tfrac{s - w}{S - w})\big)(\eta_{\max} - \eta_{\min}) & w \le s < S, \\[2mm]
# \eta_{\min} & s \ge S. \end{cases}$$
#
# **What this means.** At the start Adam's moment estimates are built from a handful of gradients and
# the weights are random, so a full-size step is a jump in a random direction: the warm-up lets the
# estimates settle (and, in post-norm models, prevents divergence). At the end a small learning rate
# lets the weights settle into the minimum instead of bouncing around it: most of the last few
# tenths of a nat come from the decay. The cosine shape spends long at high learning rates and
# decays smoothly; it needs the total number of steps in advance.
#
# Write the schedule (about 5 minutes), then the training loop (about 15 minutes).

# %% nbgrader={"grade": false, "grade_id": "lr_at", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lr_at(step: int, max_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """The learning rate of step `step` (0-based): linear warm-up, then cosine decay to min_lr.

    Args:
        step: s >= 0. max_lr: the peak. warmup_steps: w >= 0. total_steps: S > w. min_lr: the floor.

    Returns:
        A float: max_lr * (s + 1) / w for s < w; min_lr + 0.5 * (1 + cos(pi * (s - w) / (S - w))) * (max_lr - min_lr)
        for w <= s < S; min_lr for s >= S.

    Example:
        >>> lr_at(0, 1e-3, 10, 100), lr_at(10, 1e-3, 10, 100), lr_at(100, 1e-3, 10, 100, 1e-4)
        (0.0001, 0.001, 0.0001)
    """
    ### BEGIN SOLUTION
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)   # 0 at the peak, 1 at the end
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "lr_schedule_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the schedule rises linearly to the peak during warm-up, follows the cosine from the peak down to min_lr, stays at min_lr after the last step, and works without warm-up"""
from grader.testing import learner, expect

expect.close(learner.lr_at(0, 1e-3, 10, 100), 1e-4, atol=1e-15, what="lr_at(0) with 10 warm-up steps",
             hint="during warm-up the rate is max_lr * (step + 1) / warmup_steps")
expect.close(learner.lr_at(10, 1e-3, 10, 100), 1e-3, atol=1e-15, what="lr_at(10), the first step after warm-up",
             hint="the cosine starts at the peak: progress (s - w) / (S - w) is 0 at s = w")
expect.close(learner.lr_at(55, 1e-3, 10, 100, 1e-4), 5.5e-4, atol=1e-15, what="lr_at(55), half-way through the decay",
             hint="half-way the cosine term is 0.5 * (1 + cos(pi / 2)) = 0.5: the middle of max_lr and min_lr")
### BEGIN HIDDEN TESTS
hint = "max_lr * (s + 1) / w for s < w; min_lr + 0.5 * (1 + cos(pi * (s - w) / (S - w))) * (max_lr - min_lr) for w <= s < S; min_lr after"
for step, args, want in [
    (4, (2e-3, 10, 110, 2e-4), 2e-3 * 5 / 10), (9, (2e-3, 10, 110, 2e-4), 2e-3),
    (35, (2e-3, 10, 110, 2e-4), 2e-4 + 0.5 * (1 + math.cos(math.pi * 0.25)) * 1.8e-3),
    (109, (2e-3, 10, 110, 2e-4), 2e-4 + 0.5 * (1 + math.cos(math.pi * 0.99)) * 1.8e-3),
    (110, (2e-3, 10, 110, 2e-4), 2e-4), (500, (2e-3, 10, 110, 2e-4), 2e-4),
    (0, (0.1, 0, 4), 0.1), (1, (0.1, 0, 4), 0.05 * (1 + math.cos(math.pi / 4))), (3, (0.1, 0, 4), 0.05 * (1 + math.cos(3 * math.pi / 4))),
    (4, (0.1, 0, 4), 0.0), (0, (3e-3, 1, 3, 3e-4), 3e-3), (2, (3e-3, 1, 3, 3e-4), 3e-4 + 0.5 * (1 + math.cos(math.pi / 2)) * 2.7e-3),
]:
    expect.close(learner.lr_at(step, *args), want, atol=1e-15, rtol=1e-12, what=f"lr_at({step}, max_lr={args[0]:g}, warmup_steps={args[1]}, total_steps={args[2]})", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# The schedule of the course model (section 8): 200 warm-up steps, a peak of $2\cdot 10^{-3}$, a floor of
# $2\cdot 10^{-4}$ (your function, once written):

# %%
try:
    steps_demo = np.arange(3000)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(steps_demo, [lr_at(int(s), 2e-3, 200, 3000, 2e-4) for s in steps_demo])
    ax.set(xlabel="step", ylabel="learning rate", title="linear warm-up, then cosine decay to the floor")
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    plt.close("all")
    print("write lr_at above to see the schedule")

# %% [markdown]
# The training loop, one step:
#
# 1. set every parameter group's `"lr"` to `lr_at(step, max_lr, warmup_steps, steps, min_lr)`;
# 2. draw a batch `random_windows(data, batch_size, model.config.block_size + 1, generator)`;
# 3. `loss = lm_loss(model, batch)`, `optimizer.zero_grad()`, `loss.backward()`;
# 4. `nn.utils.clip_grad_norm_(model.parameters(), clip)`, `optimizer.step()`;
# 5. record `loss.item()`, and call `log(step, loss)` if a `log` function is given (the course
#    model's script uses it to measure the held-out loss now and then).
#
# The optimiser is created once, before the loop: `torch.optim.AdamW` with two parameter groups,
# the parameters with `dim() >= 2` with `weight_decay`, the others with 0, and `betas`.

# %% nbgrader={"grade": false, "grade_id": "train_gpt", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_gpt(
    model: nn.Module,
    data: torch.Tensor,
    steps: int,
    batch_size: int,
    max_lr: float,
    generator: torch.Generator,
    warmup_steps: int = 0,
    min_lr: float = 0.0,
    weight_decay: float = 0.1,
    betas: tuple[float, float] = (0.9, 0.99),
    clip: float = 1.0,
    log=None,
) -> list[float]:
    """Train a GPT in place with AdamW on random windows of data, under the warm-up and cosine schedule.

    Args:
        model: a GPT (model.config.block_size is its context T).
        data: int64 (N,), the training tokens, N > T.
        steps: S, the number of updates (and the schedule's total_steps).
        batch_size: B windows of T + 1 tokens per step, drawn with random_windows(data, B, T + 1, generator).
        max_lr, warmup_steps, min_lr: the schedule (lr_at).
        generator: the torch.Generator every batch is drawn from.
        weight_decay: AdamW's decay for the parameters with 2 or more dimensions; the others get none.
        betas: AdamW's (beta1, beta2).
        clip: the largest global gradient norm (nn.utils.clip_grad_norm_) before each update.
        log: None, or a function called as log(step, loss_value) after every update.

    Returns:
        The training loss (lm_loss, a Python float) of every step: a list of S floats.

    Example:
        >>> model = GPT(GPTConfig(**TINY))
        >>> losses = train_gpt(model, train_ids, 50, 16, 3e-3, torch.Generator().manual_seed(0), warmup_steps=5)
    """
    ### BEGIN SOLUTION
    decay = [p for p in model.parameters() if p.dim() >= 2]      # matrices and embeddings
    no_decay = [p for p in model.parameters() if p.dim() < 2]    # biases and LayerNorm parameters
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=max_lr, betas=betas)
    window = model.config.block_size + 1
    losses = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, max_lr, warmup_steps, steps, min_lr)
        batch = random_windows(data, batch_size, window, generator)
        loss = lm_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(loss.item())
        if log is not None:
            log(step, losses[-1])
    return losses
    ### END SOLUTION

# %% [markdown]
# The first training test runs four steps of your loop on a tiny float64 GPT and a text of random
# tokens; the test repeats them with transformers' GPT-2 holding the same initial weights and
# `torch.optim.AdamW`, and compares every loss and every final weight.

# %%
@scenario
def four_steps(ns, config, seed, data, max_lr, warmup_steps, min_lr, weight_decay, clip):
    """Four steps of train_gpt on a seeded float64 GPT: initial and final weights, the losses and what log received."""
    torch.manual_seed(seed)
    model = ns.GPT(ns.GPTConfig(**config)).double()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 1:
                parameter.add_(0.1 * torch.randn_like(parameter))   # biases and gains away from 0 and 1: decay would show
    initial = {name: t.detach().clone() for name, t in model.state_dict().items()}
    logged = []
    losses = ns.train_gpt(model, data, 4, 3, max_lr, torch.Generator().manual_seed(seed + 1), warmup_steps=warmup_steps,
                          min_lr=min_lr, weight_decay=weight_decay, betas=(0.8, 0.95), clip=clip,
                          log=lambda step, loss: logged.append([float(step), float(loss)]))
    return {"initial": initial, "final": {name: t.detach().clone() for name, t in model.state_dict().items()},
            "losses": [float(loss) for loss in losses], "logged": logged}


# %% nbgrader={"grade": true, "grade_id": "train_gpt_matches_torch_loop", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""four steps of train_gpt give the losses and weights of the same loop written with transformers' GPT-2 and torch.optim.AdamW: batches from random_windows with the given generator, the schedule's learning rate at every step, weight decay on the matrices only, the given betas, gradient clipping, and log called after every step"""
from grader.testing import expect

CONFIG_4 = dict(vocab_size=7, block_size=6, n_layer=1, n_head=2, n_embd=8)
data = torch.randint(0, 7, (40,), generator=torch.Generator().manual_seed(70))
got = four_steps.learner(CONFIG_4, 71, data, 0.05, 2, 0.005, 0.1, 1.0)
expect.true(isinstance(got["losses"], list) and len(got["losses"]) == 4, "train_gpt(steps=4) must return a list of 4 losses")
expect.true(all(math.isfinite(loss) for loss in got["losses"]), "the training losses must be finite numbers (loss.item())")
expect.true(len(got["logged"]) == 4, "log(step, loss) must be called once after every update")
### BEGIN HIDDEN TESTS


def torch_loop(initial, data, seed, max_lr, warmup_steps, min_lr, weight_decay, clip):
    """The same four steps with transformers' GPT-2 and torch.optim.AdamW: the independent reference."""
    model = transformers_gpt2(CONFIG_4, initial).train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}],
                                  lr=max_lr, betas=(0.8, 0.95))
    generator = torch.Generator().manual_seed(seed + 1)
    losses = []
    for step in range(4):
        if step < warmup_steps:
            lr = max_lr * (step + 1) / warmup_steps
        else:
            lr = min_lr + 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / (4 - warmup_steps))) * (max_lr - min_lr)
        for group in optimizer.param_groups:
            group.update(lr=lr)
        offsets = torch.randint(0, len(data) - 7 + 1, (3,), generator=generator)
        batch = data[offsets[:, None] + torch.arange(7)]
        logits = model(batch[:, :-1]).logits
        loss = F.cross_entropy(logits.reshape(-1, 7), batch[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(loss.item())
    return losses, {name: t.detach() for name, t in model.state_dict().items()}


hint = ("each step: lr_at(step, ...) into every parameter group, a batch random_windows(data, B, block_size + 1, generator), "
        "lm_loss, zero_grad, backward, clip_grad_norm_(model.parameters(), clip), optimizer.step(); AdamW with two groups "
        "(weight decay on parameters with dim >= 2 only) and the given betas")
for args, case in [((0.05, 2, 0.005, 0.1, 1.0), "warm-up 2, weight decay 0.1, clip 1"), ((0.02, 0, 0.0, 0.5, 0.05), "no warm-up, weight decay 0.5, clip 0.05")]:
    got = four_steps.learner(CONFIG_4, 71, data, *args)
    expect.true(isinstance(got["losses"], list) and len(got["losses"]) == 4, "train_gpt(steps=4) must return a list of 4 losses")
    expect.equal(sorted(got["initial"]), gpt_parameter_names(1), what="the parameter names of your GPT", hint="the names of section 2's table")
    want_losses, want_final = torch_loop(got["initial"], data, 71, *args)
    expect.close(torch.tensor(got["losses"], dtype=DTYPE), torch.tensor(want_losses, dtype=DTYPE), atol=1e-10, rtol=1e-9,
                 what=f"the four training losses ({case})", hint=hint)
    expect.shape(torch.tensor(got["logged"], dtype=DTYPE), (4, 2), what=f"what log received ({case})", hint="call log(step, loss_value) after every update")
    expect.close(torch.tensor(got["logged"], dtype=DTYPE), torch.tensor([[float(s), l] for s, l in enumerate(want_losses)], dtype=DTYPE),
                 atol=1e-10, rtol=1e-9, what=f"the (step, loss) pairs log received ({case})", hint="call log(step, loss.item()) with the 0-based step")
    final = to_transformers_state_dict(got["final"])
    for name, value in want_final.items():
        expect.close(final[name], value, atol=1e-10, rtol=1e-8, what=f"the parameter {name} after four steps ({case})", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "train_gpt_reaches_loss_bar", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""a short run of your loop on Tiny Shakespeare (a tiny GPT, 150 steps of 16 windows) brings the loss on held-out text well below the unigram baseline, under a bar calibrated on the reference, and the recorded training loss falls from about ln V"""
from grader.testing import scenario, expect


@scenario
def short_shakespeare_run(ns, steps):
    """Train a tiny GPT on the first 200,000 training characters; return its losses and its logits on 4,096 held-out characters."""
    with open("tinyshakespeare.txt", encoding="utf-8") as file:
        text = file.read()
    vocabulary = sorted(set(text))
    index = {c: i for i, c in enumerate(vocabulary)}
    train = torch.tensor([index[c] for c in text[:200_000]], dtype=torch.long)
    held_out = torch.tensor([index[c] for c in text[-4097:]], dtype=torch.long)
    torch.manual_seed(0)
    model = ns.GPT(ns.GPTConfig(vocab_size=len(vocabulary), block_size=64, n_layer=2, n_head=4, n_embd=48))
    losses = ns.train_gpt(model, train, steps, 16, 1e-2, torch.Generator().manual_seed(1), warmup_steps=15, min_lr=1e-3)
    with torch.no_grad():
        logits = model(held_out[:-1].reshape(64, 64))
    return {"losses": [float(loss) for loss in losses], "held_out_logits": logits}


got = short_shakespeare_run.learner(3)
expect.true(isinstance(got["losses"], list) and len(got["losses"]) == 3, "train_gpt(steps=3) must return a list of 3 losses")
expect.true(all(math.isfinite(loss) for loss in got["losses"]), "the training losses must be finite numbers")
### BEGIN HIDDEN TESTS
got = short_shakespeare_run.learner(150)
expect.true(isinstance(got["losses"], list) and len(got["losses"]) == 150, "train_gpt(steps=150) must return 150 losses, one per update")
expect.shape(got["held_out_logits"], (64, 64, 65), what="the held-out logits of the trained tiny GPT")
with open("tinyshakespeare.txt", encoding="utf-8") as file:
    text = file.read()
targets = encode(text[-4096:], character_vocabulary(text)).reshape(64, 64)
held_out_loss = F.cross_entropy(got["held_out_logits"].double().reshape(-1, 65), targets.reshape(-1)).item()
# calibrated on the reference: 2.73, 2.79 and 2.70 nats for seeds 0, 1, 2 of this run (the unigram baseline is 3.35, the
# bigram one 2.48); the bar of 3.0 leaves 0.2 nats for seeds and machines and still fails a loop that does not learn
expect.true(held_out_loss < 3.0,
            f"after 150 steps the held-out loss is {held_out_loss:.2f} nats, above the bar of 3.0 (a unigram model scores 3.35): "
            "check the shift of lm_loss, the causal mask, the schedule and that every step calls zero_grad, backward and optimizer.step")
first, last = sum(got["losses"][:5]) / 5, sum(got["losses"][-10:]) / 10
expect.true(abs(first - math.log(65)) < 0.3 and last < first - 1.0,
            f"the recorded training loss went from {first:.2f} to {last:.2f} nats: it should start near ln V = 4.17 and fall; record loss.item() at every step")
### END HIDDEN TESTS

# %% [markdown]
# **Measuring the held-out loss.** The loss that counts is the one on text the model never trained
# on. The helper below measures it on *every* character of a held-out text: it cuts the text into
# consecutive windows of $T + 1$ characters that overlap by one (starting at $0, T, 2T, \dots$; the last
# one shorter), so each of the $N - 1$ targets is predicted exactly once, from the characters
# before it in its window. Each prediction thus sees between 1 and $T$ characters of context, as
# in training; nanoGPT's estimate (the mean loss of random windows) measures the same quantity.

# %%
@torch.no_grad()
def held_out_loss(model: nn.Module, data: torch.Tensor, batch_windows: int = 32) -> float:
    """Mean cross-entropy (nats per token) of model's prediction of every token of data after the first.

    Args:
        model: a GPT (model.config.block_size is T).
        data: int64 (N,), N >= 2: e.g. held_out_ids.
        batch_windows: how many windows one forward pass reads.

    Returns:
        A float: the sum of -log p(data[i + 1] | the tokens of its window before it) over i = 0..N-2, divided by
        N - 1; the windows are data[jT : jT + T + 1] for j = 0, 1, ... (the last one shorter).
    """
    T = model.config.block_size
    starts = list(range(0, len(data) - 1, T))
    batches = [starts[i:i + batch_windows] for i in range(0, len(starts), batch_windows)]
    total, count = 0.0, 0
    for batch in batches:
        full = [s for s in batch if s + T + 1 <= len(data)]
        groups = [torch.stack([data[s:s + T + 1] for s in full])] if full else []
        groups += [data[s:][None] for s in batch if s + T + 1 > len(data)]   # the last, shorter window
        for windows in groups:
            logits = model(windows[:, :-1])
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), windows[:, 1:].reshape(-1), reduction="sum").item()
            count += windows[:, 1:].numel()
    return total / count


# %% [markdown]
# A first training run (about 10 seconds): the tiny GPT of the training test, two layers of width
# 48 and a context of 64 characters, for 300 steps of 16 windows (300,000 characters seen), measured
# on the first 20,000 held-out characters.

# %%
try:
    torch.manual_seed(0)
    demo_model = GPT(GPTConfig(vocab_size=n_vocab, block_size=64, n_layer=2, n_head=4, n_embd=48))
    started = time.time()
    demo_losses = train_gpt(demo_model, train_ids, 300, 16, 1e-2, torch.Generator().manual_seed(1), warmup_steps=15, min_lr=1e-3)
    demo_held_out = held_out_loss(demo_model, held_out_ids[:20_000])
    print(f"300 steps in {time.time() - started:.1f} s; held-out loss {demo_held_out:.3f} nats per character")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(demo_losses, lw=0.8, label="training loss (one batch)")
    for (name, loss), style in zip(baselines.items(), [":", "--", "-."]):
        ax.axhline(loss, color="grey", ls=style, lw=1, label=f"{name} baseline")
    ax.axhline(demo_held_out, color="C1", label="held-out loss after training")
    ax.set(xlabel="step", ylabel="nats per character", title="a tiny GPT learning Shakespeare")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    plt.close("all")
    print("write the model, lm_loss, lr_at and train_gpt above to train a tiny GPT")

# %% [markdown]
# ## 8 · The course model
#
# The course ships one trained GPT, the **course model**: the reference solution of this
# assignment (exactly your `GPT`, with the default `GPTConfig`: 4 layers, 4 heads, width 128, a
# context of 256 characters, 834,432 parameters), trained on the training 90 % of Tiny Shakespeare by
# the course's script `train_course_model.py` with the reference `train_gpt`, from a fixed seed, on
# the two CPU cores of the machine the course is developed on. Later assignments (fine-tuning,
# LoRA, quantization, reward models, serving) load it, so none of them depends on this one being
# solved. The folder `course_model/` holds
#
# - `course_model.safetensors`: the weights under section 2's names (float32, 3.4 MB; `safetensors`
#   is a plain tensor format that cannot run code when loaded, unlike a pickle);
# - `course_model.json`: the configuration, the vocabulary, the recipe (seed, steps, batch,
#   schedule), the held-out loss and how it was measured, the training time and the machine;
# - `training_curve.csv` and `training_curve.png`: the loss during training.
#
# **The anchor.** nanoGPT's character-level Shakespeare example, run on a CPU with the same size
# (4 layers, 4 heads, width 128, context 64, batch 12, 2000 steps at a learning rate of $10^{-3}$,
# dropout 0), reaches a held-out loss of about **1.88** after a few minutes. The course model is the
# same size and must do better in at most 15 minutes on two cores. Its recipe and its numbers:

# %%
with open(f"{COURSE_MODEL}/course_model.json", encoding="utf-8") as file:
    course_info = json.load(file)
recipe = course_info["training"]
print(f"configuration: {course_info['config']}")
print(f"held-out loss: {course_info['held_out_loss']:.4f} nats per character ({course_info['held_out_loss_measured']})")
print(f"training: {recipe['steps']} steps of {recipe['batch_size']} windows of {recipe['context']} + 1 characters "
      f"({recipe['tokens_seen']:,} characters seen, {recipe['tokens_seen'] / len(train_ids):.1f} passes over the training text), "
      f"peak lr {recipe['max_lr']:g} after {recipe['warmup_steps']} warm-up steps, cosine to {recipe['min_lr']:g}")
print(f"time: {course_info['training_seconds']:.0f} s of training on {course_info['machine']['cpu']} "
      f"({course_info['machine']['threads']} threads, torch {course_info['machine']['torch']})")
print(f"what made the difference: {course_info['what_made_the_difference']}")

curve = np.genfromtxt(f"{COURSE_MODEL}/training_curve.csv", delimiter=",", names=True)
fig, ax = plt.subplots(figsize=(8, 3.8))
ax.plot(curve["tokens_seen"] / 1e6, curve["train_loss"], lw=0.6, alpha=0.7, label="training loss (mean of the last 20 steps)")
measured = ~np.isnan(curve["held_out_loss"])
ax.plot(curve["tokens_seen"][measured] / 1e6, curve["held_out_loss"][measured], "o-", ms=3, label="held-out loss (first 50,000 characters)")
ax.axhline(1.88, color="grey", ls="--", lw=1, label="nanoGPT's CPU run: 1.88")
ax.axhline(course_info["held_out_loss"], color="C3", lw=1, label=f"course model, all held-out text: {course_info['held_out_loss']:.3f}")
ax.set(xlabel="millions of characters seen", ylabel="nats per character", ylim=(1.2, 3.0), title="the course model's training curve")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# **What made the difference** against nanoGPT's 1.88, at the same size:
#
# | lever | nanoGPT's CPU example | course model | why it helps |
# |---|---|---|---|
# | characters seen | 2000 × 12 × 64 = 1.5 M | 1600 × 32 × 256 = 13.1 M, 8.5 × more (13 passes over the text) | more data per parameter: the model is far from converged after 1.5 M |
# | context | 64 | 256 | longer contexts predict better (names, metre, who speaks), and a step trains 4 × more positions |
# | attention kernel | explicit | fused `scaled_dot_product_attention` | about twice the characters per second on a CPU, so more steps in the same time |
# | learning rate | $10^{-3}$, no warm-up, decay to $10^{-4}$ | warm-up, peak $2 \cdot 10^{-3}$, cosine to $2 \cdot 10^{-4}$ | a small pre-norm model tolerates a higher peak; the warm-up makes it safe |
# | threads | default | `torch.set_num_threads(2)`, nothing else running | every core busy on the matrix products |
#
# Now load the checkpoint into *your* class. If your `GPT` uses section 2's names, `load_state_dict`
# accepts it with `strict=True` (every key present, none left over), and your model computes what the
# reference computed. The cell measures the loss on the first 20,000 held-out characters (the full
# measurement reads all 111,540).

# %%
from safetensors.torch import load_file

try:
    course_model = GPT(GPTConfig(**course_info["config"]))
    course_model.load_state_dict(load_file(f"{COURSE_MODEL}/course_model.safetensors"), strict=True)
    course_model.eval()
    started = time.time()
    print(f"your model with the course weights: held-out loss on 20,000 characters {held_out_loss(course_model, held_out_ids[:20_000]):.3f} "
          f"nats ({time.time() - started:.1f} s)")
except NotImplementedError:
    course_model = None
    print("write causal_self_attention, Block.forward and GPT above to load the course model")

# %% nbgrader={"grade": true, "grade_id": "course_checkpoint_loads", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the course checkpoint loads into your GPT with load_state_dict(strict=True), and your model then gives the logits of transformers' GPT2LMHeadModel holding the same weights, on Shakespeare and on random inputs, up to the full context of 256 characters"""
from grader.testing import scenario, expect


@scenario
def course_model_logits(ns, tokens):
    """The course checkpoint loaded into ns.GPT (strict), in float64: its logits on tokens (B, T)."""
    import json

    from safetensors.torch import load_file

    with open("course_model/course_model.json", encoding="utf-8") as file:
        config = json.load(file)["config"]
    model = ns.GPT(ns.GPTConfig(**config))
    model.load_state_dict(load_file("course_model/course_model.safetensors"), strict=True)
    model = model.double().eval()
    with torch.no_grad():
        return model(tokens)


with open("tinyshakespeare.txt", encoding="utf-8") as file:
    text = file.read()
passage = encode(text[-300:-200], character_vocabulary(text))[None]
logits = course_model_logits.learner(passage[:, :-1])
expect.shape(logits, (1, 99, 65), what="the course model's logits on 99 characters", hint="load the weights into GPT(GPTConfig(**config)) and run it")
loss = F.cross_entropy(logits[0].double(), passage[0, 1:]).item()
expect.true(loss < 2.5, f"with the course weights your model scores {loss:.2f} nats per character on a held-out passage, worse than a bigram model: "
            "check that the checkpoint's names reach the right modules and that forward uses them as section 5 says")
### BEGIN HIDDEN TESTS
from safetensors.torch import load_file

with open("course_model/course_model.json", encoding="utf-8") as file:
    course_config = json.load(file)["config"]
reference_model = transformers_gpt2(course_config, {name: t.double() for name, t in load_file("course_model/course_model.safetensors").items()})
gen = torch.Generator().manual_seed(80)
start = int(torch.randint(0, len(text) - 300, (1,), generator=gen))
hint = "GPT with section 2's names, the checkpoint loaded with load_state_dict(strict=True): embeddings plus positions, blocks, ln_f, tied lm_head"
for tokens, case in [(torch.randint(0, 65, (3, 256), generator=gen), "random tokens (3, 256)"), (torch.randint(0, 65, (2, 17), generator=gen), "random tokens (2, 17)"),
                     (encode(text[start:start + 256], character_vocabulary(text))[None], "256 characters of Shakespeare")]:
    got = course_model_logits.learner(tokens)
    with torch.no_grad():
        want = reference_model(tokens).logits
    expect.shape(got, tuple(want.shape), what=f"the course model's logits on {case}")
    expect.close(got, want, atol=1e-9, rtol=1e-9, what=f"the course model's logits on {case}, compared with GPT2LMHeadModel holding the checkpoint", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 9 · Sampling: temperature, top-k and top-p
#
# Generation repeats one step: run the model on the context (its last `block_size` tokens), turn the
# logits $z$ of the last position into a distribution, draw the next token from it, append it. The
# model's own distribution $\operatorname{softmax}(z)$ is rarely what we want to sample from: its long
# tail of unlikely tokens, each rare but together frequent, derails a text sooner or later. Three
# standard transformations, applied in this order (transformers' `generate` does the same):
#
# **Temperature** $\tau > 0$: $p_i \propto \exp(z_i / \tau)$. $\tau < 1$ sharpens the distribution
# (more likely tokens get more mass), $\tau > 1$ flattens it, $\tau = 1$ leaves it unchanged, and as
# $\tau \to 0$ all the mass goes to the largest logit: $\tau = 0$ means **greedy** decoding, the
# argmax. The temperature divides the *logits*, before the softmax; dividing probabilities afterwards
# and renormalising would change nothing.
#
# **Top-k** (Fan et al., 2018): keep the $k$ largest logits, set the others to $-\infty$. Ties are kept
# together: every logit at least as large as the $k$-th largest survives (so more than $k$ when the
# $k$-th value is tied), as nanoGPT and transformers implement it. $k \ge V$ changes nothing.
#
# **Top-p**, nucleus sampling (Holtzman et al., 2020): keep the smallest set of most probable tokens
# whose total probability reaches $p$. Sort the probabilities in decreasing order,
# $p_{(1)} \ge p_{(2)} \ge \dots$, find the first $c$ with $p_{(1)} + \dots + p_{(c)} \ge p$, and keep every
# token with $p_i \ge p_{(c)}$: the token that **crosses** the threshold is kept (without it the kept
# mass would be below $p$), and so is any token tied with it. Equivalently, token $i$ is kept exactly
# when the tokens more probable than it have total probability below $p$. The top token is always
# kept; $p = 1$ keeps every token.
#
# **What this means.** Top-k keeps a fixed number of candidates; top-p adapts: after "ROMEO" the
# next character is almost surely ":" and the nucleus has one token, after a space it holds dozens.
# Both cut the tail and leave the head's proportions as they were: after filtering, the kept tokens
# are renormalised, $p_i / \sum_{j \text{ kept}} p_j$.
#
# A hand-built distribution under the three transformations (library code):

# %%
z_demo = torch.log(torch.tensor([0.40, 0.25, 0.15, 0.10, 0.05, 0.03, 0.02], dtype=DTYPE))
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharey=True)
for tau in [0.5, 1.0, 2.0]:
    axes[0].plot(torch.softmax(z_demo / tau, -1), "o-", label=f"temperature {tau}")
kept_k = z_demo >= torch.topk(z_demo, 3).values[-1]
axes[1].bar(range(7), torch.softmax(z_demo.masked_fill(~kept_k, float("-inf")), -1), color="C1", label="top-k, k = 3")
axes[1].plot(torch.softmax(z_demo, -1), "k.", label="original")
order_demo = torch.softmax(z_demo, -1).sort(descending=True).values.cumsum(-1)
axes[2].bar(range(7), torch.softmax(z_demo.masked_fill(torch.arange(7) > 2, float("-inf")), -1), color="C2",
            label="top-p, p = 0.75: 0.40 + 0.25 + 0.15 = 0.80")
axes[2].plot(torch.softmax(z_demo, -1), "k.", label="original")
for ax, title in zip(axes, ["temperature reshapes", "top-k keeps k tokens", "top-p keeps the nucleus"]):
    ax.set(title=title, xlabel="token (by probability)")
    ax.legend(fontsize=8)
axes[0].set_ylabel("probability")
fig.tight_layout()
plt.show()
print("cumulative probabilities in decreasing order:", order_demo.numpy().round(2), "-> p = 0.75 is crossed at the third token")

# %% [markdown]
# Write the two filters (about 10 minutes each). Both take logits of any shape $(\dots, V)$, work
# on the last axis, and return logits of the same shape with the removed tokens at $-\infty$; rows
# are independent. `torch.topk`, `torch.sort`, `cumsum` and `masked_fill` are all you need.

# %% nbgrader={"grade": false, "grade_id": "top_k_filter", "locked": false, "schema_version": 3, "solution": true, "task": false}
def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of every row (ties with the k-th largest kept too); the others become -inf.

    Args:
        logits: float tensor (..., V).
        k: the number of tokens to keep, k >= 1; k >= V keeps everything.

    Returns:
        A tensor of logits' shape and dtype: logits where logits >= the k-th largest value of its row, -inf elsewhere.

    Example:
        >>> top_k_filter(torch.tensor([1.0, 3.0, 2.0, 3.0]), 2)      # the two 3s
        tensor([-inf, 3., -inf, 3.])
        >>> top_k_filter(torch.tensor([1.0, 3.0, 2.0, 2.0]), 2)      # 3, and both 2s (tied at the 2nd place)
        tensor([-inf, 3., 2., 2.])
    """
    ### BEGIN SOLUTION
    k = min(k, logits.shape[-1])
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]     # (..., 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))
    ### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "top_p_filter", "locked": false, "schema_version": 3, "solution": true, "task": false}
def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the most probable tokens until their total probability reaches p; the others become -inf.

    Args:
        logits: float tensor (..., V); entries may already be -inf (e.g. after top_k_filter).
        p: the mass to keep, 0 < p <= 1.

    Returns:
        A tensor of logits' shape and dtype. With probs = softmax(logits) sorted decreasingly and c the first
        place where their cumulative sum reaches p (>= p), every token with prob >= the c-th largest prob keeps its
        logit (the crossing token and tokens tied with it included); the others are -inf. p >= 1 returns the logits unchanged.

    Example:
        >>> top_p_filter(torch.log(torch.tensor([0.1, 0.5, 0.3, 0.1])), 0.7)   # 0.5 + 0.3 = 0.8 reaches 0.7
        tensor([   -inf, -0.6931, -1.2040,    -inf])
    """
    ### BEGIN SOLUTION
    if p >= 1.0:
        return logits
    probs = torch.softmax(logits, dim=-1)
    sorted_probs = probs.sort(dim=-1, descending=True).values
    cumulative = sorted_probs.cumsum(dim=-1)
    crossing = (cumulative < p).sum(dim=-1, keepdim=True).clamp(max=logits.shape[-1] - 1)   # index of the token that reaches p
    threshold = sorted_probs.gather(-1, crossing)                                             # its probability
    return logits.masked_fill(probs < threshold, float("-inf"))
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "top_k_filter_cases", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""top-k keeps exactly the k largest logits of each row and sets the rest to -inf, keeps every logit tied with the k-th largest, leaves the logits unchanged for k = V and beyond, and works on batches of rows"""
from grader.testing import learner, expect

inf = float("inf")
got = learner.top_k_filter(torch.tensor([1.0, 4.0, 2.0, 3.0], dtype=DTYPE), 2)
expect.shape(got, (4,), what="top_k_filter of 4 logits", hint="keep the shape: removed tokens become -inf, nothing is dropped")
expect.equal(got, torch.tensor([-inf, 4.0, -inf, 3.0], dtype=DTYPE), what="top_k_filter([1, 4, 2, 3], k=2)",
             hint="keep the logits >= the k-th largest (torch.topk(logits, k).values[..., -1:]), set the others to -inf")
### BEGIN HIDDEN TESTS
hint = "keep every logit >= the k-th largest of its row (ties at the k-th place all kept), -inf elsewhere; k >= V keeps everything"
cases = [
    (torch.tensor([1.0, 3.0, 2.0, 2.0], dtype=DTYPE), 2, torch.tensor([-inf, 3.0, 2.0, 2.0], dtype=DTYPE), "a tie at the k-th place: 3 and both 2s"),
    (torch.tensor([5.0, 5.0, 1.0, 0.0], dtype=DTYPE), 1, torch.tensor([5.0, 5.0, -inf, -inf], dtype=DTYPE), "k = 1 with two equal maxima"),
    (torch.tensor([0.5, -1.0, 2.0], dtype=DTYPE), 3, torch.tensor([0.5, -1.0, 2.0], dtype=DTYPE), "k = V"),
    (torch.tensor([0.5, -1.0, 2.0], dtype=DTYPE), 10, torch.tensor([0.5, -1.0, 2.0], dtype=DTYPE), "k > V"),
    (torch.tensor([0.5, -1.0, 2.0, 7.0, 3.0], dtype=DTYPE), 1, torch.tensor([-inf, -inf, -inf, 7.0, -inf], dtype=DTYPE), "k = 1"),
    (torch.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [0.0, 0.0, 0.0, 9.0]], dtype=DTYPE), 2,
     torch.tensor([[-inf, -inf, 3.0, 4.0], [4.0, 3.0, -inf, -inf], [0.0, 0.0, 0.0, 9.0]], dtype=DTYPE), "three rows, k = 2 (row 3 tied)"),
]
for logits, k, want, case in cases:
    got = learner.top_k_filter(logits, k)
    expect.shape(got, tuple(want.shape), what=f"top_k_filter with {case}")
    expect.equal(got, want, what=f"top_k_filter with {case}", hint=hint)
gen = torch.Generator().manual_seed(90)
logits = torch.randn(2, 3, 50, generator=gen, dtype=DTYPE)
got = learner.top_k_filter(logits, 7)
expect.shape(got, (2, 3, 50), what="top_k_filter of logits (2, 3, 50)")
kth = logits.sort(dim=-1, descending=True).values[..., 6:7]
expect.equal(got, torch.where(logits >= kth, logits, -inf), what="top_k_filter of random logits (2, 3, 50) with k = 7", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "top_p_filter_cases", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""top-p keeps the most probable tokens up to and including the one whose cumulative probability crosses p, keeps ties with it, always keeps the top token, leaves the logits unchanged for p = 1, respects tokens already at -inf, and works on batches of rows"""
from grader.testing import learner, expect

inf = float("inf")
logits = torch.log(torch.tensor([0.1, 0.5, 0.3, 0.1], dtype=DTYPE))
got = learner.top_p_filter(logits, 0.7)
expect.shape(got, (4,), what="top_p_filter of 4 logits", hint="keep the shape: removed tokens become -inf")
expect.equal(torch.isfinite(got), torch.tensor([False, True, True, False]), what="the tokens top_p_filter(probabilities (0.1, 0.5, 0.3, 0.1), p=0.7) keeps",
             hint="0.5 alone is below 0.7, 0.5 + 0.3 = 0.8 reaches it: keep the token that crosses the threshold too")
### BEGIN HIDDEN TESTS
hint = ("sort the probabilities decreasingly, find the first place c where the cumulative sum reaches p, and keep every token "
        "with probability >= the c-th largest (the crossing token and its ties kept); p >= 1 changes nothing")


def probs_logits(*probs):
    return torch.log(torch.tensor(probs, dtype=DTYPE))


cases = [
    (probs_logits(0.1, 0.5, 0.3, 0.1), 0.45, [False, True, False, False], "p = 0.45 below the top probability 0.5: the top token alone"),
    (probs_logits(0.1, 0.5, 0.3, 0.1), 0.85, [True, True, True, True], "p = 0.85: 0.5 + 0.3 = 0.8 < 0.85, so a 0.1 token crosses, and its tie too"),
    (probs_logits(0.05, 0.6, 0.2, 0.15), 0.9, [False, True, True, True], "p = 0.9: 0.6 + 0.2 + 0.15 = 0.95 crosses it at the third token"),
    (probs_logits(0.05, 0.6, 0.2, 0.15), 0.79, [False, True, True, False], "p = 0.79: crossed by the second token, 0.6 + 0.2 = 0.8"),
    (probs_logits(0.25, 0.25, 0.25, 0.25), 0.3, [True, True, True, True], "a uniform distribution: every token is tied with the crossing one"),
    (probs_logits(0.1, 0.5, 0.3, 0.1), 0.01, [False, True, False, False], "a tiny p keeps the top token only"),
    # probabilities 0.629, 0, 0.231, 0, 0.140: 0.629 + 0.231 = 0.860 < 0.9, so the 0.140 token crosses
    (torch.tensor([2.0, -inf, 1.0, -inf, 0.5], dtype=DTYPE), 0.9, [True, False, True, False, True], "logits already at -inf (after top-k)"),
]
for logits, p, keep, case in cases:
    got = learner.top_p_filter(logits, p)
    expect.shape(got, tuple(logits.shape), what=f"top_p_filter with {case}")
    want = torch.where(torch.tensor(keep), logits, -inf)
    expect.equal(got, want, what=f"top_p_filter with {case}", hint=hint)
for logits, case in [(probs_logits(0.1, 0.5, 0.3, 0.1), "four tokens"), (torch.tensor([0.0, -30.0, -60.0, 5.0], dtype=DTYPE), "tokens of probability below 1e-20")]:
    got = learner.top_p_filter(logits, 1.0)
    expect.shape(got, (4,), what=f"top_p_filter with p = 1 ({case})")
    expect.equal(got, logits, what=f"top_p_filter with p = 1 ({case})", hint="p >= 1 keeps every token: return the logits unchanged")
gen = torch.Generator().manual_seed(91)
logits = 2.0 * torch.randn(3, 2, 40, generator=gen, dtype=DTYPE)
got = learner.top_p_filter(logits, 0.6)
expect.shape(got, (3, 2, 40), what="top_p_filter of logits (3, 2, 40)")
probs = torch.softmax(logits, -1)
mass_above = (probs[..., None, :] * (probs[..., None, :] > probs[..., :, None])).sum(-1)   # for each token, the mass of the more probable ones
expect.equal(got, torch.where(mass_above < 0.6, logits, -inf), what="top_p_filter of random logits (3, 2, 40) with p = 0.6", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Now the distribution of the next token (about 10 minutes): divide the logits by the temperature,
# apply top-k if `top_k` is given, then top-p if `top_p` is given, and take the softmax. Temperature
# 0 is greedy decoding: probability 1 on the largest logit (the first one, on a tie, as
# `torch.argmax` picks it).

# %% nbgrader={"grade": false, "grade_id": "next_token_probs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def next_token_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """The sampling distribution of the next token: temperature, then top-k, then top-p, then softmax.

    Args:
        logits: float tensor (..., V), the model's logits for the next token.
        temperature: tau >= 0; the logits are divided by tau; tau = 0 means greedy (all mass on the argmax).
        top_k: None, or keep only the top_k largest logits (top_k_filter) after the temperature.
        top_p: None, or keep only the nucleus of mass top_p (top_p_filter) after the temperature and top-k.

    Returns:
        Probabilities of logits' shape and dtype, each row summing to 1, exactly 0 at the filtered tokens.
        For tau = 0: a one-hot row at the first largest logit.

    Raises:
        ValueError if temperature < 0.

    Example:
        >>> next_token_probs(torch.tensor([2.0, 1.0, 0.0]), temperature=0.5, top_k=2)   # softmax([4, 2]) on the first two
        tensor([0.8808, 0.1192, 0.0000])
    """
    ### BEGIN SOLUTION
    if temperature < 0:
        raise ValueError(f"the temperature must be >= 0, not {temperature}")
    if temperature == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)   # greedy decoding
    scaled = logits / temperature                # on the logits, before the softmax
    if top_k is not None:
        scaled = top_k_filter(scaled, top_k)
    if top_p is not None:
        scaled = top_p_filter(scaled, top_p)     # the nucleus of the distribution top-k left
    return torch.softmax(scaled, dim=-1)
    ### END SOLUTION

# %% [markdown]
# And generation (about 10 minutes): `prompt` is a batch of $B$ prompts of the same length; each step
# runs the model on the last `model.config.block_size` tokens of every row, takes the distribution
# of the last position with `next_token_probs`, draws one token per row with
# `torch.multinomial(probs, 1, generator=generator)`, and appends it. Sampling needs no gradients:
# run it under `torch.no_grad()`.

# %% nbgrader={"grade": false, "grade_id": "generate", "locked": false, "schema_version": 3, "solution": true, "task": false}
@torch.no_grad()
def generate(model: nn.Module, prompt: torch.Tensor, n_new: int, generator: torch.Generator, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Continue every prompt of a batch by n_new sampled tokens.

    Args:
        model: model(tokens (B, T) int64) -> logits (B, T, V), with model.config.block_size the longest T it reads.
        prompt: int64 (B, P), P >= 1.
        n_new: the number of tokens to add (>= 0).
        generator: the torch.Generator every draw uses (torch.multinomial(..., generator=generator)).
        temperature, top_k, top_p: as in next_token_probs.

    Returns:
        int64 (B, P + n_new): each prompt followed by its continuation. Each new token is drawn from
        next_token_probs(the model's last logits given the last block_size tokens so far, temperature, top_k, top_p).

    Example:
        >>> out = generate(course_model, encode("ROMEO:\\n", vocabulary)[None], 200, torch.Generator().manual_seed(0), 0.8)
        >>> print(decode(out[0], vocabulary))
    """
    ### BEGIN SOLUTION
    tokens = prompt
    for _ in range(n_new):
        context = tokens[:, -model.config.block_size:]                 # the last block_size tokens: all the model can read
        last_logits = model(context)[:, -1]                             # (B, V): the prediction after the last token
        probs = next_token_probs(last_logits, temperature, top_k, top_p)
        next_token = torch.multinomial(probs, 1, generator=generator)   # (B, 1)
        tokens = torch.cat([tokens, next_token], dim=1)
    return tokens
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "next_token_probs_cases", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the next-token distribution is softmax(logits / T), sums to one, is one-hot at the argmax for T = 0 (the limit of small T), applies the temperature before the softmax and before top-k and top-p, in that order, and refuses a negative temperature"""
from grader.testing import learner, expect

z = torch.tensor([[2.0, 1.0, 0.0, -1.0]], dtype=DTYPE)
got = learner.next_token_probs(z)
expect.shape(got, (1, 4), what="next_token_probs of logits (1, 4)", hint="probabilities of the logits' shape")
expect.close(got, torch.softmax(z, -1), atol=1e-12, what="next_token_probs at temperature 1 without filters", hint="softmax over the last axis")
expect.close(learner.next_token_probs(z, 0.5), torch.softmax(2.0 * z, -1), atol=1e-12, what="next_token_probs at temperature 0.5",
             hint="divide the logits by the temperature before the softmax: softmax(z / T)")
expect.close(learner.next_token_probs(z, 0.0), torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=DTYPE), atol=0, what="next_token_probs at temperature 0",
             hint="temperature 0 is greedy decoding: probability 1 on the argmax")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(100)
z = torch.stack([torch.randperm(9, generator=gen) for _ in range(6)]).reshape(3, 2, 9).to(DTYPE) * 0.5 - 2.0   # gaps of 0.5 between logits
hint = "softmax(top_p_filter(top_k_filter(logits / T, k), p)): temperature first, on the logits, then top-k, then top-p"
for temperature in [1.0, 0.3, 2.5]:
    got = learner.next_token_probs(z, temperature)
    expect.shape(got, (3, 2, 9), what=f"next_token_probs of logits (3, 2, 9) at temperature {temperature}")
    expect.close(got, torch.softmax(z / temperature, -1), atol=1e-12, what=f"next_token_probs at temperature {temperature}", hint=hint)
expect.close(learner.next_token_probs(z, 1e-3), F.one_hot(z.argmax(-1), 9).to(DTYPE), atol=1e-12,
             what="next_token_probs at temperature 1e-3", hint="small temperatures approach the one-hot argmax")
expect.close(learner.next_token_probs(z, 0.0), F.one_hot(z.argmax(-1), 9).to(DTYPE), atol=0,
             what="next_token_probs at temperature 0 on logits (3, 2, 9)", hint="temperature 0: one-hot at the argmax of each row")

# the order matters: at temperature 2 the distribution is flatter, so its nucleus of mass 0.6 holds more tokens
probs_at_2 = torch.softmax(torch.tensor([3.0, 2.0, 1.0, 0.0, -1.0], dtype=DTYPE) / 2.0, -1)   # 0.425, 0.258, 0.156, 0.095, 0.058
want = torch.tensor([probs_at_2[0], probs_at_2[1], 0.0, 0.0, 0.0], dtype=DTYPE)
want = want / want.sum()
got = learner.next_token_probs(torch.tensor([3.0, 2.0, 1.0, 0.0, -1.0], dtype=DTYPE), 2.0, None, 0.6)
expect.shape(got, (5,), what="next_token_probs of 5 logits")
expect.close(got, want, atol=1e-12, what="next_token_probs with temperature 2 and top_p 0.6", hint=hint)
# top-k, then top-p on what top-k left: after keeping 3 tokens, their renormalised masses 0.508, 0.308, 0.185 put the crossing of 0.8 at the second
kept = probs_at_2[:3] / probs_at_2[:3].sum()
want = torch.tensor([kept[0], kept[1], 0.0, 0.0, 0.0], dtype=DTYPE) / (kept[0] + kept[1])
got = learner.next_token_probs(torch.tensor([3.0, 2.0, 1.0, 0.0, -1.0], dtype=DTYPE), 2.0, 3, 0.8)
expect.close(got, want, atol=1e-12, what="next_token_probs with temperature 2, top_k 3 and top_p 0.8",
             hint="top-p works on the distribution top-k left (renormalised): apply top_k_filter first, then top_p_filter")
got = learner.next_token_probs(z, 0.7, 4, None)
kth = (z / 0.7).sort(-1, descending=True).values[..., 3:4]
expect.close(got, torch.softmax((z / 0.7).masked_fill(z / 0.7 < kth, float("-inf")), -1), atol=1e-12,
             what="next_token_probs with temperature 0.7 and top_k 4 on logits (3, 2, 9)", hint=hint)
expect.close(got.sum(-1), torch.ones(3, 2, dtype=DTYPE), atol=1e-12, what="the row sums with top_k 4", hint="renormalise: softmax of the filtered logits")
expect.raises("ValueError", learner.next_token_probs, z, -0.5)
### END HIDDEN TESTS

# %% [markdown]
# The generation tests sample from a model whose distributions are known exactly: a bigram table
# with GPT's interface (a `config.block_size` and logits $(B, T, V)$), which refuses more tokens than
# its context, as `GPT` does.

# %%
@scenario
def sample_from_table(ns, table, prompt, n_new, seed, temperature=1.0, top_k=None, top_p=None, block_size=8):
    """ns.generate on a bigram model (logits = table[tokens]) with a context of block_size tokens."""
    class TableModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = table
            self.config = ns.GPTConfig(vocab_size=table.shape[0], block_size=block_size)

        def forward(self, tokens):
            if tokens.shape[1] > block_size:
                raise ValueError(f"{tokens.shape[1]} tokens: more than the context of {block_size}")
            return self.table[tokens]

    return ns.generate(TableModel(), prompt, n_new, torch.Generator().manual_seed(seed), temperature, top_k, top_p)


TABLE = [[2.0, 1.5, 1.0, 0.5, 0.0, -1.0], [0.0, 3.0, 0.0, 1.0, 0.5, 2.0], [1.0, 1.0, 2.5, 0.0, -2.0, 0.5],
         [0.5, 0.0, 1.0, 2.0, 1.5, 0.0], [-1.0, 2.0, 0.0, 0.3, 1.0, 1.8], [1.2, 0.0, 0.7, 0.0, 2.2, 0.4]]

# %% nbgrader={"grade": true, "grade_id": "generate_shapes_and_greedy", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""generation returns the prompts followed by n_new int64 tokens in [0, V), and at temperature 0 follows the model's argmax at every step, reading only the last block_size tokens"""
from grader.testing import expect

table = torch.tensor(TABLE, dtype=DTYPE)
out = sample_from_table.learner(table, torch.tensor([[0, 3], [5, 1]]), 5, 0)
expect.shape(out, (2, 7), what="generate(prompts (2, 2), n_new=5)", hint="return each prompt followed by its new tokens: (B, P + n_new)")
expect.dtype(out, torch.long, what="the generated tokens", hint="token ids are int64")
expect.equal(out[:, :2], torch.tensor([[0, 3], [5, 1]]), what="the first two columns of generate's result", hint="keep the prompt in front")
expect.true(bool(((out >= 0) & (out < 6)).all()), "generated token ids must lie in [0, V) with V = 6")
greedy = sample_from_table.learner(table, torch.tensor([[5]]), 12, 0, 0.0)
path = [5]
for _ in range(12):
    path.append(int(table[path[-1]].argmax()))
expect.equal(greedy, torch.tensor([path]), what="the greedy continuation (temperature 0) of 12 tokens with a context of 8",
             hint="at each step read the last block_size tokens, take the argmax of the LAST position's logits, append it")

# %% nbgrader={"grade": true, "grade_id": "generate_follows_distribution", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""generated tokens follow next_token_probs of the model (chi-square tests on 20,000 draws with a fixed seed) at several temperatures and with top-k and top-p, filtered tokens are never drawn, the second token follows the model given the first, and the draws come from the given generator"""
from grader.testing import expect

table = torch.tensor(TABLE, dtype=DTYPE)
prompts = torch.tensor([[2, 0]]).expand(50, 2)
first = sample_from_table.learner(table, prompts, 3, 7)
expect.shape(first, (50, 5), what="generate(50 prompts of 2 tokens, n_new=3)")
expect.equal(sample_from_table.learner(table, prompts, 3, 7), first, what="two generations with the same seed",
             hint="draw with the generator you are given: torch.multinomial(probs, 1, generator=generator)")
expect.true(not torch.equal(sample_from_table.learner(table, prompts, 3, 8), first),
            "generations with different seeds are identical: draw with the generator you are given")
### BEGIN HIDDEN TESTS
from scipy import stats

# Each check draws n = 20,000 first tokens (one per row) after the prompt's last token a, so their counts are multinomial
# with the probabilities q = filtered softmax(table[a] / T). The chi-square statistic over the kept tokens then has
# (kept - 1) degrees of freedom; a correct sampler gets a p-value below 1e-4 with probability 1e-4 over seeds (the seeds
# are fixed, so the verdict is deterministic). A wrong temperature, a missing filter or a wrong nucleus moves some q by
# 0.05 or more, which at n = 20,000 makes the statistic exceed 100 (p < 1e-20). A filtered token has probability exactly
# 0: a single draw of it is a failure.
n = 20_000


def filtered_distribution(row, temperature, top_k, top_p):
    """The expected distribution, computed here in NumPy: temperature, then top-k, then top-p, then renormalised."""
    z = np.asarray(row, dtype=float) / temperature
    if top_k is not None:
        z = np.where(z >= np.sort(z)[::-1][top_k - 1], z, -np.inf)
    q = np.exp(z - z.max())
    q /= q.sum()
    if top_p is not None:
        order = np.sort(q)[::-1]
        crossing = order[min(int(np.sum(np.cumsum(order) < top_p)), len(q) - 1)]
        q = np.where(q >= crossing, q, 0.0)
        q /= q.sum()
    return q


for i, (last, temperature, top_k, top_p) in enumerate([(0, 1.0, None, None), (2, 0.5, None, None), (4, 1.7, None, None), (1, 1.5, 3, None),
                                                       (5, 1.0, None, 0.8), (3, 0.7, 4, 0.7), (0, 2.0, None, 0.5)]):
    tokens = sample_from_table.learner(table, torch.tensor([[1, last]]).expand(n, 2), 1, 200 + i, temperature, top_k, top_p)
    expect.shape(tokens, (n, 3), what=f"{n} generations of one token")
    q = filtered_distribution(TABLE[last], temperature, top_k, top_p)
    counts = np.bincount(tokens[:, 2].numpy(), minlength=6)[:6]
    case = f"temperature {temperature}" + (f", top_k {top_k}" if top_k else "") + (f", top_p {top_p}" if top_p else "")
    expect.true(counts[q == 0].sum() == 0, f"with {case} some drawn tokens are ones the filters remove (probability 0): "
                "sample from next_token_probs(last logits, temperature, top_k, top_p)")
    kept = q > 0
    p_value = stats.chisquare(counts[kept], n * q[kept]).pvalue if kept.sum() > 1 else 1.0
    expect.true(p_value > 1e-4, f"with {case} the drawn tokens do not follow the filtered distribution (chi-square p-value {p_value:.1e} on {n} "
                "draws): divide the logits by the temperature, filter, softmax, and draw from the LAST position's distribution")

# the second token depends on the first: the pairs follow p(a) p(b | a)
tokens = sample_from_table.learner(table, torch.tensor([[3]]).expand(n, 1), 2, 300, 1.0)
expect.shape(tokens, (n, 3), what=f"{n} generations of two tokens")
softmax_table = torch.softmax(table, -1).numpy()
joint = softmax_table[3][:, None] * softmax_table
pair_counts = np.bincount((tokens[:, 1] * 6 + tokens[:, 2]).numpy(), minlength=36)[:36]
p_value = stats.chisquare(pair_counts, n * joint.flatten()).pvalue
expect.true(p_value > 1e-4, f"the pairs (first, second) of generated tokens do not follow p(first) p(second | first) (chi-square p-value {p_value:.1e}): "
            "append each drawn token and read the model again on the new context")

# a long greedy run: only the last block_size tokens are read
tokens = sample_from_table.learner(table, torch.tensor([[3, 3, 3, 3, 3, 3, 3, 5]]), 20, 0, 0.0, None, None, 8)
path = [3, 3, 3, 3, 3, 3, 3, 5]
for _ in range(20):
    path.append(int(table[path[-1]].argmax()))
expect.equal(tokens, torch.tensor([path]), what="a greedy continuation of 20 tokens after a full context of 8",
             hint="crop the context to its LAST block_size tokens (tokens[:, -block_size:]) before each model call")
### END HIDDEN TESTS

# %% [markdown]
# What the filters do to the course model's distribution of the next character, after a prompt
# that ends in the middle of a word and after one that ends with a space:

# %%
try:
    if course_model is None:
        raise NotImplementedError
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.5))
    for ax, prompt_text in zip(axes, ["KING RICHARD III:\nWhat says your gr", "KING RICHARD III:\nWhat says your "]):
        with torch.no_grad():
            last = course_model(encode(prompt_text, vocabulary)[None])[0, -1].double()
        top = torch.argsort(last, descending=True)[:14]
        settings = [("T = 1", dict()), ("T = 0.6", dict(temperature=0.6)), ("top-k 5", dict(top_k=5)), ("top-p 0.9", dict(top_p=0.9))]
        for j, (label, options) in enumerate(settings):
            ax.bar(np.arange(14) + 0.2 * (j - 1.5), next_token_probs(last, **options)[top].numpy(), width=0.2, label=label)
        ax.set_xticks(range(14), [repr(vocabulary[i])[1:-1] for i in top.tolist()])
        ax.set(title=f"after {prompt_text[-16:]!r}", ylabel="probability")
        ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
    for label, options in [("temperature 1.0", dict()), ("temperature 0.8, top-p 0.95", dict(temperature=0.8, top_p=0.95)),
                           ("greedy", dict(temperature=0.0))]:
        sample_ids = generate(course_model, encode("ROMEO:\n", vocabulary)[None], 250, torch.Generator().manual_seed(0), **options)
        print(f"--- {label} ---\n{decode(sample_ids[0], vocabulary)}\n")
except NotImplementedError:
    plt.close("all")
    print("write the model and the sampling functions above to sample from the course model")

# %% [markdown]
# Greedy decoding falls into a loop within a line or two: the most likely character after a
# phrase is the start of the most likely phrase, again and again. Temperature 1 gives the model's
# own distribution: fluent in form, with invented words here and there. A slightly lower temperature
# with a nucleus keeps most of the variety and cuts the misspellings of the tail.
#
# ## 10 · What the trained heads look at
#
# An attention head is a rule for *where to read*: row $t$ of its weights says which earlier
# positions the update of position $t$ is built from. In a trained model many heads follow rules a
# person can name. For text, the classic ones (Olsson et al., 2022; Elhage et al., 2021) are heads that
# read the **previous token** (so the next layer knows the last two characters, a bigram), heads
# that read a structural landmark such as the **start of the line** or of the word (where the model
# is in the verse, who speaks), and **induction** heads that find an earlier occurrence of the
# current context and read what came after it (so that a name seen once is copied the second time).
#
# To measure a rule, give each query $t$ the key position $r(t)$ the rule points to ($-1$ where it
# points nowhere) and average the weight the head puts there:
#
# $$\operatorname{score}(\text{head}, r) = \frac{1}{|\{t : r(t) \ge 0\}|}\sum_{t \,:\, r(t) \ge 0} A_{t,\,r(t)} \in [0, 1].$$
#
# A head that always follows the rule scores 1; a head spreading its weight evenly over $t + 1$
# positions scores about $\frac{1}{T}\sum_t \frac{1}{t+1} \approx \frac{\ln T}{T}$. Write the score, and the
# rule "start of the line" (about 10 minutes together).

# %% nbgrader={"grade": false, "grade_id": "line_start_positions", "locked": false, "schema_version": 3, "solution": true, "task": false}
def line_start_positions(tokens: torch.Tensor, newline_id: int) -> torch.Tensor:
    """For every position, the position of the first character of its line.

    Args:
        tokens: int64 (T,), a text.
        newline_id: the token id of the line break.

    Returns:
        int64 (T,): entry t is 1 + the position of the last newline strictly before t, or 0 if there is none.
        A newline belongs to the line it ends, so its own line start is returned for it; every entry is <= t.

    Example:
        >>> line_start_positions(torch.tensor([5, 0, 7, 7, 0, 0, 3]), newline_id=0)
        tensor([0, 0, 2, 2, 2, 5, 6])
    """
    ### BEGIN SOLUTION
    positions = torch.arange(len(tokens))
    newline_at = torch.where(tokens == newline_id, positions, -1)
    last_newline_up_to = newline_at.cummax(dim=0).values                              # the last newline at or before t
    before = torch.cat([torch.tensor([-1]), last_newline_up_to[:-1]])                  # strictly before t
    return before + 1
    ### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "attention_to", "locked": false, "schema_version": 3, "solution": true, "task": false}
def attention_to(weights: torch.Tensor, key_positions: torch.Tensor) -> torch.Tensor:
    """The mean attention weight each head puts on the key a rule points to.

    Args:
        weights: float tensor (..., T, T) of attention weights, rows = queries (e.g. (L, H, T, T)).
        key_positions: int64 (T,): for query t the key position r(t) in 0..t, or -1 where the rule points nowhere;
            at least one entry is >= 0.

    Returns:
        (...,) in weights' dtype: the mean over the queries t with r(t) >= 0 of weights[..., t, r(t)].

    Example:
        >>> attention_to(torch.eye(3), torch.tensor([-1, 1, 1]))   # query 1 puts 1 on key 1, query 2 puts 0 there
        tensor(0.5000)
    """
    ### BEGIN SOLUTION
    queries = torch.nonzero(key_positions >= 0).flatten()
    return weights[..., queries, key_positions[queries]].mean(dim=-1)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "line_starts_and_scores_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""line starts of a hand-made text (a newline belongs to the line it ends), and head scores on hand-made weights: a previous-token head scores 1 on the previous-token rule and a uniform head the mean of 1/(t+1)"""
from grader.testing import learner, expect

starts = learner.line_start_positions(torch.tensor([5, 0, 7, 7, 0, 0, 3]), 0)
expect.shape(starts, (7,), what="line_start_positions of 7 tokens", hint="one line start per position")
expect.equal(starts, torch.tensor([0, 0, 2, 2, 2, 5, 6]), what="the line starts of the text 5 \\n 7 7 \\n \\n 3",
             hint="for each t: 1 + the position of the last newline strictly BEFORE t (0 if none); a newline ends its own line")
previous = torch.eye(5, dtype=DTYPE).roll(-1, dims=1).tril()
previous[0, 0] = 1.0   # the first query can only look at itself
uniform = torch.ones(5, 5, dtype=DTYPE).tril() / torch.arange(1, 6, dtype=DTYPE)[:, None]
heads = torch.stack([previous, uniform])                   # (2, 5, 5): two heads
rule = torch.tensor([-1, 0, 1, 2, 3])                      # the previous position
score = learner.attention_to(heads, rule)
expect.shape(score, (2,), what="attention_to of weights (2, 5, 5)", hint="one score per head: average over the queries only")
expect.close(score, torch.tensor([1.0, (1 / 2 + 1 / 3 + 1 / 4 + 1 / 5) / 4], dtype=DTYPE), atol=1e-12,
             what="the previous-token scores of a previous-token head and a uniform head",
             hint="the mean over the queries t with r(t) >= 0 of weights[..., t, r(t)]: skip the queries where the rule points nowhere")

# %% nbgrader={"grade": true, "grade_id": "line_starts_and_scores_match_loops", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""line starts and head scores equal plain Python loops on random texts and random weights of shapes (T, T), (H, T, T) and (L, H, T, T), including texts without a newline, texts that start or end with one, and rules that point nowhere for most queries"""
from grader.testing import learner, expect

starts = learner.line_start_positions(torch.tensor([1, 1, 1]), 0)
expect.equal(starts, torch.tensor([0, 0, 0]), what="the line starts of a text without a newline", hint="no newline before t: the line starts at 0")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(110)
hint_starts = "entry t is 1 + the position of the last newline strictly before t, or 0 if there is none"
texts = [torch.randint(0, 4, (60,), generator=gen), torch.tensor([0, 0, 2, 0]), torch.tensor([3, 2, 0]), torch.tensor([0]), torch.tensor([2]),
         torch.randint(0, 12, (200,), generator=gen)]
for tokens in texts:
    want, last = [], -1
    for t, token in enumerate(tokens.tolist()):
        want.append(last + 1)
        if token == 0:
            last = t
    got = learner.line_start_positions(tokens, 0)
    expect.shape(got, (len(tokens),), what=f"line_start_positions of {len(tokens)} tokens")
    expect.equal(got, torch.tensor(want), what=f"the line starts of a text of {len(tokens)} tokens", hint=hint_starts)
expect.equal(learner.line_start_positions(torch.tensor([4, 7, 7, 4, 7]), 7), torch.tensor([0, 0, 2, 3, 3]),
             what="the line starts with newline_id 7", hint="use the newline_id you are given")

hint_scores = "the mean over the queries t with r(t) >= 0 of weights[..., t, r(t)], one score per leading index"
for shape in [(6, 6), (3, 6, 6), (2, 3, 9, 9)]:
    T = shape[-1]
    weights = torch.softmax(torch.randn(*shape, generator=gen, dtype=DTYPE).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")), -1)
    random_rule = (torch.rand(T, generator=gen) * (torch.arange(T) + 2)).long() - 1   # r(t) uniform in -1..t
    for rule in [torch.tensor([-1] + list(range(T - 1))), torch.tensor([-1] * (T - 2) + [0, T - 1]), random_rule]:
        got = learner.attention_to(weights, rule)
        expect.shape(got, shape[:-2], what=f"attention_to of weights {shape}")
        flat = weights.reshape(-1, T, T)
        want = torch.tensor([sum(float(w[t, r]) for t, r in enumerate(rule.tolist()) if r >= 0) / int((rule >= 0).sum()) for w in flat],
                            dtype=DTYPE).reshape(shape[:-2])
        expect.close(got, want, atol=1e-12, what=f"attention_to of weights {shape} with {int((rule >= 0).sum())} queries counted", hint=hint_scores)
### END HIDDEN TESTS

# %% [markdown]
# Two more rules need a few lines of plain Python: the start of the current *word* (after the last
# space or newline) is the later of two line starts, and the **induction** rule points, for query
# $t$, to the position right after the most recent earlier occurrence of the last two characters
# $(x_{t-1}, x_t)$: where a copying head reads the character to predict.

# %%
def induction_positions(tokens: torch.Tensor) -> torch.Tensor:
    """For each t, 1 + the end s < t of the most recent earlier occurrence of the pair (tokens[t-1], tokens[t]); -1 if none."""
    found, last_end = [], {}
    values = tokens.tolist()
    for t in range(len(values)):
        pair = (values[t - 1], values[t]) if t > 0 else None
        found.append(last_end[pair] + 1 if pair in last_end else -1)
        if pair is not None:
            last_end[pair] = t
    return torch.tensor(found)


def attention_maps(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """The attention weights (L, H, T, T) of every head of a GPT on one text tokens (T,), kept by CausalSelfAttention."""
    attention_modules = [module for module in model.modules() if isinstance(module, CausalSelfAttention)]
    for module in attention_modules:
        module.keep_weights = True
    try:
        with torch.no_grad():
            model(tokens[None])
        return torch.stack([module.attention_weights[0] for module in attention_modules])
    finally:
        for module in attention_modules:
            module.keep_weights = False


# %% [markdown]
# The course model's heads on eight held-out passages of 256 characters: each head's score for
# each rule (a score of 0.2 already means the head puts a fifth of its weight on one position out of
# up to 256).

# %%
try:
    if course_model is None:
        raise NotImplementedError
    newline_id, space_id = vocabulary.index("\n"), vocabulary.index(" ")
    rule_names = ["previous character", "itself", "start of the line", "start of the word", "induction (after the last repeat)"]
    scores = torch.zeros(len(rule_names), course_model.config.n_layer, course_model.config.n_head)
    passages = [held_out_ids[start:start + 256] for start in range(1000, 1000 + 8 * 5000, 5000)]
    for passage in passages:
        maps = attention_maps(course_model, passage)
        T = len(passage)
        line_starts = line_start_positions(passage, newline_id)
        rules = [torch.arange(T) - 1, torch.arange(T), line_starts,
                 torch.maximum(line_starts, line_start_positions(passage, space_id)), induction_positions(passage)]
        for i, rule in enumerate(rules):
            scores[i] += attention_to(maps, rule).float() / len(passages)
    fig, axes = plt.subplots(1, len(rule_names), figsize=(16, 3.2))
    for ax, name, score in zip(axes, rule_names, scores):
        image = ax.imshow(score, vmin=0, vmax=1, cmap="viridis")
        for (layer, head), value in np.ndenumerate(score.numpy()):
            ax.text(head, layer, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.6 else "k", fontsize=8)
        ax.set(title=name, xlabel="head", ylabel="layer", xticks=range(scores.shape[2]), yticks=range(scores.shape[1]))
    fig.colorbar(image, ax=axes, shrink=0.8)
    plt.show()
except NotImplementedError:
    plt.close("all")
    scores = None
    print("write the model, line_start_positions and attention_to above to score the course model's heads")

# %% [markdown]
# The best head for each rule, on a stretch of 64 characters of the first passage (rows are the
# queries, the character being processed; columns the keys it reads; the character labels run
# down and across):

# %%
try:
    if scores is None:
        raise NotImplementedError
    passage = passages[0]
    maps = attention_maps(course_model, passage)
    window = slice(120, 184)
    labels = [repr(c)[1:-1] for c in decode(passage[window], vocabulary)]
    fig, axes = plt.subplots(1, 4, figsize=(18, 5))
    for ax, rule in zip(axes, [0, 2, 3, 4]):
        layer, head = divmod(int(scores[rule].argmax()), scores.shape[2])
        ax.imshow(maps[layer, head][window, window].numpy() ** 0.5, cmap="magma")   # square root: faint weights stay visible
        ax.set_xticks(range(64), labels, fontsize=5, rotation=90)
        ax.set_yticks(range(64), labels, fontsize=5)
        ax.set_title(f"layer {layer}, head {head}: {rule_names[rule]}\n(score {scores[rule, layer, head]:.2f})", fontsize=9)
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    plt.close("all")
    print("score the heads in the cell above first")

# %% [markdown]
# ## Practical considerations
#
# **Numerical stability.**
# - The causal mask uses $-\infty$ and every row keeps at least its diagonal, so no row of the
#   softmax is empty. Padded batches (`13-attention`) add rows that may be; the fused kernel handles
#   them, an explicit softmax needs care.
# - Compute the loss from logits with `F.cross_entropy` (a log-softmax inside), never
#   `log(softmax(z))`: for confident models a probability underflows to 0 and its log is $-\infty$.
# - Sampling at very low temperatures divides the logits by a tiny number: $\tau = 0$ must be a
#   special case (the argmax), not a division by zero.
# - Train in float32 (or bfloat16 with float32 master weights on GPUs, `19-training`); the tests
#   here run in float64 only so that two implementations can be compared to $10^{-12}$.
#
# **Common bugs, and how the tests catch them.**
#
# | bug | symptom | caught by |
# |---|---|---|
# | no causal mask | training loss far too good, generation garbage | changing later tokens, `nn.MultiheadAttention` with a causal mask |
# | scores divided by $d_h$ or by $D$ instead of $\sqrt{d_h}$ | trains, but worse; weights too flat | `nn.MultiheadAttention`, `F.scaled_dot_product_attention` |
# | heads split by `view(B, H, T, d_h)` without a transpose | every "head" mixes positions | `nn.MultiheadAttention` |
# | post-norm where the checkpoint is pre-norm | the weights compute another function | `GPT2Block` |
# | position embedding forgotten | the model is blind to order | `GPT2LMHeadModel`, the course checkpoint |
# | weight tying forgotten | $VD$ extra parameters; pretrained checkpoints load one matrix twice | parameter count, `lm_head.weight is wte.weight` |
# | PyTorch's default initialisation | loss at step 0 far above $\ln V$ | the loss at initialisation |
# | the loss not shifted by one | the model learns to copy its input | a bigram model, `GPT2LMHeadModel(labels=...)` |
# | weight decay on LayerNorm gains and biases | slightly worse models | the four-step comparison with AdamW |
# | temperature applied to probabilities | the temperature does nothing | sampling statistics |
# | top-k keeping $k + 1$, or dropping ties | wrong support | hand-built logits |
# | top-p dropping the token that crosses $p$ | the nucleus holds less than $p$; for small $p$ nothing is left | hand-built logits |
# | the context not cropped to `block_size` | a crash once the text is longer than the position table | long generations |
#
# **Hyperparameters that matter**, for a model this small on a CPU: the number of characters seen
# (tokens per second times seconds: most of the gain), the context length, the peak learning rate
# with its warm-up and decay, the batch size (large enough that the matrix products keep the cores
# busy). Dropout (a regulariser) was left out: in 15 minutes a model this small is still limited
# by what it has seen, not by memorising it, though the gap between its training loss (1.36) and
# its held-out loss (1.58) after 13 passes over the text shows that memorising has begun; a longer
# run would want some dropout. nanoGPT's GPU recipe for the same data (6 layers, width 384, context
# 256, dropout 0.2, 5000 steps of 64 windows, 82 million characters) reaches about 1.47; the
# difference is mostly size and data.
#
# **Loading real GPT-2.** The names here are transformers' GPT-2 names, so
# `GPT2LMHeadModel.from_pretrained("gpt2").state_dict()`, with its four Conv1D matrices transposed
# (`to_transformers_state_dict` is its own inverse), loads into `GPT(GPTConfig(vocab_size=50257,
# block_size=1024, n_layer=12, n_head=12, n_embd=768))` with one change: GPT-2 was trained with the
# tanh approximation of GELU (`F.gelu(x, approximate="tanh")`, transformers' `"gelu_new"`).

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | causal self-attention | $\operatorname{softmax}(QK^\top/\sqrt{d_h} + M)V$, $M_{ts} = -\infty$ for $s > t$ | `c_attn(x).split(D, -1)`, heads by `reshape` + `transpose(1, 2)`, `F.scaled_dot_product_attention(is_causal=True)` | every layer of every decoder |
# | pre-norm block | $a = x + \operatorname{attn}(\operatorname{LN}_1 x)$, $y = a + \operatorname{mlp}(\operatorname{LN}_2 a)$ | two residual additions, norms on the copies | GPT-2 onwards, LLaMA (with RMSNorm) |
# | learned positions | $h^{(0)}_t = W_E[x_t] + P_t$ | `wte(tokens) + wpe(arange(T))` | GPT-2, GPT-3; replaced by RoPE in LLaMA (`18-llama`) |
# | weight tying | logits $= \operatorname{LN}_f(h) W_E^\top$ | `lm_head.weight = transformer.wte.weight` | GPT-2, BERT, small LLaMAs, Gemma |
# | causal LM loss | $-\frac{1}{BT}\sum \log p(x_{t+1} \mid x_{\le t})$ | `F.cross_entropy(model(w[:, :-1]).flatten(0, 1), w[:, 1:].flatten())` | pre-training, fine-tuning (`23`, `26`) |
# | AdamW with decay on matrices | $\theta \leftarrow \theta - \eta(\hat m/(\sqrt{\hat v}+\epsilon) + \lambda\theta)$ | two parameter groups by `p.dim() >= 2` | every LLM training run |
# | warm-up + cosine | $\eta_{\min} + \frac{1}{2}(1 + \cos \pi\frac{s-w}{S-w})(\eta_{\max} - \eta_{\min})$ | `group["lr"] = lr_at(step, ...)` | GPT-3, LLaMA, Chinchilla |
# | temperature | $\operatorname{softmax}(z/\tau)$, $\tau = 0$ greedy | `logits / temperature` before the softmax | every chat model's `temperature` |
# | top-k | keep $z_i \ge z_{(k)}$ | `topk(...).values[..., -1:]`, `masked_fill` | `generate(top_k=...)` |
# | top-p | keep $p_i \ge p_{(c)}$, $c$ the first with $\sum_{j \le c} p_{(j)} \ge p$ | `sort`, `cumsum`, `gather` | `generate(top_p=...)`, most APIs' default |
# | attention patterns | $\operatorname{score} = \operatorname{mean}_t A_{t, r(t)}$ | `weights[..., t, r[t]].mean(-1)` | interpretability: previous-token and induction heads |

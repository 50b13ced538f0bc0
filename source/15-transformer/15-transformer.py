# %% [markdown]
# # 15 · The Transformer block: residuals, layer norm, the feed-forward network, encoder and decoder
#
# Attention (13) mixes information *between* tokens; a Transformer block wraps it with the three
# things that make a deep stack of such mixers trainable and expressive: a **residual stream**
# that every sub-layer only adds to, a **layer norm** that keeps that stream's scale in check, and
# a **position-wise feed-forward network** that transforms each token on its own. In the pre-LN
# form used by GPT-2 onwards,
#
# $$\boxed{\;h = x + \operatorname{MHA}\big(\operatorname{LN}_1(x)\big),\qquad
# y = h + \operatorname{FFN}\big(\operatorname{LN}_2(h)\big),\qquad
# \operatorname{FFN}(z) = \sigma(zW_1 + b_1)\,W_2 + b_2\;}$$
#
# while the original 2017 post-LN block normalises *after* each addition,
# $h = \operatorname{LN}_1(x + \operatorname{MHA}(x))$, $y = \operatorname{LN}_2(h + \operatorname{FFN}(h))$.
# Why it matters for LLMs: every GPT, BERT and LLaMA is a stack of exactly this block (with small
# variations: RMSNorm, SwiGLU, rotary positions), and where the norm sits decides whether a deep
# model trains at all without a learning-rate warm-up.
#
# **What you will build:** the feed-forward network (ReLU or GELU); an encoder block in both
# placements of the norm, giving the same numbers as `torch.nn.TransformerEncoderLayer` with the
# same weights; a decoder block with causal self-attention and cross-attention, matching
# `torch.nn.TransformerDecoderLayer`; the teacher-forcing shift; and the parameter count of a
# block. The tests then train a small encoder-decoder made of *your* blocks to reverse sequences.

# %% [markdown]
# ## Prerequisites
#
# - `13-attention`: scaled dot-product attention, heads, causal masks (True = may attend).
# - `07-regularization`: layer normalisation, dropout.
# - `05-autograd` / `06-mlp`: the chain rule through a composition, Jacobians.
#
# Packages: `torch` (CPU is enough), `matplotlib`. The tests compare your blocks with
# `torch.nn.TransformerEncoderLayer` and `torch.nn.TransformerDecoderLayer` (eval mode, dropout 0)
# on copied weights. Every tensor is `float64` except in the training test.
#
# **Notation.** $B$ batch, $T$ target length, $S$ source length, $d$ the model width
# ($d_{\text{model}}$), $d_{ff}$ the inner width of the FFN (usually $4d$), $H$ heads, $L$ layers.
# Weights are stored as PyTorch stores them: `linear.weight` has shape (out, in) and the layer
# computes $z W^\top + b$.

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = torch.float64

# %% [markdown]
# ## 1 · The residual stream, and why it keeps gradients alive
#
# Stack $L$ functions $x_{l+1} = f_l(x_l)$. The chain rule gives
# $\partial x_L/\partial x_0 = \prod_l J_l$ with $J_l = \partial f_l/\partial x_l$: a product of $L$
# matrices, whose norm behaves like $\prod_l \lVert J_l\rVert$ and so shrinks or explodes
# geometrically in $L$ unless every layer is tuned to be an isometry. Now write each layer as a
# *residual* update, $x_{l+1} = x_l + F_l(x_l)$. The Jacobian of a layer is $I + \partial F_l$ and
#
# $$\frac{\partial x_L}{\partial x_0} = \prod_{l}\big(I + \partial F_l\big)
# = I + \sum_l \partial F_l + \sum_{l<m} \partial F_m\,\partial F_l + \dots$$
#
# The identity term is always there: the gradient of the loss reaches layer 0 unchanged, whatever
# the layers in between do, and each layer's own contribution arrives through a path of length
# one. The network behaves like an ensemble of paths of all lengths, dominated at initialisation
# by the short ones.
#
# **What this means.** Think of $x$ as a *residual stream*: a shared bus of width $d$ that each
# attention and FFN sub-layer reads from and writes a correction into. Nothing overwrites the
# stream; forgetting the "$x +$" turns a 12-layer Transformer back into a plain deep network whose
# gradients vanish and which forgets its input.
#
# The worked example below measures $\lVert\partial x_L/\partial x_0\rVert$ for random layers with
# and without the residual connection (library code only).

# %%
def gradient_norm_through_depth(n_layers: int, residual: bool, d: int = 64, seed: int = 0) -> float:
    """Spectral norm of d x_L / d x_0 for tanh layers with weights of std 0.5 / sqrt(d)."""
    gen = torch.Generator().manual_seed(seed)
    weights = [torch.randn(d, d, generator=gen, dtype=DTYPE) * 0.5 / math.sqrt(d) for _ in range(n_layers)]

    def net(x):
        for w in weights:
            x = x + torch.tanh(x @ w) if residual else torch.tanh(x @ w)
        return x

    x0 = torch.randn(d, generator=gen, dtype=DTYPE)
    return torch.linalg.matrix_norm(torch.autograd.functional.jacobian(net, x0), ord=2).item()


depths = [1, 2, 4, 8, 16, 32]
fig, ax = plt.subplots(figsize=(5, 3))
ax.semilogy(depths, [gradient_norm_through_depth(n, False) for n in depths], "o-", label="x = f(x)")
ax.semilogy(depths, [gradient_norm_through_depth(n, True) for n in depths], "s-", label="x = x + f(x)")
ax.set_xlabel("layers"); ax.set_ylabel("||d x_L / d x_0||"); ax.legend(); ax.set_title("gradients through depth")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 2 · The position-wise feed-forward network
#
# $$\operatorname{FFN}(z) = \sigma(z W_1^\top + b_1)\, W_2^\top + b_2,\qquad W_1\in\mathbb R^{d_{ff}\times d},\;
# W_2 \in \mathbb R^{d\times d_{ff}},$$
#
# applied to every token separately (the same weights at every position: a $1\times 1$
# convolution over the sequence). $\sigma$ is ReLU in the 2017 paper and BERT's ancestor, GELU,
# $z\,\Phi(z)$, in GPT-2 and BERT.
#
# **The FFN as a key-value memory** (Geva et al., 2021). Write row $i$ of $W_1$ as a *key* $k_i$
# and column $i$ of $W_2$ as a *value* $v_i$. Then
# $\operatorname{FFN}(z) = \sum_{i=1}^{d_{ff}} \sigma(k_i\cdot z + b_{1,i})\, v_i + b_2$: each of the
# $d_{ff}$ hidden units fires when the token's representation matches its key and then writes its
# value into the residual stream. It is attention over $d_{ff}$ *learned, fixed* memory slots,
# with $\sigma$ in place of softmax. This is where most of a model's factual knowledge is stored,
# and where two thirds of a block's parameters live.
#
# **What this means.** Attention moves information between positions; the FFN processes it where
# it is. Without the nonlinearity the FFN collapses into one linear map $W_2W_1$ of rank at most
# $d$, and the whole block becomes (apart from softmax and the norms) linear in the values.
#
# Worked example: the key-value reading gives the same numbers as the matrix form.

# %%
gen = torch.Generator().manual_seed(0)
W1, b1 = torch.randn(8, 3, generator=gen, dtype=DTYPE), torch.randn(8, generator=gen, dtype=DTYPE)
W2, b2 = torch.randn(3, 8, generator=gen, dtype=DTYPE), torch.randn(3, generator=gen, dtype=DTYPE)
z = torch.randn(3, generator=gen, dtype=DTYPE)
matrix_form = F.relu(z @ W1.T + b1) @ W2.T + b2
memory_form = sum(F.relu(W1[i] @ z + b1[i]) * W2[:, i] for i in range(8)) + b2
print("matrix form:", matrix_form, "\nkey-value form:", memory_form)


# %% nbgrader={"grade": false, "grade_id": "feed_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def feed_forward(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
                 activation: str = "relu") -> torch.Tensor:
    """The position-wise feed-forward network, applied to every token. About 5 minutes.

    Args:
        x: (..., d) float64, any number of leading axes.
        w1: (d_ff, d), b1: (d_ff,), w2: (d, d_ff), b2: (d,): PyTorch's nn.Linear layout (z @ w.T + b).
        activation: "relu" or "gelu" (the exact GELU, x * Phi(x), as F.gelu computes it).

    Returns:
        (..., d) float64: activation(x @ w1.T + b1) @ w2.T + b2.

    Raises:
        ValueError for any other activation.

    Example:
        >>> feed_forward(torch.ones(2, 4, 3, dtype=torch.float64), w1, b1, w2, b2, "gelu").shape
        torch.Size([2, 4, 3])
    """
    ### BEGIN SOLUTION
    if activation == "relu":
        act = F.relu
    elif activation == "gelu":
        act = F.gelu
    else:
        raise ValueError(f"activation must be 'relu' or 'gelu', got {activation!r}")
    hidden = act(x @ w1.T + b1)          # (..., d_ff): how strongly each key matches
    return hidden @ w2.T + b2            # (..., d): the sum of the values, weighted
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "feed_forward_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the feed-forward network keeps the token shape and applies ReLU between the two linear maps on a hand-made case"""
from grader.testing import learner, expect

w1 = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], dtype=DTYPE)
w2 = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=DTYPE)
x = torch.tensor([[[2.0, -3.0]]], dtype=DTYPE)
got = learner.feed_forward(x, w1, torch.zeros(3, dtype=DTYPE), w2, torch.zeros(2, dtype=DTYPE))
expect.shape(got, (1, 1, 2), what="feed_forward of x (1, 1, 2)", hint="the output has the shape of x")
expect.close(got, torch.tensor([[[2.0, 0.0]]], dtype=DTYPE), atol=1e-14, what="feed_forward of x = (2, -3) with hand-made weights",
             hint="hidden = relu(x @ w1.T + b1) = (2, 0, 0), then hidden @ w2.T + b2")

# %% nbgrader={"grade": true, "grade_id": "feed_forward_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the feed-forward network equals linear2(act(linear1(x))) of nn.Linear layers with the same weights, for ReLU and for the exact GELU, and refuses an unknown activation"""
from grader.testing import learner, expect

torch.manual_seed(1)
lin1, lin2 = nn.Linear(6, 24, dtype=DTYPE), nn.Linear(24, 6, dtype=DTYPE)
x = torch.randn(3, 5, 6, dtype=DTYPE)
got = learner.feed_forward(x, lin1.weight.detach(), lin1.bias.detach(), lin2.weight.detach(), lin2.bias.detach(), "relu")
expect.shape(got, (3, 5, 6), what="feed_forward(x (3, 5, 6), relu)")
expect.close(got, lin2(F.relu(lin1(x))).detach(), atol=1e-12, what="feed_forward with ReLU compared with nn.Linear layers",
             hint="activation(x @ w1.T + b1) @ w2.T + b2, with the activation between the two linear maps")
### BEGIN HIDDEN TESTS
for shape in [(7, 6), (2, 1, 4, 6)]:
    x = 3 * torch.randn(*shape, dtype=DTYPE)
    for act_name, act in [("relu", F.relu), ("gelu", F.gelu)]:
        got = learner.feed_forward(x, lin1.weight.detach(), lin1.bias.detach(), lin2.weight.detach(), lin2.bias.detach(), act_name)
        expect.shape(got, shape, what=f"feed_forward(x {shape}, {act_name})")
        expect.close(got, lin2(act(lin1(x))).detach(), atol=1e-12,
                     what=f"feed_forward with {act_name} compared with nn.Linear layers",
                     hint="apply exactly the activation that is asked for (F.relu or the exact F.gelu) between the two linear maps; without it the FFN is linear")
expect.raises("ValueError", learner.feed_forward, x, lin1.weight.detach(), lin1.bias.detach(), lin2.weight.detach(), lin2.bias.detach(), "swish")
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · Post-LN and pre-LN
#
# Layer norm rescales each token: $\operatorname{LN}(x) = \gamma\odot\frac{x-\mu}{\sqrt{\sigma^2+\epsilon}} + \beta$
# (07). Where to put it?
#
# - **Post-LN** (Vaswani et al., 2017; BERT): $x_{l+1} = \operatorname{LN}(x_l + F_l(x_l))$. The norm
#   sits *on* the residual path, so the identity path of section 1 goes through $L$ layer norms,
#   each with Jacobian $\frac{\gamma}{\sigma}(I - \frac1d\mathbf 1\mathbf 1^\top - \hat x\hat x^\top/d)$.
#   Xiong et al. (2020) show that at initialisation the gradient of the last layers' parameters is
#   of size $O(d\sqrt{\ln d})$ independent of depth, while the gradient reaching early layers is
#   damped by the chain of norms. A large learning rate at step one therefore blows the top layers
#   up: post-LN needs a **warm-up** (learning rate ramped from 0 over thousands of steps) and still
#   becomes fragile beyond a few dozen layers.
# - **Pre-LN** (GPT-2, and every LLM since): $x_{l+1} = x_l + F_l(\operatorname{LN}(x_l))$. The norm is on the
#   *branch*; the residual path is a pure sum, $x_L = x_0 + \sum_l F_l(\cdot)$, so the identity term
#   of the gradient is exact and the gradient of each layer's parameters shrinks like
#   $O(d\sqrt{\ln d / L})$: bounded, balanced across layers, trainable without warm-up.
#   The price: the stream's scale grows with depth ($\operatorname{Var}\, x_L\approx L$), so the
#   last layers contribute relatively less, and the model needs a **final layer norm** before the
#   output head (GPT-2's `ln_f`).
#
# **What this means.** In post-LN the norm is a gate every signal must pass at every layer; in
# pre-LN each sub-layer sees a normalised copy of the stream and adds to an un-normalised sum.
# Same parameters, same cost, different dynamics: `norm_first=True` in PyTorch.
#
# ## 4 · The encoder block
#
# Multi-head self-attention (13) is given below, in PyTorch's storage: one `in_proj_weight` of
# shape $(3d, d)$ stacking $W_Q, W_K, W_V$, and `out_proj`. The block's weights come as a dict
# with the names of `nn.TransformerEncoderLayer.state_dict()`:
# `self_attn.in_proj_weight`, `self_attn.in_proj_bias`, `self_attn.out_proj.weight`,
# `self_attn.out_proj.bias`, `linear1.weight`, `linear1.bias`, `linear2.weight`, `linear2.bias`,
# `norm1.weight`, `norm1.bias`, `norm2.weight`, `norm2.bias` (layer norm with $\epsilon = 10^{-5}$).

# %%
LN_EPS = 1e-5


def multi_head_attention(x_q: torch.Tensor, x_kv: torch.Tensor, params: dict, prefix: str, n_heads: int,
                         causal: bool = False) -> torch.Tensor:
    """Multi-head attention of queries from x_q (B, T, d) over keys and values from x_kv (B, S, d), with
    the weights params[prefix + 'in_proj_weight'] etc. as nn.MultiheadAttention stores them. Returns (B, T, d)."""
    w_q, w_k, w_v = params[prefix + "in_proj_weight"].chunk(3)
    b_q, b_k, b_v = params[prefix + "in_proj_bias"].chunk(3)
    B, T, d = x_q.shape
    S = x_kv.shape[1]
    q = (x_q @ w_q.T + b_q).view(B, T, n_heads, d // n_heads).transpose(1, 2)
    k = (x_kv @ w_k.T + b_k).view(B, S, n_heads, d // n_heads).transpose(1, 2)
    v = (x_kv @ w_v.T + b_v).view(B, S, n_heads, d // n_heads).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    out = out.transpose(1, 2).reshape(B, T, d)
    return out @ params[prefix + "out_proj.weight"].T + params[prefix + "out_proj.bias"]


def layer_norm(x: torch.Tensor, params: dict, name: str) -> torch.Tensor:
    """Layer norm over the last axis with params[name + '.weight'] and params[name + '.bias']."""
    return F.layer_norm(x, x.shape[-1:], params[name + ".weight"], params[name + ".bias"], LN_EPS)


# %% nbgrader={"grade": false, "grade_id": "encoder_block", "locked": false, "schema_version": 3, "solution": true, "task": false}
def encoder_block(x: torch.Tensor, params: dict, n_heads: int, norm_first: bool, activation: str = "relu") -> torch.Tensor:
    """One Transformer encoder block, as nn.TransformerEncoderLayer(batch_first=True) in eval mode. About 10 minutes.

    Args:
        x: (B, T, d) float64.
        params: the block's weights by their nn.TransformerEncoderLayer names (see above).
        n_heads: H, divides d.
        norm_first: True for pre-LN, x + SA(LN1(x)) then + FFN(LN2(.));
                    False for post-LN, LN1(x + SA(x)) then LN2(. + FFN(.)).
        activation: the FFN's activation, "relu" or "gelu".

    Returns:
        (B, T, d) float64.

    Example:
        >>> encoder_block(torch.randn(2, 5, 16, dtype=torch.float64), params, 4, norm_first=True).shape
        torch.Size([2, 5, 16])
    """
    ### BEGIN SOLUTION
    def sa(z):
        return multi_head_attention(z, z, params, "self_attn.", n_heads)

    def ff(z):
        return feed_forward(z, params["linear1.weight"], params["linear1.bias"], params["linear2.weight"], params["linear2.bias"], activation)

    if norm_first:
        x = x + sa(layer_norm(x, params, "norm1"))
        x = x + ff(layer_norm(x, params, "norm2"))
    else:
        x = layer_norm(x + sa(x), params, "norm1")
        x = layer_norm(x + ff(x), params, "norm2")
    return x
    ### END SOLUTION


# %%
from grader.testing import scenario


@scenario
def encoder_vs_torch(ns, d, n_heads, d_ff, norm_first, activation, shape, seed):
    """Your encoder_block and nn.TransformerEncoderLayer on the same weights and input."""
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(d, n_heads, d_ff, dropout=0.0, activation=activation, batch_first=True,
                                   norm_first=norm_first, dtype=torch.float64).eval()
    with torch.no_grad():   # non-trivial norm weights and biases, so that a misplaced norm shows
        for name, p in layer.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.3 * torch.randn_like(p))
    x = torch.randn(*shape, d, dtype=torch.float64)
    params = {name: t.detach().clone() for name, t in layer.state_dict().items()}
    got = ns.encoder_block(x.clone(), params, n_heads, norm_first=norm_first, activation=activation)
    with torch.no_grad():
        want = layer(x)
    return {"got": got.detach() if isinstance(got, torch.Tensor) else got, "want": want}


# %% nbgrader={"grade": true, "grade_id": "encoder_block_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the encoder block keeps the shape (B, T, d) and, in pre-LN form, equals nn.TransformerEncoderLayer(norm_first=True) on copied weights"""
from grader.testing import expect

res = encoder_vs_torch.learner(16, 4, 32, True, "relu", (2, 5), 0)
expect.shape(res["got"], (2, 5, 16), what="encoder_block of x (2, 5, 16)", hint="the block maps (B, T, d) to (B, T, d)")
expect.close(res["got"], res["want"], atol=1e-10, what="pre-LN encoder_block compared with nn.TransformerEncoderLayer(norm_first=True)",
             hint="pre-LN: x = x + SA(LN1(x)); x = x + FFN(LN2(x))")

# %% nbgrader={"grade": true, "grade_id": "encoder_block_matches_torch", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""the encoder block equals nn.TransformerEncoderLayer on copied weights for pre-LN and post-LN, ReLU and GELU, several widths, heads and batch sizes"""
from grader.testing import expect

res = encoder_vs_torch.learner(16, 4, 32, False, "relu", (2, 5), 1)
expect.shape(res["got"], (2, 5, 16), what="post-LN encoder_block of x (2, 5, 16)")
expect.close(res["got"], res["want"], atol=1e-10, what="post-LN encoder_block compared with nn.TransformerEncoderLayer(norm_first=False)",
             hint="post-LN normalises after each residual addition: x = LN1(x + SA(x)); x = LN2(x + FFN(x))")
### BEGIN HIDDEN TESTS
for d, H, d_ff, norm_first, act, shape, seed in [(16, 4, 32, False, "gelu", (3, 7), 2), (16, 4, 32, True, "gelu", (3, 7), 3),
                                                  (24, 3, 40, False, "relu", (1, 1), 4), (24, 3, 40, True, "relu", (1, 9), 5),
                                                  (8, 1, 16, False, "relu", (4, 3), 6), (8, 2, 16, True, "gelu", (2, 6), 7)]:
    res = encoder_vs_torch.learner(d, H, d_ff, norm_first, act, shape, seed)
    case = f"{'pre' if norm_first else 'post'}-LN, {act}, d={d}, H={H}, x {(*shape, d)}"
    expect.shape(res["got"], (*shape, d), what=f"encoder_block ({case})")
    expect.true(not torch.allclose(res["got"], torch.zeros_like(res["got"])),
                f"encoder_block ({case}) returns zeros: the block must return the updated residual stream")
    hint = ("pre-LN: x + SA(LN1(x)), then + FFN(LN2(.)): the norm on the branch, the residual added outside it" if norm_first else
            "post-LN: LN1(x + SA(x)), then LN2(. + FFN(.)): the norm after the residual addition, not on the branch")
    expect.close(res["got"], res["want"], atol=1e-10, what=f"encoder_block compared with nn.TransformerEncoderLayer ({case})",
                 hint=hint + "; keep both residual connections and the activation asked for")
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · The decoder block: causal self-attention and cross-attention
#
# The encoder-decoder Transformer translates a source sequence into a target one. The decoder
# block has three sub-layers: **causal self-attention** over the target so far (position $t$ sees
# targets $\le t$ only, or it could read the answer it must predict), **cross-attention** whose
# queries come from the decoder's stream and whose keys and values come from the encoder's output
# (the *memory*), and the FFN. Pre-LN:
#
# $$x \leftarrow x + \operatorname{SA}_{\text{causal}}(\operatorname{LN}_1 x),\quad
# x \leftarrow x + \operatorname{CA}(\operatorname{LN}_2 x,\ m),\quad
# x \leftarrow x + \operatorname{FFN}(\operatorname{LN}_3 x),$$
#
# and post-LN puts each norm around its addition. Note that the memory $m$ is *not* normalised
# inside the block (in PyTorch's pre-LN encoder stack a final norm is applied to it, by
# `nn.TransformerEncoder(norm=...)`). Weights: `self_attn.*`, `multihead_attn.*` (cross),
# `linear1/2.*`, `norm1/2/3.*`.
#
# **What this means.** Self-attention lets the target tokens talk to each other; cross-attention
# is the only place where the decoder reads the source. A decoder whose "cross"-attention reads
# its own states never sees the source at all. GPT (16) is this decoder with the cross-attention
# removed; BERT (17) is the encoder alone.

# %% nbgrader={"grade": false, "grade_id": "decoder_block", "locked": false, "schema_version": 3, "solution": true, "task": false}
def decoder_block(y: torch.Tensor, memory: torch.Tensor, params: dict, n_heads: int, norm_first: bool,
                  activation: str = "relu") -> torch.Tensor:
    """One Transformer decoder block, as nn.TransformerDecoderLayer(batch_first=True) in eval mode with a causal tgt_mask. About 10 minutes.

    Args:
        y: (B, T, d) float64, the decoder's residual stream (target tokens so far).
        memory: (B, S, d) float64, the encoder's output.
        params: the weights by their nn.TransformerDecoderLayer names (self_attn., multihead_attn., linear1/2, norm1/2/3).
        n_heads: H. norm_first: pre-LN (True) or post-LN (False). activation: "relu" or "gelu".

    Returns:
        (B, T, d) float64. Position t depends on y[:, :t + 1] and on all of memory.

    Example:
        >>> decoder_block(torch.randn(2, 4, 16), torch.randn(2, 6, 16), params, 4, True).shape   # float64 inputs
        torch.Size([2, 4, 16])
    """
    ### BEGIN SOLUTION
    def sa(z):
        return multi_head_attention(z, z, params, "self_attn.", n_heads, causal=True)

    def ca(z):
        return multi_head_attention(z, memory, params, "multihead_attn.", n_heads)   # queries from z, keys and values from memory

    def ff(z):
        return feed_forward(z, params["linear1.weight"], params["linear1.bias"], params["linear2.weight"], params["linear2.bias"], activation)

    if norm_first:
        y = y + sa(layer_norm(y, params, "norm1"))
        y = y + ca(layer_norm(y, params, "norm2"))
        y = y + ff(layer_norm(y, params, "norm3"))
    else:
        y = layer_norm(y + sa(y), params, "norm1")
        y = layer_norm(y + ca(y), params, "norm2")
        y = layer_norm(y + ff(y), params, "norm3")
    return y
    ### END SOLUTION


# %%
@scenario
def decoder_vs_torch(ns, d, n_heads, d_ff, norm_first, activation, T, S, B, seed):
    """Your decoder_block and nn.TransformerDecoderLayer (causal tgt_mask) on the same weights and inputs."""
    torch.manual_seed(seed)
    layer = nn.TransformerDecoderLayer(d, n_heads, d_ff, dropout=0.0, activation=activation, batch_first=True,
                                   norm_first=norm_first, dtype=torch.float64).eval()
    with torch.no_grad():   # non-trivial norm weights and biases, so that a misplaced norm shows
        for name, p in layer.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.3 * torch.randn_like(p))
    y, memory = torch.randn(B, T, d, dtype=torch.float64), torch.randn(B, S, d, dtype=torch.float64)
    params = {name: t.detach().clone() for name, t in layer.state_dict().items()}
    got = ns.decoder_block(y.clone(), memory.clone(), params, n_heads, norm_first=norm_first, activation=activation)
    mask = nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    with torch.no_grad():
        want = layer(y, memory, tgt_mask=mask, tgt_is_causal=True)
    return {"got": got.detach() if isinstance(got, torch.Tensor) else got, "want": want}


# %% nbgrader={"grade": true, "grade_id": "decoder_block_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the decoder block maps (B, T, d) with a memory (B, S, d) to (B, T, d)"""
from grader.testing import expect

res = decoder_vs_torch.learner(16, 4, 32, True, "relu", 4, 6, 2, 0)
expect.shape(res["got"], (2, 4, 16), what="decoder_block of y (2, 4, 16) with memory (2, 6, 16)",
             hint="the output has the target's shape; the memory length S does not appear in it")

# %% nbgrader={"grade": true, "grade_id": "decoder_block_matches_torch", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""the decoder block equals nn.TransformerDecoderLayer with a causal mask on copied weights, for pre-LN and post-LN, ReLU and GELU, and different source and target lengths"""
from grader.testing import learner, expect

res = decoder_vs_torch.learner(16, 4, 32, True, "relu", 4, 6, 2, 1)
expect.shape(res["got"], (2, 4, 16), what="pre-LN decoder_block")
expect.close(res["got"], res["want"], atol=1e-10, what="pre-LN decoder_block compared with nn.TransformerDecoderLayer(norm_first=True)",
             hint="causal self-attention on LN1(y), cross-attention with queries LN2(y) and keys/values from memory, then the FFN, each added to y")
### BEGIN HIDDEN TESTS
for d, H, d_ff, norm_first, act, T, S, B, seed in [(16, 4, 32, False, "relu", 5, 3, 2, 2), (16, 2, 32, True, "gelu", 7, 7, 1, 3),
                                                    (8, 1, 24, False, "gelu", 1, 5, 3, 4), (24, 3, 48, True, "relu", 6, 2, 2, 5)]:
    res = decoder_vs_torch.learner(d, H, d_ff, norm_first, act, T, S, B, seed)
    case = f"{'pre' if norm_first else 'post'}-LN, {act}, T={T}, S={S}, d={d}, H={H}"
    expect.shape(res["got"], (B, T, d), what=f"decoder_block ({case})")
    expect.close(res["got"], res["want"], atol=1e-10, what=f"decoder_block compared with nn.TransformerDecoderLayer ({case})",
                 hint="check the three sub-layers in turn: self-attention must be causal, cross-attention takes its keys and values from memory "
                      "(not from the decoder's own states), and the norms sit where norm_first says")


# the future must not leak: changing the last target token leaves every earlier output unchanged
gen = torch.Generator().manual_seed(8)
torch.manual_seed(9)
layer = nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=True, dtype=DTYPE)
params = {name: t.detach().clone() for name, t in layer.state_dict().items()}
y, memory = torch.randn(2, 6, 16, generator=gen, dtype=DTYPE), torch.randn(2, 4, 16, generator=gen, dtype=DTYPE)
y2 = y.clone(); y2[:, -1] += 5.0
out1 = learner.decoder_block(y, memory, params, 4, norm_first=True)
out2 = learner.decoder_block(y2, memory, params, 4, norm_first=True)
expect.shape(out1, (2, 6, 16), what="decoder_block of y (2, 6, 16)")
expect.close(out1[:, :-1], out2[:, :-1], atol=1e-12, what="the outputs at positions 0 .. T-2 when only the last target token changes",
             hint="the decoder's self-attention must be causal: position t may attend to positions <= t only (is_causal=True)")
memory2 = memory + torch.randn(2, 4, 16, generator=gen, dtype=DTYPE)
out3 = learner.decoder_block(y, memory2, params, 4, norm_first=True)
expect.shape(out3, (2, 6, 16), what="decoder_block of y (2, 6, 16) with another memory")
expect.true((out3 - out1).abs().max().item() > 1e-3,
            "the decoder's output does not change when the encoder's memory changes: cross-attention must take its keys and values from memory")
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · Teacher forcing, and the parameter count
#
# The decoder is trained to predict target token $t$ from targets $< t$. With **teacher forcing**
# the decoder's input is the true target shifted right by one, with a start token in front:
# input $(\texttt{BOS}, y_0, \dots, y_{T-2})$, labels $(y_0, \dots, y_{T-1})$. All $T$ predictions are
# made in one parallel pass; the causal mask makes position $t$ see only $\texttt{BOS}, y_{<t}$.
# Forget the shift and position $t$ sees $y_t$ itself: the loss drops to zero by copying, and the
# model learns nothing it can use at generation time, when $y_t$ is not yet known.
#
# **Parameter count.** An encoder block has attention $4d^2 + 4d$ ($W_Q, W_K, W_V, W_O$ and
# biases), FFN $2 d\, d_{ff} + d_{ff} + d$, two norms $4d$. With $d_{ff} = 4d$ that is
# $12 d^2 + 13 d$: two thirds in the FFN. A decoder block adds a cross-attention and a norm,
# $4d^2 + 6d$ more. GPT-2 small ($d = 768$, 12 blocks of this shape without cross-attention):
# about $85$ M parameters in the blocks, plus $39$ M in the embeddings.

# %% nbgrader={"grade": false, "grade_id": "shift_right", "locked": false, "schema_version": 3, "solution": true, "task": false}
def shift_right(targets: torch.Tensor, bos: int) -> torch.Tensor:
    """The decoder input for teacher forcing. About 3 minutes.

    Args:
        targets: (B, T) int64 target tokens.
        bos: the start token.

    Returns:
        (B, T) int64: column 0 is bos, column t is targets[:, t - 1]; targets is not modified.

    Example:
        >>> shift_right(torch.tensor([[5, 6, 7]]), bos=0)
        tensor([[0, 5, 6]])
    """
    ### BEGIN SOLUTION
    start = torch.full_like(targets[:, :1], bos)
    return torch.cat([start, targets[:, :-1]], dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "block_parameter_count", "locked": false, "schema_version": 3, "solution": true, "task": false}
def block_parameter_count(d_model: int, d_ff: int, decoder: bool = False) -> int:
    """The number of parameters of nn.TransformerEncoderLayer(d_model, nhead, d_ff) (decoder=False) or of
    nn.TransformerDecoderLayer (decoder=True), biases and layer norms included. About 5 minutes.

    Example:
        >>> block_parameter_count(512, 2048)
        3152384
    """
    ### BEGIN SOLUTION
    attention = 4 * d_model * d_model + 4 * d_model            # W_Q, W_K, W_V, W_O and their biases
    ffn = 2 * d_model * d_ff + d_ff + d_model                   # W_1, b_1, W_2, b_2
    norm = 2 * d_model                                          # gamma and beta
    if decoder:
        return 2 * attention + ffn + 3 * norm
    return attention + ffn + 2 * norm
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "shift_and_count_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""shift_right puts the start token first and drops the last target; the parameter count of the paper's base encoder block"""
from grader.testing import learner, expect

got = learner.shift_right(torch.tensor([[5, 6, 7]]), bos=0)
expect.shape(got, (1, 3), what="shift_right of a (1, 3) target", hint="the decoder input has the targets' shape")
expect.equal(got.tolist(), [[0, 5, 6]], what="shift_right([[5, 6, 7]], bos=0)", hint="column 0 is bos, column t is targets[:, t - 1]")
expect.equal(learner.block_parameter_count(512, 2048), 3152384, what="block_parameter_count(512, 2048)",
             hint="attention 4d^2 + 4d, FFN 2 d d_ff + d_ff + d, two layer norms 2d each")

# %% nbgrader={"grade": true, "grade_id": "shift_and_count_general", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""shift_right for batches, a length of one and any start token, without modifying its input; the parameter count equals that of nn.TransformerEncoderLayer and nn.TransformerDecoderLayer"""
from grader.testing import learner, expect

got = learner.shift_right(torch.tensor([[1, 2], [3, 4]]), bos=9)
expect.shape(got, (2, 2), what="shift_right of a (2, 2) target")
expect.equal(got.tolist(), [[9, 1], [9, 3]], what="shift_right([[1, 2], [3, 4]], bos=9)", hint="every row starts with bos")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(0)
targets = torch.randint(1, 50, (4, 9), generator=gen)
keep = targets.clone()
got = learner.shift_right(targets, bos=0)
expect.shape(got, (4, 9), what="shift_right of a (4, 9) target")
expect.true(torch.equal(targets, keep), "shift_right modified its input: build a new tensor instead of writing into targets")
expect.true(torch.equal(got[:, 0], torch.zeros(4, dtype=torch.long)) and torch.equal(got[:, 1:], targets[:, :-1]),
            "shift_right of a (4, 9) target is wrong: column 0 must be bos and columns 1 .. T-1 the targets 0 .. T-2 (the last target is dropped)")
got = learner.shift_right(torch.tensor([[7]]), bos=3)
expect.equal(got.tolist(), [[3]], what="shift_right of a single token", hint="with T = 1 the decoder input is just bos")
for d, d_ff in [(16, 64), (24, 40), (1, 1)]:
    for decoder, cls in [(False, nn.TransformerEncoderLayer), (True, nn.TransformerDecoderLayer)]:
        want = sum(p.numel() for p in cls(d, 1, d_ff).parameters())
        expect.equal(learner.block_parameter_count(d, d_ff, decoder), want,
                     what=f"block_parameter_count({d}, {d_ff}, decoder={decoder})",
                     hint="count attention (4d^2 + 4d), FFN (2 d d_ff + d_ff + d) and 2d per layer norm; a decoder has two attentions and three norms")
### END HIDDEN TESTS

# %% [markdown]
# ## 7 · An encoder-decoder that reverses sequences
#
# Everything together: embed source and target tokens, add learned positions, run one encoder
# block and one decoder block (pre-LN, so a final norm on each stack), project to the vocabulary,
# train with teacher forcing and cross-entropy. The task: output the source reversed. Reversal
# needs cross-attention (the answer is in the source) at a position that depends on $t$ (the
# positions are needed), so it fails loudly if any piece is wrong. At test time the decoder
# generates greedily: start from BOS, append its own argmax, repeat $T$ times. The cell below uses
# your `encoder_block`, `decoder_block` and `shift_right`; the weights are held by PyTorch layers
# only for convenience (their `forward` is never called). About 10 seconds.

# %%
@scenario
def reverse_task(ns, seed, steps, length=6, vocab=10, d=32, n_heads=4):
    """Train a 1+1-layer encoder-decoder built from your blocks on sequence reversal; return greedy accuracies."""
    torch.manual_seed(seed)
    BOS = 0
    emb = nn.Embedding(vocab, d)
    pos = nn.Parameter(0.1 * torch.randn(length + 1, d))
    enc = nn.TransformerEncoderLayer(d, n_heads, 4 * d, dropout=0.0, batch_first=True, norm_first=True)
    dec = nn.TransformerDecoderLayer(d, n_heads, 4 * d, dropout=0.0, batch_first=True, norm_first=True)
    enc_norm, dec_norm, head = nn.LayerNorm(d), nn.LayerNorm(d), nn.Linear(d, vocab)
    modules = nn.ModuleList([emb, enc, dec, enc_norm, dec_norm, head])
    opt = torch.optim.Adam(list(modules.parameters()) + [pos], lr=3e-3)

    def encode(src):
        params = dict(enc.named_parameters())
        return enc_norm(ns.encoder_block(emb(src) + pos[:src.shape[1]], params, n_heads, norm_first=True))

    def decode(dec_in, memory):
        params = dict(dec.named_parameters())
        return head(dec_norm(ns.decoder_block(emb(dec_in) + pos[:dec_in.shape[1]], memory, params, n_heads, norm_first=True)))

    def batch(n):
        src = torch.randint(1, vocab, (n, length))
        return src, src.flip(1)

    for _ in range(steps):
        src, tgt = batch(64)
        logits = decode(ns.shift_right(tgt, BOS), encode(src))
        loss = F.cross_entropy(logits.reshape(-1, vocab), tgt.reshape(-1))
        opt.zero_grad(); loss.backward(); opt.step()

    with torch.no_grad():
        src, tgt = batch(256)
        memory = encode(src)
        out = torch.full((256, 1), BOS)
        for _ in range(length):
            nxt = decode(out, memory)[:, -1].argmax(-1, keepdim=True)
            out = torch.cat([out, nxt], 1)
        pred = out[:, 1:]
    return {"token_accuracy": (pred == tgt).double().mean().item(),
            "sequence_accuracy": (pred == tgt).all(1).double().mean().item(), "final_loss": loss.item()}


# %% nbgrader={"grade": true, "grade_id": "reverse_task_accuracy", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""an encoder-decoder of your blocks, trained with your teacher-forcing shift, reverses sequences of 6 tokens with greedy decoding above the accuracy bar"""
from grader.testing import expect

res = reverse_task.learner(0, 300)
print(res)
### BEGIN HIDDEN TESTS
expect.finite(torch.tensor(res["final_loss"]), what="the final training loss")
expect.true(res["token_accuracy"] >= 0.9,
            f"greedy decoding reverses only {res['token_accuracy']:.0%} of the tokens after training (the bar is 90 %): "
            "check that shift_right puts bos first (teacher forcing), that the decoder's self-attention is causal and that "
            "cross-attention reads the encoder's memory")
### END HIDDEN TESTS

# %% [markdown]
# ## Practical considerations
#
# - **Warm-up.** Post-LN (BERT, the 2017 Transformer) wants a linear warm-up of a few thousand
#   steps; pre-LN trains without one but keep a short warm-up for Adam's second-moment estimates.
# - **Final norm.** A pre-LN stack must end with a layer norm before the head; forgetting it leaves
#   logits whose scale grows with depth.
# - **Initialisation.** GPT-2 scales the output projections of each residual branch by
#   $1/\sqrt{2L}$ so that the stream's variance stays $O(1)$ at initialisation.
# - **Dropout** sits on each branch before the addition (and on attention weights); tests here use
#   eval mode and dropout 0, and so should any comparison of two implementations.
# - **Common bugs**, each caught by the tests: post-LN written as pre-LN (the norm on the branch);
#   a forgotten residual; an FFN without its activation or with ReLU where GELU was asked; a
#   decoder whose cross-attention reads its own states; a decoder without the causal mask (a
#   teacher-forced loss that looks perfect and a model that cannot generate); training without
#   the teacher-forcing shift; a block that returns its input.
# - **Hyperparameters that matter**: $d$, $L$, $H$ (head width $d/H$ of 64 or 128), $d_{ff}/d = 4$
#   (8/3 with SwiGLU, 18), learning rate and warm-up.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | residual stream | $x_{l+1} = x_l + F_l(x_l)$, $\partial x_L/\partial x_0 = I + \dots$ | `x = x + sublayer(...)` | every block of every Transformer |
# | FFN as key-value memory | $\sum_i \sigma(k_i\cdot z + b_i)\, v_i$ | `act(x @ w1.T + b1) @ w2.T + b2` | 2/3 of the block's parameters; factual recall |
# | post-LN | $\operatorname{LN}(x + F(x))$ | `norm_first=False` | 2017 Transformer, BERT; needs warm-up |
# | pre-LN | $x + F(\operatorname{LN}(x))$, final LN | `norm_first=True` | GPT-2, LLaMA (with RMSNorm), all modern LLMs |
# | decoder block | causal SA, cross-attention on memory, FFN | `sdpa(q, k, v, is_causal=True)`; keys from `memory` | T5, BART, Whisper; GPT without the cross part |
# | teacher forcing | input $(\texttt{BOS}, y_{<T-1})$, labels $y$ | `cat([bos, targets[:, :-1]], 1)` | training every autoregressive model |
# | parameter count | $12d^2 + 13d$ per encoder block ($d_{ff}=4d$) | count per sub-layer | sizing models, memory budgets |

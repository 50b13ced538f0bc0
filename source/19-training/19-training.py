# %% [markdown]
# # 19 · Training at scale on one machine: accumulation, clipping, mixed precision, checkpoints
#
# A training step of a large model is the step of `16-gpt` with five pieces of engineering around
# it. Each of them must leave the mathematics of the step unchanged, or change it in a way we
# control. The first one shows the pattern: a batch of $N$ tokens too large for memory is cut into
# $K$ micro-batches of $n_k$ tokens, and their gradients are summed with the right weights,
#
# $$\boxed{\;\nabla_\theta \frac{1}{N}\sum_{t=1}^{N} \ell_t(\theta) \;=\; \sum_{k=1}^{K} \frac{n_k}{N}\,\nabla_\theta L_k(\theta),
# \qquad L_k = \frac{1}{n_k}\sum_{t \in \text{micro-batch } k} \ell_t, \quad N = \sum_k n_k\;}$$
#
# Why it matters for LLMs: every large model is trained with these five techniques at once
# (gradient accumulation to reach batches of millions of tokens, clipping to survive loss spikes,
# bf16 or fp16 to halve memory and multiply throughput, checkpoints to survive crashes on runs of
# weeks, activation checkpointing to fit long contexts), and a bug in any of them is silent: the
# loss still goes down, just not the way it should.
#
# **What you will build:** gradient accumulation that equals the large batch to $10^{-10}$ (with
# micro-batches of unequal size), clipping by global norm exactly as
# `torch.nn.utils.clip_grad_norm_`, a bf16 autocast forward, a dynamic loss scaler that behaves as
# `torch.amp.GradScaler` and an fp16 training step that uses it, a checkpoint from which a resumed
# run is *bit-identical* to an uninterrupted one, and activation checkpointing with its memory and
# time measured.

# %% [markdown]
# ## Prerequisites
#
# - `16-gpt`: the GPT, its language-model loss, the training loop with AdamW, warm-up and cosine
#   schedule and `clip_grad_norm_` (here you write that clipping yourself).
# - `04-optimization`: SGD, Adam, learning-rate schedules.
# - `08-pytorch`: modules, `state_dict`, hooks, autograd.
#
# Packages: `torch` (a CPU is enough for everything graded except one test tagged `gpu`),
# `numpy`, `matplotlib`, `transformers` (the course model is a `GPT2LMHeadModel`). The course model
# of `16-gpt` comes with this notebook (`course_model.json` and `course_model.safetensors`; the setup cell
# below builds it as `course_model.py` of `16-gpt` does); nothing is downloaded.
#
# **Notation.** $\theta$ the parameters, $g = \nabla_\theta L$ the gradient, $B$ sequences of $T$
# tokens per batch, $K$ micro-batches, $L$ layers (in section 6), $s$ the loss scale (section 4).

# %%
import json
import math
import os
import random
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from safetensors.torch import load_file

COURSE_MODEL = json.loads(open("course_model.json", encoding="utf-8").read())   # 16-gpt's model: sizes, vocabulary, recipe

IGNORE = -100   # the target value cross-entropy skips: padding, prompts we do not train on
TINY = dict(n_layer=2, n_embd=32, n_head=2)   # a small random GPT2LMHeadModel for the tests: new_model(**TINY)

TEXT = open("tinyshakespeare.txt", encoding="utf-8").read()   # Tiny Shakespeare (see DATA-LICENCE.md), 1.1 million characters


def config() -> dict:
    """The course model's sizes: {"vocab_size": 65, "block_size": 256, "n_layer": 4, "n_head": 4, "n_embd": 128}."""
    return dict(COURSE_MODEL["config"])


def encode(text: str) -> torch.Tensor:
    """Characters to token ids of the course model: LongTensor (len(text),)."""
    index = {ch: i for i, ch in enumerate(COURSE_MODEL["vocabulary"])}
    return torch.tensor([index[ch] for ch in text], dtype=torch.long)


def decode(tokens) -> str:
    """Token ids to text."""
    return "".join(COURSE_MODEL["vocabulary"][int(t)] for t in tokens)


DATA = encode(TEXT[:200_000])   # LongTensor (200000,), the first 200,000 characters as tokens


def new_model(dtype: torch.dtype = torch.float32, **overrides) -> nn.Module:
    """A GPT2LMHeadModel of the course model's shape (or with overrides, e.g. n_layer=2, n_embd=32, n_head=2), random weights, no dropout."""
    from transformers import GPT2Config, GPT2LMHeadModel   # imported when first used: it takes a few seconds

    sizes = {**config(), **overrides}
    gpt2_config = GPT2Config(vocab_size=sizes["vocab_size"], n_positions=sizes["block_size"], n_embd=sizes["n_embd"],
                             n_layer=sizes["n_layer"], n_head=sizes["n_head"], activation_function="gelu",
                             resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
                             bos_token_id=None, eos_token_id=None, tie_word_embeddings=True)
    model = GPT2LMHeadModel(gpt2_config).to(dtype)
    model.loss_type = "ForCausalLM"   # named outright, else transformers warns on stderr
    return model


def load_course_model(dtype: torch.dtype = torch.float32) -> nn.Module:
    """The course model trained in 16-gpt, as a GPT2LMHeadModel in eval mode: model(tokens).logits is (B, T, 65)."""
    state = load_file("course_model.safetensors")
    conv1d = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
    # 16-gpt stores (out, in) nn.Linear matrices; GPT-2's Conv1D keeps them as (in, out)
    state = {name: (t.T.contiguous() if name.endswith(conv1d) else t) for name, t in state.items()}
    model = new_model(torch.float32)
    model.load_state_dict(state, strict=True)
    return model.to(dtype).eval()


def lm_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean next-token cross-entropy of a GPT2LMHeadModel over the targets that are not IGNORE.

    Args:
        model: a GPT2LMHeadModel (course_model.new_model or load_course_model).
        inputs: LongTensor (B, T) of token ids.
        targets: LongTensor (B, T), the next token at each position, or IGNORE (-100) to skip it.

    Returns:
        A scalar tensor: the sum of the per-token losses divided by the number of counted targets,
        computed in float32 or wider (the logits are cast up first).
    """
    logits = model(inputs).logits
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)


def batch_of_windows(data: torch.Tensor, batch_size: int, length: int, generator: torch.Generator):
    """B random windows of data: inputs (B, length) and targets shifted by one (B, length)."""
    offsets = torch.randint(0, len(data) - length - 1, (batch_size,), generator=generator)
    windows = data[offsets[:, None] + torch.arange(length + 1)]
    return windows[:, :-1], windows[:, 1:]


model_demo = load_course_model()
inputs_demo, targets_demo = batch_of_windows(DATA, 4, 64, torch.Generator().manual_seed(0))
print("course model:", config(), f"{sum(p.numel() for p in model_demo.parameters()):,} parameters")
print("its loss on 4 windows of 64 characters:", round(lm_loss(model_demo, inputs_demo, targets_demo).item(), 4),
      f"(a uniform guess: ln 65 = {math.log(65):.3f})")

# %% [markdown]
# ## 1 · Gradient accumulation
#
# The loss of a batch is a *mean* over its counted tokens, $L = \frac{1}{N}\sum_{t=1}^N \ell_t$. Cut
# the batch into $K$ micro-batches; micro-batch $k$ holds $n_k$ counted tokens and has its own mean
# loss $L_k = \frac{1}{n_k}\sum_{t\in k}\ell_t$. Regroup the sum:
#
# $$L = \frac{1}{N}\sum_{k=1}^{K}\sum_{t \in k}\ell_t = \sum_{k=1}^{K}\frac{n_k}{N}\,L_k,
# \qquad\text{so}\qquad \nabla L = \sum_{k=1}^{K}\frac{n_k}{N}\,\nabla L_k,$$
#
# because the gradient is linear. Nothing is approximated: the accumulated gradient *is* the
# large-batch gradient, up to the rounding of the additions. In PyTorch, `backward()` adds into
# `.grad` (it never overwrites), so calling `(w_k * L_k).backward()` once per micro-batch with
# $w_k = n_k/N$ leaves exactly $\nabla L$ in `.grad`. Memory holds one micro-batch's activations at a
# time; the optimizer steps once, after the last micro-batch.
#
# **What this means.** Two weights are easy to get wrong. Without any weight the micro-batch
# losses are *summed*: the gradient is $K$ times too large (with Adam this hides, since Adam divides
# by the gradient's scale, but the clipping threshold, the weight decay balance and SGD all see it).
# With $w_k = 1/K$ the result is right only when every micro-batch counts the same number of tokens:
# with padding, sequences of different lengths or a last micro-batch that is smaller, a token in a
# small micro-batch gets more weight than one in a large micro-batch.
#
# **Equal weights are wrong for unequal micro-batches**, a worked example with three "tokens":

# %%
token_losses = torch.tensor([1.0, 2.0, 6.0])      # micro-batch A holds the first token, micro-batch B the other two
mean_of_all = token_losses.mean()
mean_of_means = (token_losses[:1].mean() + token_losses[1:].mean()) / 2
token_weighted = (1 / 3) * token_losses[:1].mean() + (2 / 3) * token_losses[1:].mean()
print(f"mean over all tokens {mean_of_all:.4f}   mean of micro-batch means {mean_of_means:.4f}   token-weighted {token_weighted:.4f}")

# %% [markdown]
# Now write `accumulate_gradients` (about 10 minutes). Clear the gradients first
# (`model.zero_grad(set_to_none=True)`), count the targets that are not `IGNORE` in each
# micro-batch, and call `backward()` once per micro-batch on its loss (`lm_loss`) times $n_k/N$.
# Skip a micro-batch with no counted target (its mean loss is 0/0). Return the loss of the whole
# batch as a Python float.

# %% nbgrader={"grade": false, "grade_id": "accumulate_gradients", "locked": false, "schema_version": 3, "solution": true, "task": false}
def accumulate_gradients(model: nn.Module, micro_batches: list) -> float:
    """Leave in every parameter's .grad the gradient of the mean loss over all counted tokens of all micro-batches.

    Args:
        model: a GPT2LMHeadModel; its .grad are cleared first.
        micro_batches: a list of (inputs, targets) pairs, each two LongTensors of one shape (B_k, T_k);
            B_k and T_k may differ between micro-batches; targets equal to IGNORE are not counted.

    Returns:
        The mean loss over all counted targets of all micro-batches (a Python float), the value
        lm_loss would give on one batch holding them all; afterwards p.grad is its gradient.

    Example:
        >>> batches = [batch_of_windows(DATA, 2, 16, torch.Generator().manual_seed(k)) for k in range(3)]
        >>> accumulate_gradients(new_model(**TINY), batches)   # about ln 65 = 4.17 for a random model
        4.19...
    """
    ### BEGIN SOLUTION
    model.zero_grad(set_to_none=True)
    counts = [int((targets != IGNORE).sum()) for _, targets in micro_batches]
    total = sum(counts)
    loss_sum = 0.0
    for (inputs, targets), count in zip(micro_batches, counts):
        if count == 0:
            continue                            # nothing to learn from, and its mean loss would be nan
        loss = lm_loss(model, inputs, targets)  # mean over this micro-batch's counted targets
        (loss * (count / total)).backward()     # weight n_k / N: the sum of the weighted means is the mean of all
        loss_sum += loss.item() * count
    return loss_sum / total
    ### END SOLUTION

# %% [markdown]
# The tests share one scenario: a seeded float64 `GPT2LMHeadModel` (float64 so that the comparison
# with the large batch holds to $10^{-10}$ rather than the $10^{-6}$ float32 allows), your
# function on the micro-batches, and the gradients it leaves. The judge then computes the gradient
# of the whole batch in one `backward()`.

# %%
from grader.testing import expect, scenario


@scenario
def accumulated(ns, micro_batches, seed, calls):
    """accumulate_gradients on a seeded float64 tiny GPT, called `calls` times: its initial weights, the returned loss and the gradients."""
    torch.manual_seed(seed)
    model = ns.new_model(torch.float64, n_layer=2, n_embd=32, n_head=2)
    initial = {name: t.detach().clone() for name, t in model.state_dict().items()}
    for _ in range(calls):
        loss = ns.accumulate_gradients(model, micro_batches)
    grads = {name: (p.grad.detach().clone() if p.grad is not None else None) for name, p in model.named_parameters()}
    return {"initial": initial, "loss": float(loss), "grads": grads}


def whole_batch_gradient(initial: dict, micro_batches: list):
    """The judge's reference: the loss summed over every counted token of every micro-batch, divided by their number, one backward."""
    model = new_model(torch.float64, **TINY)
    model.load_state_dict(initial)
    total_loss = sum(F.cross_entropy(model(x).logits.reshape(-1, 65), y.reshape(-1), ignore_index=IGNORE, reduction="sum")
                     for x, y in micro_batches)
    count = sum(int((y != IGNORE).sum()) for _, y in micro_batches)
    (total_loss / count).backward()
    return (total_loss / count).item(), {name: p.grad for name, p in model.named_parameters()}


def compare_gradients(got: dict, want_loss: float, want_grads: dict, case: str, hint: str):
    """Every gradient and the loss of the learner's accumulation against the whole batch's."""
    expect.close(got["loss"], want_loss, atol=1e-10, rtol=1e-10, what=f"the returned loss ({case})",
                 hint="return the mean over all counted targets: the sum of loss_k * n_k over micro-batches, divided by N")
    for name, want in want_grads.items():
        grad = got["grads"][name]
        expect.true(grad is not None, f"{name}.grad is None after accumulate_gradients ({case}): call backward() on each micro-batch's loss")
        expect.shape(grad, tuple(want.shape), what=f"the gradient of {name} ({case})")
        expect.close(grad, want, atol=1e-10, rtol=1e-8, what=f"the accumulated gradient of {name} ({case})", hint=hint)


# %% nbgrader={"grade": true, "grade_id": "accumulation_equals_large_batch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""accumulating the gradients of equal micro-batches gives the gradient and the loss of the whole batch in one backward, to 1e-10 in float64"""
from grader.testing import expect

gen = torch.Generator().manual_seed(10)
equal_batches = [batch_of_windows(DATA, 2, 12, gen) for _ in range(3)]
got = accumulated.learner(equal_batches, 11, 1)
want_loss, want_grads = whole_batch_gradient(got["initial"], equal_batches)
expect.true(isinstance(got["loss"], float) and math.isfinite(got["loss"]), "accumulate_gradients must return the loss as a finite float")
hint = ("backward() once per micro-batch on lm_loss * (n_k / N): without the weight the micro-batch losses are summed "
        "and the gradient is K times too large")
compare_gradients(got, want_loss, want_grads, "three micro-batches of 2 x 12 tokens", hint)
### BEGIN HIDDEN TESTS
# called twice: the gradients of the first call must not stay in .grad
got_twice = accumulated.learner(equal_batches, 11, 2)
compare_gradients(got_twice, want_loss, want_grads, "accumulate_gradients called twice on the same model",
                  "clear the gradients first (model.zero_grad(set_to_none=True)): backward() adds into .grad")
# one micro-batch: accumulation is the plain step
single = [batch_of_windows(DATA, 3, 9, gen)]
got = accumulated.learner(single, 12, 1)
compare_gradients(got, *whole_batch_gradient(got["initial"], single), "a single micro-batch", hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "accumulation_token_weighted", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""micro-batches of unequal size (other batch sizes and lengths, padded targets, a micro-batch with nothing to count) are weighted by their number of counted tokens, as one batch holding them all"""
from grader.testing import expect

gen = torch.Generator().manual_seed(20)
unequal = [batch_of_windows(DATA, 1, 8, gen), batch_of_windows(DATA, 3, 16, gen)]
got = accumulated.learner(unequal, 21, 1)
expect.true(isinstance(got["loss"], float) and math.isfinite(got["loss"]), "accumulate_gradients must return the loss as a finite float")
### BEGIN HIDDEN TESTS
hint = ("weight each micro-batch's mean loss by n_k / N (its number of counted targets over the total), not by 1 / K: "
        "with micro-batches of different sizes the mean of the means is not the mean of the tokens")
compare_gradients(got, *whole_batch_gradient(got["initial"], unequal), "micro-batches of 1 x 8 and 3 x 16 tokens", hint)

# padding: targets set to IGNORE do not count, and a micro-batch that is all padding adds nothing
inputs, targets = batch_of_windows(DATA, 2, 10, gen)
padded_targets = targets.clone()
padded_targets[0, 4:] = IGNORE
padded_targets[1, 7:] = IGNORE
all_padding = (batch_of_windows(DATA, 1, 5, gen)[0], torch.full((1, 5), IGNORE))
padded = [(inputs, padded_targets), batch_of_windows(DATA, 2, 6, gen), all_padding]
got = accumulated.learner(padded, 22, 1)
compare_gradients(got, *whole_batch_gradient(got["initial"], padded), "padded targets and a micro-batch of padding only",
                  "count only the targets that are not IGNORE (n_k = (targets != IGNORE).sum()) and skip a micro-batch with none: "
                  "its mean loss is 0/0 = nan")
### END HIDDEN TESTS

# %% [markdown]
# ## 2 · Clipping by global norm
#
# A single bad batch (a rare token, a long repeated string, a loss spike) can produce a gradient
# hundreds of times larger than usual, and one step with it can undo thousands of steps. Clipping
# bounds the step. Put all parameters' gradients into one vector $g = (g_1, \dots, g_P)$; its
# **global norm** is
#
# $$\|g\| = \sqrt{\sum_{p=1}^{P}\|g_p\|^2}, \qquad
# g \leftarrow c\, g, \quad c = \min\!\Big(1, \frac{\tau}{\|g\| + 10^{-6}}\Big),$$
#
# with $\tau$ the threshold `max_norm` (1.0 in GPT-2, GPT-3, LLaMA). Every parameter's gradient
# is multiplied by the *same* $c$, so the direction of $g$ is kept and only its length changes: for
# SGD the step is still the steepest-descent direction, just shorter, and $\langle c\,g, g\rangle > 0$
# (it still decreases the loss to first order). Below the threshold ($\|g\| \le \tau$) nothing
# changes. Clipping each parameter's gradient to norm $\tau$ separately does change the direction:
# the parameters with small gradients keep them, those with large ones are shrunk, so the update
# points somewhere else, and the clipped vector can still have norm up to $\tau\sqrt{P}$.
#
# `torch.nn.utils.clip_grad_norm_` returns the global norm *before* clipping; logging it is the
# cheapest health monitor of a run (spikes in it come before spikes in the loss). It skips
# parameters whose `.grad` is None (frozen, or unused in this step), and returns 0 when there are
# none. The picture, in two dimensions (library code):

# %%
g_demo = np.array([3.0, 0.4])      # a gradient with one large and one small "parameter"
tau = 1.0
global_clip = g_demo * min(1.0, tau / np.linalg.norm(g_demo))
per_parameter = np.array([np.sign(v) * min(abs(v), tau) for v in g_demo])
fig, ax = plt.subplots(figsize=(6, 3.2))
for vector, label, colour in [(g_demo, "gradient $g$", "grey"), (global_clip, "global-norm clip (same direction)", "C0"),
                              (per_parameter, "per-parameter clip (direction changed)", "C3")]:
    ax.annotate("", xy=vector, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=colour, lw=2))
    ax.plot([], [], color=colour, lw=2, label=label)
ax.add_patch(plt.Circle((0, 0), tau, fill=False, ls=":", color="grey"))
ax.set(xlim=(-0.2, 3.2), ylim=(-0.2, 1.2), aspect="equal", xlabel="parameter 1", ylabel="parameter 2",
       title=f"clipping to norm {tau}: angle to $g$ after per-parameter clip "
             f"{np.degrees(np.arccos(per_parameter @ g_demo / np.linalg.norm(per_parameter) / np.linalg.norm(g_demo))):.0f}°")
ax.legend(loc="upper right", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Write `clip_grad_norm` (about 10 minutes): the same numbers as `torch.nn.utils.clip_grad_norm_`
# with the 2-norm. Compute each gradient's norm with `torch.linalg.vector_norm`, the global norm
# from those, the coefficient clamped to at most 1 with `torch.clamp`, and multiply every gradient
# in place (`g.mul_(...)`). Accept any iterable of parameters (a generator such as
# `model.parameters()` can be read only once: make a list first) or a single tensor.

# %% nbgrader={"grade": false, "grade_id": "clip_grad_norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def clip_grad_norm(parameters, max_norm: float) -> torch.Tensor:
    """Scale all gradients, in place, by min(1, max_norm / (global norm + 1e-6)), as torch.nn.utils.clip_grad_norm_.

    Args:
        parameters: an iterable of tensors (or one tensor); those whose .grad is None are skipped.
        max_norm: the threshold tau > 0 on the global 2-norm.

    Returns:
        The global norm sqrt(sum_p ||p.grad||^2) *before* clipping, a 0-dim tensor of the gradients'
        dtype (tensor(0.) when no parameter has a gradient).

    Example:
        >>> w = torch.zeros(2, requires_grad=True); w.grad = torch.tensor([3.0, 4.0])
        >>> clip_grad_norm([w], 1.0), w.grad
        (tensor(5.), tensor([0.6000, 0.8000]))
    """
    ### BEGIN SOLUTION
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])
    total_norm = torch.linalg.vector_norm(norms)                       # the norm of all gradients as one vector
    coefficient = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)  # 1 below the threshold: nothing changes
    for g in grads:
        g.mul_(coefficient.to(g.dtype))                                # one coefficient for all: direction kept
    return total_norm
    ### END SOLUTION

# %%
@scenario
def clipped(ns, grads, max_norm, as_generator):
    """clip_grad_norm on parameters holding `grads` (None for no gradient): the returned norm and the gradients after."""
    parameters = []
    for grad in grads:
        p = torch.zeros_like(grad if grad is not None else torch.zeros(3), requires_grad=True)
        p.grad = None if grad is None else grad.clone()
        parameters.append(p)
    norm = ns.clip_grad_norm((p for p in parameters) if as_generator else parameters, max_norm)
    return {"norm": norm, "grads": [None if p.grad is None else p.grad.detach().clone() for p in parameters]}


def torch_clipped(grads, max_norm):
    """The same with torch.nn.utils.clip_grad_norm_: the independent reference."""
    parameters = []
    for grad in grads:
        p = torch.zeros_like(grad if grad is not None else torch.zeros(3), requires_grad=True)
        p.grad = None if grad is None else grad.clone()
        parameters.append(p)
    norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    return {"norm": norm, "grads": [None if p.grad is None else p.grad for p in parameters]}


def compare_clipping(got, want, case, hint):
    """The returned norm and every clipped gradient against torch's."""
    expect.true(torch.is_tensor(got["norm"]) and got["norm"].dim() == 0, f"clip_grad_norm must return the global norm as a 0-dim tensor ({case})")
    expect.close(got["norm"].double(), want["norm"].double(), atol=1e-6, rtol=1e-6, what=f"the returned global norm ({case})",
                 hint="return the norm of all gradients as one vector, computed before clipping")
    for i, (g, w) in enumerate(zip(got["grads"], want["grads"])):
        if w is None:
            expect.true(g is None, f"a parameter without a gradient got one ({case}): skip parameters whose .grad is None")
            continue
        expect.shape(g, tuple(w.shape), what=f"gradient {i} after clipping ({case})")
        expect.close(g.double(), w.double(), atol=1e-7, rtol=1e-6, what=f"gradient {i} after clipping ({case})", hint=hint)


# %% nbgrader={"grade": true, "grade_id": "clip_grad_norm_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""clipping two hand-computed gradients of global norm 13 to norm 1, and returning 13"""
from grader.testing import expect

got = clipped.learner([torch.tensor([3.0, 4.0]), torch.tensor([12.0])], 1.0, False)
expect.close(got["norm"], torch.tensor(13.0), atol=1e-6, what="the global norm of [3, 4] and [12]",
             hint="sqrt(3^2 + 4^2 + 12^2) = 13: the norm of all gradients together, not of each one")
expect.close(got["grads"][0], torch.tensor([3.0, 4.0]) / 13, atol=1e-6, what="the clipped gradient [3, 4]",
             hint="multiply every gradient by max_norm / (global norm + 1e-6)")
expect.close(got["grads"][1], torch.tensor([12.0]) / 13, atol=1e-6, what="the clipped gradient [12]",
             hint="multiply every gradient by the same coefficient")

# %% nbgrader={"grade": true, "grade_id": "clip_grad_norm_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""clip_grad_norm gives the norm and gradients of torch.nn.utils.clip_grad_norm_: gradients of very different sizes, a norm below the threshold (no change), None gradients, a generator of parameters, no gradient at all"""
from grader.testing import expect

gen = torch.Generator().manual_seed(30)
grads = [torch.randn(4, 5, generator=gen), 0.01 * torch.randn(7, generator=gen), 30 * torch.randn(2, 3, generator=gen)]
got = clipped.learner(grads, 2.0, False)
compare_clipping(got, torch_clipped(grads, 2.0), "three gradients, max_norm 2", "one coefficient for all gradients")
### BEGIN HIDDEN TESTS
hint = ("compute one global norm over all gradients and scale every gradient by the same min(1, max_norm / (norm + 1e-6)): "
        "clipping each parameter separately changes the direction of the step")
# one large and many small gradients: per-parameter clipping leaves the small ones alone
grads = [50 * torch.randn(8, generator=gen)] + [0.3 * torch.randn(3, 3, generator=gen) for _ in range(4)]
compare_clipping(clipped.learner(grads, 1.0, False), torch_clipped(grads, 1.0), "one large and four small gradients", hint)

# below the threshold nothing changes (the coefficient is clamped to 1, not max_norm / norm > 1)
small = [0.1 * torch.randn(5, generator=gen), 0.1 * torch.randn(2, 2, generator=gen)]
got = clipped.learner(small, 10.0, False)
compare_clipping(got, torch_clipped(small, 10.0), "global norm far below max_norm",
                 "below the threshold the gradients must stay exactly as they are: clamp the coefficient to at most 1")
for g, w in zip(got["grads"], small):
    expect.close(g, w, atol=0, rtol=0, what="a gradient whose global norm is below max_norm", hint="leave it unchanged: coefficient 1")

# None gradients are skipped, a generator works, no gradient at all gives 0
mixed = [torch.randn(6, generator=gen), None, 4 * torch.randn(3, generator=gen), None]
compare_clipping(clipped.learner(mixed, 0.5, True), torch_clipped(mixed, 0.5), "a generator of parameters, two without .grad",
                 "skip parameters whose .grad is None; model.parameters() is a generator: read it once into a list")
got = clipped.learner([None, None], 1.0, False)
expect.true(torch.is_tensor(got["norm"]), "clip_grad_norm must return a tensor when no parameter has a gradient")
expect.close(got["norm"], torch.tensor(0.0), atol=0, what="the norm returned when no parameter has a gradient",
             hint="return torch.tensor(0.) when there is no gradient to clip")

# float64 gradients keep their dtype
grads64 = [torch.randn(3, generator=gen, dtype=torch.float64), 5 * torch.randn(4, generator=gen, dtype=torch.float64)]
got = clipped.learner(grads64, 1.0, False)
expect.dtype(got["grads"][1], torch.float64, what="a float64 gradient after clipping", hint="multiply in place: g.mul_(coefficient)")
compare_clipping(got, torch_clipped(grads64, 1.0), "float64 gradients", hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · Number formats: fp32, fp16 and bf16
#
# A floating-point number is $(-1)^{s}\,(1.m)_2 \cdot 2^{e - \text{bias}}$: a sign bit, $E$ exponent
# bits that set the **range**, and $M$ mantissa bits that set the **precision** (the gap between 1
# and the next number is $\epsilon = 2^{-M}$). Below the smallest normal number $2^{1-\text{bias}}$,
# *subnormal* numbers give up mantissa bits to reach $2^{1-\text{bias}-M}$; below that everything
# rounds to 0 (underflow), and above the largest number everything rounds to $\infty$ (overflow).
#
# | format | bits: sign / exponent / mantissa | largest | smallest normal | $\epsilon$ |
# |---|---|---|---|---|
# | float32 | 1 / 8 / 23 | $3.4\cdot 10^{38}$ | $1.2\cdot 10^{-38}$ | $1.2\cdot 10^{-7}$ |
# | float16 | 1 / 5 / 10 | $65504$ | $6.1\cdot 10^{-5}$ | $9.8\cdot 10^{-4}$ |
# | bfloat16 | 1 / 8 / 7 | $3.4\cdot 10^{38}$ | $1.2\cdot 10^{-38}$ | $7.8\cdot 10^{-3}$ |
#
# **What this means.** bfloat16 is float32 with the last 16 mantissa bits cut off: the *same
# range*, a much coarser grid (2 to 3 significant digits). float16 splits its bits the other way:
# three more mantissa bits, but a range of only $2^{-24} \approx 6\cdot 10^{-8}$ to $65504$. The
# numbers are read from `torch.finfo` below, and the figure shows each range on a log scale beside
# the gradients of the course model on one batch: many of them are smaller than float16 can hold,
# while bfloat16 holds them all.

# %%
formats = [torch.float32, torch.float16, torch.bfloat16]
for dtype in formats:
    info = torch.finfo(dtype)
    print(f"{str(dtype):15s} bits {info.bits:2d}  max {info.max:10.3e}  smallest normal {info.smallest_normal:9.3e}  "
          f"smallest subnormal {info.smallest_normal * info.eps:9.3e}  eps {info.eps:9.3e}")

model_demo.zero_grad()
lm_loss(model_demo.train(), inputs_demo, targets_demo).backward()
model_demo.eval()
all_grads = torch.cat([p.grad.reshape(-1) for p in model_demo.parameters()]).abs()
all_grads = all_grads[all_grads > 0]
fig, ax = plt.subplots(figsize=(10, 3.6))
ax.hist(torch.log2(all_grads).numpy(), bins=120, color="grey", alpha=0.7, label="|gradient| of the course model, one batch")
for row, (dtype, colour) in enumerate(zip(formats, ["C0", "C3", "C2"])):
    info = torch.finfo(dtype)
    low, normal, high = math.log2(info.smallest_normal * info.eps), math.log2(info.smallest_normal), math.log2(info.max)
    y = ax.get_ylim()[1] * (0.92 - 0.1 * row) if row else ax.get_ylim()[1] * 0.92
    ax.plot([max(low, -150), high], [y, y], color=colour, lw=5, label=f"{str(dtype)[6:]}: normal from 2^{normal:.0f}, subnormal to 2^{low:.0f}")
    ax.plot([max(low, -150), normal], [y, y], color="white", lw=1.5, ls=":")
ax.axvline(math.log2(torch.finfo(torch.float16).smallest_normal * torch.finfo(torch.float16).eps), color="C3", ls="--", lw=1)
fraction = (all_grads < torch.finfo(torch.float16).smallest_normal * torch.finfo(torch.float16).eps / 2).float().mean().item()
ax.set(xlabel="log2 of the magnitude", ylabel="number of gradient entries", xlim=(-150, 130),
       title=f"{100 * fraction:.1f} % of these gradient entries round to 0 in float16; none in bfloat16")
ax.legend(fontsize=7, loc="center right")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Mixed precision with autocast
#
# Mixed precision keeps the **parameters, the gradients and the optimizer state in float32** (the
# "master weights"; an update of size $10^{-4}$ on a weight of size 1 disappears in bfloat16,
# whose grid at 1 is $2^{-7}$) and runs the expensive operations, the matrix multiplications, in 16
# bits. `torch.autocast(device_type, dtype)` does this per operation, without touching the model:
# inside the `with` block, each operation on an allow-list (`mm`, `addmm`, `linear`, `bmm`,
# `baddbmm`, convolutions: GPT-2's `Conv1D` is one `addmm`) casts its float32 inputs to 16 bits
# and returns 16 bits; a deny-list of operations where rounding or range hurts (`layer_norm` on
# GPUs, `log_softmax`, `nll_loss` and `cross_entropy`, `exp`, sums) computes in float32; everything
# else runs in the widest dtype of its inputs. The backward pass needs no autocast: each operation's
# backward runs in the dtype its forward used, and the gradient reaching a float32 parameter
# through the cast is float32.
#
# **Why bfloat16 needs no loss scaling.** Its range is float32's: a gradient of $10^{-10}$ is a
# normal bfloat16 number. The price is precision ($\epsilon = 2^{-8}$ relative rounding per
# operation), which the float32 master weights and float32 accumulation inside the matrix
# multiplications absorb: bf16 training reaches the float32 loss curve within noise. On the CPU
# and on every GPU since the A100, bfloat16 is the default for LLM training.
#
# Which operations ran in bfloat16 here (library code: a forward hook on every leaf module of the
# course model records the dtype of its output):

# %%
seen_dtypes = {}
hooks = [module.register_forward_hook(lambda module, args, out: seen_dtypes.setdefault(type(module).__name__, str(out.dtype)[6:]) and None)
         for module in model_demo.modules() if not list(module.children())]
with torch.autocast("cpu", dtype=torch.bfloat16):
    logits_bf16 = model_demo(inputs_demo).logits
    loss_in_autocast = F.cross_entropy(logits_bf16.reshape(-1, 65), targets_demo.reshape(-1))
for hook in hooks:
    hook.remove()
print("output dtype of each module type under autocast:", seen_dtypes)
print("logits:", logits_bf16.dtype, "  cross_entropy inside autocast:", loss_in_autocast.dtype,
      "  a parameter:", model_demo.transformer.h[0].attn.c_attn.weight.dtype)

# %% [markdown]
# The `LayerNorm` outputs are float32 because the residual stream they read is float32 (a
# bfloat16 `Conv1D` output added to a float32 stream gives float32). Now write
# `autocast_lm_loss` (about 5 minutes): the forward pass of `lm_loss` inside
# `torch.autocast(device_type, dtype=dtype)`, with the logits cast to float32 before the
# cross-entropy so that the loss is float32 on every device. Do not cast the model.

# %% nbgrader={"grade": false, "grade_id": "autocast_lm_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def autocast_lm_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                     dtype: torch.dtype = torch.bfloat16, device_type: str = "cpu") -> torch.Tensor:
    """lm_loss with the forward pass under autocast: matrix products in `dtype`, the loss in float32.

    Args:
        model: a float32 GPT2LMHeadModel on `device_type`; it is not modified (its parameters stay float32).
        inputs, targets: LongTensors (B, T) on the model's device; targets IGNORE are not counted.
        dtype: torch.bfloat16 or torch.float16, the dtype autocast computes in.
        device_type: "cpu" or "cuda".

    Returns:
        A 0-dim float32 tensor with a graph back to the float32 parameters (call .backward() on it
        outside autocast).

    Example:
        >>> autocast_lm_loss(new_model(**TINY), inputs_demo, targets_demo).dtype
        torch.float32
    """
    ### BEGIN SOLUTION
    with torch.autocast(device_type, dtype=dtype):
        logits = model(inputs).logits                  # (B, T, V) in dtype: the last layer is a matrix product
    logits = logits.float()                            # the softmax and the log of the loss in float32
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
    ### END SOLUTION

# %%
@scenario
def autocast_run(ns, trained, seed, dtype_name):
    """autocast_lm_loss on a float32 GPT (the trained course model or a tiny random one): the loss, the output dtype of each leaf module type, the parameters' dtypes and gradients."""
    torch.manual_seed(seed)
    model = ns.load_course_model() if trained else ns.new_model(n_layer=2, n_embd=32, n_head=2)
    initial = {name: t.detach().clone() for name, t in model.state_dict().items()}
    gen = torch.Generator().manual_seed(seed)
    data = torch.randint(0, 65, (3, 33), generator=gen) if not trained else None
    if trained:
        with open("tinyshakespeare.txt", encoding="utf-8") as file:
            text = file.read()
        start = int(torch.randint(0, 100_000, (1,), generator=gen))
        data = ns.encode(text[-200_000 + start:][:3 * 65]).reshape(3, 65)
    inputs, targets = data[:, :-1], data[:, 1:]
    seen = {}
    hooks = [m.register_forward_hook(lambda m, a, out: seen.setdefault(type(m).__name__, str(out.dtype)) and None)
             for m in model.modules() if not list(m.children())]
    loss = ns.autocast_lm_loss(model, inputs, targets, getattr(torch, dtype_name), "cpu")
    for hook in hooks:
        hook.remove()
    result = {"loss_dtype": str(loss.dtype), "loss": float(loss.detach()), "seen": seen,
              "param_dtypes": sorted({str(p.dtype) for p in model.parameters()}), "initial": initial, "inputs": inputs, "targets": targets}
    loss.backward()
    result["grads"] = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}
    return result


def float32_loss_and_grads(initial, inputs, targets, trained):
    """The judge's float32 reference: the same model and batch without autocast."""
    model = new_model(**({} if trained else TINY))
    model.load_state_dict(initial)
    loss = lm_loss(model, inputs, targets)
    loss.backward()
    return loss.item(), {name: p.grad for name, p in model.named_parameters()}


# %% nbgrader={"grade": true, "grade_id": "autocast_bf16_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""under autocast_lm_loss the Conv1D and lm_head layers compute in bfloat16, the loss is float32 and close to the float32 loss (a bar calibrated on the course model), the parameters stay float32 and the gradients point where the float32 ones do"""
from grader.testing import expect

got = autocast_run.learner(False, 40, "bfloat16")
expect.equal(got["loss_dtype"], "torch.float32", what="the dtype of the loss autocast_lm_loss returns",
             hint="cast the logits to float32 (logits.float()) before F.cross_entropy")
expect.equal(got["seen"].get("Conv1D"), "torch.bfloat16", what="the output dtype of GPT-2's Conv1D layers inside autocast_lm_loss",
             hint="run the model's forward inside `with torch.autocast(device_type, dtype=dtype):`")
### BEGIN HIDDEN TESTS
expect.equal(got["param_dtypes"], ["torch.float32"], what="the dtypes of the model's parameters after autocast_lm_loss",
             hint="do not cast the model (model.to(torch.bfloat16) or .bfloat16()): autocast casts the inputs of each operation, "
                  "and the float32 parameters are the master weights")
expect.equal(got["seen"].get("Linear"), "torch.bfloat16", what="the output dtype of lm_head inside autocast_lm_loss",
             hint="the whole forward pass, up to the logits, runs inside autocast")
# calibrated on the reference: the relative gap |bf16 loss - fp32 loss| / fp32 loss is at most 1.7e-3 over seeds 0-9 (bar 4e-3), the cosine at least 0.9990 (bar 0.995)
for seed in [41, 42]:
    got = autocast_run.learner(True, seed, "bfloat16")
    want_loss, want_grads = float32_loss_and_grads(got["initial"], got["inputs"], got["targets"], True)
    expect.true(math.isfinite(got["loss"]), "the bfloat16 loss of the course model must be finite")
    expect.close(got["loss"], want_loss, atol=0, rtol=4e-3, what="the bfloat16 loss of the course model against its float32 loss",
                 hint="the same loss as lm_loss, only the forward pass inside autocast")
    cosine = sum((got["grads"][n].double() * g.double()).sum() for n, g in want_grads.items()) / (
        math.sqrt(sum(got["grads"][n].double().pow(2).sum() for n in want_grads)) * math.sqrt(sum(g.double().pow(2).sum() for g in want_grads.values())))
    expect.true(cosine > 0.995, "the gradient of the bfloat16 loss must point where the float32 gradient does (cosine > 0.995): "
                "call backward on the float32 loss, outside autocast, with the model left in float32")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · float16 and dynamic loss scaling
#
# float16 has a finer grid than bfloat16 but a narrow range, and the figure of section 3 showed
# the problem: gradients below $2^{-24}$ become 0 in the fp16 backward pass, and the model stops
# learning from them. **Loss scaling** (Micikevicius et al., 2018) multiplies the loss by a large
# $s$ (say $2^{16}$) before `backward()`. Every gradient is linear in the loss, so every gradient
# is multiplied by $s$ too, which moves it up by 16 binades, out of the underflow zone. Before the
# optimizer step the gradients, which live in float32 on the float32 master weights, are divided
# by $s$ again:
#
# $$\tilde g = \nabla_\theta (s \cdot L) = s\, g, \qquad g = \tilde g / s.$$
#
# Too large an $s$ overflows: a scaled gradient above 65504 becomes `inf`, and `inf - inf` gives
# `nan`. **Dynamic** loss scaling picks $s$ by trial: after `unscale_` checks every gradient, a
# step with an `inf` or `nan` is *skipped* (the optimizer never sees it) and $s$ is halved
# (`backoff_factor` 0.5); after `growth_interval` (2000) steps in a row without one, $s$ is doubled
# (`growth_factor` 2). Over a run $s$ hovers just below the largest value that does not overflow.
# Powers of two make scaling and unscaling exact: only the exponent changes.
#
# **Clipping sees unscaled gradients.** The threshold $\tau$ is meant for $g$, not for $s\,g$:
# clip after `unscale_`, or the scaled norm (65536 times larger) is clipped to $\tau$ and the real
# step becomes 65536 times too small. `torch.amp.GradScaler` exposes exactly this sequence:
#
# ```python
# scaler.scale(loss).backward()            # s * loss
# scaler.unscale_(optimizer)               # grads /= s in place, remember whether any is inf/nan
# clip_grad_norm_(model.parameters(), 1.0) # on the true gradients
# scaler.step(optimizer)                   # unscale_ if not yet done; optimizer.step() unless inf/nan
# scaler.update()                          # halve s after an overflow, double it after growth_interval good steps
# ```
#
# The scaler itself is a small state machine and runs on any device; you write it next (about 15
# minutes), with the same state as `torch.amp.GradScaler`: the scale, the count of good steps since
# the last change (`growth_tracker`), and per step whether the gradients have been unscaled and
# whether an `inf`/`nan` was found. Divide with `p.grad.mul_(1.0 / self.scale_value)` and test with
# `torch.isfinite`.

# %% nbgrader={"grade": false, "grade_id": "loss_scaler", "locked": false, "schema_version": 3, "solution": true, "task": false}
class LossScaler:
    """Dynamic loss scaling with torch.amp.GradScaler's rules, for float32 parameters on any device.

    Attributes:
        scale_value: float, the current scale s (starts at init_scale).
        growth_tracker: int, the number of steps in a row without inf/nan since s last changed.

    Example:
        >>> scaler = LossScaler(init_scale=2.0**16, growth_interval=2000)
        >>> scaler.scale(torch.tensor(1.5))
        tensor(98304.)
    """

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000):
        ### BEGIN SOLUTION
        self.scale_value = float(init_scale)
        self.growth_factor, self.backoff_factor, self.growth_interval = growth_factor, backoff_factor, growth_interval
        self.growth_tracker = 0
        self.found_inf = None          # None until unscale_ ran in this step, then True or False
        ### END SOLUTION

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss times scale_value (call .backward() on the result)."""
        ### BEGIN SOLUTION
        return loss * self.scale_value
        ### END SOLUTION

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide every gradient of the optimizer's parameters by scale_value in place, once per step, and record whether any entry is inf or nan."""
        ### BEGIN SOLUTION
        if self.found_inf is not None:
            return                     # already unscaled in this step: dividing twice would shrink the step by s
        found_inf = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.grad.mul_(1.0 / self.scale_value)
                if not torch.isfinite(p.grad).all():
                    found_inf = True
        self.found_inf = found_inf
        ### END SOLUTION

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Unscale if not done yet, then optimizer.step() unless an inf/nan was found. Returns whether it stepped."""
        ### BEGIN SOLUTION
        self.unscale_(optimizer)
        if self.found_inf:
            return False               # skip: the parameters and the optimizer state stay as they were
        optimizer.step()
        return True
        ### END SOLUTION

    def update(self) -> None:
        """End of the step: halve the scale after an inf/nan, double it after growth_interval good steps in a row."""
        ### BEGIN SOLUTION
        if self.found_inf:
            self.scale_value *= self.backoff_factor
            self.growth_tracker = 0
        else:
            self.growth_tracker += 1
            if self.growth_tracker == self.growth_interval:
                self.scale_value *= self.growth_factor
                self.growth_tracker = 0
        self.found_inf = None
        ### END SOLUTION

# %%
@scenario
def scaler_run(ns, factors, init_scale, growth_interval, unscale_first):
    """A LossScaler driving SGD on w (3,) with loss (w * c).sum() + (w**2).sum() for each row c of factors (inf or nan in some): scales, steps, weights."""
    w = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([w], lr=0.1)
    scaler = ns.LossScaler(init_scale=init_scale, growth_interval=growth_interval)
    scales, stepped, weights = [], [], []
    for c in factors:
        optimizer.zero_grad()
        scaler.scale((w * c).sum() + (w**2).sum()).backward()
        if unscale_first:
            scaler.unscale_(optimizer)      # as before clipping
        stepped.append(bool(scaler.step(optimizer)))
        scaler.update()
        scales.append(float(scaler.scale_value))
        weights.append(w.detach().clone())
    return {"scales": scales, "stepped": stepped, "weights": weights}


def torch_scaler_run(factors, init_scale, growth_interval, unscale_first):
    """The same steps with torch.amp.GradScaler on the CPU: the independent reference."""
    w = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([w], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale, growth_interval=growth_interval)
    scales, weights = [], []
    for c in factors:
        optimizer.zero_grad()
        scaler.scale((w * c).sum() + (w**2).sum()).backward()
        if unscale_first:
            scaler.unscale_(optimizer)
        scaler.step(optimizer)
        scaler.update()
        scales.append(float(scaler.get_scale()))
        weights.append(w.detach().clone())
    return {"scales": scales, "stepped": [bool(torch.isfinite(c).all()) for c in factors], "weights": weights}


def compare_scaler(got, want, case):
    """Scale after each update, which steps were taken, and the weights after each, against GradScaler's."""
    n = len(want["scales"])
    expect.true(len(got["scales"]) == n and len(got["stepped"]) == n, f"the scenario must record {n} steps ({case})")
    expect.equal(got["stepped"], want["stepped"], what=f"which steps were taken ({case})",
                 hint="step() must skip optimizer.step() when unscale_ found an inf or nan gradient, and take every other step")
    expect.close(torch.tensor(got["scales"]), torch.tensor(want["scales"]), atol=0, rtol=1e-12, what=f"the scale after each update ({case})",
                 hint="after an inf/nan: scale *= backoff_factor and growth_tracker = 0; otherwise growth_tracker += 1 and, "
                      "when it reaches growth_interval, scale *= growth_factor and growth_tracker = 0")
    for i, (g, w) in enumerate(zip(got["weights"], want["weights"])):
        expect.shape(g, (3,), what=f"the weights after step {i} ({case})")
        expect.finite(g, what=f"the weights after step {i} ({case})",
                      hint="a step taken with inf or nan gradients writes them into the weights: skip it")
        expect.close(g, w, atol=1e-6, rtol=1e-6, what=f"the weights after step {i} ({case})",
                     hint="unscale_ divides every gradient by the scale exactly once per step, before the optimizer sees it")


# %% nbgrader={"grade": true, "grade_id": "loss_scaler_matches_grad_scaler", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""LossScaler gives torch.amp.GradScaler's scales, skipped steps and weights: steps with inf and nan gradients skipped and the scale halved, the scale doubled after growth_interval good steps, unscale_ before step not applied twice"""
from grader.testing import expect

inf, nan = float("inf"), float("nan")
factors = torch.tensor([[1.0, 2.0, 3.0], [0.5, inf, 1.0], [1.0, 1.0, 1.0], [2.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
compare_scaler(scaler_run.learner(factors, 1024.0, 2, False), torch_scaler_run(factors, 1024.0, 2, False), "one inf, growth_interval 2")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(50)
long_factors = torch.randn(12, 3, generator=gen)
long_factors[[2, 3, 9], [0, 2, 1]] = torch.tensor([nan, inf, -inf])
for args, case in [((2.0**16, 3, False), "a nan, an inf and a -inf, growth_interval 3"),
                   ((2.0**16, 3, True), "unscale_ called before step, as before clipping"),
                   ((4.0, 1, True), "growth_interval 1: the scale doubles after every good step")]:
    compare_scaler(scaler_run.learner(long_factors, *args), torch_scaler_run(long_factors, *args), case)
### END HIDDEN TESTS

# %% [markdown]
# ### An fp16 training step
#
# Put the pieces together (about 5 minutes): clear the gradients, compute `autocast_lm_loss` in
# `dtype` on `device_type`, back-propagate the scaled loss, unscale, clip with your
# `clip_grad_norm` to `max_norm`, step through the scaler and update it. On the CPU this runs with
# float16 autocast too (slowly: CPUs have no fast fp16 units); on a GPU it is the classic fp16
# recipe of the V100 era and of every fp16-only accelerator.

# %% nbgrader={"grade": false, "grade_id": "mixed_precision_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mixed_precision_step(model: nn.Module, optimizer: torch.optim.Optimizer, scaler: LossScaler, inputs: torch.Tensor,
                         targets: torch.Tensor, max_norm: float, dtype: torch.dtype = torch.float16,
                         device_type: str = "cpu") -> tuple:
    """One mixed-precision training step with loss scaling and clipping of the unscaled gradients.

    Args:
        model: a float32 GPT2LMHeadModel on device_type; optimizer over its parameters; scaler a LossScaler.
        inputs, targets: LongTensors (B, T) on the model's device.
        max_norm: the clipping threshold on the global norm of the true (unscaled) gradients.
        dtype, device_type: what autocast computes in, and where.

    Returns:
        (loss, stepped): the unscaled loss as a Python float, and whether the optimizer stepped.

    Example:
        >>> model = new_model(**TINY)
        >>> mixed_precision_step(model, torch.optim.AdamW(model.parameters()), LossScaler(), inputs_demo, targets_demo, 1.0)
        (4.18..., True)
    """
    ### BEGIN SOLUTION
    optimizer.zero_grad(set_to_none=True)
    loss = autocast_lm_loss(model, inputs, targets, dtype, device_type)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)                       # the true gradients, before clipping sees them
    clip_grad_norm(model.parameters(), max_norm)
    stepped = scaler.step(optimizer)                 # skipped if unscale_ found inf or nan
    scaler.update()
    return loss.item(), stepped
    ### END SOLUTION

# %%
@scenario
def fp16_steps(ns, seed, steps, max_norm, init_scale, device):
    """mixed_precision_step with float16 autocast for `steps` steps of AdamW on a tiny float32 GPT on `device`: losses, steps taken, scales, final weights."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # one thread, as in the grader's learner process: the same sums in the same order anywhere
    torch.manual_seed(seed)
    model = ns.new_model(n_layer=2, n_embd=32, n_head=2).to(device)
    initial = {name: t.detach().cpu().clone() for name, t in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scaler = ns.LossScaler(init_scale=init_scale, growth_interval=2)
    gen = torch.Generator().manual_seed(seed)
    losses, stepped, scales = [], [], []
    for _ in range(steps):
        data = torch.randint(0, 65, (4, 17), generator=gen).to(device)
        loss, took = ns.mixed_precision_step(model, optimizer, scaler, data[:, :-1], data[:, 1:], max_norm, torch.float16, device)
        losses.append(float(loss))
        stepped.append(bool(took))
        scales.append(float(scaler.scale_value))
    torch.set_num_threads(threads)
    return {"initial": initial, "losses": losses, "stepped": stepped, "scales": scales,
            "final": {name: t.detach().cpu().clone() for name, t in model.state_dict().items()}}


def torch_fp16_steps(initial, seed, steps, max_norm, init_scale, device):
    """The same steps with torch.autocast, torch.amp.GradScaler and torch.nn.utils.clip_grad_norm_."""
    model = new_model(**TINY)
    model.load_state_dict(initial)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scaler = torch.amp.GradScaler(device, init_scale=init_scale, growth_interval=2)
    gen = torch.Generator().manual_seed(seed)
    losses, scales = [], []
    for _ in range(steps):
        data = torch.randint(0, 65, (4, 17), generator=gen).to(device)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.float16):
            logits = model(data[:, :-1]).logits
        loss = F.cross_entropy(logits.float().reshape(-1, 65), data[:, 1:].reshape(-1))
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        scaler.step(optimizer)
        scaler.update()
        losses.append(loss.item())
        scales.append(float(scaler.get_scale()))
    return {"losses": losses, "scales": scales, "final": {name: t.detach().cpu() for name, t in model.state_dict().items()}}


def compare_fp16_steps(got, want, case, atol):
    """Losses, scales and final weights of the learner's fp16 steps against torch's loop."""
    n = len(want["losses"])
    expect.true(len(got["losses"]) == n and len(got["scales"]) == n, f"the scenario must record {n} steps ({case})")
    expect.close(torch.tensor(got["scales"]), torch.tensor(want["scales"]), atol=0, rtol=1e-12, what=f"the loss scale after each step ({case})",
                 hint="back-propagate scaler.scale(loss), then scaler.unscale_, clip, scaler.step and scaler.update, in that order, every step")
    expect.close(torch.tensor(got["losses"]), torch.tensor(want["losses"]), atol=atol, rtol=atol, what=f"the unscaled losses ({case})",
                 hint="return loss.item() of the unscaled loss, computed by autocast_lm_loss in dtype on device_type")
    for name, value in want["final"].items():
        expect.shape(got["final"][name], tuple(value.shape), what=f"the parameter {name} after the steps ({case})")
        expect.close(got["final"][name], value, atol=atol, rtol=atol, what=f"the parameter {name} after the steps ({case})",
                     hint="clip after scaler.unscale_(optimizer): clipping the scaled gradients (s times too large) to max_norm makes "
                          "the real step s times too small")


# %% nbgrader={"grade": true, "grade_id": "mixed_precision_step_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""steps of mixed_precision_step with float16 autocast on the CPU give the losses, scales and weights of the same loop with torch.amp.GradScaler and clip_grad_norm_, with overflowing scales backed off and clipping of the true gradients"""
from grader.testing import expect

got = fp16_steps.learner(60, 3, 1.0, 2.0**10, "cpu")
expect.true(all(isinstance(x, bool) for x in got["stepped"]), "mixed_precision_step must return (loss, stepped) with stepped a bool")
compare_fp16_steps(got, torch_fp16_steps(got["initial"], 60, 3, 1.0, 2.0**10, "cpu"), "three steps, init_scale 2^10", 1e-5)
### BEGIN HIDDEN TESTS
# a scale far too large: the first steps overflow in float16 and are skipped, the scale halves each time
got = fp16_steps.learner(61, 5, 0.05, 2.0**24, "cpu")
want = torch_fp16_steps(got["initial"], 61, 5, 0.05, 2.0**24, "cpu")
compare_fp16_steps(got, want, "init_scale 2^24 (overflows), max_norm 0.05", 1e-5)
expect.true(not all(got["stepped"]), "with init_scale 2^24 the first float16 backward passes overflow: those steps must be skipped")
### END HIDDEN TESTS

# %% [markdown]
# **On a GPU.** The next test (tagged `gpu`, run only where CUDA is present) runs the same steps
# on CUDA, where float16 autocast runs on tensor cores, and compares them with the same loop
# written with `torch.amp.GradScaler("cuda")`. Your functions must keep every tensor on the model's
# device. The tolerance is looser than on the CPU: CUDA kernels may add in another order.

# %% nbgrader={"grade": true, "grade_id": "mixed_precision_step_on_cuda", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["gpu"]
"""on a CUDA GPU, mixed_precision_step with float16 autocast gives the losses, scales and weights of the same loop with torch.amp.GradScaler("cuda")"""
from grader.testing import needs_gpu; needs_gpu()
from grader.testing import expect

got = fp16_steps.learner(70, 4, 1.0, 2.0**16, "cuda")
compare_fp16_steps(got, torch_fp16_steps(got["initial"], 70, 4, 1.0, 2.0**16, "cuda"), "four steps on CUDA, init_scale 2^16", 1e-3)
### BEGIN HIDDEN TESTS
got = fp16_steps.learner(71, 5, 0.05, 2.0**24, "cuda")
compare_fp16_steps(got, torch_fp16_steps(got["initial"], 71, 5, 0.05, 2.0**24, "cuda"), "init_scale 2^24 on CUDA (overflows), max_norm 0.05", 1e-3)
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · Checkpoints and an exact resume
#
# A run of weeks on thousands of accelerators is interrupted many times (a failed node, a
# preemption, a bug fixed mid-run). Resuming must continue *the same* run: after a restart the
# training must produce the losses and weights it would have produced without one. A training
# step at step $t$ is a function of everything it reads,
#
# $$\theta_{t+1},\; m_{t+1},\; v_{t+1},\; \ldots \;=\; \text{step}\big(\theta_t,\; \underbrace{m_t, v_t, t}_{\text{optimizer}},\;
# \underbrace{\eta_t}_{\text{scheduler}},\; \underbrace{x_t}_{\text{data order}},\;
# \underbrace{\xi_t}_{\text{random numbers}}\big),$$
#
# and it is reproduced exactly only if every argument is. So a checkpoint holds:
#
# | state | where | if it is not restored |
# |---|---|---|
# | parameters | `model.state_dict()` | training starts over |
# | Adam moments and step count | `optimizer.state_dict()` | the first steps after resume use $m = v = 0$ and bias correction of step 1: a jump in the loss |
# | learning-rate schedule | `scheduler.state_dict()` (`last_epoch`) | warm-up starts again: a large learning rate in the middle of a cosine decay |
# | data order | the sampler's position and its generator | batches already seen are seen again, others never |
# | random number generators | `torch.get_rng_state()`, `np.random.get_state()`, `random.getstate()` | other dropout masks, other random choices: a different run (statistically alike, numerically not) |
# | the step number | an integer | schedules and logging restart at 0 |
#
# On a GPU add `torch.cuda.get_rng_state_all()`, and the `GradScaler`'s `state_dict()` for fp16.
#
# **What this means.** Forgetting the RNG state is the quiet one: the resumed run looks fine
# (its loss is as good), but it is not the run you had; experiments that compare two settings
# over a restart are then comparing noise, and a bug that shows after a restart cannot be
# reproduced. The training step below uses all three generators on purpose: dropout (torch), a
# random crop of the sequence length (Python's `random`) and random token noise on the inputs
# (NumPy), and it draws its batches from `ShuffledWindows`, a data order with its own
# `torch.Generator` that reshuffles the windows each epoch.

# %%
class ShuffledWindows:
    """The data order: non-overlapping windows of data, shuffled each epoch by its own generator.

    next_batch() returns a LongTensor (batch_size, window + 1); state_dict() / load_state_dict()
    save and restore the position, the epoch's order and the generator.
    """

    def __init__(self, data: torch.Tensor, window: int, batch_size: int, seed: int):
        self.data, self.window, self.batch_size = data, window, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch, self.position = 0, 0
        self.order = torch.randperm((len(data) - 1) // window, generator=self.generator)

    def next_batch(self) -> torch.Tensor:
        if self.position + self.batch_size > len(self.order):      # a new epoch: a new order
            self.epoch, self.position = self.epoch + 1, 0
            self.order = torch.randperm(len(self.order), generator=self.generator)
        starts = self.order[self.position:self.position + self.batch_size] * self.window
        self.position += self.batch_size
        return self.data[starts[:, None] + torch.arange(self.window + 1)]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "order": self.order.clone(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position, self.order = state["epoch"], state["position"], state["order"].clone()
        self.generator.set_state(state["generator"])


def seed_everything(seed: int) -> None:
    """Seed the three global generators a training step uses."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def make_run(seed: int, data: torch.Tensor = DATA, steps: int = 40, window: int = 32, batch_size: int = 8):
    """A fresh training run: a tiny GPT with dropout 0.1, AdamW, a warm-up and cosine schedule, and its data order."""
    seed_everything(seed)
    model = new_model(**TINY)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.1                                  # dropout draws from torch's global generator
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    warmup = max(1, steps // 10)
    schedule = lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    return model, optimizer, scheduler, ShuffledWindows(data, window, batch_size, seed + 1)


def train_step(model, optimizer, scheduler, sampler) -> float:
    """One step that reads every piece of state: the sampler, Python's random, NumPy's random, torch's random (dropout)."""
    windows = sampler.next_batch()
    length = random.randint(sampler.window // 2, sampler.window)          # a random sequence length (Python's random)
    inputs, targets = windows[:, :length].clone(), windows[:, 1:length + 1]
    noisy = torch.from_numpy(np.random.rand(*inputs.shape) < 0.05)       # token noise on 5 % of the inputs (NumPy)
    inputs[noisy] = torch.from_numpy(np.random.randint(0, 65, int(noisy.sum()))).long()
    loss = lm_loss(model, inputs, targets)                                # dropout (torch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss.item()


# %% [markdown]
# A run of 40 steps without interruption, and the same run interrupted after 20 steps and resumed
# from a checkpoint that holds the model, the optimizer, the scheduler and the data order but not
# the random number generators (library code; the restart is simulated by reseeding the
# generators, as a new process would):

# %%
run = make_run(0)
uninterrupted = [train_step(*run) for _ in range(40)]

run = make_run(0)
first_half = [train_step(*run) for _ in range(20)]
saved = {"model": run[0].state_dict(), "optimizer": run[1].state_dict(), "scheduler": run[2].state_dict(), "sampler": run[3].state_dict()}
run = make_run(123)                                      # a new process: fresh objects, other generator states
for obj, key in zip(run, ["model", "optimizer", "scheduler", "sampler"]):
    obj.load_state_dict(saved[key])
resumed_without_rng = first_half + [train_step(*run) for _ in range(20)]

fig, (ax_loss, ax_diff) = plt.subplots(1, 2, figsize=(11, 3.6))
ax_loss.plot(uninterrupted, label="uninterrupted")
ax_loss.plot(resumed_without_rng, ls="--", label="resumed at step 20 without the RNG state")
ax_loss.axvline(20, color="grey", lw=0.8)
ax_loss.set(xlabel="step", ylabel="training loss", title="two runs that should be one")
ax_loss.legend()
ax_diff.semilogy(np.abs(np.array(uninterrupted) - np.array(resumed_without_rng)) + 1e-16)
ax_diff.axvline(20, color="grey", lw=0.8)
ax_diff.set(xlabel="step", ylabel="|difference| (1e-16 = identical)", title="identical up to the restart, then a different run")
fig.tight_layout()
plt.show()

# %% [markdown]
# Write `save_checkpoint` and `load_checkpoint` (about 15 minutes). Save one dictionary with
# `torch.save`: the step, the four `state_dict()`s and the three generator states. Load it with
# `torch.load(path, weights_only=False)` (the NumPy and Python generator states are not tensors;
# only load checkpoints you wrote yourself: unpickling can run code), restore each piece with
# `load_state_dict` / `torch.set_rng_state` / `np.random.set_state` / `random.setstate`, and
# return the step. Restore the generators last, after everything that might draw random numbers.

# %% nbgrader={"grade": false, "grade_id": "checkpoints", "locked": false, "schema_version": 3, "solution": true, "task": false}
def save_checkpoint(path: str, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, sampler: ShuffledWindows) -> None:
    """Write everything the next training step reads to the file `path`.

    Args:
        path: file name to write (overwritten).
        step: the number of steps done so far.
        model, optimizer, scheduler, sampler: the run's objects, as make_run returns them.

    Example:
        >>> save_checkpoint("run.pt", 20, *make_run(0))
    """
    ### BEGIN SOLUTION
    torch.save({
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "sampler": sampler.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
    }, path)
    ### END SOLUTION


def load_checkpoint(path: str, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, sampler: ShuffledWindows) -> int:
    """Restore a run from the file save_checkpoint wrote into freshly built objects; returns the step saved.

    Example:
        >>> step = load_checkpoint("run.pt", *make_run(7))   # objects from another seed: all their state is replaced
    """
    ### BEGIN SOLUTION
    checkpoint_state = torch.load(path, weights_only=False)
    model.load_state_dict(checkpoint_state["model"])
    optimizer.load_state_dict(checkpoint_state["optimizer"])
    scheduler.load_state_dict(checkpoint_state["scheduler"])
    sampler.load_state_dict(checkpoint_state["sampler"])
    torch.set_rng_state(checkpoint_state["rng"]["torch"])
    np.random.set_state(checkpoint_state["rng"]["numpy"])
    random.setstate(checkpoint_state["rng"]["python"])
    return checkpoint_state["step"]
    ### END SOLUTION

# %%
@scenario
def interrupted_run(ns, seed, steps, stop_at, other_seed, data=None):
    """`steps` steps without interruption, and the same run stopped after `stop_at`, saved, rebuilt from `other_seed` and resumed: both loss lists and final weights."""
    import os
    import tempfile

    def both_runs():
        options = {"steps": steps} if data is None else {"steps": steps, "data": data}
        run = ns.make_run(seed, **options)
        uninterrupted = [ns.train_step(*run) for _ in range(steps)]
        weights = {name: t.detach().clone() for name, t in run[0].state_dict().items()}
        run = ns.make_run(seed, **options)
        losses = [ns.train_step(*run) for _ in range(stop_at)]
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "checkpoint.pt")
            ns.save_checkpoint(path, stop_at, *run)
            del run
            fresh = ns.make_run(other_seed, **options)         # a new process: other weights, other generators
            for _ in range(3):
                ns.train_step(*fresh)                            # ... that have moved on (nothing may survive from them)
            step = ns.load_checkpoint(path, *fresh)
        losses += [ns.train_step(*fresh) for _ in range(steps - stop_at)]
        return {"uninterrupted": uninterrupted, "resumed": losses, "step": step, "weights": weights,
                "resumed_weights": {name: t.detach().clone() for name, t in fresh[0].state_dict().items()},
                "lr": fresh[1].param_groups[0]["lr"], "last_epoch": fresh[2].last_epoch}

    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # one thread, as in the grader's learner process: the same sums in the same order anywhere
    try:
        return both_runs()
    finally:
        torch.set_num_threads(threads)


def compare_resume(got, steps, stop_at, case):
    """A resumed run must be bit-identical to the uninterrupted one."""
    expect.true(got["step"] == stop_at, f"load_checkpoint must return the step that was saved ({case})")
    expect.true(len(got["resumed"]) == steps and all(isinstance(x, float) for x in got["resumed"]), f"the scenario must record {steps} float losses ({case})")
    resumed, uninterrupted = torch.tensor(got["resumed"], dtype=torch.float64), torch.tensor(got["uninterrupted"], dtype=torch.float64)
    expect.close(resumed[:stop_at], uninterrupted[:stop_at], atol=0, rtol=0, what=f"the losses before the checkpoint ({case})",
                 hint="save_checkpoint must not change the run it saves")
    expect.true(got["last_epoch"] == steps, f"the scheduler after resuming and finishing the run is at step {got['last_epoch']}, not at the run's "
                f"end ({case}): restore it with scheduler.load_state_dict(scheduler.state_dict() you saved)")
    expect.close(resumed[stop_at:], uninterrupted[stop_at:], atol=0, rtol=0, what=f"the losses after resuming ({case})",
                 hint="save and restore every piece of state the next step reads: model, optimizer, scheduler, the sampler's "
                      "state_dict, and the three generators (torch.get_rng_state, np.random.get_state, random.getstate)")
    for name, value in got["weights"].items():
        expect.close(got["resumed_weights"][name], value, atol=0, rtol=0, what=f"the parameter {name} at the end of the resumed run ({case})",
                     hint="a resumed run must be bit-identical to the uninterrupted one")


# %% nbgrader={"grade": true, "grade_id": "resume_is_exact", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""a run stopped, saved with save_checkpoint, rebuilt from other seeds and restored with load_checkpoint gives bit for bit the losses and weights of the uninterrupted run: model, optimizer, scheduler, data order and the torch, NumPy and Python generators"""
from grader.testing import expect

got = interrupted_run.learner(0, 8, 4, 99)
expect.true(got["step"] == 4, "load_checkpoint must return the step passed to save_checkpoint")
### BEGIN HIDDEN TESTS
compare_resume(got, 8, 4, "8 steps, resumed after 4")
# resume across an epoch boundary of the data order, and right at the start
small_data = DATA[:32 * 32 + 1]                       # 32 windows of 32 tokens: an epoch is 4 batches of 8
got = interrupted_run.learner(1, 10, 6, 5, small_data)
compare_resume(got, 10, 6, "10 steps over 2.5 epochs of the data order, resumed after 6 (in the second epoch)")
got = interrupted_run.learner(2, 5, 1, 3)
compare_resume(got, 5, 1, "5 steps, resumed after the first")
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · Activation checkpointing
#
# Back-propagation needs, for every operation, some of its forward inputs or outputs: a matrix
# product saves its input to compute the weight gradient, GELU saves its input, softmax its output,
# dropout its mask. These **saved activations** are kept from the forward pass until the backward
# pass reaches them, and for long sequences they dwarf the parameters: a GPT block saves on the
# order of $B\,T\,(c_1 D + c_2 H T)$ numbers (the $HT$ term is the attention scores, when they are
# materialised), times $L$ blocks.
#
# **Activation checkpointing** (gradient checkpointing; Chen et al., 2016) saves only the input of
# a segment of the network during the forward pass, throws away everything inside it, and
# recomputes the segment's forward pass when the backward pass arrives there. With $L$ blocks cut
# into segments of $k$ blocks, a block's saved activations taking $a$ bytes and its input $b$ bytes,
# the peak memory of the activations is about
#
# $$M(k) = \underbrace{\frac{L}{k}\, b}_{\text{segment inputs, kept}} + \underbrace{k\, a}_{\text{one segment, recomputed}},
# \qquad \frac{dM}{dk} = 0 \;\Rightarrow\; k^* = \sqrt{\frac{L\, b}{a}}, \qquad M(k^*) = 2\sqrt{L\, a\, b},$$
#
# so memory grows like $\sqrt{L}$ instead of $L$. The price is time: each segment runs forward
# twice. The backward pass costs about twice the forward, so a step becomes about
# $\frac{1 + 1 + 2}{1 + 2} = \frac{4}{3}$ as long: a third more compute for memory that no longer
# grows linearly with depth. Since a block's $a$ is 10 to 30 times its $b$, LLM frameworks
# usually checkpoint every block ($k = 1$: keep $L\,b$, recompute one block at a time), or only the
# most memory-hungry parts ("selective" checkpointing of attention, Korthikanti et al., 2022).
#
# `torch.utils.checkpoint.checkpoint(function, *args, use_reentrant=False)` does the bookkeeping:
# it runs `function(*args)` without saving what is inside and registers a backward node that
# reruns it. (The older `use_reentrant=True` gives no gradient to parameters inside the segment
# when no input requires a gradient; `use_reentrant=False` is the recommended mode.) Dropout inside
# a segment stays correct: the checkpoint saves the RNG state and restores it for the rerun, so the
# masks are the same.
#
# **Measuring the memory on a CPU.** `torch.autograd.graph.saved_tensors_hooks(pack, unpack)`
# calls `pack(tensor)` on every tensor autograd saves during the forward pass inside the `with`
# block (and `unpack` when backward needs it). Summing `tensor.numel() * tensor.element_size()` in
# `pack` gives the bytes the forward pass leaves for backward: the memory checkpointing saves, and
# exactly what `torch.cuda.max_memory_allocated` would show growing on a GPU. A worked example:

# %%
x_demo = torch.randn(1000, requires_grad=True)
sizes = []
with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append((tuple(t.shape), str(t.dtype))) or t, lambda t: t):
    y_demo = torch.sin(x_demo).exp().sum()      # sin saves its input, exp its output, sum nothing
print("saved for backward:", sizes)

# %% [markdown]
# Write `saved_tensor_bytes` (about 5 minutes): run `compute()` inside the hooks and return the
# bytes of all tensors packed (a tensor saved twice counts twice). Then `checkpointed_lm_loss`
# (about 15 minutes): the forward pass of the `GPT2LMHeadModel` written out, `h = drop(wte(inputs)
# + wpe(positions))`, the blocks `model.transformer.h` (each one is called as `block(h)` and returns
# the new `h`), `ln_f`, `lm_head`, then the loss as `lm_loss` computes it; with `segment_size`
# $k > 0$ run each group of $k$ consecutive blocks as one `checkpoint(..., use_reentrant=False)`,
# with $k = 0$ run them plainly. The last group may be shorter.

# %% nbgrader={"grade": false, "grade_id": "activation_checkpointing", "locked": false, "schema_version": 3, "solution": true, "task": false}
def saved_tensor_bytes(compute) -> int:
    """The bytes of all tensors autograd saves for backward while compute() runs.

    Args:
        compute: a function of no arguments that runs a forward pass (its result is discarded).

    Returns:
        The sum of numel() * element_size() over every tensor packed by
        torch.autograd.graph.saved_tensors_hooks during compute(), an int.

    Example:
        >>> x = torch.randn(1000, requires_grad=True)
        >>> saved_tensor_bytes(lambda: torch.sin(x).sum())   # sin saves its float32 input
        4000
    """
    ### BEGIN SOLUTION
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        compute()
    return total
    ### END SOLUTION


def checkpointed_lm_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, segment_size: int) -> torch.Tensor:
    """lm_loss of a GPT2LMHeadModel with its blocks run in checkpointed segments of segment_size blocks.

    Args:
        model: a GPT2LMHeadModel.
        inputs, targets: LongTensors (B, T); targets IGNORE are not counted.
        segment_size: k > 0 blocks per checkpointed segment (the last may be shorter); 0 for no checkpointing.

    Returns:
        The same scalar loss as lm_loss(model, inputs, targets), with the same gradients; only the
        saved activations (and the time) differ.

    Example:
        >>> checkpointed_lm_loss(new_model(**TINY), inputs_demo, targets_demo, 1)
        tensor(4.18..., grad_fn=<NllLossBackward0>)
    """
    ### BEGIN SOLUTION
    transformer = model.transformer
    positions = torch.arange(inputs.shape[1], device=inputs.device)
    h = transformer.drop(transformer.wte(inputs) + transformer.wpe(positions))

    def run_blocks(blocks, h):
        for block in blocks:
            h = block(h)
        return h

    blocks = list(transformer.h)
    if segment_size == 0:
        h = run_blocks(blocks, h)
    else:
        for start in range(0, len(blocks), segment_size):
            h = checkpoint(run_blocks, blocks[start:start + segment_size], h, use_reentrant=False)
    logits = model.lm_head(transformer.ln_f(h))
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
    ### END SOLUTION

# %%
@scenario
def bytes_saved(ns, case):
    """saved_tensor_bytes on small forward passes with a known answer (case names one)."""
    gen = torch.Generator().manual_seed(80)
    x = torch.randn(1000, generator=gen, requires_grad=True)
    y = torch.randn(1000, generator=gen, requires_grad=True)
    cases = {
        "sin": lambda: torch.sin(x).sum(),
        "sin_exp": lambda: torch.sin(x).exp().sum(),
        "product": lambda: (x * y).sum(),
        "bfloat16": lambda: torch.sin(x.bfloat16()).sum(),
        "float64": lambda: torch.sin(x.double()).sum(),
        "no_grad": lambda: torch.no_grad()(lambda: torch.sin(x).sum())(),
        "matmul": lambda: (x.reshape(40, 25) @ y.reshape(25, 40)).sum(),
    }
    return int(ns.saved_tensor_bytes(cases[case]))


@scenario
def checkpointed_run(ns, seed, segment_sizes, n_layer, dropout):
    """checkpointed_lm_loss for each segment size on a seeded float64 GPT: loss, gradients, and the saved bytes measured by the scenario's own hook."""
    torch.manual_seed(seed)
    model = ns.new_model(torch.float64, n_layer=n_layer, n_embd=32, n_head=2)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = dropout
    model.train()
    initial = {name: t.detach().clone() for name, t in model.state_dict().items()}
    gen = torch.Generator().manual_seed(seed)
    data = torch.randint(0, 65, (2, 25), generator=gen)
    results = []
    for k in segment_sizes:
        model.zero_grad(set_to_none=True)
        total = [0]

        def pack(t):
            total[0] += t.numel() * t.element_size()
            return t

        torch.manual_seed(seed + 1)                                   # the same dropout masks for every k
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = ns.checkpointed_lm_loss(model, data[:, :-1], data[:, 1:], k)
        loss.backward()
        results.append({"k": k, "loss": loss.detach(), "bytes": total[0],
                        "grads": {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}})
    return {"initial": initial, "data": data, "results": results}


# %% nbgrader={"grade": true, "grade_id": "saved_tensor_bytes_counts", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""saved_tensor_bytes counts the bytes autograd saves: sin of 1000 float32 numbers saves 4000 bytes; a product, a chain, other dtypes, a matrix product, nothing under no_grad"""
from grader.testing import expect

got = bytes_saved.learner("sin")
expect.true(isinstance(got, int), "saved_tensor_bytes must return an int")
expect.equal(got, 4000, what="saved_tensor_bytes(lambda: torch.sin(x).sum()) for 1000 float32 numbers",
             hint="sin saves its input: 1000 numbers of 4 bytes; add tensor.numel() * tensor.element_size() in the pack hook")
### BEGIN HIDDEN TESTS
for case, want, hint in [("sin_exp", 8000, "add the bytes of every saved tensor, not only the first or the last"),
                         ("product", 8000, "x * y saves both factors"),
                         ("bfloat16", 2000, "count bytes, not elements: tensor.element_size() is 2 for bfloat16"),
                         ("float64", 8000, "count bytes, not elements: tensor.element_size() is 8 for float64"),
                         ("matmul", 8000, "a matrix product saves both of its inputs"),
                         ("no_grad", 0, "under torch.no_grad nothing is saved: count only what the pack hook receives")]:
    expect.equal(bytes_saved.learner(case), want, what=f"saved_tensor_bytes on the '{case}' forward pass", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "checkpointing_same_gradients_less_memory", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""checkpointed_lm_loss gives lm_loss's loss and gradients to 1e-12 for every segment size (dropout included), and saves fewer activation bytes the larger the segments, as the reference does"""
from grader.testing import expect, reference

got = checkpointed_run.learner(90, [0, 1], 2, 0.0)
expect.true(len(got["results"]) == 2, "the scenario must record two runs")
plain = new_model(torch.float64, **TINY)
plain.load_state_dict(got["initial"])
plain_loss = lm_loss(plain, got["data"][:, :-1], got["data"][:, 1:])
for result in got["results"]:
    expect.close(result["loss"], plain_loss.detach(), atol=1e-12, what=f"checkpointed_lm_loss with segment_size {result['k']}",
                 hint="embeddings, dropout, the blocks in order, ln_f, lm_head, then the cross-entropy of lm_loss")
### BEGIN HIDDEN TESTS
segment_sizes = [0, 1, 2, 4]
got = checkpointed_run.learner(91, segment_sizes, 4, 0.0)
want = checkpointed_run.reference(91, segment_sizes, 4, 0.0)
plain = new_model(torch.float64, n_layer=4, n_embd=32, n_head=2)
plain.load_state_dict(got["initial"])
plain.train()
plain_loss = lm_loss(plain, got["data"][:, :-1], got["data"][:, 1:])
plain_loss.backward()
for result, reference_result in zip(got["results"], want["results"]):
    k = result["k"]
    expect.close(result["loss"], plain_loss.detach(), atol=1e-12, what=f"the loss with segment_size {k} (4 blocks)",
                 hint="run every block exactly once in order, in segments of segment_size blocks")
    for name, p in plain.named_parameters():
        expect.true(name in result["grads"], f"{name} has no gradient with segment_size {k}: call checkpoint(..., use_reentrant=False)")
        expect.close(result["grads"][name], p.grad, atol=1e-12, rtol=1e-10, what=f"the gradient of {name} with segment_size {k}",
                     hint="checkpointing must not change any gradient")
    expect.close(float(result["bytes"]), float(reference_result["bytes"]), atol=0, rtol=0.1, what=f"the activation bytes saved with segment_size {k}",
                 hint="k = 0 runs the blocks plainly; k > 0 wraps each group of k consecutive blocks in one torch.utils.checkpoint.checkpoint "
                      "call, so only the group's input is kept")
sizes = [result["bytes"] for result in got["results"]]
expect.true(sizes[1] < 0.6 * sizes[0], "checkpointing every block must save far fewer activation bytes than no checkpointing: "
            "wrap the blocks in torch.utils.checkpoint.checkpoint")
# dropout inside the segments: the rerun must reproduce the masks (checkpoint restores the RNG state)
got = checkpointed_run.learner(92, [0, 2], 3, 0.2)
base = got["results"][0]
expect.close(got["results"][1]["loss"], base["loss"], atol=1e-12, what="the loss with dropout 0.2 and segments of 2 blocks",
             hint="use torch.utils.checkpoint.checkpoint, which restores the RNG state for the rerun (preserve_rng_state=True)")
for name, grad in base["grads"].items():
    expect.close(got["results"][1]["grads"][name], grad, atol=1e-12, rtol=1e-10, what=f"the gradient of {name} with dropout and checkpointing",
                 hint="the recomputed forward pass must draw the same dropout masks")
### END HIDDEN TESTS

# %% [markdown]
# ### The trade-off, measured
#
# Your functions on an 8-block GPT of width 64 and 8 sequences of 128 tokens: the activation bytes
# saved by the forward pass for each segment size, the estimated peak (saved bytes plus one
# segment recomputed, $a$ estimated from the plain and $k=1$ runs) and the time of a forward and
# backward pass (`time.perf_counter`, best of 3). Expect $k = 1$ to save most of the memory for
# about a third more time, and the estimated peak to be lowest near $k^*=\sqrt{L b / a}$.

# %%
torch.manual_seed(0)
deep = new_model(n_layer=8, n_embd=64, n_head=4)
deep_inputs, deep_targets = batch_of_windows(DATA, 8, 128, torch.Generator().manual_seed(1))
segment_choices = [0, 1, 2, 4, 8]
saved_bytes, seconds = [], []
for k in segment_choices:
    saved_bytes.append(saved_tensor_bytes(lambda: checkpointed_lm_loss(deep, deep_inputs, deep_targets, k)))
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        checkpointed_lm_loss(deep, deep_inputs, deep_targets, k).backward()
        best = min(best, time.perf_counter() - start)
    seconds.append(best)
per_block = (saved_bytes[0] - saved_bytes[1]) / 8
peak = [saved_bytes[0]] + [b + k * per_block for b, k in zip(saved_bytes[1:], segment_choices[1:])]
labels = ["none"] + [str(k) for k in segment_choices[1:]]
fig, (ax_memory, ax_time) = plt.subplots(1, 2, figsize=(11, 3.6))
positions_plot = np.arange(len(labels))
ax_memory.bar(positions_plot - 0.2, np.array(saved_bytes) / 2**20, width=0.4, label="saved by the forward pass")
ax_memory.bar(positions_plot + 0.2, np.array(peak) / 2**20, width=0.4, label="estimated peak (+ one segment recomputed)")
ax_memory.set(xticks=positions_plot, xticklabels=labels, xlabel="blocks per checkpointed segment", ylabel="MiB", title="activation memory, 8 blocks")
ax_memory.legend(fontsize=8)
ax_time.bar(positions_plot, np.array(seconds) / seconds[0], color="C1")
ax_time.axhline(4 / 3, color="grey", ls="--", lw=1, label="4/3: one extra forward pass")
ax_time.set(xticks=positions_plot, xticklabels=labels, xlabel="blocks per checkpointed segment", ylabel="time / time without",
            title="forward + backward time")
ax_time.legend(fontsize=8)
fig.tight_layout()
plt.show()
for label, b, p, s in zip(labels, saved_bytes, peak, seconds):
    print(f"segments of {label:>4s}: saved {b / 2**20:6.2f} MiB, estimated peak {p / 2**20:6.2f} MiB, {1000 * s:6.1f} ms")

# %% [markdown]
# ## 7 · Practical considerations
#
# **Order of operations in one optimizer step**, with everything of this notebook at once:
# `zero_grad`; for each micro-batch: forward under autocast (with activation checkpointing inside),
# `scaler.scale(loss * n_k / N).backward()`; then `unscale_`, clip, `scaler.step`, `scaler.update`,
# `scheduler.step()`; every few hundred steps a checkpoint. Clipping, the scaler and the scheduler
# act once per *optimizer* step, never per micro-batch.
#
# **Common bugs and how they show.**
#
# | bug | symptom | check |
# |---|---|---|
# | accumulated micro-batch losses not divided | gradient $K$ times too large: clipping fires every step, SGD diverges; Adam hides it | compare with one large batch |
# | $1/K$ with micro-batches of unequal token counts | a small bias towards short sequences | unequal micro-batches, padding |
# | `zero_grad` inside the accumulation loop | only the last micro-batch's gradient survives | the gradient norm drops by about $\sqrt K$ |
# | clipping per parameter | the step's direction changes | `clip_grad_norm_` |
# | clipping before `unscale_` | steps $s$ times too small: the fp16 run does not learn | compare with bf16 |
# | stepping on `inf` gradients | weights become `nan` after one overflow | `GradScaler` |
# | `model.half()` without master weights | small updates round away; loss plateaus | keep parameters float32 |
# | resume without the optimizer, scheduler, data or RNG state | a jump in the loss, a repeated warm-up, repeated data, or a silently different run | resumed equals uninterrupted |
# | `use_reentrant=True` with inputs that need no gradient | parameters inside the checkpoint get no gradient | gradients with and without checkpointing |
#
# **Hyperparameters that matter.** The number of micro-batches (set by memory: the largest
# micro-batch that fits, then as many as the global batch needs); `max_norm` (1.0 nearly
# everywhere; log the norm); the loss scale's `init_scale` (65536), `growth_interval` (2000); the
# checkpoint interval (the expected loss of work against the time to write one: an 8B-parameter
# model with Adam state is about 100 GB); the segment size of activation checkpointing (every
# block, or selective).
#
# **Bit-exactness has limits.** On a GPU, atomics in some kernels add in a different order each
# run; `torch.use_deterministic_algorithms(True)` and `CUBLAS_WORKSPACE_CONFIG=:4096:8` make a run
# repeatable at some speed cost. Checkpoints of sharded runs (`21-distributed`) save one shard per
# rank plus each rank's generators. Write a checkpoint to a temporary file and rename it: a crash
# during the write must not destroy the last good one.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | gradient accumulation | $\nabla L = \sum_k \frac{n_k}{N}\nabla L_k$ | `(loss_k * n_k / N).backward()` for each micro-batch, one `optimizer.step()` | global batches of millions of tokens on a few accelerators |
# | clipping by global norm | $g \leftarrow \min(1, \tau/(\lVert g\rVert + 10^{-6}))\, g$ | `clip_grad_norm_(model.parameters(), 1.0)`, log its return value | every pre-training run (GPT-3, LLaMA: $\tau = 1$) |
# | number formats | range $2^{\pm 127}$ (fp32, bf16) vs $2^{-24}$ to $65504$ (fp16); $\epsilon = 2^{-23}, 2^{-8}, 2^{-11}$ | `torch.finfo(dtype)` | choosing bf16 for training, fp16 on older GPUs |
# | autocast | matrix products in 16 bits, reductions and losses in fp32, master weights fp32 | `with torch.autocast(device, dtype=torch.bfloat16):` forward only | every mixed-precision training and inference run |
# | dynamic loss scaling | $\nabla(sL) = s\nabla L$; skip and halve on inf/nan, double after $N$ good steps | `scaler.scale(loss).backward(); unscale_; clip; step; update` | fp16 training (V100, T4), fp16 fine-tuning |
# | exact resume | step$(\theta, \text{opt}, \eta, x, \xi)$: save every argument | `torch.save({... state_dict()s, rng states ...})` | fault tolerance of long runs, reproducible experiments |
# | activation checkpointing | $M(k) = \frac{L}{k}b + k a$, minimum $2\sqrt{Lab}$ at $k^* = \sqrt{Lb/a}$; about $\frac43$ the time | `checkpoint(segment, h, use_reentrant=False)` | long contexts and large models; `gradient_checkpointing_enable()` in transformers |
# | measuring saved activations | $\sum$ bytes of the tensors autograd saves | `torch.autograd.graph.saved_tensors_hooks(pack, unpack)` | memory budgeting (`22-memory`), activation offloading |

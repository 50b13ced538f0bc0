# %% [markdown]
# # 23 · Fine-tuning the course GPT: freezing, a classification head, and catastrophic forgetting
#
# Fine-tuning starts from weights $\theta_0$ that a pretraining run found and keeps training them,
# often only some of them, on a new objective. Split the parameters into a frozen set $F$ and a
# trainable set $S$, add a new head $W$ for the task, and minimise the task loss over $S$ and $W$
# only; what the model forgets is the rise of the pretraining loss on text it never trained on:
#
# $$\boxed{\;\min_{\theta_S,\,W}\ \mathbb{E}_{(x,y)}\Big[-\log \operatorname{softmax}\big(W\,h_{\theta}(x)_{t^\ast}\big)_y\Big],
# \quad \theta_F = \theta_{0,F}\ \text{fixed},
# \qquad \text{forgetting} = L_{\text{LM}}^{\text{held-out}}(\theta) - L_{\text{LM}}^{\text{held-out}}(\theta_0)\;}$$
#
# with $h_\theta(x)_{t^\ast}$ the hidden state of the last real token $t^\ast$ of the input.
#
# Why it matters for LLMs: every model you use was fine-tuned, for instructions (`26`), for
# preferences (`27`-`29`), for classification, for a domain. Which weights move, how far, and what
# the model loses on the way decide whether a fine-tune helps or quietly destroys what pretraining
# bought. LoRA (`24`) and QLoRA (`25`) are answers to the questions this assignment measures.
#
# **What you will build**, on the course model of `16-gpt` (a character-level GPT-2 trained on Tiny
# Shakespeare): freezing and unfreezing by `requires_grad`, trainable-parameter counts, the gradual
# unfreezing schedule of ULMFiT, an AdamW optimizer over exactly the trainable parameters with
# GPT-2's weight-decay groups, last-token and mean pooling with padding, a classification head that
# gives the same logits as transformers' `GPT2ForSequenceClassification`, a fine-tuning loop, and
# the held-out Shakespeare loss that measures forgetting. Then you measure how freezing (head only,
# top block, everything) trades task accuracy against forgetting.

# %% [markdown]
# ## Prerequisites
#
# - `16-gpt`: the GPT whose weights you fine-tune, its causal LM loss, tied input and output embeddings.
# - `08-pytorch`: `nn.Module`, parameters, `requires_grad`, optimizers.
# - `07-regularization`: weight decay, and why AdamW decouples it.
# - `19-training`: the training loop and its loss on windows of text.
#
# Packages: `torch` (CPU is enough), `numpy`, `matplotlib`, and `transformers`: the course model is
# transformers' `GPT2LMHeadModel` (loaded from the checkpoint beside this notebook, nothing is
# downloaded), and `GPT2ForSequenceClassification` serves as the independent reference for your
# classifier.
#
# **Shapes and names used throughout.** $B$ batch size, $T$ sequence length, $D = 128$ model width,
# $L = 4$ blocks, $C$ classes, $V = 65$ characters. A batch for classification is `input_ids`
# (B, T) int64, `attention_mask` (B, T) with 1 at real tokens and 0 at padding, `labels` (B,) int64.

# %%
import importlib
import math
import os
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from course_model import config, decode, encode, gpt2_config, load_course_model, new_model
except ImportError:   # run as a script or by a grader: course_model.py lies beside this notebook, in the working folder
    sys.path.insert(0, os.getcwd())
    importlib.invalidate_caches()
    from course_model import config, decode, encode, gpt2_config, load_course_model, new_model

TINY = dict(n_layer=2, n_embd=32, n_head=2)   # a small random GPT2LMHeadModel for fast tests: new_model(**TINY)
PAD = 0                                       # token 0 is "\n": task inputs are single lines, so it never occurs inside one

TEXT = open("tinyshakespeare.txt", encoding="utf-8").read()   # Tiny Shakespeare, 1,115,394 characters

model_demo = load_course_model()
print("course model:", config())
for name, parameter in list(model_demo.named_parameters())[:16]:
    print(f"  {name:34s} {tuple(parameter.shape)}")
print("  ...  (blocks 1-3 repeat block 0's names), then transformer.ln_f.weight, transformer.ln_f.bias")
print("lm_head.weight is transformer.wte.weight:", model_demo.lm_head.weight is model_demo.transformer.wte.weight)

# %% [markdown]
# The model is `transformer` (a `GPT2Model`: the embeddings `wte`, `wpe`, four blocks `h.0`-`h.3`,
# the final layer norm `ln_f`) plus `lm_head`, which is **the same tensor** as `wte` (weight tying,
# `16-gpt`). `named_parameters()` lists a shared tensor once, under its first name; `state_dict()`
# lists it under both names. Keep that in mind when you count.
#
# ## 1 · The data: a held-out split and a task derived by a rule
#
# **The held-out text.** nanoGPT's split of Tiny Shakespeare: the first 90 % of the characters for
# training, the last 10 % for validation. The course model was trained on the first part only, so
# its loss on the last 10 % measures what it knows about Shakespeare in general, not what it
# memorised. That is the only honest measure of forgetting: a fine-tune can keep the loss on the
# training text low by memorising while the model's general knowledge degrades (and in a real LLM,
# where you rarely have the pretraining data, you keep a held-out probe set of your own).
#
# Write the split (about 2 minutes): `n = len(text)`, cut at `int(0.9 * n)`.

# %% nbgrader={"grade": false, "grade_id": "shakespeare_split", "locked": false, "schema_version": 3, "solution": true, "task": false}
def shakespeare_split(text: str) -> tuple[str, str]:
    """nanoGPT's split of Tiny Shakespeare: the first 90 % of the characters, then the last 10 %.

    Args:
        text: the whole corpus, a str of n characters.

    Returns:
        (train_text, heldout_text) = (text[:int(0.9 * n)], text[int(0.9 * n):]); together they are text.

    Example:
        >>> shakespeare_split("abcdefghij")
        ('abcdefghi', 'j')
    """
    ### BEGIN SOLUTION
    cut = int(0.9 * len(text))
    return text[:cut], text[cut:]
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "shakespeare_split_matches_nanogpt", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the split keeps the first 90 % of the characters for training and the last 10 % as held-out text, as nanoGPT's prepare.py does"""
from grader.testing import learner, expect

got = learner.shakespeare_split("abcdefghij")
expect.true(isinstance(got, (tuple, list)) and len(got) == 2, "shakespeare_split must return a pair (train_text, heldout_text)")
expect.equal(got[0], "abcdefghi", what="the training part of 'abcdefghij'", hint="the first 90 % of the characters: text[:int(0.9 * n)]")
expect.equal(got[1], "j", what="the held-out part of 'abcdefghij'", hint="the last 10 % of the characters")
### BEGIN HIDDEN TESTS
hint = ("held-out text is the LAST 10 %: text[int(0.9 * n):]; forgetting measured on the first part "
        "is measured on text the model was trained on")
for text in ["abcdefghij", "x" * 7 + "y" * 3, TEXT]:
    cut = int(0.9 * len(text))
    train, heldout = learner.shakespeare_split(text)
    expect.equal(len(heldout), len(text) - cut, what=f"the length of the held-out part of a text of {len(text)} characters", hint=hint)
    expect.true(str(heldout) == text[cut:], f"the held-out part of a text of {len(text)} characters is not its last 10 %: {hint}")
    expect.true(str(train) == text[:cut], f"the training part of a text of {len(text)} characters is not its first 90 %: {hint}")
### END HIDDEN TESTS

# %% [markdown]
# **The task: is this line written backwards?** A new task should be one the learner can check by
# eye, small enough for a CPU, and one where pretraining helps. The rule: take a random stretch of
# 16 to 32 characters of the *training* text, newlines turned into spaces; with probability one half
# reverse it; the label is 1 for reversed, 0 for forwards. A model that knows English spelling
# should find "dlrow eht" odd. The inputs use only the 65 characters of the vocabulary; lines of
# different lengths are right-padded with `PAD` and an attention mask of zeros. This is library
# code: read it, you do not write it.

# %%
TRAIN_TEXT, HELDOUT_TEXT = TEXT[: int(0.9 * len(TEXT))], TEXT[int(0.9 * len(TEXT)):]   # nanoGPT's split
HELDOUT_TOKENS = encode(HELDOUT_TEXT[:16_385])   # 64 windows of 256 characters: the forgetting probe


def reversal_batch(text: str, batch_size: int, generator: torch.Generator, min_length: int = 16, max_length: int = 32):
    """A batch of the reversal task: random lines of `text`, half of them written backwards.

    Returns:
        input_ids (B, max_length) int64, right-padded with PAD; attention_mask (B, max_length) int64,
        1 at the real characters; labels (B,) int64, 1 where the line is reversed.
    """
    input_ids = torch.full((batch_size, max_length), PAD, dtype=torch.long)
    attention_mask = torch.zeros(batch_size, max_length, dtype=torch.long)
    labels = torch.randint(0, 2, (batch_size,), generator=generator)
    for row in range(batch_size):
        length = int(torch.randint(min_length, max_length + 1, (1,), generator=generator))
        start = int(torch.randint(0, len(text) - length, (1,), generator=generator))
        line = text[start:start + length].replace("\n", " ")
        if labels[row] == 1:
            line = line[::-1]
        input_ids[row, :length] = encode(line)
        attention_mask[row, :length] = 1
    return input_ids, attention_mask, labels


demo_ids, demo_mask, demo_labels = reversal_batch(TRAIN_TEXT, 6, torch.Generator().manual_seed(0))
for ids, mask, label in zip(demo_ids, demo_mask, demo_labels):
    print(f"label {int(label)}  {decode(ids[mask.bool()])!r}")

# %% [markdown]
# ## 2 · Freezing and unfreezing
#
# A parameter is trained when three things hold: autograd computes its gradient, the optimizer
# holds it, and the optimizer's update changes it. `requires_grad=False` on a parameter removes
# the first: backward does not compute its gradient (its `.grad` stays `None`) and, if no input of
# an operation requires gradients, autograd does not even record the operation, which saves the
# memory of activations that only that gradient would have needed.
#
# **What this means.** Freezing is a property of *tensors*, not of modules. `nn.Module` has a method
# `requires_grad_(flag)` that sets the flag on every parameter it contains; an *attribute*
# `module.requires_grad = False` is a plain Python attribute that autograd never reads. It raises
# no error and freezes nothing, the most common freezing bug there is. A worked example:

# %%
layer_demo = nn.Linear(3, 2)
layer_demo.requires_grad = False                       # an attribute: nothing happens
print("after the attribute:", [p.requires_grad for p in layer_demo.parameters()])
layer_demo.requires_grad_(False)                       # the method: sets the flag on every parameter
print("after requires_grad_(False):", [p.requires_grad for p in layer_demo.parameters()])
out = layer_demo(torch.randn(4, 3, requires_grad=True)).sum()
out.backward()
print("their .grad after backward:", [p.grad for p in layer_demo.parameters()])

# %% [markdown]
# Write `freeze`, `unfreeze` and `count_parameters` (about 5 minutes). Count each tensor once:
# iterate over `model.parameters()` (which skips a tensor it has seen), not over `state_dict()`
# (which lists the tied `lm_head.weight` a second time).

# %% nbgrader={"grade": false, "grade_id": "freezing", "locked": false, "schema_version": 3, "solution": true, "task": false}
def freeze(module: nn.Module) -> None:
    """Stop training every parameter of `module`: requires_grad False on each of them (in place).

    Example:
        >>> layer = nn.Linear(3, 2); freeze(layer); [p.requires_grad for p in layer.parameters()]
        [False, False]
    """
    ### BEGIN SOLUTION
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    ### END SOLUTION


def unfreeze(module: nn.Module) -> None:
    """Train every parameter of `module` again: requires_grad True on each of them (in place)."""
    ### BEGIN SOLUTION
    for parameter in module.parameters():
        parameter.requires_grad_(True)
    ### END SOLUTION


def count_parameters(model: nn.Module) -> dict:
    """The number of scalar parameters of `model`, each shared tensor counted once.

    Returns:
        {"trainable": int, "total": int}: the elements of the parameters with requires_grad True, and of all.

    Example:
        >>> count_parameters(nn.Linear(3, 2))
        {'trainable': 8, 'total': 8}
    """
    ### BEGIN SOLUTION
    parameters = list(model.parameters())   # a tied tensor appears once here
    return {"trainable": sum(p.numel() for p in parameters if p.requires_grad),
            "total": sum(p.numel() for p in parameters)}
    ### END SOLUTION

# %% [markdown]
# The tests build their models inside one scenario (your functions run on it in your process; plain
# data comes back): a seeded tiny random GPT of the course model's layout, frozen whole, with one
# block unfrozen again, and the flags, counts and gradients after one backward.

# %%
from grader.testing import scenario


@scenario
def frozen_model(ns, seed, unfrozen_block):
    """freeze the tiny GPT, unfreeze one block, count, backward once: flags, counts and which gradients exist."""
    from course_model import new_model
    torch.manual_seed(seed)
    model = new_model(torch.float64, n_layer=2, n_embd=32, n_head=2)
    before = ns.count_parameters(model)
    ns.freeze(model)
    frozen = ns.count_parameters(model)
    ns.unfreeze(model.transformer.h[unfrozen_block])
    after = ns.count_parameters(model)
    flags = {name: bool(p.requires_grad) for name, p in model.named_parameters()}
    inputs = torch.randint(0, 65, (2, 8))
    logits = model.transformer(inputs).last_hidden_state
    logits.sum().backward()
    has_grad = {name: p.grad is not None for name, p in model.named_parameters()}
    return {"before": before, "frozen": frozen, "after": after, "flags": flags, "has_grad": has_grad}


# %% nbgrader={"grade": true, "grade_id": "count_parameters_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""count_parameters of two small layers, one frozen by freeze: the trainable and the total number of scalars"""
from grader.testing import scenario, expect


@scenario
def two_layers(ns):
    """a Linear(3, 4) and a Linear(4, 2) in a Sequential, the first frozen; counts before and after."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    before = ns.count_parameters(net)
    ns.freeze(net[0])
    return {"before": before, "after": ns.count_parameters(net), "flags": [bool(p.requires_grad) for p in net.parameters()]}


got = two_layers.learner()
expect.true(isinstance(got["before"], dict) and set(got["before"]) == {"trainable", "total"},
            "count_parameters must return a dict with the keys 'trainable' and 'total'")
expect.equal(got["before"], {"trainable": 26, "total": 26}, what="count_parameters of Linear(3, 4) + Linear(4, 2)",
             hint="3*4 + 4 weights and biases, then 4*2 + 2: count elements (p.numel()), not tensors")
expect.equal(got["flags"], [False, False, True, True], what="requires_grad of the four parameters after freeze(net[0])",
             hint="set requires_grad on each parameter (p.requires_grad_(False) for p in module.parameters()): "
                  "an attribute module.requires_grad = False freezes nothing")
expect.equal(got["after"], {"trainable": 10, "total": 26}, what="count_parameters after freezing the first layer")

# %% nbgrader={"grade": true, "grade_id": "freeze_gpt_block", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""freezing the tiny GPT and unfreezing one block leaves exactly that block's parameters trainable, with gradients only for them; the tied embedding is counted once"""
from grader.testing import expect

got = frozen_model.learner(0, 1)
expect.true(isinstance(got["flags"], dict), "the scenario must return requires_grad of each named parameter")
### BEGIN HIDDEN TESTS
reference_model = new_model(torch.float64, **TINY)
total = sum(p.numel() for p in reference_model.parameters())
block = sum(p.numel() for p in reference_model.transformer.h[1].parameters())
wrong_flags = [name for name, flag in got["flags"].items() if flag != name.startswith("transformer.h.1.")]
expect.true(not wrong_flags,
            f"after freeze(model) and unfreeze(model.transformer.h[1]), {len(wrong_flags)} parameters have the wrong requires_grad "
            "(only the block's should be True): set the flag on each parameter, module.parameters() reaches every nested one; "
            "an attribute module.requires_grad = ... changes nothing")
wrong_grads = [name for name, has in got["has_grad"].items() if has != name.startswith("transformer.h.1.")]
expect.true(not wrong_grads, f"{len(wrong_grads)} parameters have a .grad that does not match their freezing after backward")
hint = "count p.numel() over model.parameters(), which lists the tied lm_head / wte tensor once; state_dict() lists it twice"
expect.equal(got["before"], {"trainable": total, "total": total}, what="count_parameters of the whole tiny GPT", hint=hint)
expect.equal(got["frozen"], {"trainable": 0, "total": total}, what="count_parameters after freeze(model)", hint=hint)
expect.equal(got["after"], {"trainable": block, "total": total}, what="count_parameters with only block 1 trainable", hint=hint)
got0 = frozen_model.learner(1, 0)
expect.equal(got0["after"], {"trainable": block, "total": total}, what="count_parameters with only block 0 trainable", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ### Which parameters to train: the layers from general to specific
#
# Features of a pretrained network run from general near the input to specific near the output
# (Yosinski et al., 2014, measured it for image networks; probing studies find the same in language
# models: lower layers carry characters and syntax, upper ones what the pretraining objective needed
# last). Three consequences:
#
# - **Train the top first.** A new task mostly needs new *use* of the features, not new features.
#   The head sits on the last hidden state; the block below it is the cheapest place to adapt them.
# - **Gradual unfreezing** (Howard and Ruder, ULMFiT, 2018): train only the head for an epoch, then
#   unfreeze the top block, then the next one down, and so on. Early in fine-tuning the head is
#   random and its gradients are large and noisy; letting them reach the pretrained layers before
#   the head has settled is what wrecks those layers. ULMFiT pairs this with *discriminative*
#   learning rates, $\eta_{\ell-1} = \eta_\ell / 2.6$, smaller further down.
# - **The embeddings go last.** Here they matter twice: the output layer `lm_head` *is* `wte`, so
#   a fine-tune that trains the embeddings also rewrites the language model's output layer.
#
# Write `unfreeze_top` (about 5 minutes): freeze the whole model, then unfreeze its top $k$ blocks.
# The final layer norm `ln_f` sits between the top block and the head, so it goes with the top
# block (unfrozen whenever $k \ge 1$); with $k > L$ everything is unfrozen, embeddings included.
# $k = 0$ leaves the model frozen (only the separate head will train).

# %% nbgrader={"grade": false, "grade_id": "unfreeze_top", "locked": false, "schema_version": 3, "solution": true, "task": false}
def unfreeze_top(model: nn.Module, k: int) -> int:
    """Gradual unfreezing's stage k on a GPT2LMHeadModel: only the top k blocks (and ln_f) trainable.

    Args:
        model: a GPT2LMHeadModel with blocks model.transformer.h[0], ..., h[L-1] (h[L-1] nearest the output).
        k: 0 freezes everything; 1 <= k <= L unfreezes h[L-k:] and transformer.ln_f; k > L unfreezes
            the whole model, embeddings wte and wpe (and so the tied lm_head) included.

    Returns:
        The number of trainable scalars of the model afterwards (count_parameters(model)["trainable"]).

    Example:
        >>> unfreeze_top(load_course_model(), 1)   # block 3 and ln_f
        198528
    """
    ### BEGIN SOLUTION
    freeze(model)
    blocks = model.transformer.h
    if k > len(blocks):
        unfreeze(model)
    elif k >= 1:
        for block in blocks[len(blocks) - k:]:   # the top k: nearest the output
            unfreeze(block)
        unfreeze(model.transformer.ln_f)
    return count_parameters(model)["trainable"]
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "unfreeze_top_stages", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""every stage of gradual unfreezing on a three-block GPT: the top k blocks and ln_f trainable, nothing below them, everything for k > L, and the count returned"""
from grader.testing import scenario, expect


@scenario
def unfreezing_stages(ns, stages):
    """unfreeze_top at each stage, in order, on one seeded three-block tiny GPT: the returned count and the trainable names."""
    from course_model import new_model
    torch.manual_seed(3)
    model = new_model(n_layer=3, n_embd=32, n_head=2)
    result = []
    for k in stages:
        count = ns.unfreeze_top(model, k)
        result.append({"count": int(count), "trainable": sorted(n for n, p in model.named_parameters() if p.requires_grad)})
    return result


got = unfreezing_stages.learner([0, 1])
expect.equal(got[0]["trainable"], [], what="the trainable parameters after unfreeze_top(model, 0)", hint="k = 0 freezes the whole model")
expect.true(all(name.startswith(("transformer.h.2.", "transformer.ln_f.")) for name in got[1]["trainable"]) and got[1]["trainable"],
            "unfreeze_top(model, 1) must leave only the top block (transformer.h[-1], here h.2) and transformer.ln_f trainable")
### BEGIN HIDDEN TESTS
stages = [0, 1, 2, 3, 4, 2, 0]   # up, past L, and down again: each stage starts from a frozen model
got = unfreezing_stages.learner(stages)
want = unfreezing_stages.reference(stages)
for k, g, w in zip(stages, got, want):
    lower = sorted(set(g["trainable"]) - set(w["trainable"]))
    missing = sorted(set(w["trainable"]) - set(g["trainable"]))
    hint = ("freeze everything first, then unfreeze the LAST k blocks, model.transformer.h[L - k:] (nearest the output), "
            "and transformer.ln_f; for k > L unfreeze the whole model")
    expect.true(not lower, f"unfreeze_top(model, {k}) leaves {len(lower)} parameters trainable that should be frozen "
                           f"(e.g. {lower[0] if lower else ''}): {hint}")
    expect.true(not missing, f"unfreeze_top(model, {k}) leaves {len(missing)} parameters frozen that should be trainable "
                             f"(e.g. {missing[0] if missing else ''}): {hint}")
    expect.equal(g["count"], w["count"], what=f"the count returned by unfreeze_top(model, {k})",
                 hint="return count_parameters(model)['trainable'] after unfreezing")
### END HIDDEN TESTS

# %% [markdown]
# The course model's trainable scalars at each stage, and what fraction of the model each is:

# %%
for k in range(6):
    count = unfreeze_top(model_demo, k)
    print(f"stage {k}: {count:7,d} trainable of {count_parameters(model_demo)['total']:,} ({count / count_parameters(model_demo)['total']:5.1%})")
freeze(model_demo)

# %% [markdown]
# ## 3 · The optimizer sees only what trains
#
# `torch.optim.AdamW(model.parameters())` holds every parameter, frozen or not. Three costs follow:
#
# 1. **Memory.** AdamW keeps two moment tensors per parameter it steps (`22-memory`): for a 7B model
#    that is 56 GB in float32, the whole point of freezing lost, once those parameters ever have a
#    gradient.
# 2. **Decay of frozen weights.** AdamW's update is $\theta \leftarrow \theta - \eta\lambda\theta -
#    \eta\,\hat m/(\sqrt{\hat v}+\epsilon)$: the decay term does not need a gradient to be non-zero,
#    only a gradient *tensor* to be present. PyTorch skips a parameter whose `.grad is None`, which
#    hides the bug, until something leaves a tensor there: `zero_grad(set_to_none=False)`, a
#    parameter that was trainable in an earlier stage of gradual unfreezing, a gradient-accumulation
#    helper. From then on the "frozen" weights shrink by a factor $(1 - \eta\lambda)$ every step.
# 3. **Momentum that outlives the freeze.** A parameter frozen after it trained keeps its moments;
#    with `.grad` zero-filled the update $\hat m/(\sqrt{\hat v}+\epsilon)$ keeps moving it for
#    hundreds of steps.
#
# The demonstration: a layer that trained for one step, then frozen, with an optimizer over all
# parameters and zero-filled gradients:

# %%
torch.manual_seed(0)
layer_demo = nn.Linear(4, 4)
optimizer_demo = torch.optim.AdamW(layer_demo.parameters(), lr=1e-2, weight_decay=0.1)
layer_demo(torch.randn(8, 4)).pow(2).mean().backward()
optimizer_demo.step()
layer_demo.requires_grad_(False)                      # frozen from here on ...
start = layer_demo.weight.detach().clone()
for _ in range(100):
    optimizer_demo.zero_grad(set_to_none=False)       # ... but its .grad is a zero tensor, not None
    optimizer_demo.step()
print(f"a frozen weight moved by {(layer_demo.weight - start).abs().max().item():.3f} in 100 steps "
      f"(its size: {start.abs().max().item():.3f})")

# %% [markdown]
# **Weight-decay groups.** GPT-2, nanoGPT and transformers' `Trainer` decay only the matrices
# (parameters with two or more dimensions: the linear layers' weights and the embeddings) and never
# the biases and the layer-norm gains. Decay pulls a parameter toward zero: for a matrix that is a
# useful prior; for a layer-norm gain, whose natural value is 1, it is a bias toward switching the
# layer off. In fine-tuning, decay toward *zero* also pulls every trained weight away from where
# pretraining left it. (A principled alternative, L2-SP (Li et al., 2018), decays toward
# $\theta_0$ instead: $\lambda\lVert\theta-\theta_0\rVert^2$, a spring to the pretrained weights.)
#
# Write `make_optimizer` (about 5 minutes): one AdamW over the trainable parameters of several
# modules (the model and the new head), two parameter groups: `{"params": [...] matrices,
# "weight_decay": weight_decay}` and `{"params": [...] the rest, "weight_decay": 0.0}`. A tensor
# shared by two modules (the tied embedding) must appear once.

# %% nbgrader={"grade": false, "grade_id": "make_optimizer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def make_optimizer(modules: list, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the trainable parameters of `modules`, matrices decayed, vectors not.

    Args:
        modules: a list of nn.Module (e.g. [model, head]); a parameter shared by several counts once.
        lr: the learning rate of both groups.
        weight_decay: the decoupled decay of the parameters with p.dim() >= 2.

    Returns:
        torch.optim.AdamW with two parameter groups: [0] the trainable parameters with dim >= 2 and
        weight_decay; [1] the trainable ones with dim < 2 (biases, layer-norm gains) and weight_decay 0.
        Parameters with requires_grad False are in neither.

    Example:
        >>> make_optimizer([nn.Linear(3, 2)], 1e-3, 0.1).param_groups[0]["weight_decay"]
        0.1
    """
    ### BEGIN SOLUTION
    decay, no_decay, seen = [], [], set()
    for module in modules:
        for parameter in module.parameters():
            if not parameter.requires_grad or id(parameter) in seen:
                continue                  # frozen, or shared with a module already listed
            seen.add(id(parameter))
            (decay if parameter.dim() >= 2 else no_decay).append(parameter)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "make_optimizer_groups", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""make_optimizer holds exactly the trainable parameters of the model and the head, each once, matrices decayed and biases and layer-norm gains not, and its steps leave frozen weights untouched"""
from grader.testing import scenario, expect


@scenario
def optimizer_groups(ns, top_only, steps):
    """the tiny GPT with only its top block and ln_f trainable (or all), a head, make_optimizer, and steps with zero-filled gradients."""
    from course_model import new_model
    torch.manual_seed(4)
    model = new_model(n_layer=2, n_embd=32, n_head=2)
    head = nn.Linear(32, 3)
    if top_only:
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(("transformer.h.1.", "transformer.ln_f.")))
    names = {id(p): "model." + n for n, p in model.named_parameters()}
    names.update({id(p): "head." + n for n, p in head.named_parameters()})
    optimizer = ns.make_optimizer([model, head], 1e-2, 0.1)
    groups = [{"names": [names.get(id(p), "?") for p in g["params"]], "weight_decay": float(g["weight_decay"]), "lr": float(g["lr"])}
              for g in optimizer.param_groups]
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    for _ in range(steps):
        for p in list(model.parameters()) + list(head.parameters()):
            p.grad = torch.zeros_like(p)          # zero-filled gradients everywhere, as zero_grad(set_to_none=False) leaves them
        optimizer.step()
    moved = {n: bool((p.detach() != start[n]).any()) for n, p in model.named_parameters()}
    return {"type": type(optimizer).__name__, "groups": groups, "moved": moved}


got = optimizer_groups.learner(False, 0)
expect.equal(got["type"], "AdamW", what="the class of the optimizer make_optimizer returns")
expect.equal(len(got["groups"]), 2, what="the number of parameter groups", hint="one group of matrices (decayed), one of the rest")
expect.true("head.weight" in got["groups"][0]["names"] and "head.bias" in got["groups"][1]["names"],
            "the head's weight belongs to the decayed group [0] and its bias to the group without decay [1]")
### BEGIN HIDDEN TESTS
for top_only in [False, True]:
    got = optimizer_groups.learner(top_only, 3)
    want = optimizer_groups.reference(top_only, 0)
    case = "only the top block and ln_f trainable" if top_only else "everything trainable"
    expect.equal(len(got["groups"]), 2, what=f"the number of parameter groups ({case})")
    held = [n for g in got["groups"] for n in g["names"]]
    expect.true(len(held) == len(set(held)), f"a parameter appears twice in the optimizer ({case}): list each tensor once (the tied embedding is shared)")
    frozen = sorted(set(held) - {n for g in want["groups"] for n in g["names"]})
    expect.true(not frozen, f"the optimizer holds {len(frozen)} frozen parameters ({case}): keep only those with requires_grad True; "
                            "AdamW's decoupled decay still shrinks a frozen weight whenever a (zero) gradient tensor is present")
    for index, (g, w) in enumerate(zip(got["groups"], want["groups"])):
        expect.true(sorted(g["names"]) == sorted(w["names"]),
                    f"parameter group {index} does not hold the right parameters ({case}): group 0 the trainable tensors with dim >= 2, "
                    "group 1 the trainable biases and layer-norm parameters (dim < 2), which are not decayed")
        expect.close(g["weight_decay"], w["weight_decay"], atol=0, what=f"the weight_decay of group {index}",
                     hint="decay the matrices by weight_decay, and the biases and layer-norm gains by 0.0")
        expect.close(g["lr"], 1e-2, rtol=1e-12, what=f"the learning rate of group {index}")
    moved_frozen = [n for n, moved in got["moved"].items() if moved and "model." + n not in {x for g in want["groups"] for x in g["names"]}]
    expect.true(not moved_frozen, f"{len(moved_frozen)} frozen parameters changed after optimizer steps with zero gradients ({case})")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · A classification head on a causal model
#
# A GPT turns $T$ tokens into $T$ hidden states $h_1, \dots, h_T \in \mathbb{R}^D$ (after the final
# layer norm). A classifier needs one vector per sequence, a **pooling**, then a linear map to $C$
# logits, $z = W\,\operatorname{pool}(h) \in \mathbb{R}^C$ with $W \in \mathbb{R}^{C \times D}$:
#
# $$\operatorname{pool}_{\text{last}}(h) = h_{t^\ast},\quad t^\ast = \max\{t : m_t = 1\}, \qquad
# \operatorname{pool}_{\text{mean}}(h) = \frac{\sum_t m_t\, h_t}{\sum_t m_t},$$
#
# with $m_t$ the attention mask (1 at real tokens, 0 at padding).
#
# **What this means.** In a causal model $h_t$ has seen tokens $1..t$ only: **the last real token
# is the only position that has read the whole input**. The first token has read one character;
# BERT's `[CLS]` pooling (`17-bert`) works because BERT is bidirectional, and copying it onto a
# GPT gives a classifier of the first character. Padding is the second trap: in a right-padded batch
# position $T$ of a short line is a pad, and its hidden state is the model's continuation of the
# line with pad characters, not the line. Mean pooling must divide by the number of *real* tokens
# and leave the pads out of the sum. `GPT2ForSequenceClassification` pools the rightmost token that
# is not `pad_token_id`, which handles right and left padding alike; taking the rightmost position
# where the mask is 1 does the same.
#
# Why can right padding be left unmasked inside the transformer? Causal attention never lets
# position $t$ read positions after it, so real tokens never see the pads to their right: their
# hidden states are exactly those of the unpadded line. Left padding is different: the pads come
# first, real tokens would attend to them, and the attention mask (plus shifted position ids) is
# then required. Below, the mask is passed either way.

# %%
torch.manual_seed(0)
hidden_demo = torch.randn(2, 4, 3)
mask_demo = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
print("last real position of each row:", (torch.arange(4) * mask_demo).argmax(-1).tolist(), " (the naive -1 would give [3, 3])")

# %% [markdown]
# Write `pool_hidden` (about 10 minutes). For `"last"`, the rightmost position with mask 1 (works for
# left padding too: `(torch.arange(T) * mask).argmax(-1)` is one way); for `"mean"`, the masked
# mean. Then `classify` (about 5 minutes): run `model.transformer(input_ids,
# attention_mask=attention_mask).last_hidden_state` (the final layer norm is already applied), pool,
# and apply the head.

# %% nbgrader={"grade": false, "grade_id": "pool_hidden", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pool_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str = "last") -> torch.Tensor:
    """One vector per sequence from a causal model's hidden states, ignoring padding.

    Args:
        hidden: float tensor (B, T, D), the last hidden states.
        attention_mask: (B, T) of 0 and 1 (any int or float dtype), 1 at real tokens; each row has at
            least one 1; the padding may be on the right or on the left.
        how: "last" for the hidden state of the rightmost real token, "mean" for the mean over the real tokens.

    Returns:
        (B, D), hidden's dtype.

    Example:
        >>> pool_hidden(torch.arange(6.0).reshape(1, 3, 2), torch.tensor([[1, 1, 0]]), "last")
        tensor([[2., 3.]])
    """
    ### BEGIN SOLUTION
    mask = attention_mask.to(hidden.dtype)                              # (B, T)
    if how == "last":
        positions = torch.arange(hidden.shape[1], device=hidden.device)
        last = (positions * attention_mask.long()).argmax(dim=-1)          # rightmost real token
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    if how == "mean":
        total = (hidden * mask[:, :, None]).sum(dim=1)                     # pads contribute nothing
        return total / mask.sum(dim=1, keepdim=True)                       # divided by the number of real tokens
    raise ValueError(f"how must be 'last' or 'mean', not {how!r}")
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "pool_hidden_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""pooling a hand-made batch of two rows, one right-padded: the last real token's state, and the mean over real tokens only"""
from grader.testing import learner, expect

hidden = torch.arange(12.0, dtype=torch.float64).reshape(2, 3, 2)
mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
last = learner.pool_hidden(hidden, mask, "last")
expect.shape(last, (2, 2), what="pool_hidden(hidden (2, 3, 2), mask, 'last')", hint="one D-vector per sequence: (B, D)")
expect.close(last[0], hidden[0, 2], atol=0, what="the last-token pooling of the unpadded row",
             hint="a causal model's last position is the only one that has read the whole input")
expect.close(last[1], hidden[1, 1], atol=0, what="the last-token pooling of the row with one pad at the end",
             hint="take the rightmost position where the mask is 1, not position -1 (a pad)")
mean = learner.pool_hidden(hidden, mask, "mean")
expect.shape(mean, (2, 2), what="pool_hidden(hidden (2, 3, 2), mask, 'mean')")
expect.close(mean[1], hidden[1, :2].mean(0), atol=1e-12, what="the mean pooling of the padded row",
             hint="sum the hidden states where the mask is 1 and divide by the number of real tokens")

# %% nbgrader={"grade": true, "grade_id": "pool_hidden_padding", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""pooling random batches with right padding, left padding, no padding and single-token rows, against a plain loop over the real tokens"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(5)
hidden = torch.randn(4, 6, 5, generator=gen, dtype=torch.float64)
full = torch.ones(4, 6, dtype=torch.long)
got = learner.pool_hidden(hidden, full, "last")
expect.shape(got, (4, 5), what="last-token pooling of an unpadded (4, 6, 5) batch")
expect.close(got, hidden[:, -1], atol=0, what="last-token pooling without padding")
### BEGIN HIDDEN TESTS
def loop_pool(hidden, mask, how):
    rows = []
    for h, m in zip(hidden, mask):
        real = torch.nonzero(m).flatten()
        rows.append(h[real[-1]] if how == "last" else h[real].mean(0))
    return torch.stack(rows)

lengths = [6, 3, 1, 4]
right = torch.tensor([[1] * n + [0] * (6 - n) for n in lengths])
left = torch.tensor([[0] * (6 - n) + [1] * n for n in lengths])
hints = {"last": "the rightmost position whose mask is 1, e.g. (arange(T) * mask).argmax(-1): not position 0 (a causal model's "
                 "first token has read one character), not position -1 (a pad in a right-padded row), and not mask.sum() - 1 "
                 "(wrong for left padding)",
         "mean": "sum hidden * mask over the positions and divide by mask.sum(): pads are neither added nor counted"}
for how in ["last", "mean"]:
    for mask, case in [(right, "right-padded rows of lengths 6, 3, 1, 4"), (left, "left-padded rows of lengths 6, 3, 1, 4"),
                       (right.float(), "a float mask")]:
        got = learner.pool_hidden(hidden, mask, how)
        expect.shape(got, (4, 5), what=f"{how} pooling of {case}")
        expect.dtype(got, torch.float64, what=f"{how} pooling of a float64 input", hint="keep hidden's dtype")
        expect.close(got, loop_pool(hidden, mask, how), atol=1e-12, what=f"{how} pooling of {case}", hint=hints[how])
    one = learner.pool_hidden(hidden[:1, :1], torch.ones(1, 1, dtype=torch.long), how)
    expect.close(one, hidden[:1, 0], atol=1e-12, what=f"{how} pooling of a batch of one single-token row")
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "classify", "locked": false, "schema_version": 3, "solution": true, "task": false}
def classify(model: nn.Module, head: nn.Linear, input_ids: torch.Tensor, attention_mask: torch.Tensor, how: str = "last") -> torch.Tensor:
    """Class logits of a GPT2LMHeadModel with a linear head on the pooled last hidden state.

    Args:
        model: a GPT2LMHeadModel; its body model.transformer gives the hidden states (ln_f applied).
        head: nn.Linear(D, C), the classification head (GPT2ForSequenceClassification's `score` has no bias).
        input_ids: (B, T) int64; attention_mask: (B, T) of 0/1, 1 at real tokens.
        how: "last" or "mean", the pooling (pool_hidden).

    Returns:
        logits (B, C), the head's output (no softmax); for how="last" and right padding with
        pad_token_id they equal GPT2ForSequenceClassification's logits with the same weights.

    Example:
        >>> classify(load_course_model(), nn.Linear(128, 2), *reversal_batch(TRAIN_TEXT, 4, torch.Generator())[:2]).shape
        torch.Size([4, 2])
    """
    ### BEGIN SOLUTION
    hidden = model.transformer(input_ids, attention_mask=attention_mask).last_hidden_state   # (B, T, D)
    return head(pool_hidden(hidden, attention_mask, how))
    ### END SOLUTION

# %% [markdown]
# The reference for `classify` is transformers' `GPT2ForSequenceClassification`: the same `GPT2Model`
# body under the same names (`transformer.*`), and a head `score = nn.Linear(D, C, bias=False)`.
# Building it from the course model's configuration and loading the course weights and your head
# into it gives an independent classifier to compare with:

# %%
def transformers_classifier(model: nn.Module, head: nn.Linear, pad_token_id: int = PAD) -> nn.Module:
    """GPT2ForSequenceClassification with model's body and head's weight (no bias), in eval mode; nothing is downloaded."""
    from transformers import GPT2ForSequenceClassification

    sizes = {"n_layer": len(model.transformer.h), "n_embd": model.config.n_embd, "n_head": model.config.n_head}
    hf_config = gpt2_config(**sizes)
    hf_config.num_labels, hf_config.pad_token_id = head.out_features, pad_token_id
    reference_model = GPT2ForSequenceClassification(hf_config).to(head.weight.dtype)
    state = {name: t for name, t in model.state_dict().items() if name.startswith("transformer.")}
    state["score.weight"] = head.weight.detach()
    reference_model.load_state_dict(state, strict=True)
    return reference_model.eval()


torch.manual_seed(0)
head_demo = nn.Linear(128, 2, bias=False)
with torch.no_grad():
    hf_logits = transformers_classifier(model_demo, head_demo)(demo_ids, attention_mask=demo_mask).logits
print("GPT2ForSequenceClassification logits of the demo batch:\n", hf_logits)

# %% [markdown]
# The tests run your `classify` on a seeded tiny float64 GPT and compare with that reference.

# %%
@scenario
def classified(ns, input_ids, attention_mask, how, seed):
    """classify with a seeded float64 tiny GPT and head: the logits, the body's weights and the head's weight."""
    from course_model import new_model
    torch.manual_seed(seed)
    model = new_model(torch.float64, n_layer=2, n_embd=32, n_head=2).eval()
    head = nn.Linear(32, 3, bias=False).to(torch.float64)
    with torch.no_grad():
        logits = ns.classify(model, head, input_ids, attention_mask, how)
    return {"logits": logits, "state": {name: t.detach().clone() for name, t in model.state_dict().items()}, "head": head.weight.detach()}


def padded_batch(lengths, width, generator):
    """Right-padded random lines (tokens 1..64, PAD after): input_ids and attention_mask (B, width)."""
    input_ids = torch.full((len(lengths), width), PAD, dtype=torch.long)
    attention_mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        input_ids[row, :n] = torch.randint(1, 65, (n,), generator=generator)
        attention_mask[row, :n] = 1
    return input_ids, attention_mask


def rebuilt(got):
    """The judge's copy of the scenario's model and head, from the weights it returned."""
    model = new_model(torch.float64, **TINY).eval()
    model.load_state_dict(got["state"])
    head = nn.Linear(32, 3, bias=False).to(torch.float64)
    with torch.no_grad():
        head.weight.copy_(got["head"])
    return model, head


# %% nbgrader={"grade": true, "grade_id": "classify_matches_transformers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""classify with last-token pooling equals transformers' GPT2ForSequenceClassification on right-padded batches, and mean pooling equals the masked mean of GPT2Model's states through the head"""
from grader.testing import expect

gen = torch.Generator().manual_seed(6)
ids, mask = padded_batch([7, 7], 7, gen)
got = classified.learner(ids, mask, "last", 0)
expect.shape(got["logits"], (2, 3), what="classify on a (2, 7) batch with a head of 3 classes", hint="(B, C): one row of logits per sequence")
expect.finite(got["logits"], what="the logits of classify")
### BEGIN HIDDEN TESTS
for lengths, seed in [([7, 3, 1, 5], 1), ([4], 2), ([7, 7], 0)]:
    ids, mask = padded_batch(lengths, 7, gen)
    case = f"lines of lengths {lengths} padded to 7"
    got = classified.learner(ids, mask, "last", seed)
    expect.shape(got["logits"], (len(lengths), 3), what=f"classify on {case}")
    model, head = rebuilt(got)
    with torch.no_grad():
        want = transformers_classifier(model, head)(ids, attention_mask=mask).logits
    expect.close(got["logits"], want, atol=1e-10, rtol=1e-10, what=f"classify (last) on {case}, against GPT2ForSequenceClassification",
                 hint="head(hidden state of the last REAL token) from model.transformer(...).last_hidden_state (ln_f applied): "
                      "not the first token, not the padded position -1, no softmax")
    got = classified.learner(ids, mask, "mean", seed)
    with torch.no_grad():
        states = model.transformer(ids, attention_mask=mask).last_hidden_state
        want = head((states * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True))
    expect.close(got["logits"], want, atol=1e-10, rtol=1e-10, what=f"classify (mean) on {case}",
                 hint="mean of the last hidden states over the real tokens only, then the head")
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · Full fine-tuning
#
# The loop is the training loop of `19-training` with a classification loss:
# $\ell = -\log \operatorname{softmax}(z)_y$ over the logits $z$ of the head. `F.cross_entropy` takes
# **logits** and applies `log_softmax` itself, stably. Feeding it probabilities (a softmax already
# applied) is a classic silent bug: it computes $-\log\operatorname{softmax}(p)_y$ with
# $p \in [0, 1]^C$, whose gradient with respect to $z$ is squashed by the softmax Jacobian
# $\operatorname{diag}(p) - pp^\top$, and whose minimum over two classes is
# $\log(1 + e^{-1}) \approx 0.313$, not 0: the loss curve flattens early and looks like a hard task.
#
# **Learning rate.** Fine-tuning learning rates are 10 to 100 times below pretraining ones
# (BERT: 2e-5 to 5e-5; the course model trained at 1e-3). A random head in front of pretrained
# layers sends large gradients into them on the first steps; a high learning rate turns that into a
# big jump away from $\theta_0$, which is forgetting, and sometimes into divergence. Warm-up, a
# head-only first stage, or both, soften it.
#
# Write `train_classifier` (about 10 minutes): build the optimizer with `make_optimizer([model,
# head], lr, weight_decay)`, then one AdamW step per batch on `F.cross_entropy(classify(...),
# labels)`, recording each step's loss before its update.

# %% nbgrader={"grade": false, "grade_id": "train_classifier", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_classifier(model: nn.Module, head: nn.Linear, batches: list, lr: float = 3e-4,
                     weight_decay: float = 0.01, how: str = "last") -> list:
    """Fine-tune the trainable parameters of model and head, one AdamW step per batch.

    Args:
        model: a GPT2LMHeadModel, some parameters possibly frozen (requires_grad False).
        head: nn.Linear(D, C).
        batches: a list of (input_ids (B, T), attention_mask (B, T), labels (B,)) tuples.
        lr, weight_decay: for make_optimizer([model, head], lr, weight_decay).
        how: the pooling of classify.

    Returns:
        A list of floats, the cross-entropy of each batch before its step (len(batches) values).

    Example:
        >>> train_classifier(load_course_model(), nn.Linear(128, 2), [reversal_batch(TRAIN_TEXT, 8, torch.Generator())])
        [0.69...]
    """
    ### BEGIN SOLUTION
    optimizer = make_optimizer([model, head], lr, weight_decay)
    model.train()
    losses = []
    for input_ids, attention_mask, labels in batches:
        logits = classify(model, head, input_ids, attention_mask, how)
        loss = F.cross_entropy(logits, labels)      # takes logits: log_softmax happens inside
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "train_classifier_learns", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""fine-tuning the whole course model on the reversal task: the first loss is the cross-entropy of the initial logits, frozen parameters stay put, and 40 AdamW steps bring the loss below chance by a margin calibrated on the reference"""
from grader.testing import scenario, expect


@scenario
def fine_tuned(ns, batches, top_k, seed):
    """train_classifier on the course model with its top_k blocks trainable (k > 4: all), a seeded head; losses, the initial head and what moved."""
    from course_model import load_course_model
    torch.manual_seed(seed)
    model = load_course_model()
    head = nn.Linear(128, 2, bias=False)
    initial_head = head.weight.detach().clone()
    for name, p in model.named_parameters():
        p.requires_grad_(top_k > 4 or name.startswith(tuple(f"transformer.h.{4 - i}." for i in range(1, top_k + 1))))
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = ns.train_classifier(model, head, batches, 3e-4, 0.01, "last")
    moved = {n: bool((p.detach() != start[n]).any()) for n, p in model.named_parameters()}
    return {"losses": [float(x) for x in losses], "initial_head": initial_head, "moved": moved}


gen = torch.Generator().manual_seed(7)
few = [reversal_batch(TRAIN_TEXT, 8, gen) for _ in range(2)]
got = fine_tuned.learner(few, 5, 0)
expect.true(isinstance(got["losses"], list) and len(got["losses"]) == 2 and all(math.isfinite(x) for x in got["losses"]),
            "train_classifier must return one finite float loss per batch (here 2)")
### BEGIN HIDDEN TESTS
# the first loss: cross-entropy of the untrained classifier's logits on the first batch
reference_model = load_course_model()
head = nn.Linear(128, 2, bias=False)
with torch.no_grad():
    head.weight.copy_(got["initial_head"])
    first = F.cross_entropy(transformers_classifier(reference_model, head)(few[0][0], attention_mask=few[0][1]).logits, few[0][2]).item()
expect.close(got["losses"][0], first, atol=1e-5, rtol=1e-5, what="the first recorded loss (before any step)",
             hint="F.cross_entropy(logits, labels) on the head's raw logits, recorded before the step: cross_entropy applies "
                  "log_softmax itself, so a softmax before it computes a different, flatter loss")
# 40 steps of full fine-tuning; calibrated on the reference: mean of the last 10 losses 0.25-0.43 over seeds (chance: ln 2 = 0.69)
gen = torch.Generator().manual_seed(8)
batches = [reversal_batch(TRAIN_TEXT, 16, gen) for _ in range(40)]
got = fine_tuned.learner(batches, 5, 1)
expect.true(len(got["losses"]) == 40, "train_classifier must return one loss per batch (here 40)")
late = sum(got["losses"][-10:]) / 10
expect.true(late < 0.6, f"after 40 steps of full fine-tuning at lr 3e-4 the mean of the last 10 losses is {late:.3f}, far above what a "
                         "correct loop reaches: one AdamW step per batch over the trainable parameters of model AND head, "
                         "F.cross_entropy on raw logits, last-token pooling of real tokens")
# frozen blocks stay exactly where they were
got = fine_tuned.learner(batches[:3], 1, 2)
moved_frozen = [n for n, moved in got["moved"].items() if moved and not n.startswith("transformer.h.3.")]
expect.true(not moved_frozen, f"{len(moved_frozen)} frozen parameters changed during fine-tuning with only the top block trainable: "
                              "build the optimizer over the trainable parameters only (make_optimizer)")
expect.true(got["moved"]["transformer.h.3.attn.c_attn.weight"], "the trainable top block did not change: step the optimizer after backward")
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · Catastrophic forgetting
#
# A network trained on task B after task A loses A (McCloskey and Cohen, 1989; French, 1999): the
# gradient of B has no reason to respect the directions that A's loss is sensitive to. Near the
# pretrained optimum $\theta_0$ the pretraining loss is, to second order,
#
# $$L_{\text{LM}}(\theta_0 + \Delta) \approx L_{\text{LM}}(\theta_0) + \tfrac12\,\Delta^\top H\,\Delta,$$
#
# since its gradient vanishes at a minimum. Forgetting grows with the size of the step $\Delta$
# fine-tuning takes *and* with how much of it lies along the sharp directions of $H$, the Hessian of
# the pretraining loss. Every remedy reads off this formula: freeze parameters (set components of
# $\Delta$ to zero), train few parameters or a low-rank $\Delta$ (LoRA, `24`), take small steps
# (low learning rate, few epochs), penalise $\Delta^\top \hat F \Delta$ with an estimate of $H$ by the
# Fisher information (elastic weight consolidation, Kirkpatrick et al., 2017), or keep training on
# a little pretraining data ("replay", mixing it into the fine-tuning batches). In LLM alignment the
# same idea is the KL penalty to the reference model (`28-rlhf-ppo`).
#
# The measurement: the mean next-token cross-entropy of the language model on held-out Shakespeare,
# cut into consecutive windows of `length + 1` characters (input the first `length`, targets the
# last `length`, shifted by one), a remainder too short for a window dropped. The course model's
# figure is about 1.5 nats per character; `ln 65 = 4.17` is a uniform guess.
#
# Write `heldout_loss` (about 5 minutes), under `torch.no_grad()`.

# %% nbgrader={"grade": false, "grade_id": "heldout_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def heldout_loss(model: nn.Module, tokens: torch.Tensor, length: int = 256) -> float:
    """The language-model loss of a GPT2LMHeadModel on consecutive windows of held-out tokens.

    Args:
        model: a GPT2LMHeadModel.
        tokens: LongTensor (N,), held-out text as tokens.
        length: tokens per window; window i has inputs tokens[i*length : (i+1)*length] and targets
            tokens[i*length + 1 : (i+1)*length + 1]; K = (N - 1) // length windows, the rest dropped.

    Returns:
        The mean next-token cross-entropy over all K * length targets, a Python float (nats per token).

    Example:
        >>> heldout_loss(load_course_model(), HELDOUT_TOKENS)   # 64 windows of 256
        1.5...
    """
    ### BEGIN SOLUTION
    windows = (len(tokens) - 1) // length
    inputs = tokens[: windows * length].view(windows, length)
    targets = tokens[1: windows * length + 1].view(windows, length)   # the next token of each input
    with torch.no_grad():
        logits = model(inputs).logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1)).item()
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "heldout_loss_matches", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""heldout_loss of a seeded tiny GPT on held-out text, for several window lengths, equals the mean next-token cross-entropy computed window by window"""
from grader.testing import scenario, expect


@scenario
def heldout_on_tiny(ns, tokens, length, seed):
    """heldout_loss of a seeded float64 tiny GPT: the value and the model's weights."""
    from course_model import new_model
    torch.manual_seed(seed)
    model = new_model(torch.float64, n_layer=2, n_embd=32, n_head=2).eval()
    return {"loss": ns.heldout_loss(model, tokens, length), "state": {name: t.detach().clone() for name, t in model.state_dict().items()}}


tokens = HELDOUT_TOKENS[:65]
got = heldout_on_tiny.learner(tokens, 16, 0)
expect.true(isinstance(got["loss"], float) and math.isfinite(got["loss"]), "heldout_loss must return a finite Python float")
expect.true(3.5 < got["loss"] < 5.0, f"a random tiny GPT should score near ln 65 = 4.17 nats, not {got['loss']:.3f}")
### BEGIN HIDDEN TESTS
def window_by_window(state, tokens, length):
    model = new_model(torch.float64, **TINY).eval()
    model.load_state_dict(state)
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(tokens) - length, length):
            x, y = tokens[start:start + length], tokens[start + 1:start + length + 1]
            total += F.cross_entropy(model(x[None]).logits[0], y, reduction="sum").item()
            count += length
    return total / count

for n, length, seed in [(65, 16, 0), (70, 16, 1), (100, 33, 2), (41, 40, 3)]:
    tokens = HELDOUT_TOKENS[100:100 + n]
    got = heldout_on_tiny.learner(tokens, length, seed)
    expect.close(got["loss"], window_by_window(got["state"], tokens, length), atol=1e-6, rtol=1e-6,
                 what=f"heldout_loss of {n} tokens in windows of {length}",
                 hint="targets are the inputs shifted by one (tokens[i*length + 1 : (i+1)*length + 1]); (N - 1) // length whole "
                      "windows, the rest dropped; the mean over all targets")
### END HIDDEN TESTS

# %% [markdown]
# ### The forgetting curve
#
# Full fine-tuning of the course model on the reversal task, 60 steps of 16 lines at lr 3e-4, the
# held-out loss measured every 10 steps (this cell uses your functions and takes about half a
# minute; it runs when they are done):

# %%
def fine_tune_run(top_k: int, steps: int = 60, lr: float = 3e-4, every: int = 10, seed: int = 0) -> dict:
    """Fine-tune the course model on the reversal task with unfreeze_top(model, top_k) and a new head.

    Returns: {"steps", "heldout" (held-out LM loss at those steps), "losses" (task loss per step),
    "accuracy" (on 256 fresh lines of the training text), "trainable"}.
    """
    torch.manual_seed(seed)
    model = load_course_model()
    trainable = unfreeze_top(model, top_k)
    head = nn.Linear(model.config.n_embd, 2, bias=False)
    trainable += head.weight.numel()
    generator = torch.Generator().manual_seed(seed)
    batches = [reversal_batch(TRAIN_TEXT, 16, generator) for _ in range(steps)]
    record = {"steps": [0], "heldout": [heldout_loss(model, HELDOUT_TOKENS)], "losses": [], "trainable": trainable}
    optimizer_steps = 0
    for start in range(0, steps, every):
        record["losses"] += train_classifier(model, head, batches[start:start + every], lr)   # a fresh AdamW per chunk: simple, near enough
        optimizer_steps += len(batches[start:start + every])
        record["steps"].append(optimizer_steps)
        record["heldout"].append(heldout_loss(model, HELDOUT_TOKENS))
    test_ids, test_mask, test_labels = reversal_batch(TRAIN_TEXT, 256, torch.Generator().manual_seed(1000 + seed))
    with torch.no_grad():
        record["accuracy"] = (classify(model, head, test_ids, test_mask).argmax(-1) == test_labels).float().mean().item()
    return record


try:
    started = time.time()
    runs = {"head only": fine_tune_run(0), "top block": fine_tune_run(1), "all": fine_tune_run(5)}
    print(f"three runs in {time.time() - started:.0f} s")
except NotImplementedError:
    runs = None
    print("write the functions above first: this experiment uses them")

# %%
if runs is not None:
    fig, (ax_curve, ax_loss, ax_trade) = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, run in runs.items():
        ax_curve.plot(run["steps"], run["heldout"], marker="o", label=name)
        ax_loss.plot(np.convolve(run["losses"], np.ones(5) / 5, mode="valid"), label=name)
        forgetting = run["heldout"][-1] - run["heldout"][0]
        ax_trade.scatter(forgetting, run["accuracy"], s=60)
        ax_trade.annotate(f"{name}\n{run['trainable']:,} trainable", (forgetting, run["accuracy"]), textcoords="offset points", xytext=(6, -12))
    ax_curve.axhline(runs["all"]["heldout"][0], color="grey", ls=":", lw=1)
    ax_curve.set(xlabel="fine-tuning step", ylabel="held-out Shakespeare loss (nats/char)", title="the forgetting curve")
    ax_loss.set(xlabel="step", ylabel="task loss (5-step mean)", title="the reversal task")
    ax_trade.set(xlabel="forgetting: rise of the held-out loss", ylabel="task accuracy (256 lines)", title="freezing trades accuracy for forgetting")
    ax_curve.legend()
    ax_loss.legend()
    fig.tight_layout()
    plt.show()
    for name, run in runs.items():
        print(f"{name:10s} accuracy {run['accuracy']:.3f}   held-out loss {run['heldout'][0]:.3f} -> {run['heldout'][-1]:.3f}")

# %% [markdown]
# **Reading the figure.** With the body frozen, the language model is untouched, so forgetting is
# exactly zero; the head alone, on features that were never trained to notice reversal, does little
# better than chance. Unfreezing the top block buys most of the accuracy for a small rise of the
# held-out loss. Full fine-tuning solves the task and pays for it: the held-out loss climbs within a
# few dozen steps, because the whole body, the tied `wte` / `lm_head` included, moves to serve the
# new task and the reversed text it reads. Nothing in the task loss warns you: it only falls. That is
# why a fine-tuning run needs a forgetting probe beside its task metric.
#
# ## 7 · Practical considerations
#
# - **Check what trains before you train.** Print `count_parameters` (and the names with
#   `requires_grad`) after every freezing step; frozen-by-attribute and unfreeze-the-wrong-end bugs
#   raise no error. peft's `print_trainable_parameters()` exists for this reason.
# - **Build the optimizer after freezing, over trainable parameters only**, and rebuild it (or add a
#   parameter group) when gradual unfreezing adds parameters: an optimizer built before does not
#   know them, one built over everything decays and moves the frozen ones.
# - **Weight decay groups**: decay matrices, never biases and norm gains; in fine-tuning a small
#   decay (0.0 to 0.1), or L2-SP toward $\theta_0$.
# - **Pooling in a causal model**: last real token, found from the mask, for right and left padding.
#   Batched generation pads on the left, classification batches often on the right: a pooling that
#   assumes one breaks on the other.
# - **`eval()` and `train()`**: dropout is off in the course model, but in most checkpoints it is
#   on; evaluate in `eval()` mode and under `no_grad()`.
# - **Learning rate**: 10-100 x below pretraining; warm-up; a head-only stage first (linear probing,
#   then fine-tuning, "LP-FT", Kumar et al., 2022, which keeps features from being distorted by a
#   random head).
# - **Measure forgetting on held-out text**, with the same windows before and after; on training
#   text a memorising model looks as if it forgot nothing.
# - **Mixed precision**: compute the loss in float32 (`19-training`).

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | freezing | $\theta_F$ fixed: no gradient, no update | `p.requires_grad_(False) for p in module.parameters()` | linear probes, adapters, LoRA's frozen base |
# | trainable count | $\sum_{p:\,\text{trainable}} \lvert p\rvert$, tied tensors once | `sum(p.numel() for p in model.parameters() if p.requires_grad)` | peft's `print_trainable_parameters` |
# | gradual unfreezing | stage $k$: top $k$ blocks + final norm | `freeze(model)`, then `unfreeze(h[L - k:])` | ULMFiT; LP-FT |
# | optimizer groups | AdamW on trainable params; decay only $\dim \ge 2$ | two `param_groups`, `weight_decay` 0 for vectors | every fine-tuning script, transformers' `Trainer` |
# | last-token pooling | $h_{t^\ast}$, $t^\ast = \max\{t: m_t = 1\}$ | `(arange(T) * mask).argmax(-1)` | `GPT2ForSequenceClassification`, reward models (`27`) |
# | mean pooling | $\sum_t m_t h_t / \sum_t m_t$ | `(h * m[..., None]).sum(1) / m.sum(1, keepdim=True)` | sentence embeddings |
# | classification loss | $-\log\operatorname{softmax}(z)_y$ on logits | `F.cross_entropy(logits, labels)` | classifiers, reward models, SFT |
# | forgetting | $L^{\text{held-out}}(\theta) - L^{\text{held-out}}(\theta_0) \approx \tfrac12\Delta^\top H\Delta$ | fixed held-out windows, `no_grad()` | a probe beside every fine-tune; KL to the reference in RLHF |

# %% [markdown]
# # 07 · Regularization: dropout, batch norm, layer norm, weight decay, label smoothing, early stopping
#
# A network with enough parameters can memorise its training set, noise included: the training
# loss goes to zero while the loss on data it has never seen goes *up*. Regularization is
# everything that narrows that gap without adding data. This notebook builds the six techniques
# that modern networks use, each as a NumPy function that matches PyTorch to the last digit:
#
# $$\boxed{\;\operatorname{dropout}(x) = \frac{m \odot x}{1-p},\quad m_i \sim \operatorname{Bernoulli}(1-p)
# \qquad\qquad
# \operatorname{norm}(x) = \gamma \odot \frac{x-\mu}{\sqrt{\sigma^2+\epsilon}} + \beta\;}$$
#
# Dropout multiplies activations by random zeros and rescales the survivors; batch norm takes
# $\mu, \sigma^2$ over the batch, layer norm over the features of one example. Around them stand
# weight decay ($+\tfrac{\lambda}{2}\lVert W\rVert^2$), label smoothing (a softer target than a
# one-hot vector) and early stopping (keep the checkpoint with the best validation loss).
# Why this matters for LLMs: every transformer block normalises its inputs with LayerNorm (GPT-2,
# BERT) or its cousin RMSNorm (LLaMA); GPT-2 and BERT train with dropout 0.1; most large models are
# trained with weight decay 0.1 in AdamW; the original Transformer used label smoothing 0.1; and
# every fine-tuning run on a small dataset (phase 4) is an exercise in not overfitting, decided by
# a validation loss and a patience.
#
# **What you will build:** inverted dropout with a testable mask, batch norm forward and backward
# with torch's running statistics, layer norm forward and backward, the weight-decay penalty with
# nanoGPT's choice of which parameters to decay, label-smoothed cross-entropy exactly as
# `F.cross_entropy(label_smoothing=...)` defines it, and an early-stopping rule. Each one is then
# switched on in a small network that overfits, and you see what it does to the training and
# validation curves.

# %% [markdown]
# ## Prerequisites
#
# - `03-probability`: softmax, log-softmax and cross-entropy from logits; the maximum-likelihood
#   variance divides by $N$, the unbiased one by $N-1$.
# - `04-optimization`: SGD with momentum, and AdamW's *decoupled* weight decay (section 5 here
#   explains how it relates to the L2 penalty).
# - `06-mlp`: forward and backward passes of an MLP by hand, He initialisation.
# - `02-calculus`: gradient checking with central differences.
#
# Packages: `numpy` (all your code, in float64), `matplotlib` (plots), `torch` (only as the
# reference the tests compare you with, and for a few explanatory figures).

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

np.set_printoptions(precision=5, suppress=True)
DTYPE = torch.float64  # torch's side of every comparison runs in float64, like your NumPy code

# %% [markdown]
# ## 1 · The problem: a network that memorises
#
# The toy problem of this notebook: three overlapping Gaussian clouds in the plane, 60 training
# points and 600 validation points. The clouds overlap, so even the best possible classifier
# gets about 15% of the points wrong: some training points lie deep inside another class's
# cloud. A network that fits those points exactly has learned noise.
#
# The network is an MLP with two hidden layers of 128 ReLU units, about 17,000 parameters for 60
# points, trained with full-batch SGD and momentum 0.9. The code below is the whole training
# loop. Read it once: every technique of this notebook plugs into one marked place of it
# (`config` says which), and the helper calls *your* functions there once you have written them.
#
# - After each hidden linear layer: batch norm or layer norm (sections 3 and 4), then ReLU, then
#   dropout (section 2).
# - The loss: plain or label-smoothed cross-entropy (section 6).
# - The gradient: plus the weight-decay gradient (section 5).
#
# "Train loss" in the plots is always the plain cross-entropy on the whole training set in
# evaluation mode (dropout off, batch norm on running statistics), so that all runs are measured
# with the same ruler.

# %%
def make_toy_problem(seed: int = 42, n_train: int = 60, n_val: int = 600, spread: float = 1.0) -> dict:
    """Three overlapping Gaussian clouds in 2-D: float64 features (n, 2) and int64 labels (n,) for train and validation."""
    rng = np.random.default_rng(seed)

    def sample(n):
        labels = rng.integers(0, 3, size=n)
        angles = 2 * np.pi * labels / 3
        centers = 1.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        return centers + spread * rng.normal(size=(n, 2)), labels

    x_train, y_train = sample(n_train)
    x_val, y_val = sample(n_val)
    return {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val}


class Regularization:
    """Which techniques the toy MLP uses; each setting belongs to one section of this notebook."""

    def __init__(self, dropout: float = 0.0, norm: str = "", weight_decay: float = 0.0, label_smoothing: float = 0.0):
        self.dropout = dropout                  # p of inverted dropout after each hidden ReLU (section 2)
        self.norm = norm                        # "batch" or "layer": normalise each hidden pre-activation (sections 3, 4)
        self.weight_decay = weight_decay        # lambda of the L2 penalty on the weight matrices (section 5)
        self.label_smoothing = label_smoothing  # epsilon of the smoothed cross-entropy (section 6)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of logits (N, K) against int labels (N,) and its gradient w.r.t. the logits (03-probability)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    grad = np.exp(log_probs)
    grad[rows, labels] -= 1.0
    return float(-log_probs[rows, labels].mean()), grad / len(labels)


def init_mlp(sizes: list[int], rng: np.random.Generator) -> dict:
    """He-initialised weights W{i} (fan_in, fan_out), zero biases b{i}, and a norm gain and shift per hidden layer."""
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        params[f"W{i}"] = rng.normal(size=(fan_in, fan_out)) * math.sqrt(2.0 / fan_in)
        params[f"b{i}"] = np.zeros(fan_out)
    for i, width in enumerate(sizes[1:-1]):
        params[f"gamma{i}"], params[f"beta{i}"] = np.ones(width), np.zeros(width)
    return params


def mlp_forward(params: dict, x: np.ndarray, config: Regularization, training: bool, norm_state: dict,
                rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Logits (N, K) and what the backward pass needs. In training mode batch norm updates norm_state."""
    n_hidden = sum(name.startswith("W") for name in params) - 1
    cache, h = [], x
    for i in range(n_hidden):
        a = h @ params[f"W{i}"] + params[f"b{i}"]
        if config.norm == "batch":
            a_norm, norm_state[f"mean{i}"], norm_state[f"var{i}"] = batchnorm_forward(
                a, params[f"gamma{i}"], params[f"beta{i}"], norm_state[f"mean{i}"], norm_state[f"var{i}"], training)
        elif config.norm == "layer":
            a_norm = layernorm_forward(a, params[f"gamma{i}"], params[f"beta{i}"])
        else:
            a_norm = a
        r = np.maximum(a_norm, 0.0)
        keep = None
        if config.dropout > 0:
            keep = dropout_mask(r.shape, config.dropout, rng) if training else None
            r = dropout_forward(r, keep, config.dropout, training)
        cache.append((h, a, a_norm, keep))
        h = r
    return h @ params[f"W{n_hidden}"] + params[f"b{n_hidden}"], cache + [h]


def mlp_backward(params: dict, grad_logits: np.ndarray, cache: list, config: Regularization) -> dict:
    """Gradients of the loss w.r.t. every parameter, from dLoss/dlogits (N, K) and a training-mode cache."""
    *layers, h = cache
    n_hidden = len(layers)
    grads = {f"W{n_hidden}": h.T @ grad_logits, f"b{n_hidden}": grad_logits.sum(axis=0)}
    g = grad_logits @ params[f"W{n_hidden}"].T
    for i in reversed(range(n_hidden)):
        h_in, a, a_norm, keep = layers[i]
        if config.dropout > 0:
            g = dropout_backward(g, keep, config.dropout)
        g = g * (a_norm > 0)  # ReLU
        if config.norm == "batch":
            g, grads[f"gamma{i}"], grads[f"beta{i}"] = batchnorm_backward(g, a, params[f"gamma{i}"])
        elif config.norm == "layer":
            g, grads[f"gamma{i}"], grads[f"beta{i}"] = layernorm_backward(g, a, params[f"gamma{i}"])
        else:
            grads[f"gamma{i}"], grads[f"beta{i}"] = np.zeros_like(params[f"gamma{i}"]), np.zeros_like(params[f"beta{i}"])
        grads[f"W{i}"], grads[f"b{i}"] = h_in.T @ g, g.sum(axis=0)
        g = g @ params[f"W{i}"].T
    return grads


def evaluate(params: dict, x: np.ndarray, y: np.ndarray, config: Regularization, norm_state: dict) -> tuple[float, float]:
    """Plain cross-entropy and accuracy in evaluation mode (no dropout, batch norm on running statistics)."""
    logits, _ = mlp_forward(params, x, config, False, norm_state, None)
    return softmax_cross_entropy(logits, y)[0], float(np.mean(logits.argmax(axis=1) == y))


def train_mlp(config: Regularization, data: dict, steps: int = 1000, lr: float = 0.02, width: int = 128,
              seed: int = 0, eval_every: int = 10) -> dict:
    """Full-batch SGD with momentum 0.9 (torch's convention, 04-optimization) on the toy problem.

    Returns the history, one entry per evaluation (every eval_every steps): "train_loss", "val_loss",
    "val_accuracy", "weight_norm" (the sum of squared weight-matrix entries), and the final "params"
    and "norm_state".
    """
    try:  # tiny matrices: one BLAS thread is much faster than two that fight over a busy CPU
        from threadpoolctl import threadpool_limits
        limit = threadpool_limits(1)
    except ImportError:
        limit = None
    rng = np.random.default_rng(seed)
    params = init_mlp([data["x_train"].shape[1], width, width, 3], rng)
    velocity = {name: np.zeros_like(value) for name, value in params.items()}
    norm_state = {f"{stat}{i}": np.full(width, start) for i in range(2) for stat, start in [("mean", 0.0), ("var", 1.0)]}
    history = {"train_loss": [], "val_loss": [], "val_accuracy": [], "weight_norm": []}
    for step in range(steps + 1):
        if step % eval_every == 0:
            history["train_loss"].append(evaluate(params, data["x_train"], data["y_train"], config, norm_state)[0])
            val_loss, val_accuracy = evaluate(params, data["x_val"], data["y_val"], config, norm_state)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_accuracy)
            history["weight_norm"].append(sum(float(np.sum(v**2)) for v in params.values() if v.ndim >= 2))
        if step == steps:
            break
        logits, cache = mlp_forward(params, data["x_train"], config, True, norm_state, rng)
        if config.label_smoothing > 0:
            _, grad_logits = label_smoothing_cross_entropy(logits, data["y_train"], config.label_smoothing)
        else:
            _, grad_logits = softmax_cross_entropy(logits, data["y_train"])
        grads = mlp_backward(params, grad_logits, cache, config)
        if config.weight_decay > 0:
            _, decay_grads = weight_decay_penalty(params, config.weight_decay)
            grads = {name: grads[name] + decay_grads[name] for name in grads}
        for name in params:
            velocity[name] = 0.9 * velocity[name] + grads[name]
            params[name] = params[name] - lr * velocity[name]
    if limit is not None:
        limit.restore_original_limits()
    return {**{k: np.array(v) for k, v in history.items()}, "params": params, "norm_state": norm_state, "eval_every": eval_every}


def plot_histories(histories: dict, title: str) -> None:
    """Train (dashed) and validation (solid) loss, and validation accuracy, of several runs side by side."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 3.8))
    for (name, history), color in zip(histories.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        steps = np.arange(len(history["val_loss"])) * history["eval_every"]
        ax_loss.plot(steps, history["train_loss"], ls="--", color=color, lw=1)
        ax_loss.plot(steps, history["val_loss"], color=color, label=name)
        ax_acc.plot(steps, history["val_accuracy"], color=color, label=name)
    ax_loss.set(yscale="log", xlabel="step", ylabel="cross-entropy", title=f"{title}: train (dashed) and validation (solid)")
    lowest = min(float(np.min(history["val_accuracy"][1:])) for history in histories.values())
    ax_acc.set(xlabel="step", ylabel="validation accuracy", title="validation accuracy (after the first evaluation)",
               ylim=(lowest - 0.01, None))
    ax_loss.legend(fontsize=8)
    ax_acc.legend(fontsize=8)
    fig.tight_layout()
    plt.show()


# %% [markdown]
# First the baseline, with nothing switched on (this needs none of your code):

# %%
toy_data = make_toy_problem()
runs = {"none": train_mlp(Regularization(), toy_data)}

fig, (ax_data, ax_curves, ax_regions) = plt.subplots(1, 3, figsize=(15, 4))
colors = np.array(["tab:blue", "tab:orange", "tab:green"])
ax_data.scatter(*toy_data["x_val"].T, c=colors[toy_data["y_val"]], s=6, alpha=0.25)
ax_data.scatter(*toy_data["x_train"].T, c=colors[toy_data["y_train"]], s=40, edgecolor="k")
ax_data.set(title="60 training points (ringed) and 600 validation points", aspect="equal")

baseline = runs["none"]
steps_axis = np.arange(len(baseline["val_loss"])) * baseline["eval_every"]
ax_curves.plot(steps_axis, baseline["train_loss"], "--", label="train")
ax_curves.plot(steps_axis, baseline["val_loss"], label="validation")
ax_curves.axvline(steps_axis[np.argmin(baseline["val_loss"])], color="grey", ls=":", label="best validation loss")
ax_curves.set(yscale="log", xlabel="step", ylabel="cross-entropy", title="no regularization")
ax_curves.legend()

grid = np.stack(np.meshgrid(np.linspace(-3.5, 3.5, 300), np.linspace(-3.5, 3.5, 300)), axis=-1).reshape(-1, 2)
grid_logits, _ = mlp_forward(baseline["params"], grid, Regularization(), False, baseline["norm_state"], None)
ax_regions.contourf(grid[:, 0].reshape(300, 300), grid[:, 1].reshape(300, 300), grid_logits.argmax(1).reshape(300, 300),
                    levels=[-0.5, 0.5, 1.5, 2.5], colors=list(colors), alpha=0.25)
ax_regions.scatter(*toy_data["x_train"].T, c=colors[toy_data["y_train"]], s=40, edgecolor="k")
ax_regions.set(title="decision regions after 1000 steps", aspect="equal", xlim=(-3.5, 3.5), ylim=(-3.5, 3.5))
fig.tight_layout()
plt.show()
print(f"train loss {baseline['train_loss'][-1]:.4f}, validation loss {baseline['val_loss'][-1]:.3f} "
      f"(best {baseline['val_loss'].min():.3f} at step {steps_axis[np.argmin(baseline['val_loss'])]}), "
      f"validation accuracy {baseline['val_accuracy'][-1]:.3f} (best {baseline['val_accuracy'].max():.3f})")

# %% [markdown]
# The training loss falls towards zero: the network classifies all 60 training points
# correctly, including the ones that lie inside another class's cloud, by bending its decision
# boundaries into thin tongues around them, and it grows more confident on every one of them
# with each step. The validation loss reaches its best after about 50 steps and then *doubles*:
# the network is now just as confident on the validation points it gets wrong (about one in six),
# and cross-entropy punishes a confident mistake without limit; those points make almost all of
# the validation loss. The validation accuracy drops much less, by a point or two, because
# accuracy ignores confidence.
#
# **What to expect.** Here is the same experiment with PyTorch's own modules: `nn.Dropout`,
# `weight_decay` in `torch.optim.SGD` (on the weight matrices only) and
# `F.cross_entropy(label_smoothing=...)`. These are the references your functions are tested
# against. In the sections that follow you will reproduce every curve with your own code.

# %%
def torch_toy_run(data: dict, dropout: float = 0.0, weight_decay: float = 0.0, label_smoothing: float = 0.0,
                  steps: int = 1000, lr: float = 0.02, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The toy MLP built from torch.nn modules; train and validation cross-entropy every 10 steps."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Dropout(dropout),
                          nn.Linear(128, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, 3)).to(DTYPE)
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    vectors = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.SGD([{"params": matrices, "weight_decay": weight_decay},
                                 {"params": vectors, "weight_decay": 0.0}], lr=lr, momentum=0.9)
    x_train, y_train, x_val, y_val = (torch.as_tensor(data[k]) for k in ("x_train", "y_train", "x_val", "y_val"))
    train_curve, val_curve = [], []
    for step in range(steps + 1):
        if step % 10 == 0:
            model.eval()  # dropout off for measuring
            with torch.no_grad():
                train_curve.append(F.cross_entropy(model(x_train), y_train).item())
                val_curve.append(F.cross_entropy(model(x_val), y_val).item())
        if step == steps:
            break
        model.train()
        loss = F.cross_entropy(model(x_train), y_train, label_smoothing=label_smoothing)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return np.array(train_curve), np.array(val_curve)


threads = torch.get_num_threads()
torch.set_num_threads(1)  # tiny matrices: one thread is fastest
fig, ax = plt.subplots(figsize=(8, 4))
for (name, options), color in zip({"none": {}, "nn.Dropout(0.5)": {"dropout": 0.5}, "weight_decay=0.01": {"weight_decay": 0.01},
                                   "label_smoothing=0.1": {"label_smoothing": 0.1}}.items(), ["C0", "C1", "C2", "C3"]):
    train_curve, val_curve = torch_toy_run(toy_data, **options)
    ax.plot(np.arange(len(val_curve)) * 10, train_curve, "--", color=color, lw=1)
    ax.plot(np.arange(len(val_curve)) * 10, val_curve, color=color, label=name)
torch.set_num_threads(threads)
ax.set(yscale="log", xlabel="step", ylabel="cross-entropy", title="torch.nn on the toy problem: train (dashed), validation (solid)")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Every technique keeps the validation loss from running away, each in its own way. Dropout
# slows the memorisation down. Weight decay stops it: the training loss settles well above zero.
# Label smoothing forbids the infinite confidence that made the validation loss explode. None of
# them makes 60 points into 600, and the best validation loss of each run is reached early and is
# about the same: the last technique, early stopping, simply keeps that best point.

# %% [markdown]
# ## 2 · Inverted dropout
#
# ### The operation
#
# During training, dropout sets each activation to zero with probability $p$, independently,
# and multiplies the survivors by $1/(1-p)$. At evaluation it does nothing:
#
# $$\text{training:}\quad y_i = \frac{m_i\, x_i}{1-p},\quad m_i \sim \operatorname{Bernoulli}(1-p)\ \text{independent};
# \qquad\qquad \text{evaluation:}\quad y_i = x_i .$$
#
# $p$ is the probability of **dropping** (torch's convention: `nn.Dropout(0.1)` drops 10%). The
# original paper (Srivastava et al., 2014) wrote $p$ for the probability of *keeping*; mixing the
# two conventions up is a classic bug.
#
# ### Why divide by $1-p$
#
# The next layer must see inputs of the same size in training and at evaluation. In training
# $\mathbb{E}[m_i] = 1-p$, so
#
# $$\mathbb{E}[y_i] = \frac{(1-p)\, x_i}{1-p} = x_i, \qquad
# \operatorname{Var}[y_i] = x_i^2\,\frac{p}{1-p}.$$
#
# Without the division, a unit that sums 100 dropped-out inputs receives on average
# $(1-p)\cdot 100$ of them in training and all 100 at evaluation: with $p = 0.5$ its input doubles the
# moment you call `model.eval()`, and every later layer sees activations it was never trained on.
# The paper fixed this at test time by multiplying the weights by the keep probability; *inverted*
# dropout moves the correction into training, so inference code does not need to know that
# dropout ever existed. That is what `torch.nn.Dropout` does.
#
# ### The backward pass
#
# For a fixed mask, $y = x \odot m/(1-p)$ is linear in $x$, so
#
# $$\frac{\partial L}{\partial x_i} = \frac{m_i}{1-p}\,\frac{\partial L}{\partial y_i} :$$
#
# the gradient flows only through the units that were kept, scaled exactly like the forward pass.
# The backward pass must reuse **the same mask** as the forward pass, which is why the mask is an
# explicit value here: `dropout_mask` draws it from a `np.random.Generator` you pass in (the same
# seed gives the same mask, so runs and tests are reproducible), and the forward and backward
# functions take it as an argument.
#
# **What this means.** Each training step trains a random sub-network of the full one (a
# network with $n$ droppable units has $2^n$ of them, all sharing weights). No unit can rely on a
# particular other unit being present, so features must be useful on their own and redundant
# rather than finely co-adapted. At evaluation the full network computes (approximately) the
# average prediction of that huge ensemble. The price: noisier gradients, so training takes longer.
#
# A worked example: one mask by hand, and the average over many masks.

# %%
rng = np.random.default_rng(0)
x_demo = np.arange(1.0, 9.0)
p_demo = 0.5
keep_demo = rng.random(x_demo.shape) >= p_demo          # True with probability 1 - p
print("x              :", x_demo)
print("keep mask      :", keep_demo.astype(int))
print("dropout(x)     :", x_demo * keep_demo / (1 - p_demo))
many = rng.random((20000, 8)) >= p_demo
print("mean of 20,000 :", (x_demo * many / (1 - p_demo)).mean(axis=0).round(2), " (inverted: the mean is x)")
print("without 1/(1-p):", (x_demo * many).mean(axis=0).round(2), " (what a layer would see in training)")

# %% [markdown]
# `torch.nn.functional.dropout` on a block of ones shows both facts at once: the pattern of zeros,
# and a mean that stays at 1 for every $p$ (while dropping without rescaling would give $1-p$):

# %%
torch.manual_seed(0)
fig, axes = plt.subplots(1, 4, figsize=(15, 2.8), gridspec_kw={"width_ratios": [1, 1, 1, 1.4]})
for ax, p in zip(axes[:3], [0.1, 0.5, 0.8]):
    ax.imshow(F.dropout(torch.ones(8, 24, dtype=DTYPE), p, training=True).numpy(), cmap="Greys_r", vmin=0, vmax=5)
    ax.set(title=f"F.dropout(ones, p={p})", xticks=[], yticks=[])
ps = np.linspace(0.0, 0.9, 10)
means = [F.dropout(torch.ones(100_000, dtype=DTYPE), float(p), training=True).mean().item() for p in ps]
axes[3].plot(ps, means, "o-", label="F.dropout (inverted)")
axes[3].plot(ps, 1 - ps, "s--", label="without 1/(1-p)")
axes[3].set(xlabel="p", ylabel="mean of the output", title="mean output on ones", ylim=(0, 1.2))
axes[3].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Now write the three functions. `dropout_mask` draws the mask, `dropout_forward` applies it
# (or does nothing at evaluation) and `dropout_backward` sends the gradient back through it.
# Two edge cases: $p = 0$ keeps everything, and $p = 1$ drops everything, so the output is all
# zeros (torch returns zeros there; $1/(1-p)$ is infinite, and $0\cdot\infty$ would be `NaN`).

# %% nbgrader={"grade": false, "grade_id": "dropout_mask", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dropout_mask(shape: tuple, p: float, rng: np.random.Generator) -> np.ndarray:
    """Draw a keep-mask for dropout: each entry independently True with probability 1 - p.

    Args:
        shape: tuple of ints, the shape of the activations, e.g. (N, D).
        p: the drop probability, 0 <= p <= 1 (torch's convention: p = 0.1 drops 10%);
           ValueError outside [0, 1].
        rng: a np.random.Generator. Draw all randomness from it (never from np.random.*
             global functions), so that the same seed gives the same mask.

    Returns:
        A bool array of the given shape, True = keep. p = 0 keeps everything, p = 1 nothing.

    Example:
        >>> dropout_mask((2, 4), 0.5, np.random.default_rng(0))
        array([[ True, False, False, False],
               [ True,  True,  True,  True]])

    About 5 minutes.
    """
    ### BEGIN SOLUTION
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"the drop probability must be in [0, 1], got {p}")
    return rng.random(shape) >= p  # uniform in [0, 1): at or above p with probability 1 - p
    ### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "dropout_forward_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dropout_forward(x: np.ndarray, keep: np.ndarray | None, p: float, training: bool = True) -> np.ndarray:
    """Inverted dropout: in training zero the dropped entries and divide the kept ones by 1 - p; at evaluation do nothing.

    Args:
        x: float64 array of any shape (the activations).
        keep: bool array of x's shape, True = keep (from dropout_mask). Ignored, and may be
              None, when training is False.
        p: the drop probability in [0, 1]; ValueError outside. p = 1 gives all zeros (not NaN).
        training: True in training (torch's model.train()), False at evaluation (model.eval()).

    Returns:
        A float64 array of x's shape: x * keep / (1 - p) in training, the values of x unchanged
        at evaluation.

    Example:
        >>> dropout_forward(np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, False, True, True]), 0.25)
        array([1.33333, 0.     , 4.     , 5.33333])

    About 5 minutes (with dropout_backward).
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"the drop probability must be in [0, 1], got {p}")
    if not training:
        return x.copy()          # evaluation: the identity, no mask and no scaling
    if p == 1.0:
        return np.zeros_like(x)  # everything dropped; 1 / (1 - p) would be infinite
    return x * keep / (1.0 - p)  # the kept entries, scaled so that the mean stays x
    ### END SOLUTION


def dropout_backward(grad_out: np.ndarray, keep: np.ndarray, p: float) -> np.ndarray:
    """The gradient of the loss w.r.t. dropout's input in training mode, given the gradient w.r.t. its output.

    Args:
        grad_out: float64 array, dL/dy, of the shape of the forward input.
        keep: the bool mask (same shape) the forward pass used.
        p: the drop probability in [0, 1].

    Returns:
        dL/dx, float64 of the same shape: grad_out * keep / (1 - p) (all zeros when p = 1).

    Example:
        >>> dropout_backward(np.ones(4), np.array([True, False, True, True]), 0.25)
        array([1.33333, 0.     , 1.33333, 1.33333])
    """
    ### BEGIN SOLUTION
    grad_out = np.asarray(grad_out, dtype=np.float64)
    if p == 1.0:
        return np.zeros_like(grad_out)
    return grad_out * keep / (1.0 - p)  # the same mask and the same scale as the forward pass
    ### END SOLUTION

# %% [markdown]
# The tests below call your functions through *scenarios*: small functions that build their own
# inputs (a Generator from a seed, for example, since a Generator cannot be sent to the grader)
# and return plain data. They are public; read them to see exactly what is run.

# %%
# Test helpers shared by the test cells of this notebook.
from grader.testing import scenario


@scenario
def dropout_draws(ns, shape, p, seed, n_draws=1):
    """n_draws keep-masks drawn in a row from one Generator seeded with `seed`, and dropout of x = linspace(0.5, 1.5) with each."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.5, 1.5, math.prod(shape)).reshape(tuple(shape))
    masks, outputs = [], []
    for _ in range(n_draws):
        keep = ns.dropout_mask(tuple(shape), p, rng)
        masks.append(keep)
        outputs.append(ns.dropout_forward(x, keep, p))
    return {"masks": masks, "outputs": outputs}


@scenario
def mask_after_global_seed(ns, global_seed, seed, p):
    """A mask from np.random.default_rng(seed), drawn after seeding NumPy's global generator with global_seed."""
    np.random.seed(global_seed)
    return ns.dropout_mask((40, 50), p, np.random.default_rng(seed))


def torch_dropout_with_mask(x: np.ndarray, p: float, grad_out: np.ndarray, seed: int) -> dict:
    """F.dropout on x (float64, no zero entries): its output, the mask it drew and the autograd gradient for grad_out."""
    x_torch = torch.tensor(x, dtype=DTYPE, requires_grad=True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        out = F.dropout(x_torch, p, training=True)
    out.backward(torch.as_tensor(grad_out, dtype=DTYPE))
    return {"out": out.detach().numpy(), "keep": out.detach().numpy() != 0, "grad": x_torch.grad.numpy()}


# %% nbgrader={"grade": true, "grade_id": "dropout_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""dropout doubles the kept entries for p = 0.5, zeroes the dropped ones, is the identity at evaluation, sends the gradient through the kept entries only, and dropout_mask returns a boolean mask of the requested shape"""
from grader.testing import learner, expect

x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
keep = np.array([[True, False, True], [False, True, True]])
out = learner.dropout_forward(x, keep, 0.5)
expect.shape(out, (2, 3), what="dropout_forward(x of shape (2, 3), keep, 0.5)")
expect.dtype(out, np.float64, what="dropout_forward's output", hint="work in float64")
expect.close(out, np.array([[2.0, 0.0, 6.0], [0.0, 10.0, 12.0]]), atol=1e-15, rtol=0, what="dropout_forward with p = 0.5 in training",
             hint="inverted dropout: dropped entries become 0 and kept ones are divided by 1 - p = 0.5")
expect.close(learner.dropout_forward(x, keep, 0.5, training=False), x, atol=0, rtol=0, what="dropout_forward at evaluation",
             hint="at evaluation (training=False) dropout is the identity: no mask and no scaling")
expect.close(learner.dropout_backward(np.ones((2, 3)), keep, 0.5), np.array([[2.0, 0.0, 2.0], [0.0, 2.0, 2.0]]), atol=1e-15, rtol=0,
             what="dropout_backward of ones with p = 0.5", hint="the gradient passes through the kept entries, times 1 / (1 - p)")
draw = dropout_draws.learner((3, 4), 0.5, 0)
expect.shape(draw["masks"][0], (3, 4), what="dropout_mask((3, 4), 0.5, rng)")
expect.dtype(draw["masks"][0], np.bool_, what="dropout_mask's mask", hint="return a boolean array, True = keep (rng.random(shape) >= p)")

# %% nbgrader={"grade": true, "grade_id": "dropout_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""on the very mask torch.nn.functional.dropout drew, dropout_forward gives torch's output and dropout_backward torch.autograd's gradient, for p = 0.2, 0.5 and 0.7; it is the identity at evaluation even when given a mask, the identity for p = 0, all zeros for p = 1, and refuses p outside [0, 1]"""
from grader.testing import learner, expect

x = np.array([[1.0, -2.0, 3.0, -4.0]])
got = learner.dropout_forward(x, np.array([[True, True, False, True]]), 0.25)
expect.close(got, np.array([[4 / 3, -8 / 3, 0.0, -16 / 3]]), atol=1e-15, rtol=1e-15, what="dropout_forward with p = 0.25",
             hint="kept entries are divided by 1 - p = 0.75 (p is the probability of DROPPING); dropped entries are 0")
### BEGIN HIDDEN TESTS
hint = ("inverted dropout: x * keep / (1 - p), with p the probability of dropping (torch's convention); "
        "dividing by p, or not dividing at all, changes the mean of the activations")
rng = np.random.default_rng(1)
for p, shape, seed in [(0.2, (64, 32), 11), (0.7, (3, 5, 40), 12), (0.5, (1, 200), 13)]:
    x = rng.normal(size=shape)
    grad_out = rng.normal(size=shape)
    want = torch_dropout_with_mask(x, p, grad_out, seed)
    got = learner.dropout_forward(x, want["keep"], p)
    expect.shape(got, shape, what=f"dropout_forward on an input of shape {shape}")
    expect.dtype(got, np.float64, what="dropout_forward's output", hint="work in float64")
    expect.close(got, want["out"], atol=0, rtol=1e-14, what=f"dropout_forward on torch's own mask, p = {p}", hint=hint)
    expect.close(learner.dropout_backward(grad_out, want["keep"], p), want["grad"], atol=0, rtol=1e-14,
                 what=f"dropout_backward on torch's own mask, p = {p}",
                 hint="the gradient goes through the kept entries with the forward pass's scale: grad_out * keep / (1 - p)")

# evaluation mode: the identity, even when a mask that drops entries is passed in
x = rng.normal(size=(6, 7))
keep = rng.random((6, 7)) >= 0.6
for p in (0.6, 0.25):
    expect.close(learner.dropout_forward(x, keep, p, training=False), x, atol=0, rtol=0, what=f"dropout_forward at evaluation, p = {p}",
                 hint="at evaluation (training=False) inverted dropout does nothing at all: ignore the mask and do not scale; "
                      "the scaling by 1 / (1 - p) during training is what makes this right")
expect.close(learner.dropout_forward(x, None, 0.6, training=False), x, atol=0, rtol=0, what="dropout_forward at evaluation with keep=None",
             hint="at evaluation the mask is not needed and may be None")
expect.close(learner.dropout_forward(x, np.ones((6, 7), dtype=bool), 0.0), x, atol=0, rtol=1e-15, what="dropout_forward with p = 0")

# p = 1 drops everything: zeros, not NaN, in both directions
zero_out = learner.dropout_forward(x, np.zeros((6, 7), dtype=bool), 1.0)
expect.finite(zero_out, what="dropout_forward with p = 1", hint="p = 1 drops every entry: return zeros instead of computing 0 / 0")
expect.close(zero_out, np.zeros((6, 7)), atol=0, rtol=0, what="dropout_forward with p = 1")
expect.close(learner.dropout_backward(x, np.zeros((6, 7), dtype=bool), 1.0), np.zeros((6, 7)), atol=0, rtol=0,
             what="dropout_backward with p = 1", hint="p = 1: the gradient is zero everywhere (and never NaN)")
expect.raises("ValueError", learner.dropout_forward, x, keep, 1.5)
expect.raises("ValueError", learner.dropout_forward, x, keep, -0.1)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "dropout_mask_statistics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""dropout_mask drops each entry independently with probability p, drawing only from the Generator it is given, and dropout then keeps the mean of its input, like torch.nn.functional.dropout (fractions within 5 standard deviations of the binomial)"""
from grader.testing import expect

first, again = dropout_draws.learner((20, 30), 0.3, 0), dropout_draws.learner((20, 30), 0.3, 0)
expect.shape(first["masks"][0], (20, 30), what="dropout_mask((20, 30), 0.3, rng)")
expect.dtype(first["masks"][0], np.bool_, what="dropout_mask's mask", hint="return a boolean array, True = keep")
expect.equal(np.asarray(first["masks"][0]), np.asarray(again["masks"][0]), what="two masks drawn from Generators with the same seed",
             hint="draw all randomness from the rng argument")
### BEGIN HIDDEN TESTS
shape, n = (400, 500), 400 * 500
for p, seed in [(0.1, 21), (0.3, 22), (0.75, 23)]:
    got = dropout_draws.learner(shape, p, seed, n_draws=2)
    for mask, out in zip(got["masks"], got["outputs"]):
        expect.shape(mask, shape, what=f"dropout_mask({shape}, {p}, rng)")
        expect.dtype(mask, np.bool_, what="dropout_mask's mask", hint="return a boolean array, True = keep")
        expect.shape(out, shape, what=f"dropout_forward of an input of shape {shape}")
    keep, keep_next = np.asarray(got["masks"][0]), np.asarray(got["masks"][1])
    sd = math.sqrt(p * (1 - p) / n)
    dropped = 1.0 - keep.mean()
    expect.true(abs(dropped - p) <= 5 * sd,
                f"with p = {p} your mask drops a fraction {dropped:.4f} of {n} entries, more than 5 binomial standard "
                f"deviations from p: p is the probability of DROPPING an entry (keep = rng.random(shape) >= p)")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        torch_out = F.dropout(torch.ones(shape, dtype=DTYPE), p, training=True).numpy()
    torch_dropped = float(np.mean(torch_out == 0))
    expect.true(abs(dropped - torch_dropped) <= 5 * math.sqrt(2) * sd,
                f"with p = {p} your mask drops {dropped:.4f} of the entries and torch's F.dropout {torch_dropped:.4f}, "
                f"too far apart for chance")
    for a, b, part in [(keep[:200], keep[200:], "rows"), (keep[:, :250], keep[:, 250:], "columns")]:
        half_sd = math.sqrt(p * (1 - p) / (n / 2))
        expect.true(abs((1 - a.mean()) - p) <= 5 * half_sd and abs((1 - b.mean()) - p) <= 5 * half_sd,
                    f"with p = {p} the two halves of your mask ({part}) drop different fractions: every entry must be dropped "
                    f"independently with probability p")
    for axis, length, part in [(1, 500, "row"), (0, 400, "column")]:
        spread = np.std((~keep).sum(axis=axis)) / math.sqrt(length * p * (1 - p))
        expect.true(0.75 <= spread <= 1.25,
                    f"with p = {p} the number of dropped entries per {part} varies {spread:.2f} times as much as independent "
                    f"draws would: draw every entry independently (rng.random(shape) >= p), not a fixed pattern")
    both = float(np.mean(keep & keep_next))
    q = (1 - p) ** 2
    expect.true(not np.array_equal(keep, keep_next) and abs(both - q) <= 5 * math.sqrt(q * (1 - q) / n),
                f"with p = {p} two masks drawn one after the other from the same Generator are not independent: "
                f"keep drawing from the same rng, do not reseed it")
    # the output: exactly x * keep / (1 - p), so its mean stays that of x (1.0), as torch's does on ones
    x = np.linspace(0.5, 1.5, n).reshape(shape)
    expect.close(got["outputs"][0], x * keep / (1 - p), atol=0, rtol=1e-15, what=f"dropout_forward with your mask, p = {p}",
                 hint="inverted dropout: x * keep / (1 - p)")
    mean, torch_mean = float(np.mean(got["outputs"][0])), float(torch_out.mean())
    sd_mean = math.sqrt(np.mean(x**2) * p / ((1 - p) * n))
    expect.true(abs(mean - 1.0) <= 5 * sd_mean and abs(torch_mean - 1.0) <= 5 * sd_mean,
                f"with p = {p} dropout of an input with mean 1 has mean {mean:.4f} (torch's F.dropout of ones: {torch_mean:.4f}): "
                f"inverted dropout divides the kept entries by 1 - p so that the mean is kept")

# only the Generator decides: NumPy's global seed changes nothing, another seed changes the mask
a = np.asarray(mask_after_global_seed.learner(0, 5, 0.5))
b = np.asarray(mask_after_global_seed.learner(1, 5, 0.5))
c = np.asarray(mask_after_global_seed.learner(0, 6, 0.5))
expect.shape(a, (40, 50), what="dropout_mask((40, 50), 0.5, rng)")
expect.true(np.array_equal(a, b), "the mask changed with NumPy's global seed: draw from the rng argument, not np.random.*")
expect.true(not np.array_equal(a, c), "two Generators with different seeds gave the same mask: draw from the rng argument")
# p = 0 keeps everything, p = 1 nothing
expect.true(bool(np.asarray(dropout_draws.learner((30, 30), 0.0, 3)["masks"][0]).all()), "dropout_mask with p = 0 must keep every entry")
drop_all = dropout_draws.learner((30, 30), 1.0, 3)
expect.true(not np.asarray(drop_all["masks"][0]).any(), "dropout_mask with p = 1 must drop every entry")
expect.close(drop_all["outputs"][0], np.zeros((30, 30)), atol=0, rtol=0, what="dropout_forward with p = 1",
             hint="p = 1 drops everything: the output is zeros, not NaN")
### END HIDDEN TESTS

# %% [markdown]
# Your dropout in the toy MLP ($p = 0.5$ after both hidden layers), next to the baseline:

# %%
try:
    runs["dropout 0.5"] = train_mlp(Regularization(dropout=0.5), toy_data)
    plot_histories({name: runs[name] for name in ["none", "dropout 0.5"]}, "dropout")
except NotImplementedError:
    print("Write dropout_mask, dropout_forward and dropout_backward above to see your dropout at work.")

# %% [markdown]
# With dropout the training loss falls more slowly and more noisily (each step trains another
# sub-network), the validation loss rises much more slowly, and the validation accuracy stays
# near its best. On 60 points in two dimensions dropout cannot do miracles; in
# large networks trained for a few epochs on limited data (BERT and GPT-2 fine-tuning, classic
# vision models) it was the standard regulariser. Large language models pre-trained on trillions
# of tokens see each example about once, cannot overfit in this sense, and mostly train with
# dropout 0 (LLaMA, for instance).

# %% [markdown]
# ## 3 · Batch normalisation
#
# ### Training mode: normalise each feature over the batch
#
# For a batch $x \in \mathbb{R}^{N\times D}$ ($N$ examples, $D$ features), batch norm normalises
# every feature (column) $j$ with the mean and variance of that column **in this batch**, then lets
# the network choose the scale and shift it wants with two learned vectors $\gamma, \beta \in \mathbb{R}^D$:
#
# $$\mu_j = \frac1N \sum_{n=1}^N x_{nj}, \qquad \sigma_j^2 = \frac1N \sum_{n=1}^N (x_{nj}-\mu_j)^2, \qquad
# \hat x_{nj} = \frac{x_{nj}-\mu_j}{\sqrt{\sigma_j^2+\epsilon}}, \qquad y_{nj} = \gamma_j\,\hat x_{nj} + \beta_j .$$
#
# The variance in the normalisation is the **biased** one (divide by $N$): it is the exact
# variance of the batch at hand, so each column of $\hat x$ has mean 0 and variance
# $\sigma^2/(\sigma^2+\epsilon) \approx 1$. $\epsilon$ (torch's default $10^{-5}$) sits inside the square
# root and keeps a constant column from dividing by zero.
#
# ### Running statistics, and evaluation mode
#
# At evaluation there may be no batch at all (one request at a time), and a prediction must not
# depend on which other examples happen to share its batch. So during training batch norm also
# keeps exponential moving averages of the statistics, and at evaluation it uses those instead:
#
# $$\hat\mu \leftarrow (1-m)\,\hat\mu + m\,\mu, \qquad
# \hat\sigma^2 \leftarrow (1-m)\,\hat\sigma^2 + m\,\frac{N}{N-1}\,\sigma^2, \qquad
# \text{evaluation:}\quad y_{nj} = \gamma_j\,\frac{x_{nj}-\hat\mu_j}{\sqrt{\hat\sigma_j^2+\epsilon}} + \beta_j ,$$
#
# starting from $\hat\mu = 0$, $\hat\sigma^2 = 1$. Two conventions here are torch's, and getting
# either wrong gives numbers that differ from `nn.BatchNorm1d`:
#
# - **momentum $m$ is the weight of the new batch.** `nn.BatchNorm1d(momentum=0.1)` means
#   new $= 0.9\cdot$old $+ 0.1\cdot$batch. This is the *opposite* of the momentum of optimisers (and of
#   Keras' `BatchNormalization(momentum=0.99)`, which is the weight of the old value).
# - **the running variance averages the unbiased batch variance** $\frac{N}{N-1}\sigma^2$, while the
#   normalisation itself uses the biased $\sigma^2$. The running average estimates the variance of
#   the whole data distribution, and the biased batch variance underestimates it on average by the
#   factor $(N-1)/N$: a quarter too small for batches of 4 (`03-probability`: the MLE variance
#   is biased).
#
# A batch of one has $\sigma^2 = 0$ and no unbiased variance at all: torch refuses it in training
# mode ("Expected more than 1 value per channel when training"), and so will your function.
#
# **What this means.** Whatever the previous layer does to the scale and offset of its outputs,
# the next layer receives features with mean 0 and variance 1 (then rescaled by the learned
# $\gamma, \beta$). That lets much larger learning rates train stably. It also makes each example's
# output depend on the other examples of its batch: a little noise that acts as a regulariser in
# training, and the reason why the evaluation mode must switch to fixed statistics. Forgetting
# `model.eval()` is the classic symptom: predictions change with the batch they are in.
#
# A worked example on a batch of four, by hand and with `nn.BatchNorm1d`:

# %%
x_demo = np.array([[1.0, 10.0, -3.0], [2.0, 14.0, -3.5], [4.0, 6.0, -2.0], [5.0, 10.0, -2.5]])
mean_demo = x_demo.mean(axis=0)
var_demo = ((x_demo - mean_demo) ** 2).mean(axis=0)                 # biased: divide by N
x_hat_demo = (x_demo - mean_demo) / np.sqrt(var_demo + 1e-5)
print("batch mean", mean_demo, " biased variance", var_demo)
print("x_hat column means", x_hat_demo.mean(axis=0).round(12), " column variances", x_hat_demo.var(axis=0).round(5))

bn_demo = nn.BatchNorm1d(3, momentum=0.1, dtype=DTYPE)              # gamma = 1, beta = 0 at initialisation
out_demo = bn_demo(torch.tensor(x_demo)).detach().numpy()
print("largest difference from nn.BatchNorm1d:", np.abs(out_demo - x_hat_demo).max())
print("running mean after one step:", bn_demo.running_mean.numpy(), "= 0.9 * 0 + 0.1 *", mean_demo)
print("running var after one step: ", bn_demo.running_var.numpy(), "= 0.9 * 1 + 0.1 *", var_demo * 4 / 3, "(unbiased)")

# %% [markdown]
# How the running statistics follow the data: batches of 4 drawn from a distribution with mean 3
# and variance 4, fed to `nn.BatchNorm1d` with two momenta. The grey curve averages the *biased*
# batch variance instead: it settles a quarter too low, at $\tfrac34 \cdot 4 = 3$.

# %%
rng = np.random.default_rng(1)
fig, (ax_mean, ax_var) = plt.subplots(1, 2, figsize=(12, 3.5))
stream = [rng.normal(3.0, 2.0, size=(4, 1)) for _ in range(150)]
for momentum in [0.1, 0.5]:
    module = nn.BatchNorm1d(1, momentum=momentum, dtype=DTYPE)
    means, variances = [], []
    with torch.no_grad():
        for batch in stream:
            module(torch.tensor(batch))
            means.append(module.running_mean.item())
            variances.append(module.running_var.item())
    ax_mean.plot(means, label=f"nn.BatchNorm1d, momentum={momentum}")
    ax_var.plot(variances, label=f"nn.BatchNorm1d, momentum={momentum}")
biased_average, biased_curve = 1.0, []
for batch in stream:
    biased_average = 0.9 * biased_average + 0.1 * batch.var()       # np.var divides by N: biased
    biased_curve.append(biased_average)
ax_var.plot(biased_curve, color="grey", label="averaging the biased variance, momentum=0.1")
ax_mean.axhline(3.0, color="k", ls=":", label="true mean")
ax_var.axhline(4.0, color="k", ls=":", label="true variance")
ax_mean.set(xlabel="training step", ylabel="running_mean", title="running mean")
ax_var.set(xlabel="training step", ylabel="running_var", title="running variance (batches of 4)")
ax_mean.legend(fontsize=8)
ax_var.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# With momentum 0.5 the running statistics react fast and stay noisy; with 0.1 they average
# over about the last $1/0.1 = 10$ batches. Now write batch norm's forward pass, both modes, as a
# pure function: it returns the new running statistics instead of modifying the ones it is given.

# %% nbgrader={"grade": false, "grade_id": "batchnorm_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray,
                      running_var: np.ndarray, training: bool = True, momentum: float = 0.1,
                      eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch normalisation of (N, D) inputs, exactly as torch.nn.BatchNorm1d(D, eps=eps, momentum=momentum).

    Args:
        x: float64 (N, D), a batch of N examples with D features.
        gamma, beta: float64 (D,), the learned scale and shift (torch's weight and bias).
        running_mean, running_var: float64 (D,), the running statistics (torch starts them at 0 and 1).
        training: True: normalise with the batch mean and the biased batch variance (divide by N)
            and update the running statistics; N must be at least 2 (ValueError otherwise).
            False: normalise with running_mean and running_var, and return them unchanged.
        momentum: the weight of the new batch: new = (1 - momentum) * old + momentum * batch
            statistic; the running variance averages the unbiased batch variance (divide by N - 1).
        eps: added to the variance inside the square root.

    Returns:
        (out, new_running_mean, new_running_var): out float64 (N, D) = gamma * x_hat + beta;
        the statistics float64 (D,), as new arrays (the arguments are not modified).

    Example:
        >>> batchnorm_forward(np.array([[1.0, 2.0], [3.0, 6.0]]), np.ones(2), np.zeros(2),
        ...                   np.zeros(2), np.ones(2), training=True, momentum=0.1, eps=0.0)
        (array([[-1., -1.], [ 1.,  1.]]), array([0.2, 0.4]), array([1.1, 1.7]))

    About 15 minutes.
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    if training:
        n = x.shape[0]
        if n < 2:
            raise ValueError(f"batch norm in training mode needs at least 2 examples per batch, got {n}")
        mean = x.mean(axis=0)
        var = ((x - mean) ** 2).mean(axis=0)  # biased: the exact variance of this batch
        x_hat = (x - mean) / np.sqrt(var + eps)
        new_running_mean = (1 - momentum) * running_mean + momentum * mean
        new_running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)  # unbiased, as torch
    else:
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        new_running_mean = np.array(running_mean, dtype=np.float64)
        new_running_var = np.array(running_var, dtype=np.float64)
    return gamma * x_hat + beta, new_running_mean, new_running_var
    ### END SOLUTION

# %%
# Test helpers: a run of training steps (and one evaluation) with your batch norm and with torch's.


@scenario
def batchnorm_run(ns, batches, gamma, beta, momentum, eps, eval_x=None):
    """Training-mode batch norm over the batches, from running statistics (0, 1), then optionally evaluation mode on eval_x."""
    width = len(gamma)
    running_mean, running_var = np.zeros(width), np.ones(width)
    result = {"out": [], "running_mean": [], "running_var": []}
    for x in batches:
        out, running_mean, running_var = ns.batchnorm_forward(x, gamma, beta, running_mean, running_var, True, momentum, eps)
        result["out"].append(out)
        result["running_mean"].append(running_mean)
        result["running_var"].append(running_var)
    if eval_x is not None:
        result["eval_out"], _, _ = ns.batchnorm_forward(eval_x, gamma, beta, running_mean, running_var, False, momentum, eps)
    return result


def torch_batchnorm_run(batches, gamma, beta, momentum, eps, eval_x=None) -> dict:
    """The same with torch.nn.BatchNorm1d (weight = gamma, bias = beta): the reference of the tests."""
    module = nn.BatchNorm1d(len(gamma), eps=eps, momentum=momentum, dtype=DTYPE)
    result = {"out": [], "running_mean": [], "running_var": []}
    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(gamma))
        module.bias.copy_(torch.as_tensor(beta))
        for x in batches:
            result["out"].append(module(torch.as_tensor(x)).numpy())
            result["running_mean"].append(module.running_mean.numpy().copy())
            result["running_var"].append(module.running_var.numpy().copy())
        if eval_x is not None:
            module.eval()
            result["eval_out"] = module(torch.as_tensor(eval_x)).numpy()
    return result


@scenario
def batchnorm_leaves_its_arguments(ns):
    """Whether batchnorm_forward (both modes) leaves x, gamma, beta and the running statistics untouched."""
    rng = np.random.default_rng(0)
    args = [rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3), rng.normal(size=3), rng.uniform(1, 2, size=3)]
    copies = [a.copy() for a in args]
    ns.batchnorm_forward(*args, True, 0.1, 1e-5)
    ns.batchnorm_forward(*args, False, 0.1, 1e-5)
    return all(np.array_equal(a, c) for a, c in zip(args, copies))


# %% nbgrader={"grade": true, "grade_id": "batchnorm_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""batch norm normalises each column of a hand-computed batch to mean 0 and variance 1, applies gamma and beta, updates the running statistics with momentum 0.1, and at evaluation uses the running statistics"""
from grader.testing import learner, expect

x = np.array([[1.0, 2.0], [3.0, 6.0]])   # column means 2 and 4, biased variances 1 and 4
out, running_mean, running_var = learner.batchnorm_forward(x, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), True, 0.1, 0.0)
expect.shape(out, (2, 2), what="the output for x of shape (2, 2)", hint="batch norm keeps the shape (N, D)")
expect.close(out, np.array([[-1.0, -1.0], [1.0, 1.0]]), atol=1e-12, rtol=0, what="the normalised batch (eps = 0)",
             hint="normalise each column (axis 0, over the batch) with its mean and biased variance (divide by N)")
expect.close(running_mean, np.array([0.2, 0.4]), atol=1e-12, rtol=0, what="running_mean after one step from 0",
             hint="new = (1 - momentum) * old + momentum * batch mean = 0.9 * 0 + 0.1 * [2, 4]")
expect.close(running_var, np.array([1.1, 1.7]), atol=1e-12, rtol=0, what="running_var after one step from 1",
             hint="new = 0.9 * 1 + 0.1 * unbiased batch variance; the unbiased variances here are [2, 8] (divide by N - 1 = 1)")
out, _, _ = learner.batchnorm_forward(x, np.array([2.0, 0.5]), np.array([1.0, -1.0]), np.zeros(2), np.ones(2), True, 0.1, 0.0)
expect.close(out, np.array([[-1.0, -1.5], [3.0, -0.5]]), atol=1e-12, rtol=0, what="the output with gamma = [2, 0.5], beta = [1, -1]",
             hint="out = gamma * x_hat + beta, one gamma and one beta per column")
out, mean_after, var_after = learner.batchnorm_forward(x, np.ones(2), np.zeros(2), np.array([1.0, 2.0]), np.array([4.0, 16.0]), False, 0.1, 0.0)
expect.close(out, np.array([[0.0, 0.0], [1.0, 1.0]]), atol=1e-12, rtol=0, what="evaluation mode with running mean [1, 2] and variance [4, 16]",
             hint="at evaluation use (x - running_mean) / sqrt(running_var + eps), not the batch's statistics")
expect.close(mean_after, np.array([1.0, 2.0]), atol=0, rtol=0, what="running_mean returned in evaluation mode",
             hint="evaluation mode must not change the running statistics")
expect.close(var_after, np.array([4.0, 16.0]), atol=0, rtol=0, what="running_var returned in evaluation mode",
             hint="evaluation mode must not change the running statistics")

# %% nbgrader={"grade": true, "grade_id": "batchnorm_train_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""in training mode batch norm matches torch.nn.BatchNorm1d step after step: outputs from the batch mean and biased variance, running mean and running (unbiased) variance with torch's momentum convention (momentum 0.05 to 0.3, batches of 2 to 32), arguments left unmodified, and a batch of one refused"""
from grader.testing import learner, reference, expect

rng = np.random.default_rng(0)
gamma, beta = rng.normal(size=4), rng.normal(size=4)
batches = [rng.normal(3.0, 2.0, size=(8, 4)) for _ in range(3)]
got = batchnorm_run.learner(batches, gamma, beta, 0.1, 1e-5)
want = torch_batchnorm_run(batches, gamma, beta, 0.1, 1e-5)
expect.close(got["out"], want["out"], atol=1e-12, rtol=1e-12, what="the outputs of 3 training steps (N=8, D=4)",
             hint="normalise each column with its batch mean and biased variance, then scale by gamma and shift by beta")
### BEGIN HIDDEN TESTS
hint_running = ("torch's running statistics: new = (1 - momentum) * old + momentum * batch statistic (momentum is the weight "
                "of the NEW batch), and the running variance averages the UNBIASED batch variance (divide by N - 1)")
expect.close(got["running_mean"], want["running_mean"], atol=1e-12, rtol=1e-12, what="running_mean after each of 3 steps, momentum 0.1",
             hint=hint_running)
expect.close(got["running_var"], want["running_var"], atol=1e-12, rtol=1e-12, what="running_var after each of 3 steps, momentum 0.1",
             hint=hint_running)
for n, width, momentum, eps, steps, seed in [(2, 3, 0.3, 1e-3, 4, 1), (32, 1, 0.05, 1e-5, 5, 2), (16, 6, 0.2, 0.1, 6, 3)]:
    rng = np.random.default_rng(seed)
    gamma, beta = rng.normal(size=width), rng.normal(size=width)
    batches = [rng.normal(rng.normal(0, 3, size=width), rng.uniform(0.5, 3, size=width), size=(n, width)) for _ in range(steps)]
    got = batchnorm_run.learner(batches, gamma, beta, momentum, eps)
    want = torch_batchnorm_run(batches, gamma, beta, momentum, eps)
    case = f"N={n}, D={width}, momentum {momentum}, eps {eps}"
    expect.close(got["out"], want["out"], atol=1e-12, rtol=1e-12, what=f"the training outputs ({case})",
                 hint="x_hat = (x - batch mean) / sqrt(biased batch variance + eps), eps inside the square root")
    expect.close(got["running_mean"], want["running_mean"], atol=1e-12, rtol=1e-12, what=f"running_mean after each step ({case})",
                 hint=hint_running)
    expect.close(got["running_var"], want["running_var"], atol=1e-12, rtol=1e-12, what=f"running_var after each step ({case})",
                 hint=hint_running)
expect.true(batchnorm_leaves_its_arguments.learner() is True,
            "batchnorm_forward modified one of its arguments in place: return new arrays for the running statistics "
            "(new = (1 - momentum) * old + ..., not old *= ...)")
expect.raises("ValueError", learner.batchnorm_forward, np.ones((1, 3)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), True, 0.1, 1e-5)
x_default = rng.normal(2.0, 0.003, size=(6, 3))  # a small variance, where eps = 1e-5 shows
expect.close(learner.batchnorm_forward(x_default, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)),
             reference.batchnorm_forward(x_default, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)), atol=1e-12, rtol=1e-12,
             what="batch norm called with its defaults (training=True, momentum=0.1, eps=1e-5)",
             hint="keep the signature's defaults: like nn.BatchNorm1d, a fresh layer is in training mode")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "batchnorm_eval_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""in evaluation mode batch norm matches torch.nn.BatchNorm1d after model.eval(): it normalises with the running statistics (given, or accumulated by your own training steps), so that each example's output depends on itself only and a batch of one works"""
from grader.testing import learner, expect

rng = np.random.default_rng(4)
gamma, beta = rng.normal(size=3), rng.normal(size=3)
running_mean, running_var = np.array([1.0, -2.0, 0.5]), np.array([4.0, 0.25, 1.0])
x = rng.normal(size=(5, 3))
out, mean_after, var_after = learner.batchnorm_forward(x, gamma, beta, running_mean, running_var, False, 0.1, 1e-5)
expect.shape(out, (5, 3), what="the output in evaluation mode for x of shape (5, 3)")
### BEGIN HIDDEN TESTS
hint = "at evaluation normalise with the running statistics, (x - running_mean) / sqrt(running_var + eps), never with the batch's own"
module = nn.BatchNorm1d(3, eps=1e-5, dtype=DTYPE)
with torch.no_grad():
    module.weight.copy_(torch.as_tensor(gamma))
    module.bias.copy_(torch.as_tensor(beta))
    module.running_mean.copy_(torch.as_tensor(running_mean))
    module.running_var.copy_(torch.as_tensor(running_var))
    module.eval()
    want = module(torch.as_tensor(x)).numpy()
expect.close(out, want, atol=1e-12, rtol=1e-12, what="evaluation mode with given running statistics (N=5, D=3)", hint=hint)
expect.close(learner.batchnorm_forward(x[2:3], gamma, beta, running_mean, running_var, False, 0.1, 1e-5)[0], want[2:3],
             atol=1e-12, rtol=1e-12, what="evaluation mode on a batch of one", hint=hint)
expect.close(learner.batchnorm_forward(x[[4, 0]], gamma, beta, running_mean, running_var, False, 0.1, 1e-5)[0], want[[4, 0]],
             atol=1e-12, rtol=1e-12, what="evaluation mode on two of the same examples",
             hint="at evaluation an example's output must not depend on the other examples of the batch")

# the running statistics of your own training steps, then evaluation, against torch
rng = np.random.default_rng(5)
gamma, beta = rng.normal(size=4), rng.normal(size=4)
batches = [rng.normal(2.0, 3.0, size=(6, 4)) for _ in range(5)]
x_eval = rng.normal(2.0, 3.0, size=(7, 4))
got = batchnorm_run.learner(batches, gamma, beta, 0.1, 1e-5, x_eval)
want = torch_batchnorm_run(batches, gamma, beta, 0.1, 1e-5, x_eval)
expect.close(got["eval_out"], want["eval_out"], atol=1e-12, rtol=1e-12, what="evaluation after 5 training steps (momentum 0.1)",
             hint="evaluation uses the running statistics accumulated in training: check the momentum convention and the unbiased variance")
### END HIDDEN TESTS

# %% [markdown]
# ### The backward pass
#
# Batch norm is not an elementwise function: every output of a column depends on every input of
# that column, through $\mu$ and $\sigma^2$. Write $s = \sqrt{\sigma^2+\epsilon}$ and
# $g_n = \gamma\,\partial L/\partial y_n$ for one column (all operations per column). The
# parameters are easy:
#
# $$\frac{\partial L}{\partial \gamma} = \sum_n \frac{\partial L}{\partial y_n}\,\hat x_n, \qquad
# \frac{\partial L}{\partial \beta} = \sum_n \frac{\partial L}{\partial y_n}.$$
#
# For the input, $x_n$ reaches the loss along three paths: directly through
# $\hat x_n = (x_n-\mu)/s$, through $\mu$, and through $\sigma^2$. With
# $\partial \sigma^2/\partial x_n = 2(x_n - \mu)/N$ and $\partial\mu/\partial x_n = 1/N$:
#
# $$\frac{\partial L}{\partial \sigma^2} = \sum_m g_m (x_m-\mu)\cdot\Big(-\frac12\Big) s^{-3} = -\frac{1}{2s^2}\sum_m g_m \hat x_m ,
# \qquad
# \frac{\partial L}{\partial \mu} = -\frac1s \sum_m g_m + \frac{\partial L}{\partial \sigma^2}\cdot\frac{-2}{N}\underbrace{\sum_m (x_m-\mu)}_{=0},$$
#
# $$\boxed{\;\frac{\partial L}{\partial x_n} = \frac{g_n}{s} + \frac{\partial L}{\partial \sigma^2}\,\frac{2(x_n-\mu)}{N} + \frac{\partial L}{\partial \mu}\,\frac1N
# = \frac1s\Big(g_n - \frac1N\sum_m g_m - \hat x_n\,\frac1N\sum_m g_m\,\hat x_m\Big)\;}$$
#
# **What this means.** Adding a constant to a column of $x$, or scaling it, does not change
# $\hat x$ at all (scaling changes it only through $\epsilon$). So the gradient with respect to $x$ can
# have no component along those directions: the formula takes $g/s$ and removes its mean and its
# projection onto $\hat x$. Two checks follow: each column of $\partial L/\partial x$ sums to zero, and
# (for $\epsilon = 0$) is orthogonal to that column of $\hat x$. Keeping only the first term, $g_n/s$,
# treats $\mu$ and $\sigma^2$ as constants: that is the gradient of the *evaluation* mode, and wrong in
# training. The worked example checks the two properties on torch's autograd gradient, with a
# negligible $\epsilon = 10^{-12}$:

# %%
x_torch = torch.tensor(x_demo, requires_grad=True)
bn_demo = nn.BatchNorm1d(3, eps=1e-12, dtype=DTYPE)  # torch refuses eps = 0 in training
upstream = torch.tensor(np.random.default_rng(2).normal(size=(4, 3)))
bn_demo(x_torch).backward(upstream)
x_hat_torch = (x_demo - mean_demo) / np.sqrt(var_demo + 1e-12)
print("column sums of dL/dx:          ", x_torch.grad.sum(0).numpy())
print("column sums of dL/dx * x_hat:  ", (x_torch.grad.numpy() * x_hat_torch).sum(0))

# %% nbgrader={"grade": false, "grade_id": "batchnorm_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batchnorm_backward(grad_out: np.ndarray, x: np.ndarray, gamma: np.ndarray,
                       eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a training-mode batch norm (batch statistics) w.r.t. its input, gamma and beta.

    Args:
        grad_out: float64 (N, D), dL/d(out) for out = batchnorm_forward(x, gamma, beta, ..., training=True, eps=eps)[0].
        x: float64 (N, D), the forward pass's input (the batch statistics are recomputed from it).
        gamma: float64 (D,). eps: the forward pass's eps.

    Returns:
        (grad_x, grad_gamma, grad_beta): float64 of shapes (N, D), (D,), (D,).

    Example:
        >>> grad_x, grad_gamma, grad_beta = batchnorm_backward(np.ones((4, 3)), np.random.randn(4, 3), np.ones(3))
        >>> grad_x      # all (close to) zero: adding the same gradient to every example changes nothing
        >>> grad_beta   # array([4., 4., 4.])

    About 20 minutes.
    """
    ### BEGIN SOLUTION
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    std = np.sqrt(var + eps)
    x_hat = (x - mean) / std
    grad_gamma = (grad_out * x_hat).sum(axis=0)
    grad_beta = grad_out.sum(axis=0)
    g = grad_out * gamma  # dL/dx_hat
    # direct path, minus what flows back through the batch mean and the batch variance
    grad_x = (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0)) / std
    return grad_x, grad_gamma, grad_beta
    ### END SOLUTION

# %%
# Test helpers: your backward pass next to central differences of your forward pass, and torch's gradients.


@scenario
def norm_gradient_check(ns, kind, x, gamma, beta, grad_out, eps, h=1e-6):
    """(your gradients, central differences of sum(grad_out * forward)) w.r.t. x, gamma, beta; kind "batch" or "layer"."""
    def forward(x_, gamma_, beta_):
        if kind == "batch":
            width = x_.shape[-1]
            return ns.batchnorm_forward(x_, gamma_, beta_, np.zeros(width), np.ones(width), True, 0.1, eps)[0]
        return ns.layernorm_forward(x_, gamma_, beta_, eps)

    point = [np.array(x, dtype=np.float64), np.array(gamma, dtype=np.float64), np.array(beta, dtype=np.float64)]
    numeric = []
    for i in range(3):
        grad = np.zeros_like(point[i])
        for index in np.ndindex(point[i].shape):
            plus, minus = [a.copy() for a in point], [a.copy() for a in point]
            plus[i][index] += h
            minus[i][index] -= h
            grad[index] = (np.sum(grad_out * forward(*plus)) - np.sum(grad_out * forward(*minus))) / (2 * h)
        numeric.append(grad)
    backward = ns.batchnorm_backward if kind == "batch" else ns.layernorm_backward
    return {"analytic": list(backward(grad_out, point[0], point[1], eps)), "numeric": numeric}


def torch_norm_gradients(kind, x, gamma, beta, grad_out, eps) -> list:
    """torch.autograd's (grad_x, grad_gamma, grad_beta) for nn.BatchNorm1d in training mode or nn.LayerNorm."""
    width = len(gamma)
    module = nn.BatchNorm1d(width, eps=eps, dtype=DTYPE) if kind == "batch" else nn.LayerNorm(width, eps=eps, dtype=DTYPE)
    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(gamma))
        module.bias.copy_(torch.as_tensor(beta))
    x_torch = torch.tensor(x, dtype=DTYPE, requires_grad=True)
    module(x_torch).backward(torch.as_tensor(grad_out, dtype=DTYPE))
    return [x_torch.grad.numpy(), module.weight.grad.numpy(), module.bias.grad.numpy()]


# %% nbgrader={"grade": true, "grade_id": "batchnorm_backward_matches_autograd", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""batch norm's backward pass agrees with central differences of your forward pass, and equals torch.autograd's gradients of nn.BatchNorm1d in training mode (w.r.t. the input, gamma and beta) for batches of 2 to 32, including the paths through the batch mean and variance"""
from grader.testing import learner, expect

rng = np.random.default_rng(6)
x, gamma, beta, grad_out = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=3), rng.normal(size=(4, 3))
got = norm_gradient_check.learner("batch", x, gamma, beta, grad_out, 1e-5)
for analytic, shape, name in zip(got["analytic"], [(4, 3), (3,), (3,)], ["grad_x", "grad_gamma", "grad_beta"]):
    expect.shape(analytic, shape, what=f"{name} for x of shape (4, 3)")
expect.close(got["analytic"], got["numeric"], atol=1e-6, rtol=1e-6,
             what="your (grad_x, grad_gamma, grad_beta) next to central differences of your batchnorm_forward (N=4, D=3)",
             hint="x reaches the loss directly through x_hat, through the batch mean and through the batch variance: all three paths count")
### BEGIN HIDDEN TESTS
hint = ("grad_x = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps) per column, with g = gamma * grad_out; "
        "grad_gamma = sum of grad_out * x_hat over the batch, grad_beta = sum of grad_out")
for n, width, eps, seed in [(6, 5, 1e-5, 7), (2, 3, 1e-3, 8), (32, 7, 1e-5, 9)]:
    rng = np.random.default_rng(seed)
    x = rng.normal(rng.normal(0, 3, size=width), rng.uniform(0.5, 3, size=width), size=(n, width))
    gamma, beta, grad_out = rng.normal(size=width), rng.normal(size=width), rng.normal(size=(n, width))
    got = learner.batchnorm_backward(grad_out, x, gamma, eps)
    expect.close(got, torch_norm_gradients("batch", x, gamma, beta, grad_out, eps), atol=1e-12, rtol=1e-10,
                 what=f"(grad_x, grad_gamma, grad_beta) for N={n}, D={width}, eps {eps}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Your batch norm in the toy MLP, after each hidden linear layer (before the ReLU, as in the
# original paper). Curves are measured in evaluation mode, on the running statistics:

# %%
try:
    runs["batch norm"] = train_mlp(Regularization(norm="batch"), toy_data)
    plot_histories({name: runs[name] for name in ["none", "batch norm"]}, "batch norm")
    history = runs["batch norm"]
    train_mode_logits, _ = mlp_forward(history["params"], toy_data["x_val"][:5], Regularization(norm="batch"), True,
                                       dict(history["norm_state"]), np.random.default_rng(0))
    eval_mode_logits, _ = mlp_forward(history["params"], toy_data["x_val"][:5], Regularization(norm="batch"), False,
                                      history["norm_state"], None)
    print("the same 5 validation points, predicted classes in training mode:", train_mode_logits.argmax(1),
          " in evaluation mode:", eval_mode_logits.argmax(1))
except NotImplementedError:
    print("Write batchnorm_forward and batchnorm_backward above to see your batch norm at work.")

# %% [markdown]
# Batch norm makes this network fit the training set faster, and it does not stop it from
# overfitting: batch norm is first of all an *optimisation* tool (it keeps every layer's inputs
# at a healthy scale, so larger learning rates work), and only mildly a regulariser through the
# noise of the batch statistics. Here the batch is the whole training set, so even that noise is
# gone. The last line shows why evaluation mode matters: on a batch of five points the batch
# statistics are not those of the data, and predictions in training mode can differ from the
# evaluation-mode ones.

# %% [markdown]
# ## 4 · Layer normalisation
#
# ### The same formula along the other axis
#
# Layer norm normalises each **example** over its own features, not each feature over the batch.
# For $x \in \mathbb{R}^{\dots \times D}$, every vector $x_{\cdot}$ along the last axis (one token's
# representation, in a transformer) gets its own statistics:
#
# $$\mu = \frac1D \sum_{j=1}^D x_j, \qquad \sigma^2 = \frac1D \sum_{j=1}^D (x_j-\mu)^2, \qquad
# y_j = \gamma_j\,\frac{x_j-\mu}{\sqrt{\sigma^2+\epsilon}} + \beta_j ,$$
#
# with $\gamma, \beta \in \mathbb{R}^D$ per feature, as in batch norm, and again the biased variance.
# There is nothing to keep between batches: no running statistics, and training and evaluation
# compute exactly the same thing.
#
# **What this means.** An example's output depends on that example only, so layer norm works
# with a batch of one, with sequences of any length, with padding, and in autoregressive
# generation where tokens arrive one at a time. These are precisely the situations of language
# models, where batch norm is awkward. Every transformer normalises with it: GPT-2 puts a
# LayerNorm before attention and before the feed-forward network of each block (pre-LN,
# `15-transformer`), and LLaMA uses RMSNorm, layer norm without the mean subtraction:
# $y_j = \gamma_j x_j/\sqrt{\tfrac1D\sum_k x_k^2 + \epsilon}$ (`18-llama`).
#
# The figure shows which entries share statistics, for a batch of 6 examples with 8 features:

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for ax, (title, groups) in zip(axes, [("batch norm: one mean and variance per column", np.tile(np.arange(8), (6, 1))),
                                      ("layer norm: one mean and variance per row", np.tile(np.arange(6)[:, None], (1, 8)))]):
    ax.imshow(groups, cmap="tab10", vmin=0, vmax=9)
    ax.set(title=title, xlabel="feature j (D = 8)", ylabel="example n (N = 6)", xticks=range(8), yticks=range(6))
fig.tight_layout()
plt.show()

# %% [markdown]
# A worked example: one token's vector normalised by hand, and `nn.LayerNorm` on a batch of
# sequences (B, T, D), which gives each token the same output whatever else is in the batch:

# %%
token = np.array([2.0, -1.0, 0.5, 4.5])
mu_demo, var_demo_ln = token.mean(), ((token - token.mean()) ** 2).mean()
print("by hand:", (token - mu_demo) / np.sqrt(var_demo_ln + 1e-5))
layer_norm_demo = nn.LayerNorm(4, dtype=DTYPE)          # gamma = 1, beta = 0 at initialisation
print("nn.LayerNorm:", layer_norm_demo(torch.tensor(token)).detach().numpy())
sequences = torch.randn(2, 3, 4, dtype=DTYPE, generator=torch.Generator().manual_seed(0))
alone = layer_norm_demo(sequences[1, 2])
in_batch = layer_norm_demo(sequences)[1, 2]
print("the token normalised alone and inside a (2, 3, 4) batch differ by", (alone - in_batch).abs().max().item())

# %% nbgrader={"grade": false, "grade_id": "layernorm_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Layer normalisation over the last axis, exactly as torch.nn.LayerNorm(D, eps=eps).

    Args:
        x: float64 (..., D): any number of leading axes (N, D) or (B, T, D), D features last.
        gamma, beta: float64 (D,), the learned scale and shift (torch's weight and bias).
        eps: added to the (biased) variance inside the square root.

    Returns:
        float64 of x's shape: gamma * (x - mean) / sqrt(var + eps) + beta, with the mean and the
        biased variance (divide by D) of each vector along the last axis.

    Example:
        >>> layernorm_forward(np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]), np.ones(3), np.zeros(3), eps=0.0)
        array([[-1.22474,  0.     ,  1.22474],
               [-1.22474,  0.     ,  1.22474]])

    About 5 minutes.
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)                 # one mean per example (per token)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # biased, computed from the centred values
    return gamma * (x - mean) / np.sqrt(var + eps) + beta
    ### END SOLUTION

# %% [markdown]
# The backward pass is batch norm's along the other axis: with $g = \gamma \odot \partial L/\partial y$
# and the sums now over the $D$ features of each example,
#
# $$\frac{\partial L}{\partial x_j} = \frac1s\Big(g_j - \frac1D\sum_k g_k - \hat x_j\,\frac1D\sum_k g_k\,\hat x_k\Big),
# \qquad s = \sqrt{\sigma^2 + \epsilon},$$
#
# while $\partial L/\partial\gamma$ and $\partial L/\partial\beta$ sum over **all** leading axes (every
# example and every token shares the same $\gamma$ and $\beta$).

# %% nbgrader={"grade": false, "grade_id": "layernorm_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def layernorm_backward(grad_out: np.ndarray, x: np.ndarray, gamma: np.ndarray,
                       eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of layer norm w.r.t. its input, gamma and beta.

    Args:
        grad_out: float64 (..., D), dL/d(out) for out = layernorm_forward(x, gamma, beta, eps).
        x: float64 (..., D), the forward pass's input. gamma: float64 (D,). eps: the forward pass's eps.

    Returns:
        (grad_x, grad_gamma, grad_beta): float64 of shapes x.shape, (D,), (D,); grad_gamma and
        grad_beta sum over every leading axis.

    Example:
        >>> grad_x, grad_gamma, grad_beta = layernorm_backward(np.ones((2, 5, 4)), np.random.randn(2, 5, 4), np.ones(4))
        >>> grad_beta   # array([10., 10., 10., 10.]): 2 * 5 vectors each contribute 1

    About 10 minutes.
    """
    ### BEGIN SOLUTION
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    std = np.sqrt(var + eps)
    x_hat = (x - mean) / std
    leading = tuple(range(x.ndim - 1))
    grad_gamma = (grad_out * x_hat).sum(axis=leading)
    grad_beta = grad_out.sum(axis=leading)
    g = grad_out * gamma
    grad_x = (g - g.mean(axis=-1, keepdims=True) - x_hat * (g * x_hat).mean(axis=-1, keepdims=True)) / std
    return grad_x, grad_gamma, grad_beta
    ### END SOLUTION

# %%
def torch_layernorm(x, gamma, beta, eps) -> np.ndarray:
    """nn.LayerNorm(D, eps) with weight = gamma and bias = beta, applied to x: the reference of the tests."""
    module = nn.LayerNorm(len(gamma), eps=eps, dtype=DTYPE)
    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(gamma))
        module.bias.copy_(torch.as_tensor(beta))
        return module(torch.as_tensor(x, dtype=DTYPE)).numpy()


# %% nbgrader={"grade": true, "grade_id": "layernorm_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""layer norm normalises each row of a hand-computed example over its features, applies gamma and beta per feature, and keeps the shape of a (B, T, D) input"""
from grader.testing import learner, expect

x = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])   # each row: mean and biased variance of its own 3 features
out = learner.layernorm_forward(x, np.ones(3), np.zeros(3), 0.0)
expect.shape(out, (2, 3), what="layernorm_forward of x of shape (2, 3)", hint="layer norm keeps the shape")
expect.close(out, np.array([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]) * math.sqrt(1.5), atol=1e-12, rtol=0,
             what="the normalised rows (eps = 0)",
             hint="normalise each row over the last axis (its features) with its mean and biased variance (divide by D)")
out = learner.layernorm_forward(x, np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.0, -0.5]), 0.0)
expect.close(out, np.array([[-1.0, 0.0, 3.0], [-1.0, 0.0, 3.0]]) * np.array([math.sqrt(1.5), 1.0, math.sqrt(1.5)]) + np.array([0.5, 0.0, -0.5]),
             atol=1e-12, rtol=0, what="the output with gamma = [1, 2, 3], beta = [0.5, 0, -0.5]", hint="out = gamma * x_hat + beta, per feature")
expect.shape(learner.layernorm_forward(np.ones((2, 5, 4)) + np.arange(4.0), np.ones(4), np.zeros(4), 1e-5), (2, 5, 4),
             what="layernorm_forward of a (B=2, T=5, D=4) input", hint="normalise over the last axis only, whatever the leading axes")

# %% nbgrader={"grade": true, "grade_id": "layernorm_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""layer norm equals torch.nn.LayerNorm with the same weight and bias on (N, D) and (B, T, D) inputs, a batch of one, a single feature and several eps, normalises each example independently of the others, and stays exact for inputs around 1e6"""
from grader.testing import learner, expect

rng = np.random.default_rng(0)
x, gamma, beta = rng.normal(1.0, 2.0, size=(5, 8)), rng.normal(size=8), rng.normal(size=8)
got = learner.layernorm_forward(x, gamma, beta, 1e-5)
expect.close(got, torch_layernorm(x, gamma, beta, 1e-5), atol=1e-12, rtol=1e-12, what="layer norm of an (N=5, D=8) batch",
             hint="mean and biased variance over the last axis of each example; gamma and beta per feature")
### BEGIN HIDDEN TESTS
hint = "normalise each vector along the LAST axis with its own mean and biased variance (divide by D), then gamma * x_hat + beta"
for shape, eps, case in [((2, 7, 16), 1e-5, "a (B=2, T=7, D=16) batch of sequences"), ((1, 6), 1e-5, "a batch of one"),
                         ((4, 6), 1e-2, "eps = 0.01"), ((3, 2, 5, 3), 1e-5, "a 4-D input, D=3")]:
    width = shape[-1]
    x = rng.normal(rng.normal(0, 2, size=shape[:-1] + (1,)), rng.uniform(0.5, 3, size=shape[:-1] + (1,)), size=shape)
    gamma, beta = rng.normal(size=width), rng.normal(size=width)
    expect.close(learner.layernorm_forward(x, gamma, beta, eps), torch_layernorm(x, gamma, beta, eps), atol=1e-12, rtol=1e-12,
                 what=f"layer norm of {case}", hint=hint)
# one feature: x_hat is 0, the output is beta
x1, gamma1, beta1 = rng.normal(size=(4, 1)), rng.normal(size=1), rng.normal(size=1)
expect.close(learner.layernorm_forward(x1, gamma1, beta1, 1e-5), torch_layernorm(x1, gamma1, beta1, 1e-5), atol=1e-12, rtol=1e-12,
             what="layer norm with a single feature (D = 1)", hint=hint)
# each example is normalised alone: the same row inside two different batches
x = rng.normal(size=(6, 5))
gamma, beta = rng.normal(size=5), rng.normal(size=5)
first, second = learner.layernorm_forward(x, gamma, beta, 1e-5), learner.layernorm_forward(x[[3, 1]], gamma, beta, 1e-5)
expect.shape(second, (2, 5), what="layer norm of a (2, 5) batch")
expect.close(second, np.asarray(first)[[3, 1]], atol=1e-14, rtol=1e-12, what="the same examples normalised in two different batches",
             hint="layer norm takes its statistics over each example's features (last axis), never over the batch")
# large offsets: subtract the mean before squaring (E[x^2] - E[x]^2 loses every digit around 1e6)
x = 1e6 + rng.normal(size=(4, 8))
gamma, beta = rng.normal(size=8), rng.normal(size=8)
expect.close(learner.layernorm_forward(x, gamma, beta, 1e-5), torch_layernorm(x, gamma, beta, 1e-5), atol=1e-8, rtol=1e-8,
             what="layer norm of inputs around 1e6",
             hint="compute the variance as the mean of (x - mean)**2; mean(x**2) - mean(x)**2 cancels catastrophically for large offsets")
x = rng.normal(0.0, 0.003, size=(3, 4))  # a small variance, where eps = 1e-5 shows
expect.close(learner.layernorm_forward(x, gamma[:4], beta[:4]), torch_layernorm(x, gamma[:4], beta[:4], 1e-5), atol=1e-12, rtol=1e-12,
             what="layer norm with the default eps", hint="keep the signature's default eps=1e-5, as nn.LayerNorm")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "layernorm_backward_matches_autograd", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""layer norm's backward pass agrees with central differences of your forward pass, and equals torch.autograd's gradients of nn.LayerNorm (w.r.t. the input, weight and bias) on (N, D) and (B, T, D) inputs, with gamma and beta gradients summed over every leading axis"""
from grader.testing import learner, expect

rng = np.random.default_rng(10)
x, gamma, beta, grad_out = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=4), rng.normal(size=(3, 4))
got = norm_gradient_check.learner("layer", x, gamma, beta, grad_out, 1e-5)
for analytic, shape, name in zip(got["analytic"], [(3, 4), (4,), (4,)], ["grad_x", "grad_gamma", "grad_beta"]):
    expect.shape(analytic, shape, what=f"{name} for x of shape (3, 4)")
expect.close(got["analytic"], got["numeric"], atol=1e-6, rtol=1e-6,
             what="your (grad_x, grad_gamma, grad_beta) next to central differences of your layernorm_forward (N=3, D=4)",
             hint="x reaches the loss directly and through its row's mean and variance; the sums run over the features (last axis)")
### BEGIN HIDDEN TESTS
hint = ("grad_x = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps) with the means over the last axis and g = gamma * grad_out; "
        "grad_gamma and grad_beta sum over every leading axis")
for shape, eps, seed in [((6, 5), 1e-5, 11), ((2, 3, 8), 1e-5, 12), ((1, 4), 1e-3, 13), ((5, 1), 1e-5, 14)]:
    rng = np.random.default_rng(seed)
    width = shape[-1]
    x = rng.normal(1.0, 2.0, size=shape)
    gamma, beta, grad_out = rng.normal(size=width), rng.normal(size=width), rng.normal(size=shape)
    got = learner.layernorm_backward(grad_out, x, gamma, eps)
    want = torch_norm_gradients("layer", x.reshape(-1, width), gamma, beta, grad_out.reshape(-1, width), eps)
    want[0] = want[0].reshape(shape)
    expect.close(got, want, atol=1e-12, rtol=1e-10, what=f"(grad_x, grad_gamma, grad_beta) for an input of shape {shape}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Your layer norm in the toy MLP, next to the baseline and your batch norm:

# %%
try:
    runs["layer norm"] = train_mlp(Regularization(norm="layer"), toy_data)
    plot_histories({name: runs[name] for name in ["none", "batch norm", "layer norm"] if name in runs}, "normalisation")
except NotImplementedError:
    print("Write layernorm_forward and layernorm_backward above to see your layer norm at work.")

# %% [markdown]
# Like batch norm, layer norm speeds the fit up and does not prevent overfitting. Normalisation
# layers are in this notebook because they change how a network trains (and batch norm's batch
# noise is a regulariser in practice, with small batches), and because they share a pitfall
# with dropout: a layer that behaves differently in training and at evaluation.

# %% [markdown]
# ## 5 · Weight decay
#
# ### The L2 penalty and its gradient
#
# Weight decay adds the squared size of the weights to the loss, with a coefficient $\lambda$:
#
# $$\tilde L(\theta) = L(\theta) + \frac{\lambda}{2}\sum_{W} \lVert W\rVert^2 , \qquad
# \nabla_W \tilde L = \nabla_W L + \lambda W .$$
#
# The $\tfrac12$ is a convention that makes the gradient exactly $\lambda W$, which is what
# `torch.optim.SGD(weight_decay=λ)` adds to the gradient. A plain SGD step then reads
#
# $$W \leftarrow W - \eta\,(\nabla_W L + \lambda W) = (1-\eta\lambda)\,W - \eta\,\nabla_W L :$$
#
# before every step the weights shrink by the factor $1-\eta\lambda$, hence the name "decay". A
# weight that the data does not keep pushing on decays geometrically towards zero.
#
# **Which parameters.** Only the weight matrices (and embeddings): tensors with two or more
# dimensions. Biases and the gains and shifts of normalisation layers are left alone. Biases
# are few and do not make a function more complicated, and pulling a LayerNorm gain $\gamma$ towards
# zero fights the very scale the normalisation is meant to control. nanoGPT's
# `configure_optimizers` makes exactly this split: "all weight tensors in matmuls + embeddings
# decay, all biases and layernorms don't", with two parameter groups.
#
# ### Penalty or decay: the same for SGD, not for Adam
#
# For SGD the L2 penalty and a decoupled decay, $W \leftarrow (1-\eta\lambda)W - \eta\nabla L$, are the
# same update, as the line above shows. For Adam they are not: the L2 gradient $\lambda W$ enters
# the moment estimates and is divided by $\sqrt{\hat v}$, so weights with large gradients are barely
# decayed. AdamW applies the decay to the weights directly; that is the version every LLM uses,
# with $\lambda = 0.1$, and you wrote it in `04-optimization` (`adamw_step`). Here you write the penalty
# and its gradient, which is what weight decay *is* for SGD and what AdamW decouples.
#
# **What this means.** The penalty prefers small weights, and a network with small weights is a
# smoother function: it cannot build the sharp islands around individual training points that
# overfitting needs. In Bayesian terms, $\frac\lambda2\lVert W\rVert^2$ is the negative log of a
# Gaussian prior $\mathcal{N}(0, 1/\lambda)$ on every weight, and minimising $\tilde L$ finds the most
# probable weights under that prior (the maximum a posteriori estimate).
#
# A worked example on a quadratic loss $L(\theta) = \tfrac12(\theta-\theta^*)^\top A(\theta-\theta^*)$
# with one steep and one flat direction. The penalised minimum is $(A+\lambda I)^{-1}A\,\theta^*$:
# as $\lambda$ grows it slides towards the origin, and it gives up first along the **flat** direction
# (eigenvalue 1), where the data says little, while the steep direction (eigenvalue 20) holds on.

# %%
A_demo = np.diag([20.0, 1.0])
theta_star = np.array([1.0, 1.5])
lambdas = np.concatenate([[0.0], np.geomspace(0.01, 100, 60)])
path = np.array([np.linalg.solve(A_demo + lam * np.eye(2), A_demo @ theta_star) for lam in lambdas])
u, v = np.meshgrid(np.linspace(-0.3, 1.6, 200), np.linspace(-0.3, 1.9, 200))
loss_grid = 0.5 * (20 * (u - theta_star[0]) ** 2 + (v - theta_star[1]) ** 2)
fig, ax = plt.subplots(figsize=(6, 5))
ax.contour(u, v, loss_grid, levels=np.geomspace(0.05, 30, 12), cmap="Greys", linewidths=0.8)
ax.plot(*path.T, "o-", ms=3, color="tab:red", label="minimum of L + (λ/2)||θ||², λ from 0 to 100")
for lam in [0.0, 1.0, 10.0]:
    point = np.linalg.solve(A_demo + lam * np.eye(2), A_demo @ theta_star)
    ax.annotate(f"λ = {lam:g}", point, textcoords="offset points", xytext=(8, -4))
ax.plot(0, 0, "k+", ms=12)
ax.set(xlabel="θ₁ (curvature 20)", ylabel="θ₂ (curvature 1)", title="weight decay shrinks the flat directions first", aspect="equal")
ax.legend(loc="lower right", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# And the equivalence for SGD, against the difference for Adam, with `torch.optim` itself:

# %%
def one_step(optimizer_class, weight_decay, **options):
    """One step of a torch optimizer on a weight of 1.0 with gradient 0.5, and the new weight."""
    weight = torch.tensor([1.0], dtype=DTYPE, requires_grad=True)
    optimizer = optimizer_class([weight], lr=0.1, weight_decay=weight_decay, **options)
    weight.grad = torch.tensor([0.5], dtype=DTYPE)
    optimizer.step()
    return weight.item()


print(f"SGD with L2 weight_decay=0.2: {one_step(torch.optim.SGD, 0.2):.6f}   decoupled by hand: {(1 - 0.1 * 0.2) * 1.0 - 0.1 * 0.5:.6f}")
print(f"Adam with L2 weight_decay=0.2: {one_step(torch.optim.Adam, 0.2):.6f}   AdamW (decoupled): {one_step(torch.optim.AdamW, 0.2):.6f}")

# %% [markdown]
# Write the penalty for a whole model: `params` maps names to arrays, as a `state_dict` does. You
# return the penalty (a number, to add to the loss when you report it) and its gradient for every
# parameter, zero for the ones that are not decayed, so that the training loop can simply add the
# two gradient dictionaries.

# %% nbgrader={"grade": false, "grade_id": "weight_decay_penalty", "locked": false, "schema_version": 3, "solution": true, "task": false}
def weight_decay_penalty(params: dict, weight_decay: float) -> tuple[float, dict]:
    """The L2 weight-decay penalty on the weight matrices of a model and its gradient.

    Args:
        params: dict name -> float64 array (any shapes), e.g. {"W0": (2, 128), "b0": (128,), ...}.
            Arrays with 2 or more dimensions (weight matrices, embeddings, convolution kernels)
            are decayed; 0-D and 1-D ones (biases, normalisation gains and shifts) are not.
        weight_decay: lambda >= 0.

    Returns:
        (penalty, grads): penalty = (lambda / 2) * the sum of the squares of every entry of the
        decayed arrays, a Python float; grads has the same keys as params, with lambda * array for
        the decayed ones and zeros of the array's shape for the others. The arrays are not modified.

    Example:
        >>> weight_decay_penalty({"W": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.ones(2)}, 0.1)
        (1.5, {'W': array([[0.1, 0.2], [0.3, 0.4]]), 'b': array([0., 0.])})

    About 5 minutes.
    """
    ### BEGIN SOLUTION
    penalty, grads = 0.0, {}
    for name, value in params.items():
        value = np.asarray(value, dtype=np.float64)
        if value.ndim >= 2:  # matrices and embeddings decay; biases and norm gains do not
            penalty += 0.5 * weight_decay * float(np.sum(value**2))
            grads[name] = weight_decay * value
        else:
            grads[name] = np.zeros_like(value)
    return penalty, grads
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "weight_decay_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the weight-decay penalty of a 2x2 matrix is (lambda / 2) times its squared entries, its gradient is lambda times the matrix, and a bias is not decayed"""
from grader.testing import learner, expect

penalty, grads = learner.weight_decay_penalty({"W": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.array([1.0, -1.0])}, 0.1)
expect.true(isinstance(penalty, (float, int)), "the penalty must be a number (a Python float), not an array")
expect.close(penalty, 1.5, atol=1e-12, rtol=0, what="the penalty of W = [[1, 2], [3, 4]] with lambda = 0.1",
             hint="(lambda / 2) * sum of squared entries = 0.05 * 30")
expect.true(isinstance(grads, dict) and set(grads) == {"W", "b"}, "grads must be a dict with the same keys as params")
expect.close(grads["W"], np.array([[0.1, 0.2], [0.3, 0.4]]), atol=1e-12, rtol=0, what="the gradient for W",
             hint="the gradient of (lambda / 2) * ||W||^2 is lambda * W")
expect.close(grads["b"], np.zeros(2), atol=0, rtol=0, what="the gradient for the bias b",
             hint="1-D parameters (biases, norm gains) are not decayed: their gradient is zero")

# %% nbgrader={"grade": true, "grade_id": "weight_decay_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""weight decay applies to every tensor with two or more dimensions and to none with fewer: its gradient equals torch.autograd's gradient of the penalty, and one SGD step with it equals torch.optim.SGD with weight_decay on a matrices-only parameter group"""
from grader.testing import learner, expect

penalty, grads = learner.weight_decay_penalty({"embedding": np.ones((3, 2)), "gain": np.ones(2)}, 0.5)
expect.true(isinstance(grads, dict) and set(grads) == {"embedding", "gain"}, "grads must be a dict with the same keys as params")
expect.shape(grads["embedding"], (3, 2), what="the gradient for a (3, 2) embedding")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(0)
shapes = {"embedding": (10, 4), "W1": (4, 8), "b1": (8,), "ln_gain": (8,), "ln_shift": (8,), "conv": (2, 3, 3, 3), "W2": (8, 3), "b2": (3,)}
params = {name: rng.normal(size=shape) for name, shape in shapes.items()}
data_grads = {name: rng.normal(size=shape) for name, shape in shapes.items()}
lam, lr = 0.05, 0.1
penalty, grads = learner.weight_decay_penalty(params, lam)
expect.true(isinstance(grads, dict) and set(grads) == set(params), "grads must be a dict with the same keys as params")
for name, shape in shapes.items():
    expect.shape(grads[name], shape, what=f"the gradient for {name}")
tensors = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
torch_penalty = lam / 2 * sum((t**2).sum() for t in tensors.values() if t.ndim >= 2)
torch_grads = dict(zip(tensors, torch.autograd.grad(torch_penalty, list(tensors.values()), allow_unused=True, materialize_grads=True)))
hint = "decay exactly the arrays with ndim >= 2 (matrices, embeddings, kernels): gradient lambda * W; biases and gains get zeros"
expect.close(grads, {name: g.numpy() for name, g in torch_grads.items()}, atol=1e-15, rtol=1e-13,
             what="the gradients of the penalty (2-D, 4-D and 1-D parameters)", hint=hint)
expect.close(penalty, torch_penalty.item(), atol=1e-13, rtol=1e-13, what="the penalty",
             hint="(lambda / 2) * the sum of squared entries of the decayed arrays: the gradient lambda * W needs the 1/2")
# one SGD step with the learner's decay gradients equals torch.optim.SGD with two parameter groups
matrices = [t for t in tensors.values() if t.ndim >= 2]
vectors = [t for t in tensors.values() if t.ndim < 2]
optimizer = torch.optim.SGD([{"params": matrices, "weight_decay": lam}, {"params": vectors, "weight_decay": 0.0}], lr=lr)
for name, t in tensors.items():
    t.grad = torch.tensor(data_grads[name])
optimizer.step()
stepped = {name: params[name] - lr * (data_grads[name] + np.asarray(grads[name])) for name in params}
expect.close(stepped, {name: t.detach().numpy() for name, t in tensors.items()}, atol=1e-14, rtol=1e-13,
             what="one SGD step with your decay gradients next to torch.optim.SGD(weight_decay on the matrices only)", hint=hint)
# lambda = 0 and an empty model
penalty0, grads0 = learner.weight_decay_penalty(params, 0.0)
expect.close(penalty0, 0.0, atol=0, rtol=0, what="the penalty with lambda = 0")
expect.close(grads0, {name: np.zeros(shape) for name, shape in shapes.items()}, atol=0, rtol=0, what="the gradients with lambda = 0")
empty_penalty, empty_grads = learner.weight_decay_penalty({}, 0.1)
expect.close(empty_penalty, 0.0, atol=0, rtol=0, what="the penalty of an empty dict of parameters")
expect.true(isinstance(empty_grads, dict) and len(empty_grads) == 0, "an empty dict of parameters has an empty dict of gradients")
### END HIDDEN TESTS

# %% [markdown]
# Your weight decay in the toy MLP with three strengths, and what it does to the size of the
# weights:

# %%
try:
    for lam in [1e-3, 1e-2, 3e-2]:
        runs[f"weight decay {lam:g}"] = train_mlp(Regularization(weight_decay=lam), toy_data)
    decay_runs = {name: runs[name] for name in ["none", "weight decay 0.001", "weight decay 0.01", "weight decay 0.03"]}
    plot_histories(decay_runs, "weight decay")
    fig, ax = plt.subplots(figsize=(6, 3))
    for name, history in decay_runs.items():
        ax.plot(np.arange(len(history["weight_norm"])) * history["eval_every"], history["weight_norm"], label=name)
    ax.set(yscale="log", xlabel="step", ylabel="sum of squared weights", title="the size of the weights")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    print("Write weight_decay_penalty above to see your weight decay at work.")

# %% [markdown]
# Without decay the weights keep growing: the cheapest way to push a training loss that is
# already small closer to zero is to scale the logits up, and that is what ruins the validation
# loss. With $\lambda = 0.01$ the weights shrink towards a size where the pull of the data and the
# pull of the penalty balance, the training loss stays well above zero, and the validation loss
# stays near its best to the end. Too much decay ($\lambda = 0.03$ here is still fine; try 0.3)
# underfits: the weights cannot grow enough to fit even the real structure.

# %% [markdown]
# ## 6 · Label smoothing
#
# ### A softer target
#
# Cross-entropy against a one-hot target is minimised only when the predicted probability of
# the right class is exactly 1: the logit of that class must run off to infinity relative to the
# others. The network never stops pushing, and on noisy labels it learns to be certain about
# wrong answers. Label smoothing replaces the one-hot target $e_y$ by a mixture with the uniform
# distribution over the $K$ classes:
#
# $$q = (1-\epsilon)\,e_y + \frac{\epsilon}{K}\,\mathbf 1, \qquad
# \text{so}\quad q_y = 1 - \epsilon + \frac{\epsilon}{K}, \quad q_k = \frac{\epsilon}{K}\ (k \ne y),$$
#
# and the loss of one example with logits $z$ and $p = \operatorname{softmax}(z)$ is the cross-entropy to $q$:
#
# $$\ell = -\sum_{k=1}^K q_k \log p_k = (1-\epsilon)\,\big(-\log p_y\big) + \epsilon\,\frac1K\sum_{k=1}^K \big(-\log p_k\big),
# \qquad \mathcal L = \frac1N \sum_{n=1}^N \ell_n .$$
#
# This is exactly `F.cross_entropy(logits, targets, label_smoothing=ε)`: the $\epsilon$ is spread over
# **all $K$ classes, the true one included** (as in Szegedy et al., 2016, who introduced it). Some
# code bases give the true class exactly $1-\epsilon$ and spread $\epsilon$ over the $K-1$ others
# (fairseq's `label_smoothed_nll_loss` in its current form, for one); the numbers differ, so always check which one a
# paper or a library means.
#
# ### The gradient, and where the minimum is
#
# Since $\sum_k q_k = 1$, the gradient with respect to the logits is the familiar
#
# $$\frac{\partial \ell}{\partial z_k} = p_k - q_k ,$$
#
# zero exactly when $p = q$. The loss is $H(q) + \mathrm{KL}(q\,\|\,p)$, so its minimum is $H(q) > 0$,
# reached at a **finite** logit margin:
#
# $$z_y - z_k = \log\frac{q_y}{q_k} = \log\frac{1-\epsilon+\epsilon/K}{\epsilon/K} \qquad (k \ne y).$$
#
# **What this means.** The network is rewarded for being right, and *penalised* for being too
# sure: beyond the margin above, growing the logits further increases the loss. For
# $\epsilon = 0.1$ and $K = 5$ the best margin is $\log(0.92/0.02) \approx 3.8$, a probability of 0.92 for
# the right class. The predictions are better calibrated (a stated 90% is right about 90% of the
# time), and noisy labels cost less. The price: the model's probabilities can no longer be read
# as the data's own (which matters for distillation, Müller et al. 2019). The original
# Transformer (Vaswani et al., 2017) trained with $\epsilon = 0.1$; LLM pre-training usually does not
# smooth, because next-token distributions are genuinely spread out.
#
# The loss of one example as its logit margin grows (logits $[m, 0, 0, 0, 0]$, target 0), with
# `F.cross_entropy` itself:

# %%
margins = torch.linspace(0, 14, 300, dtype=DTYPE)
fig, ax = plt.subplots(figsize=(8, 3.6))
for eps, color in zip([0.0, 0.1, 0.3], ["C0", "C1", "C2"]):
    logits_demo = torch.zeros(len(margins), 5, dtype=DTYPE)
    logits_demo[:, 0] = margins
    losses = F.cross_entropy(logits_demo, torch.zeros(len(margins), dtype=torch.long), label_smoothing=eps, reduction="none")
    ax.plot(margins, losses, color=color, label=f"label_smoothing = {eps}")
    if eps > 0:
        best = math.log((1 - eps + eps / 5) / (eps / 5))
        ax.axvline(best, color=color, ls=":", lw=1)
ax.set(xlabel="logit margin m of the true class", ylabel="loss", yscale="log", title="the smoothed loss has its minimum at a finite margin")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# A worked example with $K = 3$ and $\epsilon = 0.1$: the smoothed target, the loss by hand, and
# torch:

# %%
logits_example = np.array([[2.0, 0.0, -1.0]])
eps_example, K_example = 0.1, 3
target_example = np.full(K_example, eps_example / K_example)
target_example[0] += 1 - eps_example
log_p_example = logits_example - np.log(np.exp(logits_example).sum())
print("smoothed target q:", target_example, " sums to", target_example.sum())
print("loss by hand     :", -(target_example * log_p_example).sum())
print("F.cross_entropy  :", F.cross_entropy(torch.tensor(logits_example), torch.tensor([0]), label_smoothing=eps_example).item())
print("gradient p - q   :", np.exp(log_p_example) - target_example)

# %% nbgrader={"grade": false, "grade_id": "label_smoothing_cross_entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def label_smoothing_cross_entropy(logits: np.ndarray, targets: np.ndarray, eps: float) -> tuple[float, np.ndarray]:
    """Mean label-smoothed cross-entropy from logits, as F.cross_entropy(logits, targets, label_smoothing=eps), and its gradient.

    Args:
        logits: float64 (N, K), unnormalised scores (they may be as large as 1e4).
        targets: int array (N,), the true classes in [0, K).
        eps: the smoothing, 0 <= eps <= 1: the target puts 1 - eps + eps / K on the true class and
             eps / K on each of the others (eps = 0: plain cross-entropy; eps = 1: uniform).

    Returns:
        (loss, grad): loss, a Python float, the mean over the N examples of -sum_k q_k log softmax(logits)_k;
        grad, float64 (N, K), its gradient w.r.t. the logits, (softmax(logits) - q) / N.

    Example:
        >>> label_smoothing_cross_entropy(np.array([[0.0, math.log(3.0)]]), np.array([1]), 0.5)
        (0.5623351446188083, array([[0., 0.]]))    # p = q = [0.25, 0.75]: the loss is H(q), the gradient 0

    About 10 minutes.
    """
    ### BEGIN SOLUTION
    logits = np.asarray(logits, dtype=np.float64)
    n, k = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)  # stable for logits of 1e4
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    q = np.full((n, k), eps / k)                           # eps spread over all K classes ...
    q[np.arange(n), targets] += 1.0 - eps                  # ... and the rest on the true one
    loss = -np.sum(q * log_probs) / n
    grad = (np.exp(log_probs) - q) / n
    return float(loss), grad
    ### END SOLUTION

# %%
def torch_smoothed_cross_entropy(logits: np.ndarray, targets: np.ndarray, eps: float) -> tuple[float, np.ndarray]:
    """F.cross_entropy(label_smoothing=eps) and its autograd gradient w.r.t. the logits: the reference of the tests."""
    logits_torch = torch.tensor(logits, dtype=DTYPE, requires_grad=True)
    loss = F.cross_entropy(logits_torch, torch.as_tensor(targets, dtype=torch.long), label_smoothing=eps)
    loss.backward()
    return loss.item(), logits_torch.grad.numpy()


@scenario
def smoothing_gradient_check(ns, logits, targets, eps, h=1e-6):
    """Your gradient next to central differences of your loss."""
    logits = np.array(logits, dtype=np.float64)
    numeric = np.zeros_like(logits)
    for index in np.ndindex(logits.shape):
        plus, minus = logits.copy(), logits.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (ns.label_smoothing_cross_entropy(plus, targets, eps)[0] - ns.label_smoothing_cross_entropy(minus, targets, eps)[0]) / (2 * h)
    return {"analytic": ns.label_smoothing_cross_entropy(logits, targets, eps)[1], "numeric": numeric}


# %% nbgrader={"grade": true, "grade_id": "label_smoothing_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""label smoothing with eps = 0 is plain cross-entropy, equal logits give log K for any eps, and when the prediction equals the smoothed target the loss is its entropy and the gradient is zero"""
from grader.testing import learner, expect

loss, grad = learner.label_smoothing_cross_entropy(np.array([[0.0, math.log(3.0)]]), np.array([1]), 0.0)
expect.true(isinstance(loss, (float, int)), "the loss must be a number (a Python float), not an array")
expect.close(loss, -math.log(0.75), atol=1e-12, rtol=0, what="the loss of p = [0.25, 0.75] on class 1 with eps = 0",
             hint="with eps = 0 the loss is the plain cross-entropy -log p[target]")
expect.shape(grad, (1, 2), what="the gradient for logits of shape (1, 2)", hint="the gradient has the shape of the logits (N, K)")
loss, _ = learner.label_smoothing_cross_entropy(np.zeros((3, 4)), np.array([0, 3, 1]), 0.3)
expect.close(loss, math.log(4), atol=1e-12, rtol=0, what="the loss of equal logits (K = 4)", hint="uniform predictions cost log K whatever the target")
# eps = 0.5, K = 2: q = [0.25, 0.75] on class 1, which is exactly the prediction
loss, grad = learner.label_smoothing_cross_entropy(np.array([[0.0, math.log(3.0)]]), np.array([1]), 0.5)
expect.close(loss, -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), atol=1e-12, rtol=0,
             what="the loss when the prediction equals the smoothed target (K = 2, eps = 0.5)",
             hint="the target is 1 - eps + eps / K = 0.75 on the true class and eps / K = 0.25 on the other: spread eps over all K classes")
expect.close(grad, np.zeros((1, 2)), atol=1e-12, rtol=0, what="the gradient when the prediction equals the smoothed target",
             hint="the gradient is (softmax(logits) - q) / N")

# %% nbgrader={"grade": true, "grade_id": "label_smoothing_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""label-smoothed cross-entropy equals torch.nn.functional.cross_entropy(label_smoothing=eps), with eps spread over all K classes, for eps from 0 to 1 and K from 2 to 1000; its gradient agrees with central differences and with torch.autograd; logits of 1e4 stay finite"""
from grader.testing import learner, expect

rng = np.random.default_rng(0)
logits, targets = rng.normal(scale=2.0, size=(3, 4)), np.array([2, 0, 3])
got = smoothing_gradient_check.learner(logits, targets, 0.2)
expect.shape(got["analytic"], (3, 4), what="the gradient for logits of shape (3, 4)")
expect.close(got["analytic"], got["numeric"], atol=1e-7, rtol=1e-6, what="your gradient next to central differences of your loss (eps = 0.2)",
             hint="the gradient of the mean loss is (softmax(logits) - q) / N")
### BEGIN HIDDEN TESTS
hint = ("F.cross_entropy's smoothed target is q = (1 - eps) * one_hot + eps / K on EVERY class (the true one included); "
        "loss = mean over examples of -sum_k q_k log softmax_k, gradient (softmax - q) / N")
for n, k, eps, scale, seed in [(16, 10, 0.1, 3.0, 1), (1, 2, 0.3, 1.0, 2), (8, 5, 1.0, 2.0, 3), (5, 4, 0.0, 2.0, 4),
                               (12, 1000, 0.05, 5.0, 5), (6, 3, 0.6, 1e4, 6)]:
    rng = np.random.default_rng(seed)
    logits, targets = rng.normal(scale=scale, size=(n, k)), rng.integers(0, k, size=n)
    loss, grad = learner.label_smoothing_cross_entropy(logits, targets, eps)
    want_loss, want_grad = torch_smoothed_cross_entropy(logits, targets, eps)
    case = f"N={n}, K={k}, eps={eps}" + (", logits of size 1e4" if scale > 100 else "")
    expect.finite(loss, what=f"the loss ({case})", hint="subtract each row's maximum logit before exponentiating")
    expect.close(loss, want_loss, atol=1e-12, rtol=1e-12, what=f"the loss ({case})", hint=hint)
    expect.close(grad, want_grad, atol=1e-14, rtol=1e-10, what=f"the gradient ({case})", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Your label smoothing in the toy MLP, with two strengths. The loss in the curves is always the
# *plain* cross-entropy, so the runs are compared on the same ruler. The second plot shows how
# sure each model is on the validation points (the largest predicted probability):

# %%
try:
    for eps in [0.1, 0.3]:
        runs[f"label smoothing {eps}"] = train_mlp(Regularization(label_smoothing=eps), toy_data)
    smoothing_runs = {name: runs[name] for name in ["none", "label smoothing 0.1", "label smoothing 0.3"]}
    plot_histories(smoothing_runs, "label smoothing")
    fig, ax = plt.subplots(figsize=(6, 3))
    for name, history in smoothing_runs.items():
        logits_val, _ = mlp_forward(history["params"], toy_data["x_val"], Regularization(), False, history["norm_state"], None)
        probs_val = np.exp(logits_val - logits_val.max(1, keepdims=True))
        probs_val /= probs_val.sum(1, keepdims=True)
        ax.hist(probs_val.max(1), bins=np.linspace(1 / 3, 1, 41), histtype="step", lw=1.5, label=name)
    ax.set(xlabel="largest predicted probability", ylabel="validation points", yscale="log", title="confidence after training")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    print("Write label_smoothing_cross_entropy above to see your label smoothing at work.")

# %% [markdown]
# Without smoothing almost every validation point is predicted with probability close to 1,
# the wrong ones included, and that is what makes the plain validation loss large. With
# $\epsilon = 0.1$ the confidence stops near the smoothed target ($1 - \epsilon + \epsilon/3 \approx 0.93$) and the
# validation loss stays low. Label smoothing does not stop the decision boundaries from bending
# around the outliers (the accuracy curve moves little): it limits how confidently the network
# states its answers, right or wrong.

# %% [markdown]
# ## 7 · Early stopping
#
# ### The rule
#
# Every curve above reaches its best validation loss early and then gets worse. Early stopping
# watches the validation loss after every epoch (here: every evaluation, each 10 steps), stops
# once it has not improved for a while, and **restores the weights of the best epoch**. Three
# numbers define it, as in Keras' `EarlyStopping`, PyTorch Lightning's `EarlyStopping` and
# Hugging Face's `EarlyStoppingCallback`:
#
# - an epoch **improves** when its loss is below the best loss so far by more than `min_delta`:
#   $\ell_t < \ell_{\text{best}} - \delta$ (strictly; a tie is not an improvement, and a `NaN` loss never is);
# - `wait` counts the epochs since the last improvement (an improvement resets it to 0);
# - training **stops** at the first epoch where `wait` reaches `patience`; the weights to restore
#   are those of the last improvement, `best_epoch`.
#
# A trace for the losses $[1.0, 0.8, 0.7, 0.72, 0.71, 0.75, 0.69, 0.8]$ (epochs from 0), `min_delta` 0:
#
# | epoch | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 |
# |---|---|---|---|---|---|---|---|---|
# | loss | 1.0 | 0.8 | 0.7 | 0.72 | 0.71 | 0.75 | 0.69 | 0.8 |
# | improves? | yes | yes | yes | no | no | no | yes | no |
# | wait | 0 | 0 | 0 | 1 | 2 | 3 | 0 | 1 |
#
# With `patience` 2 training stops at epoch 4 (its `wait` is 2) and restores epoch 2. With
# patience 3 it stops at epoch 5. With patience 4 it never stops, and the best epoch is 6.
# Off-by-one mistakes here are classic: stopping when `wait` *exceeds* `patience` gives every run
# one useless epoch more.
#
# **What this means.** The number of training steps is itself a regularisation
# hyperparameter: for gradient descent on a quadratic, stopping after $t$ steps with learning rate
# $\eta$ acts much like an L2 penalty with $\lambda \approx 1/(\eta t)$, since the flat directions
# (the ones weight decay shrinks first, section 5) are also the ones gradient descent is slowest to
# fit. Early stopping costs nothing but a validation set and a saved checkpoint. It is how almost
# every fine-tuning run is run: evaluate every few hundred steps, keep the checkpoint with the best
# validation loss (`load_best_model_at_end=True` in Hugging Face's Trainer).
#
# Write the rule as a pure function of the sequence of validation losses: it tells you where a
# run that monitored them would have stopped and which epoch it would have restored. Because the
# decision at each epoch uses only the losses so far, the same function works online (call it on
# the losses seen so far, after every epoch).

# %% nbgrader={"grade": false, "grade_id": "early_stopping", "locked": false, "schema_version": 3, "solution": true, "task": false}
def early_stopping(val_losses, patience: int, min_delta: float = 0.0) -> dict:
    """Where early stopping with this patience stops on a sequence of validation losses, and which epoch it restores.

    Args:
        val_losses: a non-empty sequence (list or 1-D array) of floats, the validation loss after
            each epoch, epoch 0 first. NaN is allowed and never counts as an improvement.
        patience: int >= 1, how many epochs without improvement to tolerate.
        min_delta: float >= 0; an epoch improves when its loss < best loss so far - min_delta.

    Returns:
        A dict with
        "stopped": bool, whether the rule stopped the run before the losses ran out;
        "stop_epoch": int, the epoch at which it stopped: the first epoch whose count of epochs
            since the last improvement reaches patience (the last epoch, len - 1, if it never stopped);
        "best_epoch": int, the epoch of the last improvement up to stop_epoch (the weights to restore).

    Example:
        >>> early_stopping([1.0, 0.8, 0.7, 0.72, 0.71, 0.75, 0.69, 0.8], patience=2)
        {'stopped': True, 'stop_epoch': 4, 'best_epoch': 2}

    About 10 minutes.
    """
    ### BEGIN SOLUTION
    best_loss, best_epoch, wait = math.inf, 0, 0
    for epoch, loss in enumerate(val_losses):
        if loss < best_loss - min_delta:  # False for NaN: a NaN loss is never an improvement
            best_loss, best_epoch, wait = loss, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                return {"stopped": True, "stop_epoch": epoch, "best_epoch": best_epoch}
    return {"stopped": False, "stop_epoch": len(val_losses) - 1, "best_epoch": best_epoch}
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "early_stopping_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""on the traced example early stopping stops at epoch 4 with patience 2 and restores epoch 2, and with patience 4 never stops and keeps epoch 6"""
from grader.testing import learner, expect

losses = [1.0, 0.8, 0.7, 0.72, 0.71, 0.75, 0.69, 0.8]
got = learner.early_stopping(losses, 2)
expect.true(isinstance(got, dict) and {"stopped", "stop_epoch", "best_epoch"} <= set(got),
            "early_stopping must return a dict with the keys 'stopped', 'stop_epoch' and 'best_epoch'")
expect.equal(int(got["stop_epoch"]), 4, what="stop_epoch with patience 2",
             hint="stop at the first epoch whose count of epochs since the last improvement reaches patience (wait >= patience)")
expect.equal(int(got["best_epoch"]), 2, what="best_epoch with patience 2", hint="restore the epoch of the last improvement, not the epoch you stop at")
expect.equal(bool(got["stopped"]), True, what="stopped with patience 2")
got = learner.early_stopping(losses, 4)
expect.equal((bool(got["stopped"]), int(got["stop_epoch"]), int(got["best_epoch"])), (False, 7, 6), what="(stopped, stop_epoch, best_epoch) with patience 4",
             hint="a run that never stops ends at the last epoch, len - 1, and keeps its best epoch")

# %% nbgrader={"grade": true, "grade_id": "early_stopping_rules", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""early stopping counts exactly `patience` epochs without improvement, treats ties and NaN as no improvement, requires an improvement larger than min_delta, restores the best epoch, and agrees with a port of Keras' EarlyStopping on random validation curves"""
from grader.testing import learner, expect


def as_triple(result, what):
    """(stopped, stop_epoch, best_epoch) from the learner's dict, checked to be plain values first."""
    expect.true(isinstance(result, dict) and {"stopped", "stop_epoch", "best_epoch"} <= set(result),
                f"{what}: early_stopping must return a dict with the keys 'stopped', 'stop_epoch' and 'best_epoch'")
    for key in ("stopped", "stop_epoch", "best_epoch"):
        expect.true(isinstance(result[key], (bool, int, np.integer, np.bool_)), f"{what}: {key} must be a bool or an int")
    return bool(result["stopped"]), int(result["stop_epoch"]), int(result["best_epoch"])


got = as_triple(learner.early_stopping([0.5, 0.6, 0.7, 0.8, 0.9], 3), "a loss that only rises")
expect.equal(got, (True, 3, 0), what="(stopped, stop_epoch, best_epoch) for losses [0.5, 0.6, 0.7, 0.8, 0.9], patience 3",
             hint="epochs 1, 2, 3 do not improve: wait reaches 3 = patience at epoch 3")
### BEGIN HIDDEN TESTS
hint = "improve when loss < best - min_delta (strictly); wait counts epochs since the last improvement; stop when wait >= patience"
cases = [  # (losses, patience, min_delta, case, (stopped, stop_epoch, best_epoch)) traced by hand
    ([4.0, 3.0, 3.0, 3.0, 3.0], 2, 0.0, "ties are not improvements", (True, 3, 1)),
    ([1.0, 0.875, 0.75, 0.625, 0.5, 0.375], 2, 0.25, "steps of 0.125 with min_delta 0.25", (True, 2, 0)),
    ([1.0, 0.875, 0.75, 0.625, 0.5, 0.375], 3, 0.25, "steps of 0.125 with min_delta 0.25 and patience 3", (False, 5, 3)),
    ([1.0, float("nan"), float("nan"), 0.5, 0.75], 3, 0.0, "NaN losses", (False, 4, 3)),
    ([1.0, float("nan"), float("nan"), 0.5, 0.75], 2, 0.0, "NaN losses with patience 2", (True, 2, 0)),
    ([3.0, 2.0, 1.0], 1, 0.0, "a loss that keeps falling", (False, 2, 2)),
    ([3.0, 2.0, 2.5, 1.0, 1.5, 1.25, 1.75], 1, 0.0, "patience 1", (True, 2, 1)),
    ([2.0], 5, 0.0, "a single epoch", (False, 0, 0)),
]
for losses, patience, min_delta, case, want in cases:
    got = as_triple(learner.early_stopping(losses, patience, min_delta), case)
    expect.equal(got, want, what=f"(stopped, stop_epoch, best_epoch) for {case}", hint=hint)


def keras_early_stopping(losses, patience, min_delta):
    """A port of the logic of keras.callbacks.EarlyStopping(monitor="val_loss", mode="min", patience, min_delta, restore_best_weights=True)."""
    best, best_epoch, wait = math.inf, 0, 0
    for epoch, current in enumerate(losses):
        wait += 1
        if current + min_delta < best:  # Keras: np.less(current - (-min_delta), best)
            best, best_epoch, wait = current, epoch, 0
            continue
        if wait >= patience and epoch > 0:
            return True, epoch, best_epoch
    return False, len(losses) - 1, best_epoch


rng = np.random.default_rng(0)
for trial in range(40):
    epochs = int(rng.integers(5, 60))
    t = np.arange(epochs)
    curve = 1.0 / (1.0 + t / rng.uniform(2, 10)) + rng.uniform(0, 0.02) * t + rng.normal(scale=rng.uniform(0.005, 0.05), size=epochs)
    patience, min_delta = int(rng.integers(1, 8)), float(rng.choice([0.0, 0.003, 0.02]))
    got = as_triple(learner.early_stopping(curve.tolist(), patience, min_delta), f"random curve {trial}")
    expect.equal(got, keras_early_stopping(curve.tolist(), patience, min_delta),
                 what=f"(stopped, stop_epoch, best_epoch) on a random validation curve of {epochs} epochs, patience {patience}, "
                      f"min_delta {min_delta}", hint=hint)
    # the rule is online: stopping on the losses up to stop_epoch gives the same answer
    if got[0]:
        expect.equal(as_triple(learner.early_stopping(curve[: got[1] + 1].tolist(), patience, min_delta), "a prefix"), got,
                     what="the answer on the losses up to the stop epoch",
                     hint="the decision at each epoch must depend only on the losses seen so far")
expect.equal(as_triple(learner.early_stopping(np.array([1.0, 0.5, 0.75, 0.625, 0.875]), 2), "a NumPy array"), (True, 3, 1),
             what="(stopped, stop_epoch, best_epoch) for a NumPy array of losses", hint="val_losses may be a 1-D array as well as a list")
### END HIDDEN TESTS

# %% [markdown]
# Your early stopping on the baseline run's validation curve (one "epoch" per evaluation,
# every 10 steps), with two patiences:

# %%
try:
    baseline = runs["none"]
    epochs_axis = np.arange(len(baseline["val_loss"])) * baseline["eval_every"]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.plot(epochs_axis, baseline["val_loss"], color="C0", label="validation loss, no regularization")
    for patience, color in [(3, "C1"), (10, "C2")]:
        decision = early_stopping(list(baseline["val_loss"]), patience)
        ax.axvline(epochs_axis[decision["stop_epoch"]], color=color, ls="--", label=f"patience {patience}: stop")
        ax.plot(epochs_axis[decision["best_epoch"]], baseline["val_loss"][decision["best_epoch"]], "o", color=color, ms=9,
                label=f"patience {patience}: restore (step {epochs_axis[decision['best_epoch']]})")
        print(f"patience {patience:2}: stops at step {epochs_axis[decision['stop_epoch']]}, restores step "
              f"{epochs_axis[decision['best_epoch']]}: validation loss {baseline['val_loss'][decision['best_epoch']]:.3f} and accuracy "
              f"{baseline['val_accuracy'][decision['best_epoch']]:.3f}, instead of {baseline['val_loss'][-1]:.3f} and "
              f"{baseline['val_accuracy'][-1]:.3f} after all {epochs_axis[-1]} steps")
    ax.set(yscale="log", xlabel="step", ylabel="validation cross-entropy", title="early stopping on the baseline run")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    print("Write early_stopping above to see where it stops.")

# %% [markdown]
# ## 8 · Everything side by side
#
# The best and the final validation loss and accuracy of every run of this notebook, made with
# your functions, plus one run that combines dropout, weight decay and label smoothing. The last
# column is what early stopping with patience 10 would have kept of each run.

# %%
try:
    runs["dropout 0.5 + weight decay 0.01 + smoothing 0.1"] = train_mlp(
        Regularization(dropout=0.5, weight_decay=0.01, label_smoothing=0.1), toy_data)
    print(f"{'run':<50}{'final train':>12}{'final val':>10}{'best val':>10}{'final acc':>10}{'early-stopped val':>19}")
    for name, history in runs.items():
        kept = early_stopping(list(history["val_loss"]), 10)["best_epoch"]
        print(f"{name:<50}{history['train_loss'][-1]:>12.4f}{history['val_loss'][-1]:>10.3f}{history['val_loss'].min():>10.3f}"
              f"{history['val_accuracy'][-1]:>10.3f}{history['val_loss'][kept]:>19.3f}")
    fig, ax = plt.subplots(figsize=(9, 4))
    for name, history in runs.items():
        ax.plot(np.arange(len(history["val_loss"])) * history["eval_every"], history["val_loss"], label=name)
    ax.set(yscale="log", xlabel="step", ylabel="validation cross-entropy", title="every run of this notebook")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    print("Finish every function above to see all the runs side by side.")

# %% [markdown]
# ## Practical considerations
#
# **Numerical stability.**
# - Compute a variance from the centred values, $\operatorname{mean}((x-\mu)^2)$. The shortcut
#   $\operatorname{mean}(x^2) - \mu^2$ subtracts two nearly equal numbers when $|\mu| \gg \sigma$: around $10^6$ it
#   loses every digit of a unit variance in float64, and far earlier in float16. Fused kernels use
#   Welford's online algorithm for the same reason.
# - $\epsilon$ belongs *inside* the square root, $\sqrt{\sigma^2+\epsilon}$: it keeps a constant feature from
#   dividing by zero. Under mixed precision (`19-training`) normalisation layers are computed in
#   float32 even when the matrix products run in bfloat16 or float16.
# - Subtract the maximum logit before `exp` in the smoothed cross-entropy, as in any softmax
#   (`03-probability`).
#
# **Common bugs, each one a known mistake the tests of this notebook recognise.**
#
# | bug | symptom | fix |
# |---|---|---|
# | dropout without rescaling | activations $1/(1-p)$ times larger at evaluation than in training | divide the kept entries by $1-p$ |
# | dividing by $p$ (the paper's keep probability) | wrong scale for every $p \ne 0.5$ | torch's $p$ is the drop probability: divide by $1-p$ |
# | dropout still active at evaluation | random, noisy predictions | `training=False` (`model.eval()`) makes it the identity |
# | batch norm on batch statistics at evaluation | predictions depend on the batch; a batch of one fails | use the running statistics (`model.eval()`) |
# | running variance from the biased batch variance | running variance too small by $(N-1)/N$ | average $\frac{N}{N-1}\sigma^2$ |
# | momentum convention reversed | running statistics that barely move, or that forget everything | torch: new $= (1-m)\,$old $+ m\,$batch |
# | batch-norm backward without the paths through $\mu$ and $\sigma^2$ | gradients that pass a shape check and fail a gradient check | subtract the mean of $g$ and its projection on $\hat x$ |
# | layer norm over the batch axis | an example's output depends on the others; a batch of one gives $\beta$ | statistics over the last axis |
# | layer norm with the unbiased variance (`torch.var`'s default) | outputs off by $\sqrt{(D-1)/D}$ | divide by $D$ |
# | weight decay on biases and norm gains | gains pulled towards 0, fighting the normalisation | decay only tensors with `ndim >= 2` |
# | L2 penalty without the $\tfrac12$ | a reported penalty that is not the one its gradient $\lambda W$ belongs to | $\frac\lambda2\lVert W\rVert^2$ |
# | label smoothing over $K-1$ classes where torch uses $K$ | numbers that differ from `F.cross_entropy(label_smoothing=...)` | $q = (1-\epsilon)e_y + \epsilon/K$ |
# | early stopping off by one | one epoch too many (or too few) | stop when `wait >= patience` |
# | keeping the last weights instead of the best | the checkpoint early stopping was meant to avoid | restore `best_epoch` |
#
# In PyTorch, three of these are one forgotten line: `model.eval()` before evaluating (dropout off,
# batch norm on running statistics) and `model.train()` before training again, and
# `torch.no_grad()` so that evaluation builds no graph.
#
# **Hyperparameters that matter.**
# - Dropout: 0.1 in GPT-2 and BERT (on attention weights, residual branches and embeddings), 0.5
#   in older fully connected networks, 0 in most large pre-training runs (LLaMA). Fine-tuning a
#   pre-trained model usually keeps the model's own dropout.
# - Weight decay: 0.1 with AdamW for GPT-3, LLaMA and most LLMs, on matrices and embeddings only;
#   0.01 is common for fine-tuning. With plain SGD, $10^{-4}$ to $5\times10^{-4}$ in vision models.
# - Batch norm: momentum 0.1, $\epsilon = 10^{-5}$; its statistics get noisy, and its accuracy drops, for
#   batches below about 16 per device (`SyncBatchNorm` shares statistics across GPUs). Transformers do not use it.
# - Layer norm: $\epsilon = 10^{-5}$ (GPT-2), RMSNorm with $10^{-5}$ or $10^{-6}$ (LLaMA); pre-LN placement makes deep
#   stacks trainable without warmup tricks (`15-transformer`).
# - Label smoothing: 0.1 for classification and translation; rarely in LLM pre-training.
# - Early stopping: patience of a few evaluations, `min_delta` of the order of the noise of the
#   validation loss; evaluate often enough that the best checkpoint is not missed.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | inverted dropout | $y = m\odot x/(1-p)$, $m_i\sim\mathrm{Bernoulli}(1-p)$; identity at evaluation | `x * (rng.random(x.shape) >= p) / (1 - p)` | attention, residual and embedding dropout (GPT-2, BERT: 0.1) |
# | dropout backward | $\partial L/\partial x = m \odot \partial L/\partial y\,/(1-p)$ | `grad_out * keep / (1 - p)`, the forward's mask | every dropout layer's backward |
# | batch norm (train) | $\hat x = (x-\mu_B)/\sqrt{\sigma_B^2+\epsilon}$ over the batch, $y = \gamma\hat x+\beta$ | `x.mean(0)`, `((x - mu)**2).mean(0)` | CNNs and MLPs; not in transformers |
# | running statistics | $\hat\mu \leftarrow (1-m)\hat\mu + m\mu_B$, $\hat\sigma^2 \leftarrow (1-m)\hat\sigma^2 + m\frac{N}{N-1}\sigma^2_B$ | `(1 - momentum) * old + momentum * batch` | batch norm's evaluation mode |
# | norm backward | $\partial_x L = \frac1s(g - \bar g - \hat x\,\overline{g\hat x})$, $g = \gamma\,\partial_y L$ | `(g - g.mean(a) - x_hat * (g * x_hat).mean(a)) / s` | every normalisation layer's backward |
# | layer norm | the same over the last axis, per example; no running statistics | `x.mean(-1, keepdims=True)` | every transformer block (GPT-2 pre-LN); RMSNorm in LLaMA |
# | weight decay | $\frac\lambda2\lVert W\rVert^2$, gradient $\lambda W$; SGD: $W \leftarrow (1-\eta\lambda)W - \eta g$ | `{n: wd * p if p.ndim >= 2 else 0}` | AdamW's decoupled decay 0.1 on matrices and embeddings |
# | label smoothing | $q = (1-\epsilon)e_y + \epsilon/K$, gradient $p - q$ | `F.cross_entropy(z, y, label_smoothing=eps)` | the original Transformer ($\epsilon = 0.1$), classifiers |
# | early stopping | improve if $\ell_t < \ell_{best} - \delta$; stop when wait $\ge$ patience; restore best | a loop with `best`, `wait`, `best_epoch` | checkpoint selection in every fine-tuning run |

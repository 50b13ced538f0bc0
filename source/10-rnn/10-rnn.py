# %% [markdown]
# # 10 · Recurrent networks: RNN, LSTM and GRU cells, backpropagation through time, a character model and attention
#
# A recurrent network reads a sequence one element at a time and carries a fixed-size **hidden
# state** from each step to the next. The state at step $t$ is a function of the new input and the
# previous state, with the *same* weights at every step:
#
# $$\boxed{\;h_t \;=\; \tanh\!\big(W_{ih}\, x_t + b_{ih} + W_{hh}\, h_{t-1} + b_{hh}\big),
# \qquad \frac{\partial h_T}{\partial h_t} \;=\; \prod_{k=t+1}^{T} \operatorname{diag}\!\big(1 - h_k^2\big)\, W_{hh}\;}$$
#
# The second formula is the whole story of this notebook: a gradient that travels back $T - t$
# steps is multiplied by $T - t$ Jacobians, so it shrinks or grows geometrically with distance.
# LSTM and GRU cells were invented to keep that product near one; attention was invented to skip
# it altogether. Why this matters for LLMs: recurrent networks were the language models before
# 2017, and the two weaknesses you meet here (gradients that vanish over distance, and a
# whole source sentence squeezed through one state vector) are exactly what attention and then
# the transformer removed. The additive attention you build in the last section is the direct
# ancestor of the attention in every transformer, and recurrence is back in recent LLM
# architectures (Mamba, RWKV, xLSTM) because a fixed-size state makes generation cost constant
# per token.
#
# **What you will build:** the Elman RNN cell, the LSTM cell and the GRU cell with exactly the
# parameter layout of `nn.RNNCell`, `nn.LSTMCell` and `nn.GRUCell`, so that copied weights give
# identical outputs; unrolling over a sequence; backpropagation through time by hand, checked
# against autograd; the vanishing and exploding gradient, measured and plotted for a vanilla RNN
# and an LSTM; a character-level LSTM language model trained on Shakespeare that writes new text;
# and an encoder-decoder with additive (Bahdanau) attention that learns to reverse digit sequences.

# %% [markdown]
# ## Prerequisites
#
# - `02-calculus`: the chain rule, Jacobians, gradient checking.
# - `03-probability`: softmax, cross-entropy, perplexity, sampling with a temperature.
# - `04-optimization`: Adam; why the learning rate and the gradient's scale matter.
# - `05-autograd` and `08-pytorch`: what `backward()` computes, `nn.Module`, `torch.autograd.grad`.
# - `13-attention` (optional, later): dot-product attention, which replaces the additive score of section 8.
#
# Packages: `torch` (CPU is enough), `numpy`, `matplotlib`. Every cell is tested in `float64`, so
# your outputs can be compared with PyTorch's own cells to about $10^{-12}$; the models are
# trained in `float32`.
#
# **Shapes used throughout.** $T$ sequence length, $B$ batch size, $I$ input width, $H$ hidden
# width, $V$ vocabulary size. Sequences are **time-major**, $(T, B, I)$, the default of `nn.RNN`,
# `nn.LSTM` and `nn.GRU` (`batch_first=False`): the loop over time then reads `xs[t]`, a
# contiguous $(B, I)$ slice. The token tensors of the language models are batch-major, $(B, T)$,
# as a data loader produces them.

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = torch.float64  # the cells are tested in float64: exact enough to compare with torch to 1e-12


def torch_cell_and_params(kind: str, input_size: int, hidden_size: int, seed: int, nonlinearity: str = "tanh"):
    """One of torch's cells in float64 ("rnn", "lstm" or "gru") and its four parameters as plain tensors.

    The parameters come in the order every cell of this notebook takes them:
    (weight_ih, weight_hh, bias_ih, bias_hh).
    """
    torch.manual_seed(seed)
    if kind == "rnn":
        module = nn.RNNCell(input_size, hidden_size, nonlinearity=nonlinearity, dtype=DTYPE)
    else:
        module = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}[kind](input_size, hidden_size, dtype=DTYPE)
    params = [p.detach().clone() for p in (module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh)]
    return module, params


# %% [markdown]
# ## 1 · The Elman cell: one step of a recurrent network
#
# A feed-forward layer maps one input to one output. A recurrent **cell** maps an input *and a
# state* to a new state. Elman's (1990) simple recurrent network, the one `nn.RNNCell` computes, is
#
# $$h' = \phi\big(x\, W_{ih}^\top + b_{ih} + h\, W_{hh}^\top + b_{hh}\big), \qquad
# x \in \mathbb{R}^{B\times I},\; h, h' \in \mathbb{R}^{B \times H},\; \phi \in \{\tanh, \operatorname{ReLU}\},$$
#
# written with rows as batch elements, as the code computes it. The parameters are
# `weight_ih` $W_{ih} \in \mathbb{R}^{H\times I}$, `weight_hh` $W_{hh} \in \mathbb{R}^{H\times H}$,
# `bias_ih` and `bias_hh` $\in \mathbb{R}^{H}$. Like every `nn.Linear`, weights are stored as
# (out, in), hence the transposes. When no state is given (`hx=None` in PyTorch), the initial state
# is zero.
#
# **Two biases?** Mathematically only their sum $b_{ih} + b_{hh}$ matters: one of them is
# redundant. PyTorch keeps both because NVIDIA's cuDNN kernels do (they compute the input part
# for all time steps in one big matrix product, with its own bias, and the recurrent part step by
# step, with the other). To reproduce PyTorch's numbers from its weights you must add **both**.
#
# **What this means.** The state is the network's memory: everything it will ever know about
# $x_1, \dots, x_t$ has to fit in $H$ numbers. $W_{hh}$ decides how the memory is rewritten at
# every step and is shared by all steps, so the number of parameters does not grow with the
# length of the sequence. The tanh keeps the state in $(-1, 1)$, which is what stops it from
# blowing up over many steps, and also, as section 6 shows, what makes its gradients fade.
#
# A worked example: the layout of `nn.RNNCell`, and one step recomputed by hand.

# %%
torch.manual_seed(0)
demo_cell = nn.RNNCell(input_size=3, hidden_size=2, dtype=DTYPE)
for name, p in demo_cell.named_parameters():
    print(f"{name:10s} {tuple(p.shape)}")
x_demo = torch.tensor([[1.0, -1.0, 0.5]], dtype=DTYPE)   # B = 1, I = 3
h_demo = torch.tensor([[0.2, -0.4]], dtype=DTYPE)         # B = 1, H = 2
by_hand = torch.tanh(x_demo @ demo_cell.weight_ih.T + demo_cell.bias_ih + h_demo @ demo_cell.weight_hh.T + demo_cell.bias_hh)
print("by hand:", by_hand.detach().numpy(), " nn.RNNCell:", demo_cell(x_demo, h_demo).detach().numpy())

# %% [markdown]
# Now write the cell yourself. It must work for any batch size (including a batch of one), any
# float dtype, both nonlinearities, and `h=None` meaning a zero state of the right shape, dtype and
# device.

# %% nbgrader={"grade": false, "grade_id": "rnn_cell", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_cell(
    x: torch.Tensor,
    h: torch.Tensor | None,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
    nonlinearity: str = "tanh",
) -> torch.Tensor:
    """One step of an Elman RNN, exactly as torch.nn.RNNCell computes it (about 5 minutes).

    Args:
        x: the input, float tensor (B, I).
        h: the previous hidden state, (B, H) in x's dtype, or None for a zero state.
        weight_ih: (H, I), weight_hh: (H, H), bias_ih: (H,), bias_hh: (H,): the parameters of
            nn.RNNCell under the same names.
        nonlinearity: "tanh" (the default) or "relu".

    Returns:
        The new hidden state h' = phi(x W_ih^T + b_ih + h W_hh^T + b_hh), shape (B, H), x's dtype.

    Example:
        >>> cell = nn.RNNCell(3, 2)
        >>> rnn_cell(torch.randn(4, 3), None, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh).shape
        torch.Size([4, 2])
    """
    ### BEGIN SOLUTION
    if h is None:
        h = x.new_zeros(x.shape[0], weight_hh.shape[1])
    pre_activation = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    if nonlinearity == "tanh":
        return torch.tanh(pre_activation)
    if nonlinearity == "relu":
        return torch.relu(pre_activation)
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}: use 'tanh' or 'relu'")
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "rnn_cell_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the RNN cell returns a (B, H) state in the input's dtype, matches a hand-computed one-number step, and treats h=None as a zero state"""
from grader.testing import learner, expect

# I = H = 1: h' = tanh(0.5 * 2 + 0.1 + (-1) * 0.3 + 0.2) = tanh(1.0)
one = lambda value: torch.tensor([[value]], dtype=DTYPE)
scalars = [one(0.5), one(-1.0), torch.tensor([0.1], dtype=DTYPE), torch.tensor([0.2], dtype=DTYPE)]
h_new = learner.rnn_cell(one(2.0), one(0.3), *scalars)
expect.shape(h_new, (1, 1), what="rnn_cell on a batch of one with I = H = 1", hint="the new state has shape (B, H)")
expect.dtype(h_new, DTYPE, what="rnn_cell's output", hint="keep the dtype of the input")
expect.close(h_new, one(math.tanh(1.0)), atol=1e-12, what="tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) for x = 2, h = 0.3",
             hint="add both biases, bias_ih and bias_hh, and apply tanh")

_, params = torch_cell_and_params("rnn", 3, 4, seed=0)
x = torch.randn(2, 3, generator=torch.Generator().manual_seed(1), dtype=DTYPE)
from_none = learner.rnn_cell(x, None, *params)
expect.shape(from_none, (2, 4), what="rnn_cell(x of shape (2, 3), None) with H = 4",
             hint="h=None means a zero state of shape (B, H), H = weight_hh.shape[1]")
expect.close(from_none, learner.rnn_cell(x, torch.zeros(2, 4, dtype=DTYPE), *params), atol=1e-15,
             what="rnn_cell with h=None compared with an explicit zero state")

# %% nbgrader={"grade": true, "grade_id": "rnn_cell_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the RNN cell equals torch.nn.RNNCell with copied weights, for tanh and ReLU, a batch of one, a zero initial state (h=None) and float32 inputs"""
from grader.testing import learner, expect

module, params = torch_cell_and_params("rnn", 5, 6, seed=2)
gen = torch.Generator().manual_seed(3)
x, h = torch.randn(4, 5, generator=gen, dtype=DTYPE), torch.randn(4, 6, generator=gen, dtype=DTYPE)
got = learner.rnn_cell(x, h, *params)
expect.shape(got, (4, 6), what="rnn_cell on B=4, I=5, H=6")
### BEGIN HIDDEN TESTS
hint = "h' = phi(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh): both biases, weights stored as (out, in)"
with torch.no_grad():
    expect.close(got, module(x, h), atol=1e-12, rtol=1e-10, what="rnn_cell compared with nn.RNNCell (tanh, B=4)", hint=hint)
    for kind, B, I, H, seed in [("tanh", 1, 3, 7, 4), ("relu", 3, 4, 5, 5), ("relu", 1, 2, 2, 6), ("tanh", 2, 1, 3, 7)]:
        module, params = torch_cell_and_params("rnn", I, H, seed=seed, nonlinearity=kind)
        x, h = torch.randn(B, I, generator=gen, dtype=DTYPE), 2.0 * torch.randn(B, H, generator=gen, dtype=DTYPE)
        got = learner.rnn_cell(x, h, *params, nonlinearity=kind)
        expect.shape(got, (B, H), what=f"rnn_cell ({kind}) on B={B}, I={I}, H={H}")
        expect.close(got, module(x, h), atol=1e-12, rtol=1e-10, what=f"rnn_cell ({kind}) compared with nn.RNNCell, B={B}, I={I}, H={H}",
                     hint=hint if kind == "tanh" else "nonlinearity='relu' means max(0, pre-activation) instead of tanh")
        expect.close(learner.rnn_cell(x, None, *params, nonlinearity=kind), module(x), atol=1e-12, rtol=1e-10,
                     what=f"rnn_cell ({kind}) with h=None compared with nn.RNNCell(x) (zero initial state)",
                     hint="h=None is a zero state: only x @ weight_ih.T + bias_ih + bias_hh remains")
    module32 = nn.RNNCell(5, 6)
    x32, h32 = torch.randn(3, 5, generator=gen), torch.randn(3, 6, generator=gen)
    got32 = learner.rnn_cell(x32, h32, module32.weight_ih.detach(), module32.weight_hh.detach(), module32.bias_ih.detach(), module32.bias_hh.detach())
    expect.dtype(got32, torch.float32, what="rnn_cell on float32 inputs", hint="build the zero state and every intermediate in x's dtype")
    expect.close(got32, module32(x32, h32), atol=1e-6, rtol=1e-5, what="rnn_cell compared with nn.RNNCell in float32")
### END HIDDEN TESTS

# %% [markdown]
# ## 2 · Unrolling: one cell, every time step
#
# A recurrent **layer** applies the same cell at every position of a sequence, feeding each step
# the state the previous step produced:
#
# $$s_t = \operatorname{cell}(x_t,\, s_{t-1};\, \theta), \quad t = 1, \dots, T, \qquad
# \text{outputs } (h_1, \dots, h_T), \quad \text{final state } s_T .$$
#
# For the RNN and the GRU the state $s_t$ is the hidden vector $h_t$; for the LSTM (section 3) it is
# a pair $(h_t, c_t)$ of which only $h_t$ is an output. Drawn along the time axis, the loop is a
# feed-forward network $T$ layers deep whose layers all share the weights $\theta$: the
# "unrolled" graph. Backpropagation through that graph is backpropagation through time (section 5).
#
# **What this means.** `nn.RNN`, `nn.LSTM` and `nn.GRU` are exactly this loop around
# `nn.RNNCell`, `nn.LSTMCell` and `nn.GRUCell` (in optimised C++ or cuDNN), with the parameters
# renamed `weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0` for layer 0. They return the
# stacked outputs $(T, B, H)$ and the final state with an extra leading axis for the layers,
# $(1, B, H)$. The loop is inherently sequential: step $t$ cannot start before step $t-1$ is done,
# which is why RNNs train slowly on long sequences and transformers, which process all positions
# at once, replaced them.
#
# A worked example: `nn.LSTM` is a loop over an `nn.LSTMCell` holding the same weights.

# %%
torch.manual_seed(0)
layer = nn.LSTM(input_size=3, hidden_size=4, dtype=DTYPE)           # time-major: input (T, B, I)
cell = nn.LSTMCell(3, 4, dtype=DTYPE)
with torch.no_grad():
    for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
        getattr(cell, name).copy_(getattr(layer, name + "_l0"))
xs_demo = torch.randn(5, 2, 3, dtype=DTYPE)                          # T = 5, B = 2, I = 3
outputs, (h_n, c_n) = layer(xs_demo)
state, hs = None, []
for x_t in xs_demo:
    state = cell(x_t, state)
    hs.append(state[0])
print("outputs", tuple(outputs.shape), "final h", tuple(h_n.shape), "(a leading axis for the layers)")
print("largest difference between nn.LSTM and the loop over nn.LSTMCell:",
      (torch.stack(hs) - outputs).abs().max().item(), (state[1] - c_n[0]).abs().max().item())

# %% [markdown]
# Write the loop once, for any cell. A cell is any function `cell(x, state, *params) -> state`,
# such as your `rnn_cell` (section 1), `lstm_cell` (3) and `gru_cell` (4), or torch's
# `torch.gru_cell`. The output of a step is the state itself, or its first element when the state
# is a tuple $(h, c)$.

# %% nbgrader={"grade": false, "grade_id": "unroll", "locked": false, "schema_version": 3, "solution": true, "task": false}
def unroll(cell, xs: torch.Tensor, state, params: tuple) -> tuple[torch.Tensor, object]:
    """Run a recurrent cell over a time-major sequence (about 10 minutes).

    Args:
        cell: a function cell(x, state, *params) -> new state, where x is (B, I) and the state is
            a (B, H) tensor, a tuple of (B, H) tensors (the LSTM's (h, c)), or None at the start.
        xs: the inputs, float tensor (T, B, I), T >= 1.
        state: the initial state as the cell takes it (None for a zero state).
        params: the tuple of parameters passed to every call, (weight_ih, weight_hh, bias_ih, bias_hh).

    Returns:
        (outputs, final_state): outputs (T, B, H) stacks h_1, ..., h_T (the state, or its first
        element when the state is a tuple); final_state is the state after the last step,
        exactly as the cell returned it.

    Example:
        >>> outputs, h_T = unroll(rnn_cell, torch.randn(7, 2, 3), None, params)   # (7, 2, H), (2, H)
        >>> outputs, (h_T, c_T) = unroll(lstm_cell, torch.randn(7, 2, 3), None, lstm_params)
    """
    ### BEGIN SOLUTION
    outputs = []
    for x in xs:                                   # xs[t] is the (B, I) input of step t
        state = cell(x, state, *params)
        outputs.append(state[0] if isinstance(state, tuple) else state)
    return torch.stack(outputs), state
    ### END SOLUTION

# %% [markdown]
# The tests drive your `unroll` with torch's own cell functions, so that they check the loop alone,
# whatever state your cells of sections 1, 3 and 4 are in (section 6 uses the same scenario):

# %%
from grader.testing import scenario


@scenario
def with_torch_cell(ns, function_name, kind, xs, state, params, *extra):
    """ns.<function_name>(cell, xs, state, params, *extra) with torch's own cell of this kind as the cell.

    The cell is torch.rnn_tanh_cell, torch.lstm_cell or torch.gru_cell (what nn.RNNCell, nn.LSTMCell
    and nn.GRUCell call), wrapped so that a state of None means zeros.
    """
    def torch_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
        zeros = x.new_zeros(x.shape[0], weight_hh.shape[1])
        if kind == "lstm":
            return tuple(torch.lstm_cell(x, state if state is not None else (zeros, zeros), weight_ih, weight_hh, bias_ih, bias_hh))
        step = torch.rnn_tanh_cell if kind == "rnn" else torch.gru_cell
        return step(x, state if state is not None else zeros, weight_ih, weight_hh, bias_ih, bias_hh)

    result = getattr(ns, function_name)(torch_cell, xs, state, tuple(params), *extra)
    if function_name == "unroll":
        outputs, final = result
        return {"outputs": outputs, "final": final}
    return result


# %% nbgrader={"grade": true, "grade_id": "unroll_shapes_and_final_state", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""unrolling stacks one output per time step into (T, B, H), and the final state is the last step's state (a tensor for a GRU, a tuple (h, c) for an LSTM)"""
from grader.testing import expect

gen = torch.Generator().manual_seed(0)
xs = torch.randn(6, 2, 3, generator=gen, dtype=DTYPE)
_, gru_params = torch_cell_and_params("gru", 3, 4, seed=1)
got = with_torch_cell.learner("unroll", "gru", xs, None, gru_params)
expect.shape(got["outputs"], (6, 2, 4), what="the outputs of a GRU unrolled over T=6, B=2 with H=4",
             hint="stack one (B, H) output per time step along a new first axis: torch.stack(outputs)")
expect.shape(got["final"], (2, 4), what="the final state of the GRU", hint="return the state after the last step")
expect.close(got["final"], got["outputs"][-1], atol=0, what="the GRU's final state compared with its last output",
             hint="for a GRU the output of a step is its state")
first = torch.gru_cell(xs[0], torch.zeros(2, 4, dtype=DTYPE), *gru_params)
expect.close(got["outputs"][0], first, atol=1e-12, what="the GRU's first output", hint="the first step is cell(xs[0], state, *params)")
expect.close(got["outputs"][1], torch.gru_cell(xs[1], first, *gru_params), atol=1e-12, what="the GRU's second output",
             hint="each step must be fed the state the previous step returned")
_, lstm_params = torch_cell_and_params("lstm", 3, 4, seed=2)
got = with_torch_cell.learner("unroll", "lstm", xs, None, lstm_params)
expect.shape(got["outputs"], (6, 2, 4), what="the outputs of an LSTM unrolled over T=6, B=2 with H=4",
             hint="for an LSTM the state is a tuple (h, c): stack h, its first element")
expect.true(isinstance(got["final"], (tuple, list)) and len(got["final"]) == 2,
            "the final state of an LSTM must be the tuple (h_T, c_T) exactly as the cell returned it")
expect.close(got["final"][0], got["outputs"][-1], atol=0, what="the LSTM's final h compared with its last output",
             hint="the output of an LSTM step is h, the first element of its state (h, c)")

# %% nbgrader={"grade": true, "grade_id": "unroll_matches_torch_layers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""unrolling a cell equals torch's layers nn.RNN, nn.LSTM and nn.GRU with the same weights: every output and the final state, from a given or a zero initial state, for a batch of one and a single step"""
from grader.testing import expect

gen = torch.Generator().manual_seed(10)
xs = torch.randn(5, 3, 4, generator=gen, dtype=DTYPE)
_, params = torch_cell_and_params("rnn", 4, 6, seed=11)
got = with_torch_cell.learner("unroll", "rnn", xs, None, params)
expect.shape(got["outputs"], (5, 3, 6), what="the outputs of an RNN unrolled over T=5, B=3 with H=6")
### BEGIN HIDDEN TESTS
hint = "state = cell(x_t, state, *params) for t = 0, ..., T-1, feeding each step the state the previous step returned"
layers = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
for kind, T, B, I, H, with_state in [("rnn", 5, 3, 4, 6, False), ("rnn", 7, 2, 3, 5, True), ("lstm", 6, 3, 4, 5, True),
                                     ("lstm", 4, 1, 2, 3, False), ("gru", 6, 2, 3, 4, True), ("gru", 1, 1, 5, 2, False),
                                     ("lstm", 1, 2, 3, 3, True)]:
    torch.manual_seed(T * 100 + B * 10 + H)
    layer = layers[kind](I, H, dtype=DTYPE)
    params = [getattr(layer, name + "_l0").detach().clone() for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]]
    xs = torch.randn(T, B, I, generator=gen, dtype=DTYPE)
    h0, c0 = torch.randn(B, H, generator=gen, dtype=DTYPE), torch.randn(B, H, generator=gen, dtype=DTYPE)
    state = None if not with_state else ((h0, c0) if kind == "lstm" else h0)
    case = f"{kind.upper()} with T={T}, B={B}, H={H}, " + ("a given initial state" if with_state else "a zero initial state")
    got = with_torch_cell.learner("unroll", kind, xs, state, params)
    with torch.no_grad():
        torch_state = None if not with_state else ((h0[None], c0[None]) if kind == "lstm" else h0[None])
        want_outputs, want_final = layer(xs, torch_state)
    expect.shape(got["outputs"], (T, B, H), what=f"the outputs of the {case}")
    expect.close(got["outputs"], want_outputs, atol=1e-12, rtol=1e-10, what=f"the outputs of the {case}", hint=hint)
    if kind == "lstm":
        expect.true(isinstance(got["final"], (tuple, list)) and len(got["final"]) == 2, f"the final state of the {case} must be the tuple (h, c)")
        expect.close(got["final"][0], want_final[0][0], atol=1e-12, rtol=1e-10, what=f"the final h of the {case}", hint=hint)
        expect.close(got["final"][1], want_final[1][0], atol=1e-12, rtol=1e-10, what=f"the final c of the {case}", hint=hint)
    else:
        expect.close(got["final"], want_final[0], atol=1e-12, rtol=1e-10, what=f"the final state of the {case}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · The LSTM cell: a memory that is written additively
#
# Hochreiter and Schmidhuber's long short-term memory (1997, with the forget gate of Gers et al.,
# 2000) keeps two vectors: the hidden state $h$ (the output) and the **cell state** $c$ (the
# memory). One matrix product computes four pre-activations at once; `nn.LSTMCell` stacks them in
# the order **i, f, g, o**:
#
# $$\begin{pmatrix} a_i \\ a_f \\ a_g \\ a_o \end{pmatrix} = W_{ih}\, x + b_{ih} + W_{hh}\, h + b_{hh},
# \qquad W_{ih} \in \mathbb{R}^{4H \times I},\; W_{hh} \in \mathbb{R}^{4H\times H},\; b_{ih}, b_{hh} \in \mathbb{R}^{4H},$$
#
# $$i = \sigma(a_i),\quad f = \sigma(a_f),\quad g = \tanh(a_g),\quad o = \sigma(a_o),$$
#
# $$\boxed{\,c' = f \odot c + i \odot g, \qquad h' = o \odot \tanh(c')\,}$$
#
# Rows $0{:}H$ of the weights belong to the input gate $i$, rows $H{:}2H$ to the forget gate $f$,
# rows $2H{:}3H$ to the candidate $g$ and rows $3H{:}4H$ to the output gate $o$:
# `gates.chunk(4, dim=-1)` splits them in that order.
#
# **What this means.** The gates are soft switches in $(0, 1)$, computed from the input and the
# previous output. The forget gate decides how much of the old memory survives, the input gate
# how much of the candidate $g$ is written, the output gate how much of the memory is shown. The
# key design choice is the **additive** update $c' = f \odot c + \dots$: the memory is not pushed
# through a matrix and a squashing function at every step, as $h$ is in the Elman cell. The
# derivative $\partial c'/\partial c = \operatorname{diag}(f)$ is as close to the identity as the
# forget gate is to one, so information and gradients can survive hundreds of steps (section 6
# measures it). Two bugs are classic: swapping the gates (each gate reads the wrong quarter of
# the weights, and nothing crashes) and dropping $f$ from the update (the memory can never be
# erased; with a zero initial state the first step is even still correct).
#
# A worked example: the four quarters of `nn.LSTMCell`'s stacked weight and bias.

# %%
torch.manual_seed(0)
demo_lstm = nn.LSTMCell(input_size=3, hidden_size=2, dtype=DTYPE)
print("weight_ih", tuple(demo_lstm.weight_ih.shape), " weight_hh", tuple(demo_lstm.weight_hh.shape),
      " bias_ih", tuple(demo_lstm.bias_ih.shape), " (4H = 8 rows: i, f, g, o)")
for name, rows in zip("ifgo", demo_lstm.weight_ih.detach().chunk(4, dim=0)):
    print(f"  gate {name}: rows of shape {tuple(rows.shape)}, first row {rows[0].numpy().round(3)}")
print("parameters of an LSTM cell with I = 3, H = 2:", sum(p.numel() for p in demo_lstm.parameters()),
      "= 4 * (H*I + H*H + 2*H)")

# %% nbgrader={"grade": false, "grade_id": "lstm_cell", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lstm_cell(
    x: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor] | None,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of an LSTM, exactly as torch.nn.LSTMCell computes it (about 10 minutes).

    Args:
        x: the input, float tensor (B, I).
        state: the previous (h, c), two tensors (B, H) in x's dtype, or None for zeros.
        weight_ih: (4H, I), weight_hh: (4H, H), bias_ih: (4H,), bias_hh: (4H,): nn.LSTMCell's
            parameters, the four gates stacked by rows in the order i, f, g, o.

    Returns:
        The new state (h', c'), two tensors (B, H) in x's dtype:
        c' = f * c + i * g and h' = o * tanh(c').

    Example:
        >>> cell = nn.LSTMCell(3, 2)
        >>> h, c = lstm_cell(torch.randn(4, 3), None, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        >>> h.shape, c.shape
        (torch.Size([4, 2]), torch.Size([4, 2]))
    """
    ### BEGIN SOLUTION
    if state is None:
        zeros = x.new_zeros(x.shape[0], weight_hh.shape[1])
        state = (zeros, zeros)
    h, c = state
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh   # (B, 4H)
    a_i, a_f, a_g, a_o = gates.chunk(4, dim=-1)                    # torch's order: i, f, g, o
    i, f, g, o = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.tanh(a_g), torch.sigmoid(a_o)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    return h_new, c_new
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "lstm_cell_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the LSTM cell returns (h, c) of shape (B, H), and with zero weights follows the gate order i, f, g, o of a hand-computed step"""
from grader.testing import learner, expect

# I = H = 1 and zero weights: the gates are functions of the biases alone
# a_i = 1, a_f = -2, a_g = 0.5, a_o = 3 (from bias_ih + bias_hh), c = 2
zero = torch.zeros(4, 1, dtype=DTYPE)
bias_ih, bias_hh = torch.tensor([0.5, -1.0, 0.25, 1.0], dtype=DTYPE), torch.tensor([0.5, -1.0, 0.25, 2.0], dtype=DTYPE)
h_new, c_new = learner.lstm_cell(torch.ones(1, 1, dtype=DTYPE), (torch.ones(1, 1, dtype=DTYPE), torch.full((1, 1), 2.0, dtype=DTYPE)),
                                 zero, zero, bias_ih, bias_hh)
sigmoid = lambda a: 1 / (1 + math.exp(-a))
c_want = sigmoid(-2.0) * 2.0 + sigmoid(1.0) * math.tanh(0.5)
expect.shape(c_new, (1, 1), what="the new cell state c' on a batch of one", hint="return the pair (h', c'), each (B, H)")
expect.close(c_new, torch.tensor([[c_want]], dtype=DTYPE), atol=1e-12, what="c' = f * c + i * g with gates from the biases alone",
             hint="split the 4H pre-activations in torch's order i, f, g, o (gates.chunk(4, dim=-1)) and keep f * c in the update")
expect.close(h_new, torch.tensor([[sigmoid(3.0) * math.tanh(c_want)]], dtype=DTYPE), atol=1e-12,
             what="h' = o * tanh(c') with gates from the biases alone", hint="h' is the output gate times tanh of the NEW cell state")

_, params = torch_cell_and_params("lstm", 3, 5, seed=0)
h, c = learner.lstm_cell(torch.randn(2, 3, generator=torch.Generator().manual_seed(1), dtype=DTYPE), None, *params)
expect.shape(h, (2, 5), what="h' from lstm_cell(x of shape (2, 3), None) with H = 5", hint="state=None means h = c = zeros of shape (B, H)")
expect.shape(c, (2, 5), what="c' from lstm_cell(x of shape (2, 3), None) with H = 5")

# %% nbgrader={"grade": true, "grade_id": "lstm_cell_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the LSTM cell equals torch.nn.LSTMCell with copied weights (both h and c), from a random state, from a zero state (None), for a batch of one and in float32"""
from grader.testing import learner, expect

module, params = torch_cell_and_params("lstm", 4, 3, seed=2)
gen = torch.Generator().manual_seed(3)
x, h, c = (torch.randn(5, n, generator=gen, dtype=DTYPE) for n in (4, 3, 3))
got_h, got_c = learner.lstm_cell(x, (h, c), *params)
expect.shape(got_h, (5, 3), what="h' of lstm_cell on B=5, I=4, H=3")
### BEGIN HIDDEN TESTS
hint = ("gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh, split in the order i, f, g, o; "
        "c' = sigmoid(f) * c + sigmoid(i) * tanh(g), h' = sigmoid(o) * tanh(c')")
with torch.no_grad():
    want_h, want_c = module(x, (h, c))
    expect.close(got_c, want_c, atol=1e-12, rtol=1e-10, what="c' compared with nn.LSTMCell (B=5, random state)", hint=hint)
    expect.close(got_h, want_h, atol=1e-12, rtol=1e-10, what="h' compared with nn.LSTMCell (B=5, random state)", hint=hint)
    for B, I, H, scale, seed in [(1, 2, 4, 1.0, 4), (3, 5, 6, 3.0, 5), (2, 1, 1, 2.0, 6)]:
        module, params = torch_cell_and_params("lstm", I, H, seed=seed)
        x, h, c = torch.randn(B, I, generator=gen, dtype=DTYPE), torch.randn(B, H, generator=gen, dtype=DTYPE), scale * torch.randn(B, H, generator=gen, dtype=DTYPE)
        got_h, got_c = learner.lstm_cell(x, (h, c), *params)
        want_h, want_c = module(x, (h, c))
        expect.close(got_c, want_c, atol=1e-12, rtol=1e-10, what=f"c' compared with nn.LSTMCell, B={B}, I={I}, H={H}", hint=hint)
        expect.close(got_h, want_h, atol=1e-12, rtol=1e-10, what=f"h' compared with nn.LSTMCell, B={B}, I={I}, H={H}", hint=hint)
        got_h, got_c = learner.lstm_cell(x, None, *params)
        want_h, want_c = module(x)
        expect.close(got_c, want_c, atol=1e-12, rtol=1e-10, what=f"c' from a zero state (None), B={B}, H={H}", hint="state=None means h = c = 0")
        expect.close(got_h, want_h, atol=1e-12, rtol=1e-10, what=f"h' from a zero state (None), B={B}, H={H}", hint="state=None means h = c = 0")
    module32 = nn.LSTMCell(3, 4)
    x32, h32, c32 = torch.randn(2, 3, generator=gen), torch.randn(2, 4, generator=gen), torch.randn(2, 4, generator=gen)
    got_h, got_c = learner.lstm_cell(x32, (h32, c32), *(p.detach() for p in (module32.weight_ih, module32.weight_hh, module32.bias_ih, module32.bias_hh)))
    expect.dtype(got_h, torch.float32, what="h' on float32 inputs", hint="keep the dtype of the input")
    want_h, want_c = module32(x32, (h32, c32))
    expect.close(got_c, want_c, atol=1e-6, rtol=1e-5, what="c' compared with nn.LSTMCell in float32", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · The GRU cell: two gates, no separate memory
#
# Cho et al.'s gated recurrent unit (2014) merges the LSTM's memory and output into one state and
# uses two gates. `nn.GRUCell` stacks three blocks of rows in the order **r, z, n** and keeps the
# input and the recurrent products apart, because the reset gate acts on the recurrent part only:
#
# $$\begin{pmatrix} g^x_r \\ g^x_z \\ g^x_n \end{pmatrix} = W_{ih}\, x + b_{ih}, \qquad
# \begin{pmatrix} g^h_r \\ g^h_z \\ g^h_n \end{pmatrix} = W_{hh}\, h + b_{hh},
# \qquad W_{ih} \in \mathbb{R}^{3H\times I},\; W_{hh} \in \mathbb{R}^{3H \times H},$$
#
# $$r = \sigma(g^x_r + g^h_r), \qquad z = \sigma(g^x_z + g^h_z), \qquad
# n = \tanh\!\big(g^x_n + r \odot (W_{hn} h + b_{hn})\big), \qquad \boxed{\,h' = (1 - z)\odot n + z \odot h\,}$$
#
# where $W_{hn} h + b_{hn} = g^h_n$ is the third block of the recurrent product, **bias included**.
#
# **Conventions differ, and each one is a classic bug when mixed with another.**
#
# - *Where the reset gate acts.* The paper (Cho et al., 2014) resets the state before the matrix
#   product, $n = \tanh(W_{in} x + b_{in} + W_{hn}(r \odot h) + b_{hn})$. PyTorch and cuDNN reset
#   after it, $r \odot (W_{hn} h + b_{hn})$, which lets the whole recurrent product $W_{hh} h$ be
#   computed in one matrix multiplication before $r$ is known. The two differ whenever $h \neq 0$,
#   and the bias $b_{hn}$ sits **inside** the product with $r$.
# - *What the update gate keeps.* In PyTorch $z$ is the fraction of the **old** state that is kept,
#   $h' = (1 - z) \odot n + z \odot h$, as in Cho et al.; Chung et al. (2014) and many tutorials write
#   $h' = z \odot n + (1 - z)\odot h$. Both
#   learn equally well from scratch, but only one reproduces trained PyTorch weights.
#
# **What this means.** The update gate interpolates between keeping the old state ($z \to 1$)
# and replacing it by the candidate $n$ ($z \to 0$); the reset gate decides how much of the old
# state the candidate may look at. Like the LSTM's memory, $h' = z \odot h + \dots$ is an additive
# path: with $z$ near one, $\partial h'/\partial h \approx \operatorname{diag}(z)$, close to the
# identity. A GRU has three blocks of weights where the LSTM has four, so it is 25% smaller for the
# same $H$, and in practice the two are about equally good.
#
# A worked example: the parameters of the three cells for the same sizes, and the two reset
# conventions evaluated on the same weights.

# %%
I_demo, H_demo = 16, 32
for kind in ["rnn", "gru", "lstm"]:
    module, _ = torch_cell_and_params(kind, I_demo, H_demo, seed=0)
    print(f"{type(module).__name__:9s} parameters: {sum(p.numel() for p in module.parameters()):6d}")

module, (w_ih, w_hh, b_ih, b_hh) = torch_cell_and_params("gru", 3, 2, seed=0)
x_demo, h_demo = torch.randn(1, 3, dtype=DTYPE), torch.randn(1, 2, dtype=DTYPE)
gx, gh = (x_demo @ w_ih.T + b_ih).chunk(3, -1), (h_demo @ w_hh.T + b_hh).chunk(3, -1)
r_demo = torch.sigmoid(gx[0] + gh[0])
n_torch = torch.tanh(gx[2] + r_demo * gh[2])                                        # r * (W_hn h + b_hn)
n_paper = torch.tanh(gx[2] + (r_demo * h_demo) @ w_hh[2 * 2:].T + b_hh[2 * 2:])    # W_hn (r * h) + b_hn
print("candidate n, torch's convention:", n_torch.numpy().round(4), " the paper's:", n_paper.numpy().round(4))

# %% nbgrader={"grade": false, "grade_id": "gru_cell", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gru_cell(
    x: torch.Tensor,
    h: torch.Tensor | None,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
) -> torch.Tensor:
    """One step of a GRU, exactly as torch.nn.GRUCell computes it (about 10 minutes).

    Args:
        x: the input, float tensor (B, I).
        h: the previous hidden state (B, H) in x's dtype, or None for a zero state.
        weight_ih: (3H, I), weight_hh: (3H, H), bias_ih: (3H,), bias_hh: (3H,): nn.GRUCell's
            parameters, the blocks stacked by rows in the order r, z, n.

    Returns:
        The new state h' = (1 - z) * n + z * h, shape (B, H), x's dtype, where
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).

    Example:
        >>> cell = nn.GRUCell(3, 2)
        >>> gru_cell(torch.randn(4, 3), None, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh).shape
        torch.Size([4, 2])
    """
    ### BEGIN SOLUTION
    if h is None:
        h = x.new_zeros(x.shape[0], weight_hh.shape[1])
    x_r, x_z, x_n = (x @ weight_ih.T + bias_ih).chunk(3, dim=-1)   # input part, order r, z, n
    h_r, h_z, h_n = (h @ weight_hh.T + bias_hh).chunk(3, dim=-1)   # recurrent part, bias included
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)                                  # reset AFTER the recurrent product
    return (1 - z) * n + z * h
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "gru_cell_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the GRU cell returns a (B, H) state and, with zero input weights, follows r * (W_hn h + b_hn) and h' = (1 - z) n + z h on a hand-computed step"""
from grader.testing import learner, expect

# I = H = 1, W_ih = 0, W_hh = (0, 0, 2)^T, biases chosen so that a_r = 0.5, a_z = -1, and h = 1.5:
# n = tanh(b_in + r * (2 * 1.5 + b_hn)), h' = (1 - z) n + z h
w_ih, w_hh = torch.zeros(3, 1, dtype=DTYPE), torch.tensor([[0.0], [0.0], [2.0]], dtype=DTYPE)
b_ih, b_hh = torch.tensor([0.25, -0.5, 0.3], dtype=DTYPE), torch.tensor([0.25, -0.5, -1.0], dtype=DTYPE)
h_new = learner.gru_cell(torch.ones(1, 1, dtype=DTYPE), torch.full((1, 1), 1.5, dtype=DTYPE), w_ih, w_hh, b_ih, b_hh)
sigmoid = lambda a: 1 / (1 + math.exp(-a))
r, z = sigmoid(0.5), sigmoid(-1.0)
n = math.tanh(0.3 + r * (2.0 * 1.5 - 1.0))
expect.shape(h_new, (1, 1), what="gru_cell on a batch of one with I = H = 1", hint="the new state has shape (B, H)")
expect.close(h_new, torch.tensor([[(1 - z) * n + z * 1.5]], dtype=DTYPE), atol=1e-12,
             what="h' = (1 - z) * n + z * h with n = tanh(W_in x + b_in + r * (W_hn h + b_hn))",
             hint="blocks in the order r, z, n; r multiplies the recurrent product including b_hn; z keeps the OLD state")
_, params = torch_cell_and_params("gru", 3, 5, seed=0)
expect.shape(learner.gru_cell(torch.randn(2, 3, dtype=DTYPE), None, *params), (2, 5), what="gru_cell(x of shape (2, 3), None) with H = 5",
             hint="h=None means a zero state of shape (B, H)")

# %% nbgrader={"grade": true, "grade_id": "gru_cell_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the GRU cell equals torch.nn.GRUCell with copied weights, from a random state, from a zero state (None), for a batch of one and in float32"""
from grader.testing import learner, expect

module, params = torch_cell_and_params("gru", 4, 3, seed=2)
gen = torch.Generator().manual_seed(3)
x, h = torch.randn(5, 4, generator=gen, dtype=DTYPE), torch.randn(5, 3, generator=gen, dtype=DTYPE)
got = learner.gru_cell(x, h, *params)
expect.shape(got, (5, 3), what="gru_cell on B=5, I=4, H=3")
### BEGIN HIDDEN TESTS
hint = ("r = sigmoid(x_r + h_r), z = sigmoid(x_z + h_z), n = tanh(x_n + r * h_n) where h_n = W_hn h + b_hn "
        "(the reset gate acts after the recurrent product, bias included), and h' = (1 - z) * n + z * h")
with torch.no_grad():
    expect.close(got, module(x, h), atol=1e-12, rtol=1e-10, what="gru_cell compared with nn.GRUCell (B=5, random state)", hint=hint)
    for B, I, H, scale, seed in [(1, 2, 4, 1.0, 4), (3, 5, 6, 2.0, 5), (2, 1, 1, 1.5, 6)]:
        module, params = torch_cell_and_params("gru", I, H, seed=seed)
        with torch.no_grad():
            params[3] += 0.5 * torch.randn(3 * H, generator=gen, dtype=DTYPE)   # a clearly non-zero b_hn
            module.bias_hh.copy_(params[3])
        x, h = torch.randn(B, I, generator=gen, dtype=DTYPE), scale * torch.randn(B, H, generator=gen, dtype=DTYPE)
        expect.close(learner.gru_cell(x, h, *params), module(x, h), atol=1e-12, rtol=1e-10,
                     what=f"gru_cell compared with nn.GRUCell, B={B}, I={I}, H={H}", hint=hint)
        expect.close(learner.gru_cell(x, None, *params), module(x), atol=1e-12, rtol=1e-10,
                     what=f"gru_cell from a zero state (None), B={B}, H={H}", hint="h=None means h = 0")
    module32 = nn.GRUCell(3, 4)
    x32, h32 = torch.randn(2, 3, generator=gen), torch.randn(2, 4, generator=gen)
    got32 = learner.gru_cell(x32, h32, *(p.detach() for p in (module32.weight_ih, module32.weight_hh, module32.bias_ih, module32.bias_hh)))
    expect.dtype(got32, torch.float32, what="gru_cell on float32 inputs", hint="keep the dtype of the input")
    expect.close(got32, module32(x32, h32), atol=1e-6, rtol=1e-5, what="gru_cell compared with nn.GRUCell in float32", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · Backpropagation through time, by hand
#
# Training an RNN means differentiating a loss through the unrolled graph of section 2. Take the
# tanh cell, $a_t = W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}$ and $h_t = \tanh(a_t)$ for
# $t = 1, \dots, T$, from a given $h_0$. A loss $L(h_1, \dots, h_T)$ hands us its **direct**
# gradients $g_t = \partial L / \partial h_t$, the part of the loss that reads $h_t$ itself (for a
# language model, the loss of the prediction made at step $t$). But $h_t$ also influences the loss
# through every later state, so the **total** gradient obeys a recursion that runs backwards in time:
#
# $$\delta_T = g_T, \qquad \delta_t = \frac{dL}{dh_t} = g_t + W_{hh}^\top \varepsilon_{t+1},
# \qquad \varepsilon_t = \frac{\partial L}{\partial a_t} = \delta_t \odot (1 - h_t^2) .$$
#
# The parameters are shared by all steps, so their gradients are **sums over time** of the
# per-step contributions:
#
# $$\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \varepsilon_t\, h_{t-1}^\top, \qquad
# \frac{\partial L}{\partial W_{ih}} = \sum_{t=1}^{T} \varepsilon_t\, x_t^\top, \qquad
# \frac{\partial L}{\partial b_{ih}} = \frac{\partial L}{\partial b_{hh}} = \sum_{t=1}^{T} \varepsilon_t, \qquad
# \frac{\partial L}{\partial x_t} = W_{ih}^\top \varepsilon_t, \qquad
# \frac{\partial L}{\partial h_0} = W_{hh}^\top \varepsilon_1 .$$
#
# In code, with the batch along the rows, $\varepsilon_t$ is a $(B, H)$ tensor: `dW_hh += eps.T @ h_prev`,
# `dx[t] = eps @ W_ih`, and the gradient handed to step $t-1$ is `eps @ W_hh`. The two biases get
# the same gradient, summed over the batch as well as over time.
#
# **What this means.** The backward pass is itself a recurrent network, running from $T$ down to
# 1, whose "input" at step $t$ is $g_t$ and whose state is $\delta_t$. It needs every $h_t$ of
# the forward pass, so the memory of training grows linearly with $T$: that is why long sequences
# are cut into chunks (truncated BPTT, see the practical considerations). Unfold the recursion and
# a gradient that travels from step $T$ back to step $t$ is multiplied by
#
# $$\frac{\partial h_T}{\partial h_t} = \prod_{k=t+1}^{T} \operatorname{diag}(1 - h_k^2)\, W_{hh} .$$
#
# A worked example: two steps of a one-number RNN ($I = H = 1$), the recursion by hand against
# `torch.autograd`, with the loss $L = 3 h_1 + 5 h_2$.

# %%
w, u, b = 0.7, -1.3, 0.1                      # W_ih, W_hh, b_ih + b_hh (one number each)
x1, x2, h0 = 0.5, -0.2, 0.4
h1 = math.tanh(w * x1 + u * h0 + b)
h2 = math.tanh(w * x2 + u * h1 + b)
delta2 = 5.0                                  # dL/dh2: only the direct part, h2 is the last state
eps2 = delta2 * (1 - h2 ** 2)
delta1 = 3.0 + u * eps2                       # direct part + what flows back through step 2
eps1 = delta1 * (1 - h1 ** 2)
print("by hand:  dL/dW_hh =", round(eps1 * h0 + eps2 * h1, 10), " dL/dh0 =", round(u * eps1, 10))

params_demo = torch.tensor([w, u, b], dtype=DTYPE, requires_grad=True)
h0_demo = torch.tensor(h0, dtype=DTYPE, requires_grad=True)
h1_demo = torch.tanh(params_demo[0] * x1 + params_demo[1] * h0_demo + params_demo[2])
h2_demo = torch.tanh(params_demo[0] * x2 + params_demo[1] * h1_demo + params_demo[2])
(3 * h1_demo + 5 * h2_demo).backward()
print("autograd: dL/dW_hh =", round(params_demo.grad[1].item(), 10), " dL/dh0 =", round(h0_demo.grad.item(), 10))

# %% [markdown]
# Now the general case. Do the forward pass yourself (keeping every state), then the backward
# recursion above; no autograd inside. The result for `"hs"` is the **total** gradient
# $\delta_t$ of every output, which section 6 turns into a measurement.

# %% nbgrader={"grade": false, "grade_id": "rnn_bptt", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rnn_bptt(
    xs: torch.Tensor,
    h0: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
    grad_hs: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Backpropagation through time for a tanh RNN, by hand (about 25 minutes).

    The loss is any L whose direct gradients with respect to the outputs are grad_hs, i.e.
    L = sum over t of <grad_hs[t], h_t> for the forward pass h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    Args:
        xs: inputs (T, B, I). h0: the initial state (B, H).
        weight_ih (H, I), weight_hh (H, H), bias_ih (H,), bias_hh (H,): as for rnn_cell.
        grad_hs: (T, B, H), grad_hs[t] = dL/dh_{t+1} through h_{t+1} alone (the direct part).
        All tensors of one float dtype.

    Returns:
        A dict of gradients of L, each with the shape of its variable and in its dtype:
        "xs" (T, B, I), "h0" (B, H), "weight_ih" (H, I), "weight_hh" (H, H), "bias_ih" (H,),
        "bias_hh" (H,), and "hs" (T, B, H): the TOTAL gradient dL/dh_{t+1}, direct part plus
        everything that flows back from later steps (so hs[-1] equals grad_hs[-1]).

    Example:
        >>> grads = rnn_bptt(torch.randn(7, 2, 3), torch.zeros(2, 4), *params, torch.randn(7, 2, 4))
        >>> grads["weight_hh"].shape, grads["hs"].shape
        (torch.Size([4, 4]), torch.Size([7, 2, 4]))
    """
    ### BEGIN SOLUTION
    T = xs.shape[0]
    hs = [h0]                                             # hs[t] is the state after t steps
    for t in range(T):
        hs.append(torch.tanh(xs[t] @ weight_ih.T + bias_ih + hs[t] @ weight_hh.T + bias_hh))

    grad_xs = torch.zeros_like(xs)
    grad_w_ih, grad_w_hh = torch.zeros_like(weight_ih), torch.zeros_like(weight_hh)
    grad_bias = torch.zeros_like(bias_ih)
    total = torch.zeros_like(grad_hs)
    from_later = torch.zeros_like(h0)                     # dL/dh_{t+1} arriving from step t+2
    for t in reversed(range(T)):
        delta = grad_hs[t] + from_later                   # total dL/dh_{t+1}
        total[t] = delta
        eps = delta * (1 - hs[t + 1] ** 2)                # dL/da_{t+1}, through tanh' = 1 - tanh^2
        grad_w_ih += eps.T @ xs[t]
        grad_w_hh += eps.T @ hs[t]
        grad_bias += eps.sum(dim=0)
        grad_xs[t] = eps @ weight_ih
        from_later = eps @ weight_hh                      # what step t hands back to h_t
    return {"xs": grad_xs, "h0": from_later, "weight_ih": grad_w_ih, "weight_hh": grad_w_hh,
            "bias_ih": grad_bias, "bias_hh": grad_bias.clone(), "hs": total}
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "rnn_bptt_scalar_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""backpropagation through time returns every gradient with its variable's shape and matches the two-step, one-number example worked by hand above"""
from grader.testing import learner, expect

w, u, b_ih, b_hh, x1, x2, h0 = 0.7, -1.3, 0.04, 0.06, 0.5, -0.2, 0.4


def as_tensor(shape, values):
    return torch.tensor(values, dtype=DTYPE).reshape(shape)


grads = learner.rnn_bptt(as_tensor((2, 1, 1), [x1, x2]), as_tensor((1, 1), [h0]), as_tensor((1, 1), [w]), as_tensor((1, 1), [u]),
                         as_tensor((1,), [b_ih]), as_tensor((1,), [b_hh]), as_tensor((2, 1, 1), [3.0, 5.0]))
expect.true(isinstance(grads, dict) and all(k in grads for k in ["xs", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "hs"]),
            'rnn_bptt must return a dict with the keys "xs", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh" and "hs"')
for key, shape in [("xs", (2, 1, 1)), ("h0", (1, 1)), ("weight_ih", (1, 1)), ("weight_hh", (1, 1)), ("bias_ih", (1,)), ("bias_hh", (1,)), ("hs", (2, 1, 1))]:
    expect.shape(grads[key], shape, what=f'grads["{key}"] for T=2, B=1, I=H=1', hint="each gradient has the shape of its variable")
h1 = math.tanh(w * x1 + u * h0 + b_ih + b_hh)
h2 = math.tanh(w * x2 + u * h1 + b_ih + b_hh)
eps2 = 5.0 * (1 - h2 ** 2)
eps1 = (3.0 + u * eps2) * (1 - h1 ** 2)
expect.close(grads["hs"].flatten(), torch.tensor([3.0 + u * eps2, 5.0], dtype=DTYPE), atol=1e-12,
             what='the total gradients grads["hs"] of L = 3 h1 + 5 h2',
             hint="delta_t = g_t + W_hh^T eps_{t+1}: the direct gradient plus what flows back from the next step")
expect.close(grads["weight_hh"].flatten(), torch.tensor([eps1 * h0 + eps2 * h1], dtype=DTYPE), atol=1e-12,
             what='grads["weight_hh"] of L = 3 h1 + 5 h2', hint="sum eps_t h_{t-1}^T over the time steps, with eps_t = delta_t * (1 - h_t^2)")
expect.close(grads["h0"].flatten(), torch.tensor([u * eps1], dtype=DTYPE), atol=1e-12, what='grads["h0"] of L = 3 h1 + 5 h2',
             hint="the gradient of the initial state is W_hh^T eps_1")

# %% nbgrader={"grade": true, "grade_id": "rnn_bptt_matches_autograd", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""backpropagation through time by hand equals torch.autograd through nn.RNNCell for every gradient (inputs, initial state, both weights, both biases, the total gradient of every state), for a loss on every step, a loss on the last state only, a batch of one, a single step and large recurrent weights"""
from grader.testing import learner, expect


def autograd_bptt(xs, h0, params, grad_hs):
    """The same gradients from torch.autograd, through a loop over nn.RNNCell: the independent reference."""
    T, B, I = xs.shape
    cell = nn.RNNCell(I, h0.shape[1], dtype=DTYPE)
    with torch.no_grad():
        for p, value in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), params):
            p.copy_(value)
    xs, h0 = xs.clone().requires_grad_(), h0.clone().requires_grad_()
    h, hs = h0, []
    for t in range(T):
        h = cell(xs[t], h)
        hs.append(h)
    loss = sum((g * h_t).sum() for g, h_t in zip(grad_hs, hs))
    variables = [xs, h0, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh, *hs]
    grads = torch.autograd.grad(loss, variables)
    names = ["xs", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    return {**dict(zip(names, grads[:6])), "hs": torch.stack(grads[6:])}


gen = torch.Generator().manual_seed(20)
_, params = torch_cell_and_params("rnn", 3, 4, seed=21)
xs, h0, grad_hs = torch.randn(6, 2, 3, generator=gen, dtype=DTYPE), torch.randn(2, 4, generator=gen, dtype=DTYPE), torch.randn(6, 2, 4, generator=gen, dtype=DTYPE)
got = learner.rnn_bptt(xs, h0, *params, grad_hs)
expect.true(isinstance(got, dict) and "weight_hh" in got and "hs" in got, 'rnn_bptt must return a dict of gradients (see the docstring for its keys)')
expect.shape(got["weight_hh"], (4, 4), what='grads["weight_hh"] for H=4')
### BEGIN HIDDEN TESTS
hints = {
    "hs": "delta_t = grad_hs[t] + (eps_{t+1} @ W_hh): the total gradient also carries what flows back from every later step",
    "weight_hh": "dW_hh is the sum over t of eps_t.T @ h_{t-1}, with eps_t = delta_t * (1 - h_t^2) and the TOTAL delta_t",
    "weight_ih": "dW_ih is the sum over t of eps_t.T @ x_t",
    "bias_ih": "each bias gets the sum of eps_t over time and over the batch",
    "bias_hh": "each bias gets the sum of eps_t over time and over the batch",
    "xs": "dL/dx_t = eps_t @ W_ih",
    "h0": "dL/dh_0 = eps_1 @ W_hh: what the first step hands back",
}
shapes = lambda T, B, I, H: {"xs": (T, B, I), "h0": (B, H), "weight_ih": (H, I), "weight_hh": (H, H), "bias_ih": (H,), "bias_hh": (H,), "hs": (T, B, H)}


def compare(got, xs, h0, params, grad_hs, case):
    T, B, I = xs.shape
    H = h0.shape[1]
    want = autograd_bptt(xs, h0, params, grad_hs)
    expect.true(isinstance(got, dict), f"rnn_bptt must return a dict ({case})")
    for key in ["hs", "weight_hh", "weight_ih", "bias_ih", "bias_hh", "xs", "h0"]:
        expect.true(key in got, f'the dict returned by rnn_bptt has no key "{key}"')
        expect.shape(got[key], shapes(T, B, I, H)[key], what=f'grads["{key}"] ({case})')
        expect.close(got[key], want[key], atol=1e-12, rtol=1e-10, what=f'grads["{key}"] compared with autograd ({case})', hint=hints[key])


compare(got, xs, h0, params, grad_hs, "T=6, B=2, I=3, H=4, a loss on every step")
last_only = torch.zeros(9, 3, 5, dtype=DTYPE)
last_only[-1] = torch.randn(3, 5, generator=gen, dtype=DTYPE)
for T, B, I, H, grad_hs, scale, case in [
    (9, 3, 2, 5, last_only, 1.0, "T=9, a loss on the last state only"),
    (4, 1, 3, 3, None, 1.0, "a batch of one"),
    (1, 2, 4, 3, None, 1.0, "a single step, T=1"),
    (8, 2, 3, 6, None, 4.0, "large recurrent weights (4x), T=8"),
]:
    _, params = torch_cell_and_params("rnn", I, H, seed=T + B + H)
    params[1] = scale * params[1]
    xs, h0 = torch.randn(T, B, I, generator=gen, dtype=DTYPE), torch.randn(B, H, generator=gen, dtype=DTYPE)
    grad_hs = grad_hs if grad_hs is not None else torch.randn(T, B, H, generator=gen, dtype=DTYPE)
    compare(learner.rnn_bptt(xs, h0, *params, grad_hs), xs, h0, params, grad_hs, case)
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · Vanishing and exploding gradients, measured
#
# The product of Jacobians from section 5 bounds how much of a signal at step $T$ reaches step $t$:
#
# $$\Big\lVert \frac{\partial h_T}{\partial h_t} \Big\rVert \;\le\; \prod_{k=t+1}^{T}
# \big\lVert \operatorname{diag}(1 - h_k^2)\big\rVert\, \lVert W_{hh}\rVert \;\le\; \sigma_{\max}(W_{hh})^{\,T-t},$$
#
# with the spectral norm (the largest singular value), because $0 < 1 - h_k^2 \le 1$. If the largest singular value $\sigma_{\max}(W_{hh})$ is below one,
# the gradient from a distance $d = T - t$ shrinks at least like $\sigma_{\max}^d$: it **vanishes**
# geometrically, and the network cannot learn that something $d$ steps back mattered. If $W_{hh}$ is
# large, the product can instead **explode** and one update throws the weights far away (Bengio et
# al., 1994; Pascanu, Mikolov and Bengio, 2013). Only an exactly balanced product keeps the
# gradient alive over long distances, and a plain RNN has no way to stay balanced.
#
# The LSTM changes the product. Along the memory, $c_T = f_T \odot c_{T-1} + \dots$, so
# $\partial c_T / \partial c_t$ contains the path $\prod_k \operatorname{diag}(f_k)$: a product of
# numbers the network *chooses*, with no weight matrix and no tanh derivative in it. With forget
# gates near one the gradient passes almost unchanged (Hochreiter's "constant error carousel").
# That is why LSTMs are initialised with a **positive forget-gate bias** (Gers et al., 2000;
# Jozefowicz et al., 2015 recommend 1): with the default bias of about 0, $f \approx \sigma(0) = 0.5$
# and even an LSTM forgets geometrically, halving its gradient at every step.
#
# **What this means.** Powers of a matrix either die out or blow up, unless its spectral radius is
# exactly one. The figure below shows it for random matrices (left), and the derivatives that
# multiply the product in a tanh cell (right): $\tanh' \le 1$ and $\sigma' \le \tfrac14$.

# %%
torch.manual_seed(0)
W_demo = torch.randn(32, 32, dtype=DTYPE) / math.sqrt(32)
W_demo = W_demo / torch.linalg.eigvals(W_demo).abs().max()          # spectral radius exactly 1
v_demo = torch.randn(32, dtype=DTYPE)
fig, (ax_pow, ax_der) = plt.subplots(1, 2, figsize=(11, 3.8))
for radius in [0.8, 0.95, 1.0, 1.05, 1.2]:
    norms, v = [], v_demo
    for _ in range(60):
        v = radius * W_demo @ v
        norms.append(v.norm().item())
    ax_pow.plot(range(1, 61), norms, label=f"spectral radius {radius}")
ax_pow.set(yscale="log", xlabel="power k", ylabel=r"$\|W^k v\|$", title="powers of a matrix vanish or explode")
ax_pow.legend(fontsize=8)
a_grid = torch.linspace(-5, 5, 201, dtype=DTYPE)
ax_der.plot(a_grid, 1 - torch.tanh(a_grid) ** 2, label=r"$\tanh'(a) = 1 - \tanh^2 a$")
ax_der.plot(a_grid, torch.sigmoid(a_grid) * (1 - torch.sigmoid(a_grid)), label=r"$\sigma'(a) = \sigma(1 - \sigma)$")
ax_der.set(xlabel="pre-activation a", title="the factors a saturated unit puts in the product")
ax_der.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# To measure the effect in a real cell, take the loss $L = \langle w, h_T \rangle$, a fixed readout
# $w$ of the last state, and compute $\lVert dL/dh_t \rVert$ for every $t$. For the RNN section 5's
# recursion gives it; for any cell `torch.autograd.grad(loss, [h_1, ..., h_T])` does, because
# `autograd.grad` accepts intermediate tensors as well as leaves.
#
# One trap: the gradient must be taken with respect to the tensors that **fed the next step**.
# The stacked outputs of `unroll` are a copy made after the loop; the loss reaches them only
# through their last row, so their gradient is zero everywhere else, as if no gradient ever
# travelled back. Keep the list of states from the loop itself. And since autograd only builds a
# graph when something requires a gradient, make a leaf require one (for instance a detached copy
# of the inputs), without touching the caller's tensors.

# %% nbgrader={"grade": false, "grade_id": "hidden_state_gradients", "locked": false, "schema_version": 3, "solution": true, "task": false}
def hidden_state_gradients(cell, xs: torch.Tensor, state, params: tuple, readout: torch.Tensor) -> torch.Tensor:
    """dL/dh_t for every step t, for the loss L = sum(readout * h_T), by autograd (about 15 minutes).

    Args:
        cell: a cell function cell(x, state, *params) -> state, as for unroll (any of yours, or torch's).
        xs: inputs (T, B, I). state: the initial state as the cell takes it, or None.
        params: the tuple of the cell's parameters (they need not require gradients).
        readout: (B, H), the weights w of the loss L = sum over b, j of w[b, j] * h_T[b, j].

    Returns:
        A tensor (T, B, H) in xs' dtype: entry t is the total gradient dL/dh_{t+1} of the state
        that step t produced and fed to step t + 1. The last entry equals readout. The caller's
        tensors are left as they were (no .grad is written).

    Example:
        >>> grads = hidden_state_gradients(lstm_cell, torch.randn(50, 4, 3), None, lstm_params, torch.randn(4, 8))
        >>> grads.norm(dim=(1, 2))          # (50,): how the gradient's size changes with distance from the end
    """
    ### BEGIN SOLUTION
    with torch.enable_grad():
        xs = xs.detach().requires_grad_(True)       # a leaf, so that autograd records the graph
        states = []
        for x in xs:
            state = cell(x, state, *params)
            states.append(state[0] if isinstance(state, tuple) else state)
        loss = (readout * states[-1]).sum()
        grads = torch.autograd.grad(loss, states)   # the states that fed the next step, not a stacked copy
    return torch.stack(grads)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "hidden_state_gradients_last_step", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the hidden-state gradients have shape (T, B, H), the last one equals the readout, and earlier ones are not zero"""
from grader.testing import expect

gen = torch.Generator().manual_seed(30)
_, params = torch_cell_and_params("rnn", 3, 4, seed=31)
xs, readout = torch.randn(5, 2, 3, generator=gen, dtype=DTYPE), torch.randn(2, 4, generator=gen, dtype=DTYPE)
got = with_torch_cell.learner("hidden_state_gradients", "rnn", xs, None, params, readout)
expect.shape(got, (5, 2, 4), what="the gradients for an RNN with T=5, B=2, H=4", hint="one (B, H) gradient per time step, stacked")
expect.close(got[-1], readout, atol=1e-14, what="dL/dh_T for L = sum(readout * h_T)", hint="the last state's gradient is the readout itself")
expect.true(bool((got[:-1].abs().sum(dim=(1, 2)) > 0).all()),
            "the gradients of the earlier states are zero: take the gradient with respect to the states that fed the next "
            "step (the list built in the loop), not a stacked copy of the outputs")
# one step back by hand: h_T = tanh(a_T) with a_T = ... + h_{T-1} W_hh^T, so dL/dh_{T-1} = (readout * (1 - h_T^2)) @ W_hh
h = torch.zeros(2, 4, dtype=DTYPE)
for x in xs:
    h = torch.rnn_tanh_cell(x, h, *params)
expect.close(got[-2], (readout * (1 - h ** 2)) @ params[1], atol=1e-12, what="dL/dh_{T-1}, one step back from the loss",
             hint="the gradient must flow back through the last step: (readout * (1 - h_T^2)) @ W_hh for a tanh RNN")

# %% nbgrader={"grade": true, "grade_id": "hidden_state_gradients_match_autograd", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the hidden-state gradients equal those of torch.autograd through torch's own RNN, LSTM and GRU cells, from a zero or a given initial state"""
from grader.testing import expect

gen = torch.Generator().manual_seed(32)
module, params = torch_cell_and_params("lstm", 3, 4, seed=33)
xs, readout = torch.randn(7, 2, 3, generator=gen, dtype=DTYPE), torch.randn(2, 4, generator=gen, dtype=DTYPE)
got = with_torch_cell.learner("hidden_state_gradients", "lstm", xs, None, params, readout)
expect.shape(got, (7, 2, 4), what="the gradients for an LSTM with T=7, B=2, H=4", hint="for an LSTM, h_t is the first element of the state")
### BEGIN HIDDEN TESTS
hint = ("compute loss = (readout * h_T).sum() and torch.autograd.grad(loss, [h_1, ..., h_T]) with the h_t taken from the loop, "
        "the very tensors each next step consumed; never detach a state inside the loop")


def module_gradients(module, xs, state, readout):
    """dL/dh_t through a loop over the nn module, by torch.autograd: the independent reference."""
    xs = xs.clone().requires_grad_()
    hs = []
    for x in xs:
        state = module(x, state)
        hs.append(state[0] if isinstance(state, tuple) else state)
    return torch.stack(torch.autograd.grad((readout * hs[-1]).sum(), hs))


expect.close(got, module_gradients(module, xs, None, readout), atol=1e-12, rtol=1e-10,
             what="the LSTM's gradients, T=7, B=2, zero initial state", hint=hint)
for kind, T, B, I, H, with_state in [("rnn", 9, 3, 2, 5, True), ("gru", 8, 1, 3, 4, False), ("gru", 6, 2, 2, 3, True), ("lstm", 5, 3, 4, 2, True)]:
    module, params = torch_cell_and_params(kind, I, H, seed=T * B)
    xs, readout = torch.randn(T, B, I, generator=gen, dtype=DTYPE), torch.randn(B, H, generator=gen, dtype=DTYPE)
    h0, c0 = torch.randn(B, H, generator=gen, dtype=DTYPE), torch.randn(B, H, generator=gen, dtype=DTYPE)
    state = None if not with_state else ((h0, c0) if kind == "lstm" else h0)
    got = with_torch_cell.learner("hidden_state_gradients", kind, xs, state, params, readout)
    expect.shape(got, (T, B, H), what=f"the gradients for a {kind.upper()} with T={T}, B={B}, H={H}")
    expect.close(got, module_gradients(module, xs, state, readout), atol=1e-12, rtol=1e-10,
                 what=f"the {kind.upper()}'s gradients, T={T}, B={B}, " + ("a given initial state" if with_state else "a zero initial state"), hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Now the measurement, with your own cells: a 60-step sequence, a vanilla RNN whose recurrent
# matrix is scaled to spectral radius 0.5, 0.9 and 3, and an LSTM with the default forget-gate
# bias (0) and with a forget-gate bias of 3 (so that $f \approx \sigma(3) = 0.95$).

# %%
def spectral_rnn_params(radius: float, input_size: int, hidden_size: int, seed: int) -> tuple:
    """RNN parameters whose recurrent matrix has the given spectral radius (zero biases)."""
    gen = torch.Generator().manual_seed(seed)
    W_hh = torch.randn(hidden_size, hidden_size, generator=gen, dtype=DTYPE)
    W_hh = radius * W_hh / torch.linalg.eigvals(W_hh).abs().max()
    W_ih = torch.randn(hidden_size, input_size, generator=gen, dtype=DTYPE) / math.sqrt(input_size)
    zeros = torch.zeros(hidden_size, dtype=DTYPE)
    return (W_ih, W_hh, zeros, zeros.clone())


def lstm_params_with_forget_bias(forget_bias: float, input_size: int, hidden_size: int, seed: int) -> tuple:
    """nn.LSTMCell's default initialisation, with the forget-gate part of bias_ih set to forget_bias."""
    _, (W_ih, W_hh, b_ih, b_hh) = torch_cell_and_params("lstm", input_size, hidden_size, seed)
    b_ih, b_hh = torch.zeros_like(b_ih), torch.zeros_like(b_hh)
    b_ih[hidden_size:2 * hidden_size] = forget_bias       # rows H:2H are the forget gate
    return (W_ih, W_hh, b_ih, b_hh)


T_demo, B_demo, I_demo, H_demo = 60, 8, 8, 32
gen = torch.Generator().manual_seed(0)
xs_demo = torch.randn(T_demo, B_demo, I_demo, generator=gen, dtype=DTYPE)
readout_demo = torch.randn(B_demo, H_demo, generator=gen, dtype=DTYPE)
settings = [("RNN, spectral radius 0.5", rnn_cell, spectral_rnn_params(0.5, I_demo, H_demo, 1)),
            ("RNN, spectral radius 0.9", rnn_cell, spectral_rnn_params(0.9, I_demo, H_demo, 1)),
            ("RNN, spectral radius 3", rnn_cell, spectral_rnn_params(3.0, I_demo, H_demo, 1)),
            ("LSTM, forget bias 0", lstm_cell, lstm_params_with_forget_bias(0.0, I_demo, H_demo, 2)),
            ("LSTM, forget bias 3", lstm_cell, lstm_params_with_forget_bias(3.0, I_demo, H_demo, 2))]
try:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, cell_fn, cell_params in settings:
        grads = hidden_state_gradients(cell_fn, xs_demo, None, cell_params, readout_demo)
        norms = grads.norm(dim=(1, 2)).flip(0)                 # index d = distance T - t from the loss
        ax.plot(range(T_demo), norms, ls="--" if label.startswith("LSTM") else "-", label=label)
        print(f"{label:26s} |dL/dh| at distance 0: {norms[0]:8.2e}, 20: {norms[20]:8.2e}, 59: {norms[59]:8.2e}")
    ax.set(yscale="log", xlabel="distance from the loss, T - t (steps)", ylabel=r"$\| dL / dh_t \|$",
           title="how much gradient reaches a state T - t steps before the loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    plt.close("all")
    print("finish hidden_state_gradients (and rnn_cell, lstm_cell) above to draw this figure")

# %% [markdown]
# Read the figure from left to right, as the gradient travels back in time. The RNN with radius
# 0.9 loses about a factor of 1.8 per step: after 60 steps its gradient is about $10^{16}$ times
# smaller than at the loss, far below any learning signal (float32 keeps about 7 significant
# digits). The RNN with radius 3 does the opposite and grows by orders of magnitude. The LSTM with the default
# bias vanishes too, since its forget gates sit near 0.5; with a forget bias of 3 its gradient
# stays within an order of magnitude over all 60 steps. Two practical rules follow: **clip the
# gradient norm** to survive explosions (`torch.nn.utils.clip_grad_norm_`, used in section 7) and use
# **gated cells with a positive forget bias** to fight vanishing.

# %% [markdown]
# ## 7 · A character-level language model
#
# A language model assigns a probability to a text by predicting it one symbol at a time:
#
# $$p(x_1, \dots, x_N) = \prod_{t=1}^{N} p(x_t \mid x_1, \dots, x_{t-1}), \qquad
# \mathcal{L} = -\frac{1}{N} \sum_{t=1}^{N} \log p(x_t \mid x_{<t}) .$$
#
# An RNN fits this factorisation naturally: after reading $x_1, \dots, x_t$ its state $h_t$
# summarises the prefix, and a linear readout of $h_t$ gives the logits of $x_{t+1}$. Here the
# symbols are characters (Karpathy's char-rnn, 2015): an embedding turns each character into a
# vector, your LSTM reads the vectors, and a linear layer maps each $h_t$ to $V$ logits.
#
# **Training is teacher forcing.** Cut a random window of $T + 1$ characters from the text; the
# first $T$ are the inputs, the last $T$ the targets, **shifted by one**: position $t$ of the
# inputs must predict position $t + 1$ of the text. The loss is the cross-entropy of all $B \times T$
# predictions, computed in one forward pass over the window. Forgetting the shift is the classic
# bug here: the model then learns to copy its input, its training loss drops to almost zero, and
# what it generates is garbage.
#
# **Generation is autoregressive.** Read a prompt, sample the next character from
# $\operatorname{softmax}(z / \tau)$ with a temperature $\tau$ (03-probability), feed it back in
# with the state, and repeat. An RNN carries its state from step to step, so each new character
# costs one cell step, however long the text already is (a transformer without a cache re-reads the
# whole prefix; `31-kv-cache` fixes that).
#
# **What this means.** A uniform guess over $V$ characters has loss $\log V$ (about 4.1 nats for the
# 61 characters below). Every nat below that is structure the model has found: which letters
# follow which, then words, then names and line breaks. The perplexity $e^{\mathcal{L}}$ is the
# number of characters the model is "choosing between" on average.
#
# The text: the first 100,000 characters of Tiny Shakespeare (shipped with the course, public
# domain; see `DATA-LICENCE.md`), 90% for training and 10% held out.

# %%
with open("tinyshakespeare.txt", encoding="utf-8") as file:
    text = file.read()[:100_000]
chars = sorted(set(text))
char_to_id = {ch: i for i, ch in enumerate(chars)}


def encode(s: str) -> torch.Tensor:
    """Characters to token ids, int64 (len(s),)."""
    return torch.tensor([char_to_id[ch] for ch in s], dtype=torch.long)


def decode(ids) -> str:
    """Token ids (any iterable of ints) back to a string."""
    return "".join(chars[int(i)] for i in ids)


text_ids = encode(text)
split = int(0.9 * len(text_ids))
train_ids, held_out_ids = text_ids[:split], text_ids[split:]
print(f"{len(text):,} characters, vocabulary of {len(chars)}: {''.join(chars)!r}")
print(f"uniform guess: loss log V = {math.log(len(chars)):.3f} nats")
print(repr(text[:120]))

# %% [markdown]
# ### 7.1 Batches of shifted windows
#
# A batch is $B$ windows at random offsets $o_b$, each offset uniform over all places where a
# window of $T + 1$ characters fits: $o_b \in \{0, \dots, N - T - 1\}$ for a text of $N$ characters.
# Draw the offsets with the `generator` you are given (`torch.randint(..., generator=generator)`),
# so that a run can be repeated exactly.

# %% nbgrader={"grade": false, "grade_id": "char_lm_batch", "locked": false, "schema_version": 3, "solution": true, "task": false}
def char_lm_batch(data: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """B random windows of a token sequence, as inputs and next-token targets (about 5 minutes).

    Args:
        data: int64 tensor (N,), the token ids of the whole text, N > seq_len.
        batch_size: B. seq_len: T, the number of predictions per window.
        generator: the torch.Generator to draw the B offsets from.

    Returns:
        (inputs, targets), both int64 (B, T): for an offset o drawn uniformly from 0..N-T-1,
        inputs[b] = data[o : o + T] and targets[b] = data[o + 1 : o + T + 1].

    Example:
        >>> inputs, targets = char_lm_batch(torch.arange(100), 4, 8, torch.Generator().manual_seed(0))
        >>> inputs[0], targets[0]      # e.g. tensor([40, ..., 47]) and tensor([41, ..., 48])
    """
    ### BEGIN SOLUTION
    offsets = torch.randint(0, len(data) - seq_len, (batch_size,), generator=generator)   # 0..N-T-1
    positions = offsets[:, None] + torch.arange(seq_len + 1)                             # (B, T + 1)
    windows = data[positions]
    return windows[:, :-1], windows[:, 1:]
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "char_lm_batch_shifted_windows", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the batch holds windows of the text, targets are the inputs shifted by one position, every offset where a window fits is drawn (uniformly), and the draws come from the given generator"""
from grader.testing import scenario, expect


@scenario
def batches(ns, n, batch_size, seq_len, seed, text_seed=None):
    """char_lm_batch on the tokens 0..n-1 (or on a random text of length n), with a seeded generator."""
    data = torch.arange(n) if text_seed is None else torch.randint(0, 7, (n,), generator=torch.Generator().manual_seed(text_seed))
    return ns.char_lm_batch(data, batch_size, seq_len, torch.Generator().manual_seed(seed))


inputs, targets = batches.learner(50, 4, 6, 0)
expect.shape(inputs, (4, 6), what="inputs for B=4, T=6", hint="one row of T inputs per window")
expect.shape(targets, (4, 6), what="targets for B=4, T=6")
expect.dtype(inputs, torch.long, what="inputs", hint="token ids are int64")
expect.equal(inputs - inputs[:, :1], torch.arange(6).expand(4, 6), what="each row of inputs on the text 0..49",
             hint="each row must be a contiguous window data[o : o + T] of the text")
expect.equal(targets, inputs + 1, what="the targets on the text 0..49",
             hint="targets are the next characters: shifted one position to the right, data[o + 1 : o + T + 1]")
### BEGIN HIDDEN TESTS
from scipy import stats

hint = "draw offsets o uniformly from 0..N-T-1 with torch.randint(0, N - T, (B,), generator=generator); inputs data[o:o+T], targets data[o+1:o+T+1]"
inputs, targets = batches.learner(12, 3000, 5, 1)
expect.shape(inputs, (3000, 5), what="inputs for B=3000, T=5 on a text of 12 tokens")
expect.shape(targets, (3000, 5), what="targets for B=3000, T=5 on a text of 12 tokens")
expect.equal(inputs - inputs[:, :1], torch.arange(5).expand(3000, 5), what="each row of inputs (B=3000, T=5)", hint=hint)
expect.equal(targets, inputs + 1, what="the targets (B=3000, T=5)", hint=hint)
offsets = inputs[:, 0]
expect.true(bool((offsets >= 0).all() and (offsets <= 12 - 5 - 1).all()), "some window does not fit in the text: " + hint)
counts = torch.bincount(offsets, minlength=7)
expect.true(bool((counts > 0).all()), "some offsets where a window fits are never drawn (is the last one, N - T - 1, included?): " + hint)
expect.true(stats.chisquare(counts.numpy()).pvalue > 1e-4, "the offsets are not drawn uniformly: " + hint)
expect.equal(batches.learner(12, 50, 5, 7)[0], batches.learner(12, 50, 5, 7)[0], what="two batches drawn with the same seed",
             hint="draw the offsets with the generator you are given, not with the global random state")
expect.true(not torch.equal(batches.learner(40, 50, 5, 7)[0], batches.learner(40, 50, 5, 8)[0]),
            "batches drawn with different seeds are identical: use the generator you are given")
inputs, targets = batches.learner(30, 200, 8, 3, text_seed=4)
expect.shape(inputs, (200, 8), what="inputs for B=200, T=8 on a random text")
expect.shape(targets, (200, 8), what="targets for B=200, T=8 on a random text")
data = torch.randint(0, 7, (30,), generator=torch.Generator().manual_seed(4))
windows = data.unfold(0, 9, 1)                                        # every window of T + 1 = 9 tokens
pairs = torch.cat([inputs, targets[:, -1:]], dim=1)
found = (pairs[:, None, :] == windows[None, :, :]).all(-1).any(-1)
expect.true(bool(found.all()), "on a random text, some (inputs, last target) rows are not a window of the text: " + hint)
expect.equal(targets[:, :-1], inputs[:, 1:], what="targets compared with inputs shifted by one, on a random text", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ### 7.2 The model
#
# The parameters are given, so that the tests can copy them into PyTorch's own layers. Note the
# forget-gate bias set to 1 (section 6). Write `forward`: embed the tokens, move time to the first
# axis, run your `lstm_cell` with `unroll`, and map every hidden state to logits. It must accept a
# state, so that a long text can be read in pieces (and generation can go one character at a time).

# %% nbgrader={"grade": false, "grade_id": "char_lstm", "locked": false, "schema_version": 3, "solution": true, "task": false}
class CharLSTM(nn.Module):
    """A character language model: embedding, your LSTM cell unrolled, a linear readout to logits.

    Parameters (given): embed.weight (V, E); cell.weight_ih (4H, E), cell.weight_hh (4H, H),
    cell.bias_ih (4H,), cell.bias_hh (4H,) in nn.LSTMCell's layout; head.weight (V, H), head.bias (V,).
    With the same parameters it computes exactly what nn.Embedding + nn.LSTM + nn.Linear compute.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden_size: int = 128):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.cell = nn.LSTMCell(embed_dim, hidden_size)   # holds the parameters; forward uses your lstm_cell
        self.head = nn.Linear(hidden_size, vocab_size)
        with torch.no_grad():
            self.cell.bias_ih[hidden_size:2 * hidden_size] = 1.0   # forget-gate bias: remember by default

    def forward(self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Next-token logits for every position (about 10 minutes).

        Args:
            tokens: int64 (B, T), the token ids, T >= 1.
            state: the LSTM state (h, c), each (B, H), carried over from an earlier call, or None.

        Returns:
            (logits, state): logits (B, T, V), where logits[b, t] scores the token that follows
            tokens[b, t]; state, the LSTM's (h, c) after the last position, each (B, H).

        Example:
            >>> model = CharLSTM(61)
            >>> logits, (h, c) = model(torch.randint(0, 61, (4, 10)))     # (4, 10, 61), (4, 128), (4, 128)
            >>> more, state = model(torch.randint(0, 61, (4, 5)), (h, c)) # continues where the first call stopped
        """
        ### BEGIN SOLUTION
        xs = self.embed(tokens).transpose(0, 1)            # (T, B, E): time-major for unroll
        params = (self.cell.weight_ih, self.cell.weight_hh, self.cell.bias_ih, self.cell.bias_hh)
        outputs, state = unroll(lstm_cell, xs, state, params)
        return self.head(outputs.transpose(0, 1)), state  # (B, T, V)
        ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "char_lstm_matches_torch_lstm", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the character model computes exactly what nn.Embedding, nn.LSTM and nn.Linear compute with its parameters (logits and final state), and reading a text in two pieces with the carried state gives the same logits as reading it at once"""
from grader.testing import scenario, expect


@scenario
def char_lstm_outputs(ns, seed, tokens):
    """A float64 CharLSTM(V=7, E=5, H=6) built from a seed: its parameters, and its outputs on tokens (B, T), whole and in two pieces."""
    torch.manual_seed(seed)
    model = ns.CharLSTM(7, 5, 6).double()
    with torch.no_grad():
        logits, (h, c) = model(tokens)
        first, state = model(tokens[:, :5])
        second, (h2, c2) = model(tokens[:, 5:], state)
    return {"params": {name: p.detach().clone() for name, p in model.state_dict().items()},
            "logits": logits, "h": h, "c": c, "pieces": torch.cat([first, second], dim=1), "h2": h2, "c2": c2}


tokens = torch.randint(0, 7, (3, 9), generator=torch.Generator().manual_seed(40))
got = char_lstm_outputs.learner(41, tokens)
expect.shape(got["logits"], (3, 9, 7), what="the logits for tokens (3, 9) with V=7", hint="one row of V logits per position: (B, T, V)")
expect.shape(got["h"], (3, 6), what="the final h for B=3, H=6", hint="return the LSTM's state (h, c) after the last position")
expect.close(got["pieces"], got["logits"], atol=1e-12, what="the logits of the text read in two pieces (positions 0-4, then 5-8 with the carried state)",
             hint="pass the state of the first call into the second: unroll(lstm_cell, xs, state, params)")
### BEGIN HIDDEN TESTS
names = ["cell.bias_hh", "cell.bias_ih", "cell.weight_hh", "cell.weight_ih", "embed.weight", "head.bias", "head.weight"]
shapes = {"cell.bias_hh": (24,), "cell.bias_ih": (24,), "cell.weight_hh": (24, 6), "cell.weight_ih": (24, 5), "embed.weight": (7, 5),
          "head.bias": (7,), "head.weight": (7, 6)}


def torch_char_model(params, tokens):
    """The same computation with PyTorch's own layers: the independent reference."""
    V, E = params["embed.weight"].shape
    H = params["cell.weight_hh"].shape[1]
    embed, lstm, head = nn.Embedding(V, E, dtype=DTYPE), nn.LSTM(E, H, batch_first=True, dtype=DTYPE), nn.Linear(H, V, dtype=DTYPE)
    with torch.no_grad():
        embed.weight.copy_(params["embed.weight"])
        for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
            getattr(lstm, name + "_l0").copy_(params["cell." + name])
        head.weight.copy_(params["head.weight"])
        head.bias.copy_(params["head.bias"])
        out, (h, c) = lstm(embed(tokens))
        return head(out), h[0], c[0]


hint = "embed the tokens, transpose to (T, B, E), unroll your lstm_cell with the cell's four parameters, transpose back and apply the head"
for seed, shape in [(41, (3, 9)), (42, (1, 6)), (43, (2, 12))]:
    tokens = torch.randint(0, 7, shape, generator=torch.Generator().manual_seed(seed))
    got = char_lstm_outputs.learner(seed, tokens)
    expect.equal(sorted(got["params"]), names, what="the parameter names of CharLSTM", hint="keep the given __init__ (embed, cell, head)")
    for name, param_shape in shapes.items():
        expect.shape(got["params"][name], param_shape, what=f"the parameter {name} of CharLSTM(7, 5, 6)", hint="keep the given __init__")
    expect.shape(got["logits"], (*shape, 7), what=f"the logits for tokens {shape}")
    want_logits, want_h, want_c = torch_char_model(got["params"], tokens)
    expect.close(got["logits"], want_logits, atol=1e-12, rtol=1e-10, what=f"the logits for tokens {shape} compared with nn.LSTM", hint=hint)
    expect.close(got["h"], want_h, atol=1e-12, rtol=1e-10, what=f"the final h for tokens {shape} compared with nn.LSTM", hint=hint)
    expect.close(got["c"], want_c, atol=1e-12, rtol=1e-10, what=f"the final c for tokens {shape} compared with nn.LSTM", hint=hint)
    expect.close(got["pieces"], want_logits, atol=1e-12, rtol=1e-10, what=f"the logits for tokens {shape} read in two pieces",
                 hint="the second call must start from the state the first call returned")
    expect.close(got["c2"], want_c, atol=1e-12, rtol=1e-10, what=f"the final c for tokens {shape} read in two pieces")
### END HIDDEN TESTS

# %% [markdown]
# ### 7.3 Training
#
# The loop of `08-pytorch` with two details that matter for recurrent networks: the logits
# $(B, T, V)$ and targets $(B, T)$ are flattened to $(BT, V)$ and $(BT)$ for `F.cross_entropy`, and
# the gradient norm is **clipped** before each step (`nn.utils.clip_grad_norm_(model.parameters(), clip)`),
# so that one exploding gradient (section 6) cannot throw the weights away. Record the loss of
# every step as a Python float (`loss.item()`).

# %% nbgrader={"grade": false, "grade_id": "train_char_lm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_char_lm(model: nn.Module, data: torch.Tensor, steps: int, batch_size: int, seq_len: int, lr: float,
                  seed: int, clip: float = 1.0) -> list[float]:
    """Train a character model with Adam on random shifted windows of data (about 10 minutes).

    Args:
        model: a module with model(tokens (B, T)) -> (logits (B, T, V), state), such as CharLSTM.
        data: int64 (N,), the training tokens.
        steps: the number of updates. batch_size, seq_len: B and T of each batch (from char_lm_batch).
        lr: Adam's learning rate. seed: seeds the torch.Generator that draws the batches.
        clip: the largest gradient norm allowed (nn.utils.clip_grad_norm_) before each update.

    Returns:
        The training loss (mean cross-entropy in nats) of every step, a list of `steps` floats.

    Example:
        >>> losses = train_char_lm(CharLSTM(61), train_ids, steps=100, batch_size=32, seq_len=64, lr=0.01, seed=0)
    """
    ### BEGIN SOLUTION
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        inputs, targets = char_lm_batch(data, batch_size, seq_len, generator)
        logits, _ = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "train_char_lm_reaches_loss_bar", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""training your character model on a small made-up text for 100 steps brings its loss on held-out text far below the uniform guess (a loss bar calibrated on the reference), and the recorded training loss falls"""
from grader.testing import scenario, expect


@scenario
def char_lm_training(ns, steps, data_only=False):
    """Train CharLSTM(V, 16, 32) on text made of 12 short words; return the losses and the held-out logits."""
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "red", "box"]
    alphabet = sorted(set("".join(words) + " "))

    def made_up_text(n_words, seed):
        picks = torch.randint(0, len(words), (n_words,), generator=torch.Generator().manual_seed(seed)).tolist()
        return torch.tensor([alphabet.index(ch) for ch in " ".join(words[i] for i in picks) + " "])

    train, held_out = made_up_text(3000, 0), made_up_text(400, 1)
    if data_only:
        return {"held_out": held_out, "vocab_size": len(alphabet)}
    torch.manual_seed(0)
    model = ns.CharLSTM(len(alphabet), 16, 32)
    losses = ns.train_char_lm(model, train, steps, 16, 32, 0.02, 0)
    with torch.no_grad():
        logits, _ = model(held_out[None, :-1])
    return {"losses": [float(loss) for loss in losses], "held_out_logits": logits[0]}


got = char_lm_training.learner(3)
expect.true(isinstance(got["losses"], list) and len(got["losses"]) == 3, "train_char_lm(steps=3) must return a list of 3 losses")
expect.finite(torch.tensor(got["losses"]), what="the first 3 training losses", hint="is the loss a finite cross-entropy of logits and targets?")
### BEGIN HIDDEN TESTS
reference_data = char_lm_training.on({}, 0, data_only=True)
held_out, V = reference_data["held_out"], reference_data["vocab_size"]
got = char_lm_training.learner(100)
expect.true(len(got["losses"]) == 100, "train_char_lm(steps=100) must return 100 losses, one per update")
expect.shape(got["held_out_logits"], (len(held_out) - 1, V), what="the held-out logits")
held_out_loss = F.cross_entropy(got["held_out_logits"].double(), held_out[1:]).item()
# calibrated on the reference: about 0.70 nats for seeds 0-4 (the words carry about 0.68 nats per character);
# a uniform guess scores log 15 = 2.71 and letter frequencies alone about 2.5
expect.true(held_out_loss < 1.0,
            f"after 100 steps the held-out loss is {held_out_loss:.2f} nats, above the bar of 1.0: check that the targets are "
            "the inputs shifted by one, that the loss is the cross-entropy of the flattened logits and targets, and that "
            "every step calls zero_grad, backward, clip_grad_norm_ and optimizer.step")
first, last = sum(got["losses"][:10]) / 10, sum(got["losses"][-10:]) / 10
expect.true(last < first - 0.5, f"the recorded training loss fell only from {first:.2f} to {last:.2f} nats: record loss.item() at every step")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "train_char_lm_matches_torch_loop", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""on a text that holds exactly one window (so every batch is known), three steps of train_char_lm give the same losses and parameters as the loop written with torch's own nn.LSTM: Adam, zero_grad before every backward, and the gradient norm clipped to `clip`"""
from grader.testing import scenario, expect


@scenario
def three_steps(ns, clip=None):
    """Three steps of train_char_lm on a float64 CharLSTM(6, 4, 5), a text of 9 tokens and windows of 8 (one offset only)."""
    torch.manual_seed(70)
    model = ns.CharLSTM(6, 4, 5).double()
    initial = {name: p.detach().clone() for name, p in model.state_dict().items()}
    data = torch.tensor([0, 3, 1, 4, 1, 5, 2, 0, 4])
    options = {} if clip is None else {"clip": clip}
    losses = ns.train_char_lm(model, data, 3, 2, 8, 0.05, 0, **options)
    return {"initial": initial, "final": {name: p.detach().clone() for name, p in model.state_dict().items()},
            "losses": [float(loss) for loss in losses]}


got = three_steps.learner(0.05)
expect.true(isinstance(got["losses"], list) and len(got["losses"]) == 3, "train_char_lm(steps=3) must return a list of 3 losses")
### BEGIN HIDDEN TESTS


def torch_loop(initial, clip):
    """The same three steps with nn.Embedding, nn.LSTM and nn.Linear: the independent reference."""
    V, E = initial["embed.weight"].shape
    H = initial["cell.weight_hh"].shape[1]
    embed, lstm, head = nn.Embedding(V, E, dtype=DTYPE), nn.LSTM(E, H, batch_first=True, dtype=DTYPE), nn.Linear(H, V, dtype=DTYPE)
    with torch.no_grad():
        embed.weight.copy_(initial["embed.weight"])
        for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
            getattr(lstm, name + "_l0").copy_(initial["cell." + name])
        head.weight.copy_(initial["head.weight"])
        head.bias.copy_(initial["head.bias"])
    params = [*embed.parameters(), *lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=0.05)
    window = torch.tensor([0, 3, 1, 4, 1, 5, 2, 0, 4]).expand(2, 9)
    losses = []
    for _ in range(3):
        out, _ = lstm(embed(window[:, :-1]))
        loss = F.cross_entropy(head(out).reshape(-1, V), window[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        losses.append(loss.item())
    final = {"embed.weight": embed.weight, "head.weight": head.weight, "head.bias": head.bias,
             **{"cell." + name: getattr(lstm, name + "_l0") for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]}}
    return losses, {name: p.detach() for name, p in final.items()}


hint = ("each step: a batch from char_lm_batch, the mean cross-entropy of the flattened logits, optimizer.zero_grad(), "
        "loss.backward(), nn.utils.clip_grad_norm_(model.parameters(), clip), optimizer.step() (Adam with lr), and record loss.item()")
for clip, case in [(0.05, "clip=0.05"), (None, "the default clip=1.0")]:
    got = three_steps.learner(clip)
    expect.true(isinstance(got["losses"], list) and len(got["losses"]) == 3, "train_char_lm(steps=3) must return a list of 3 losses")
    for name, param_shape in {"embed.weight": (6, 4), "cell.weight_ih": (20, 4), "cell.weight_hh": (20, 5), "cell.bias_ih": (20,),
                              "cell.bias_hh": (20,), "head.weight": (6, 5), "head.bias": (6,)}.items():
        expect.true(name in got["initial"] and name in got["final"], "keep CharLSTM's given parameters (embed, cell, head)")
        expect.shape(got["initial"][name], param_shape, what=f"the parameter {name} of CharLSTM(6, 4, 5)", hint="keep the given __init__")
    want_losses, want_final = torch_loop(got["initial"], 1.0 if clip is None else clip)
    expect.close(torch.tensor(got["losses"], dtype=DTYPE), torch.tensor(want_losses, dtype=DTYPE), atol=1e-10, rtol=1e-9,
                 what=f"the three recorded losses ({case})", hint=hint)
    for name, value in want_final.items():
        expect.close(got["final"][name], value, atol=1e-10, rtol=1e-8, what=f"the parameter {name} after three steps ({case})", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Train it on Shakespeare: an LSTM of 128 units for 250 steps of 32 windows of 64 characters, about
# half a million characters seen, on a CPU in ten to twenty seconds. The held-out loss is measured on
# windows of the last 10% of the text, which the model never trains on.

# %%
def held_out_loss(model: nn.Module, data: torch.Tensor, seq_len: int = 128, n_windows: int = 64, seed: int = 1) -> float:
    """Mean cross-entropy (nats) of the model's next-token predictions on random windows of data."""
    inputs, targets = char_lm_batch(data, n_windows, seq_len, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        logits, _ = model(inputs)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).item()


try:
    torch.manual_seed(0)
    shakespeare_model = CharLSTM(len(chars), embed_dim=32, hidden_size=128)
    print(f"held-out loss before training: {held_out_loss(shakespeare_model, held_out_ids):.3f} nats (log V = {math.log(len(chars)):.3f})")
    started = time.time()
    shakespeare_losses = train_char_lm(shakespeare_model, train_ids, steps=250, batch_size=32, seq_len=64, lr=0.01, seed=0)
    final_loss = held_out_loss(shakespeare_model, held_out_ids)
    print(f"trained in {time.time() - started:.1f} s; held-out loss {final_loss:.3f} nats, perplexity {math.exp(final_loss):.1f}")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(shakespeare_losses, label="training loss (one batch)")
    ax.axhline(math.log(len(chars)), color="grey", ls=":", label="uniform guess, log V")
    ax.axhline(final_loss, color="C1", ls="--", label="held-out loss after training")
    ax.set(xlabel="step", ylabel="cross-entropy (nats per character)", title="a character LSTM learning Shakespeare")
    ax.legend()
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    plt.close("all")
    shakespeare_model = None
    print("finish char_lm_batch, CharLSTM.forward and train_char_lm above to train the model")

# %% [markdown]
# ### 7.4 Sampling new text
#
# Generation reads the prompt once, keeps the state, and then repeats: turn the last logits into
# probabilities $\operatorname{softmax}(z / \tau)$, draw one token with `torch.multinomial(probs, 1,
# generator=generator)`, and feed **only that token** back in together with the state. Temperature
# $\tau = 0$ means greedy decoding (always the argmax). Draw `num_samples` continuations at once, as a
# batch: the rows are independent samples from the same prompt.
#
# Your function must work for any model with the same interface as `CharLSTM`
# (`model(tokens, state) -> (logits, state)`, the state opaque to you): the tests run it on a
# small model built from torch's own `nn.LSTM`.

# %% nbgrader={"grade": false, "grade_id": "sample", "locked": false, "schema_version": 3, "solution": true, "task": false}
@torch.no_grad()
def sample(model: nn.Module, prompt: torch.Tensor, n_new: int, temperature: float, generator: torch.Generator,
           num_samples: int = 1) -> torch.Tensor:
    """Continue a prompt with n_new sampled tokens, carrying the recurrent state (about 15 minutes).

    Args:
        model: model(tokens (B, T) int64, state or None) -> (logits (B, T, V), state).
        prompt: int64 (P,), P >= 1, the tokens to start from.
        n_new: the number of tokens to generate (>= 1).
        temperature: tau >= 0; tokens are drawn from softmax(logits / tau), and tau = 0 means argmax.
        generator: the torch.Generator every random draw uses.
        num_samples: the number of independent continuations, generated together as a batch.

    Returns:
        int64 (num_samples, n_new): the generated tokens only (without the prompt).

    Example:
        >>> new = sample(shakespeare_model, encode("ROMEO:\\n"), 200, 0.8, torch.Generator().manual_seed(0))
        >>> print(decode(new[0]))
    """
    ### BEGIN SOLUTION
    logits, state = model(prompt[None, :].expand(num_samples, -1))   # read the prompt once
    next_logits = logits[:, -1]                                       # (num_samples, V)
    new_tokens = []
    for _ in range(n_new):
        if temperature == 0:
            token = next_logits.argmax(dim=-1)
        else:
            probs = torch.softmax(next_logits / temperature, dim=-1)
            token = torch.multinomial(probs, 1, generator=generator)[:, 0]
        new_tokens.append(token)
        logits, state = model(token[:, None], state)                  # one new token, the carried state
        next_logits = logits[:, -1]
    return torch.stack(new_tokens, dim=1)
    ### END SOLUTION

# %% [markdown]
# The tests' model: five tokens, an `nn.LSTM` of width 8 in float64 with a long memory (forget-gate
# bias 3), so that what comes next depends on the whole context. The same scenario also
# returns this model's next-token logits after any list of contexts, which is how the tests know
# what distribution your samples should follow.

# %%
@scenario
def sample_from_torch_model(ns, prompt, n_new, temperature, seed, num_samples, contexts=None):
    """ns.sample on a small character model built from nn.LSTM (V = 5); with contexts, that model's next-token logits."""
    class TorchCharModel(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(1234)
            self.embed = nn.Embedding(5, 4, dtype=torch.float64)
            self.lstm = nn.LSTM(4, 8, batch_first=True, dtype=torch.float64)
            self.head = nn.Linear(8, 5, dtype=torch.float64)
            with torch.no_grad():
                self.head.weight.mul_(4.0)             # spread the logits a little
                self.lstm.bias_ih_l0[8:16] += 3.0      # forget gates near one: a long memory of the context

        def forward(self, tokens, state=None):
            if state is not None:
                state = (state[0][None], state[1][None])
            out, (h, c) = self.lstm(self.embed(tokens), state)
            return self.head(out), (h[0], c[0])

    model = TorchCharModel()
    if contexts is not None:
        with torch.no_grad():
            return torch.stack([model(torch.tensor([context]))[0][0, -1] for context in contexts])
    return ns.sample(model, torch.tensor(prompt), n_new, temperature, torch.Generator().manual_seed(seed), num_samples)


# %% nbgrader={"grade": true, "grade_id": "sample_shapes_and_greedy", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""sampling returns (num_samples, n_new) int64 token ids in [0, V), and temperature 0 gives the same greedy continuation in every row"""
from grader.testing import expect

tokens = sample_from_torch_model.learner([0, 3, 1], 6, 1.0, 0, 4)
expect.shape(tokens, (4, 6), what="sample(prompt of 3 tokens, n_new=6, num_samples=4)", hint="return only the new tokens, one row per sample")
expect.dtype(tokens, torch.long, what="the sampled tokens", hint="token ids are int64")
expect.true(bool(((tokens >= 0) & (tokens < 5)).all()), "sampled token ids must lie in [0, V) with V = 5")
greedy = sample_from_torch_model.learner([0, 3, 1], 6, 0.0, 0, 3)
expect.shape(greedy, (3, 6), what="three greedy continuations of 6 tokens")
expect.equal(greedy, greedy[:1].expand(3, 6), what="three greedy continuations (temperature 0)",
             hint="temperature 0 means argmax at every step, so every row is the same")
path = [0, 3, 1]
for _ in range(6):   # the model's own argmax after each prefix, recomputed from scratch
    path.append(int(sample_from_torch_model.on({}, None, 0, 0.0, 0, 0, contexts=[path])[0].argmax()))
expect.equal(greedy[0], torch.tensor(path[3:]), what="the greedy continuation of [0, 3, 1]",
             hint="read the prompt, take the argmax of the last logits, feed that token back with the state, and repeat")

# %% nbgrader={"grade": true, "grade_id": "sample_follows_model_distribution", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""samples follow softmax(logits / T) of the model at T = 0.5, 1 and 2 (chi-square tests with fixed seeds), the second token follows the model's distribution given the prompt AND the first token (the state is carried), greedy decoding follows the argmax path, and the draws come from the given generator"""
from grader.testing import expect

tokens = sample_from_torch_model.learner([2, 4], 3, 1.0, 5, 8)
expect.shape(tokens, (8, 3), what="sample(prompt of 2 tokens, n_new=3, num_samples=8)")
expect.equal(sample_from_torch_model.learner([2, 4], 3, 1.0, 5, 8), tokens, what="two runs with the same seed",
             hint="draw with the generator you are given: torch.multinomial(probs, 1, generator=generator)")
### BEGIN HIDDEN TESTS
from scipy import stats

prompt, n = [0, 3, 1, 4], 20000
model_logits = lambda contexts: sample_from_torch_model.on({}, None, 0, 0.0, 0, 0, contexts=contexts)
first_logits = model_logits([prompt])[0]
for i, temperature in enumerate([0.5, 1.0, 2.0]):
    tokens = sample_from_torch_model.learner(prompt, 2, temperature, 100 + i, n)
    expect.shape(tokens, (n, 2), what=f"{n} samples of 2 tokens at T = {temperature}")
    expect.true(bool(((tokens >= 0) & (tokens < 5)).all()), "sampled token ids must lie in [0, V) with V = 5")
    counts = torch.bincount(tokens[:, 0], minlength=5).double()
    expected = n * torch.softmax(first_logits / temperature, dim=-1)
    p_value = stats.chisquare(counts.numpy(), expected.numpy()).pvalue
    if p_value < 1e-4 and temperature != 1.0 and stats.chisquare(counts.numpy(), (n * torch.softmax(first_logits * temperature, -1)).numpy()).pvalue > 1e-4:
        expect.fail(f"at T = {temperature} the first token follows softmax(logits * T): the temperature divides the logits")
    expect.true(p_value > 1e-4, f"at T = {temperature} the first sampled token does not follow softmax(logits / T) after the prompt "
                f"(chi-square p-value {p_value:.1e} on {n} samples): read the whole prompt, then sample from its last logits")
    if temperature == 1.0:
        second_logits = model_logits([prompt + [a] for a in range(5)])             # (5, V): after prompt + a
        joint = torch.softmax(first_logits, -1)[:, None] * torch.softmax(second_logits, -1)   # p(a) p(b | prompt, a)
        pair_counts = torch.bincount(tokens[:, 0] * 5 + tokens[:, 1], minlength=25).double()
        p_value = stats.chisquare(pair_counts.numpy(), (n * joint.flatten()).numpy()).pvalue
        expect.true(p_value > 1e-4, f"the pairs (first, second) of sampled tokens do not follow p(first) p(second | prompt, first) "
                    f"(chi-square p-value {p_value:.1e}): feed the sampled token back in WITH the state the model returned, so the "
                    "second token still depends on the prompt")
greedy = sample_from_torch_model.learner(prompt, 8, 0.0, 0, 2)
path = list(prompt)
for _ in range(8):
    path.append(int(model_logits([path])[0].argmax()))
expect.equal(greedy, torch.tensor([path[len(prompt):]] * 2), what="the greedy continuation (T = 0) of 8 tokens",
             hint="at T = 0 take the argmax of the last logits at every step, and carry the state")
expect.true(not torch.equal(sample_from_torch_model.learner(prompt, 4, 1.0, 1, 50), sample_from_torch_model.learner(prompt, 4, 1.0, 2, 50)),
            "samples drawn with different seeds are identical: use the generator you are given")
### END HIDDEN TESTS

# %% [markdown]
# What the temperature does to the model's next-character distribution after a prompt, and
# samples at three temperatures. Low temperatures repeat the most common words and line
# patterns; high ones invent letter soup.

# %%
try:
    if shakespeare_model is None:
        raise NotImplementedError
    prompt_text = "ROMEO:\nI will "
    with torch.no_grad():
        logits, _ = shakespeare_model(encode(prompt_text)[None])
    last_logits = logits[0, -1]
    top = torch.argsort(last_logits, descending=True)[:12]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for k, tau in enumerate([0.5, 1.0, 1.5]):
        probs = torch.softmax(last_logits / tau, dim=-1)[top]
        ax.bar(np.arange(12) + 0.27 * (k - 1), probs.numpy(), width=0.27, label=f"temperature {tau}")
    ax.set_xticks(range(12), [repr(chars[i])[1:-1] for i in top.tolist()])
    ax.set(ylabel="probability", title=f"next character after {prompt_text!r}")
    ax.legend()
    fig.tight_layout()
    plt.show()
    for tau in [0.5, 1.0, 1.5]:
        new = sample(shakespeare_model, encode(prompt_text), 160, tau, torch.Generator().manual_seed(0))
        print(f"--- temperature {tau} ---\n{prompt_text}{decode(new[0])}\n")
except NotImplementedError:
    plt.close("all")
    print("finish the character model (section 7.2-7.3) and sample above to see generated text")

# %% [markdown]
# ## 8 · Additive attention: let the decoder look back
#
# An **encoder-decoder** (Sutskever et al., 2014; Cho et al., 2014) reads a source sequence with
# one RNN, the encoder, and writes the target with another, the decoder. In its first form the
# decoder saw the source only through the encoder's final state: one vector of $H$ numbers for a
# whole sentence. Translation quality fell quickly with sentence length. Bahdanau, Cho and Bengio
# (2015) let the decoder, before each output, **look at every encoder state** $k_1, \dots, k_S$
# (the "annotations") and take a weighted average of them, with weights computed from its own
# previous state $q$:
#
# $$\boxed{\,e_j = v^\top \tanh\!\big(W_q\, q + W_k\, k_j\big), \qquad
# \alpha_j = \frac{\exp(e_j)}{\sum_{l=1}^{S} \exp(e_l)}, \qquad c = \sum_{j=1}^{S} \alpha_j\, k_j\,}$$
#
# with $W_q \in \mathbb{R}^{A \times D_q}$, $W_k \in \mathbb{R}^{A \times D_k}$ and $v \in \mathbb{R}^{A}$:
# the score is a one-hidden-layer network of width $A$ applied to the pair (query, key), hence
# "additive" (the two projections are added before the tanh). Padded source positions get the
# score $-\infty$, so their weight is exactly 0; every source has at least one real position.
#
# **What this means.** The weights $\alpha$ are a distribution over the source positions: for
# each query they sum to one **over the positions $j$**, not over the batch. The context $c$ is a
# soft pointer into the source: the decoder no longer has to remember the source, only where to
# look. `13-attention` replaces the small network by a scaled dot product $q \cdot k / \sqrt{d}$,
# which is cheaper and needs no parameters of its own, and keeps everything else: scores,
# softmax over the keys, a weighted average of values.
#
# A worked example with two keys, where the score is $2 \tanh(k_j)$ and the second key wins three
# to one:

# %%
keys_demo = torch.tensor([[[0.0], [math.atanh(math.log(3.0) / 2)]]], dtype=DTYPE)   # B = 1, S = 2, D_k = 1
scores_demo = 2.0 * torch.tanh(keys_demo[0, :, 0])                                  # W_q q = 0, W_k = 1, v = 2
weights_demo = torch.softmax(scores_demo, dim=-1)
print("scores", scores_demo.numpy().round(4), "= (0, log 3);  weights", weights_demo.numpy().round(4),
      "; context", (weights_demo[:, None] * keys_demo[0]).sum(0).numpy().round(4))

# %% nbgrader={"grade": false, "grade_id": "additive_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def additive_attention(
    query: torch.Tensor,
    keys: torch.Tensor,
    W_query: torch.Tensor,
    W_key: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bahdanau's additive attention of one query per batch element over S keys (about 10 minutes).

    Args:
        query: (B, D_q), one query (the decoder's previous state) per batch element.
        keys: (B, S, D_k), the encoder states; they are also the values that get averaged.
        W_query: (A, D_q), W_key: (A, D_k), v: (A,): the parameters of the score.
        mask: optional bool (B, S), True at real positions, False at padding; every row has at
            least one True. None means every position is real.

    Returns:
        (context, weights): context (B, D_k) = sum_j weights[:, j] * keys[:, j]; weights (B, S),
        softmax over the positions j of e_j = v . tanh(W_query q + W_key k_j), exactly 0 where
        the mask is False. Both in the inputs' dtype.

    Example:
        >>> context, weights = additive_attention(torch.randn(2, 4), torch.randn(2, 5, 6),
        ...                                       torch.randn(3, 4), torch.randn(3, 6), torch.randn(3))
        >>> context.shape, weights.shape, weights.sum(-1)
        (torch.Size([2, 6]), torch.Size([2, 5]), tensor([1., 1.]))
    """
    ### BEGIN SOLUTION
    projected_query = query @ W_query.T                    # (B, A)
    projected_keys = keys @ W_key.T                        # (B, S, A)
    scores = torch.tanh(projected_query[:, None, :] + projected_keys) @ v   # (B, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # padding: weight exactly 0
    weights = torch.softmax(scores, dim=-1)                # over the source positions, not the batch
    context = (weights[:, :, None] * keys).sum(dim=1)      # (B, D_k)
    return context, weights
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "additive_attention_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""additive attention returns a context (B, D_k) and weights (B, S) that sum to one over the positions, and matches the two-key example worked by hand above"""
from grader.testing import learner, expect

a = math.atanh(math.log(3.0) / 2)
keys = torch.tensor([[[0.0], [a]]], dtype=DTYPE)
context, weights = learner.additive_attention(torch.zeros(1, 1, dtype=DTYPE), keys, torch.ones(1, 1, dtype=DTYPE),
                                              torch.ones(1, 1, dtype=DTYPE), torch.tensor([2.0], dtype=DTYPE))
expect.shape(weights, (1, 2), what="the weights for B=1, S=2", hint="one weight per source position: (B, S)")
expect.shape(context, (1, 1), what="the context for B=1, D_k=1", hint="the context is a weighted average of the keys: (B, D_k)")
expect.close(weights, torch.tensor([[0.25, 0.75]], dtype=DTYPE), atol=1e-12, what="the weights of the two-key example",
             hint="e_j = v . tanh(W_query q + W_key k_j), then a softmax over the positions j")
expect.close(context, torch.tensor([[0.75 * a]], dtype=DTYPE), atol=1e-12, what="the context of the two-key example",
             hint="the context is sum_j weights[:, j] * keys[:, j]")

gen = torch.Generator().manual_seed(50)
context, weights = learner.additive_attention(torch.randn(3, 4, generator=gen, dtype=DTYPE), torch.randn(3, 5, 6, generator=gen, dtype=DTYPE),
                                              torch.randn(2, 4, generator=gen, dtype=DTYPE), torch.randn(2, 6, generator=gen, dtype=DTYPE),
                                              torch.randn(2, generator=gen, dtype=DTYPE))
expect.shape(weights, (3, 5), what="the weights for B=3, S=5")
expect.close(weights.sum(-1), torch.ones(3, dtype=DTYPE), atol=1e-12, what="the sums of the weights over the positions",
             hint="the softmax runs over the positions (dim=-1 of the (B, S) scores), not over the batch")

# %% nbgrader={"grade": true, "grade_id": "additive_attention_matches_formula", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""additive attention matches the score v . tanh(W_q q + W_k k_j) computed independently, with weights that sum to one over the positions, exactly zero weight on padding, and a batch of one or a single position"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(51)
B, S, Dq, Dk, A = 4, 6, 3, 5, 7
query, keys = torch.randn(B, Dq, generator=gen, dtype=DTYPE), torch.randn(B, S, Dk, generator=gen, dtype=DTYPE)
W_query, W_key, v = torch.randn(A, Dq, generator=gen, dtype=DTYPE), torch.randn(A, Dk, generator=gen, dtype=DTYPE), torch.randn(A, generator=gen, dtype=DTYPE)
context, weights = learner.additive_attention(query, keys, W_query, W_key, v)
expect.shape(weights, (B, S), what="the weights for B=4, S=6")
expect.shape(context, (B, Dk), what="the context for B=4, D_k=5")
### BEGIN HIDDEN TESTS
hint = "e_j = v . tanh(W_query q + W_key k_j) for every position j, weights = softmax of e over the positions (dim=-1), context = weights-averaged keys"


def formula(query, keys, W_query, W_key, v, mask=None):
    """The additive score written out position by position, then its softmax: the independent reference."""
    scores = torch.stack([torch.stack([v @ torch.tanh(W_query @ query[b] + W_key @ keys[b, j]) for j in range(keys.shape[1])])
                          for b in range(keys.shape[0])])
    if mask is not None:
        scores = torch.where(mask, scores, torch.tensor(float("-inf"), dtype=scores.dtype))
    weights = torch.exp(scores - scores.max(-1, keepdim=True).values)
    weights = weights / weights.sum(-1, keepdim=True)
    return torch.einsum("bs,bsd->bd", weights, keys), weights


want_context, want_weights = formula(query, keys, W_query, W_key, v)
expect.close(weights.sum(-1), torch.ones(B, dtype=DTYPE), atol=1e-12, what="the sums of the weights over the positions",
             hint="each query's weights must sum to one over the source positions: softmax over dim=-1, not over the batch")
expect.close(weights, want_weights, atol=1e-12, rtol=1e-10, what="the weights compared with the formula (B=4, S=6)", hint=hint)
expect.close(context, want_context, atol=1e-12, rtol=1e-10, what="the context compared with the formula (B=4, S=6)", hint=hint)

lengths = torch.tensor([6, 1, 3, 5])
mask = torch.arange(S)[None, :] < lengths[:, None]
context, weights = learner.additive_attention(query, keys, W_query, W_key, v, mask)
expect.shape(weights, (B, S), what="the weights with a padding mask")
expect.true(bool((weights[~mask] == 0).all()), "some padded positions get a non-zero weight: set their scores to -inf before the softmax")
want_context, want_weights = formula(query, keys, W_query, W_key, v, mask)
expect.close(weights, want_weights, atol=1e-12, rtol=1e-10, what="the weights with a padding mask (lengths 6, 1, 3, 5)",
             hint="masked positions get score -inf; the softmax renormalises over the real positions")
expect.close(context, want_context, atol=1e-12, rtol=1e-10, what="the context with a padding mask (lengths 6, 1, 3, 5)", hint=hint)

for B, S, case in [(1, 5, "a batch of one"), (3, 1, "a single position, S=1")]:
    query, keys = torch.randn(B, Dq, generator=gen, dtype=DTYPE), torch.randn(B, S, Dk, generator=gen, dtype=DTYPE)
    context, weights = learner.additive_attention(query, keys, W_query, W_key, v)
    want_context, want_weights = formula(query, keys, W_query, W_key, v)
    expect.shape(weights, (B, S), what=f"the weights for {case}")
    expect.close(weights, want_weights, atol=1e-12, rtol=1e-10, what=f"the weights for {case}", hint=hint)
    expect.close(context, want_context, atol=1e-12, rtol=1e-10, what=f"the context for {case}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 9 · An encoder-decoder with attention learns to reverse sequences
#
# The toy task: read a sequence of 3 to 6 digits and write it backwards, `3 1 4 1 5 -> 5 1 4 1 3`.
# Reversal is the classic test of an encoder-decoder (Sutskever et al. reversed their *source*
# sentences to make translation easier): the first output depends on the last input, so a model
# that can only carry a summary forward must hold the whole sequence in its state, while a model
# with attention can simply look up the right position.
#
# **The data.** Sequences are right-padded to length 6 with a `PAD` token, and a mask marks the real
# positions. The decoder's first input is a `BOS` (beginning of sequence) token. Held-out test
# sequences are disjoint from training ones by construction: a test sequence has a digit sum
# divisible by 5, a training sequence never does.
#
# **The model**, every part of which you have built:
#
# - the encoder embeds the source and runs your `gru_cell` over it from a zero state, giving one
#   state $k_j$ per position, shape $(B, S, H)$;
# - the decoder also starts from a **zero** state, $s_0 = 0$. Nothing about the source reaches it
#   except through attention, so the task can only be solved if your attention works. (Bahdanau
#   et al. initialised $s_0$ from the encoder; starting from zero makes attention indispensable
#   and its maps easier to read.) At step $t$, with the previous output token $y_{t-1}$:
#
# $$c_t, \alpha_t = \operatorname{attention}(s_{t-1}, k_{1..S}), \qquad
# s_t = \operatorname{GRU}\big([\operatorname{embed}(y_{t-1});\, c_t],\; s_{t-1}\big), \qquad
# \text{logits}_t = W_{\text{out}}\, [s_t;\, c_t] + b_{\text{out}} .$$
#
# - training uses teacher forcing: the decoder's inputs are `BOS` followed by the target shifted
#   right by one, `[BOS, y_1, ..., y_{T-1}]`, and the loss ignores padded target positions;
# - at test time the decoder feeds back its own argmax (greedy decoding), for as many steps as
#   the source is long.
#
# The task, the training loop and the accuracy are given:

# %%
PAD = 10                     # the digits are the tokens 0-9
BOS = 11
REVERSAL_VOCAB = 12
MIN_LEN = 3
MAX_LEN = 6


def reversal_batch(batch_size: int, generator: torch.Generator, split: str = "train"):
    """Random digit sequences of MIN_LEN..MAX_LEN digits and their reversals, right-padded to MAX_LEN.

    Returns (src, tgt, mask): src and tgt int64 (B, MAX_LEN) with PAD after each sequence's end, and
    mask bool (B, MAX_LEN), True at real positions. tgt[b, t] = src[b, length_b - 1 - t].
    split="test" gives sequences whose digit sum is divisible by 5, split="train" never does.
    """
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (batch_size,), generator=generator)
    digits = torch.randint(0, 10, (batch_size, MAX_LEN), generator=generator)
    positions = torch.arange(MAX_LEN)
    mask = positions[None, :] < lengths[:, None]
    digits = torch.where(mask, digits, 0)
    remainder, first = digits.sum(dim=1) % 5, digits[:, 0]
    if split == "train":   # a sum divisible by 5 moves off it: the first digit +1 (or 9 -> 0, which is -9)
        digits[:, 0] = torch.where(remainder == 0, torch.where(first < 9, first + 1, 0), first)
    else:                  # make the sum divisible by 5 by lowering (or raising) the first digit
        digits[:, 0] = torch.where(first >= remainder, first - remainder, first + 5 - remainder)
    src = torch.where(mask, digits, PAD)
    reversed_positions = (lengths[:, None] - 1 - positions[None, :]).clamp(min=0)
    tgt = torch.where(mask, src.gather(1, reversed_positions), PAD)
    return src, tgt, mask


def teacher_forcing_inputs(tgt: torch.Tensor) -> torch.Tensor:
    """The decoder's inputs for teacher forcing: BOS, then the target shifted right by one."""
    return torch.cat([torch.full_like(tgt[:, :1], BOS), tgt[:, :-1]], dim=1)


def fit_reversal(model: nn.Module, steps: int = 150, batch_size: int = 128, lr: float = 0.01, seed: int = 0) -> list[float]:
    """Train a reversal model with Adam on fresh training batches; the loss of every step."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        src, tgt, mask = reversal_batch(batch_size, generator)
        logits = model(src, teacher_forcing_inputs(tgt), mask)            # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    return losses


def reversal_accuracy(predicted: torch.Tensor, tgt: torch.Tensor, mask: torch.Tensor) -> float:
    """The fraction of sequences whose every real position is predicted exactly."""
    return ((predicted == tgt) | ~mask).all(dim=1).double().mean().item()


src_demo, tgt_demo, mask_demo = reversal_batch(3, torch.Generator().manual_seed(0))
print("src\n", src_demo, "\ntgt\n", tgt_demo, "\ndecoder inputs (teacher forcing)\n", teacher_forcing_inputs(tgt_demo))

# %% [markdown]
# Write the four methods. `encode` runs the encoder; `decode_step` is one step of the decoder
# (attention with the previous state, then the GRU, then the output layer); `forward` runs the
# decoder over the teacher-forcing inputs; `greedy_decode` feeds back its own predictions. The
# parameters are given: call your `gru_cell` with `self.encoder.weight_ih, ...` and your
# `additive_attention` with `self.attn_query.weight`, `self.attn_key.weight` and `self.attn_v`.

# %% nbgrader={"grade": false, "grade_id": "reversal_seq2seq", "locked": false, "schema_version": 3, "solution": true, "task": false}
class ReversalSeq2Seq(nn.Module):
    """A GRU encoder, a GRU decoder that starts from zero, and additive attention between them.

    Parameters (given): embed (V, E), shared by encoder and decoder; encoder, an nn.GRUCell(E, H);
    attn_query.weight (A, H) = W_q and attn_key.weight (A, H) = W_k, attn_v (A,) = v;
    decoder, an nn.GRUCell(E + H, H) whose input is [embed(y_prev); context]; out, an
    nn.Linear(2H, V) applied to [s_t; context]. All four methods together take about 30 minutes.
    """

    def __init__(self, vocab_size: int = REVERSAL_VOCAB, embed_dim: int = 16, hidden_size: int = 64, attention_size: int = 32):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.encoder = nn.GRUCell(embed_dim, hidden_size)
        self.attn_query = nn.Linear(hidden_size, attention_size, bias=False)
        self.attn_key = nn.Linear(hidden_size, attention_size, bias=False)
        self.attn_v = nn.Parameter(torch.empty(attention_size).uniform_(-1 / math.sqrt(attention_size), 1 / math.sqrt(attention_size)))
        self.decoder = nn.GRUCell(embed_dim + hidden_size, hidden_size)
        self.out = nn.Linear(2 * hidden_size, vocab_size)

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        """The encoder states (B, S, H) of src, int64 (B, S): your gru_cell unrolled from a zero state.

        Padded positions are encoded too; the attention mask hides them later.
        Example: model.encode(torch.randint(0, 10, (4, 6))).shape -> torch.Size([4, 6, 64])
        """
        ### BEGIN SOLUTION
        xs = self.embed(src).transpose(0, 1)                                  # (S, B, E)
        params = (self.encoder.weight_ih, self.encoder.weight_hh, self.encoder.bias_ih, self.encoder.bias_hh)
        states, _ = unroll(gru_cell, xs, None, params)                        # (S, B, H)
        return states.transpose(0, 1)
        ### END SOLUTION

    def decode_step(self, y_prev: torch.Tensor, s_prev: torch.Tensor, enc_states: torch.Tensor, src_mask: torch.Tensor):
        """One decoder step.

        Args: y_prev int64 (B,), the previous output token (BOS at the start); s_prev (B, H), the
            previous decoder state; enc_states (B, S, H); src_mask bool (B, S), True at real positions.
        Returns: (logits (B, V), s (B, H), weights (B, S)): attention of s_prev over enc_states, then
            s = GRU([embed(y_prev); context], s_prev), then logits = out([s; context]).
        """
        ### BEGIN SOLUTION
        context, weights = additive_attention(s_prev, enc_states, self.attn_query.weight, self.attn_key.weight, self.attn_v, src_mask)
        decoder_input = torch.cat([self.embed(y_prev), context], dim=-1)      # (B, E + H)
        s = gru_cell(decoder_input, s_prev, self.decoder.weight_ih, self.decoder.weight_hh, self.decoder.bias_ih, self.decoder.bias_hh)
        logits = self.out(torch.cat([s, context], dim=-1))
        return logits, s, weights
        ### END SOLUTION

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: the logits (B, T, V) for the decoder inputs tgt_in, int64 (B, T), from s_0 = 0.

        Example: model(src, teacher_forcing_inputs(tgt), mask).shape -> torch.Size([B, 6, 12])
        """
        ### BEGIN SOLUTION
        enc_states = self.encode(src)
        s = enc_states.new_zeros(src.shape[0], self.decoder.hidden_size)      # the decoder starts blank
        logits = []
        for t in range(tgt_in.shape[1]):
            step_logits, s, _ = self.decode_step(tgt_in[:, t], s, enc_states, src_mask)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)
        ### END SOLUTION

    def greedy_decode(self, src: torch.Tensor, src_mask: torch.Tensor, n_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding without gradients: start from BOS and s_0 = 0, feed back the argmax at every step.

        Returns (tokens int64 (B, n_steps), weights (B, n_steps, S)): the predicted tokens and the
        attention weights of every step.
        Example: tokens, weights = model.greedy_decode(src, mask, 6)
        """
        ### BEGIN SOLUTION
        with torch.no_grad():
            enc_states = self.encode(src)
            s = enc_states.new_zeros(src.shape[0], self.decoder.hidden_size)
            y = torch.full((src.shape[0],), BOS, dtype=torch.long)
            tokens, all_weights = [], []
            for _ in range(n_steps):
                logits, s, weights = self.decode_step(y, s, enc_states, src_mask)
                y = logits.argmax(dim=-1)
                tokens.append(y)
                all_weights.append(weights)
            return torch.stack(tokens, dim=1), torch.stack(all_weights, dim=1)
        ### END SOLUTION

# %% [markdown]
# The tests build a small float64 model from a seed, run it on batches made by the judge, and
# compare with the equations above written out independently:

# %%
@scenario
def seq2seq_outputs(ns, seed, src, tgt_in, src_mask, n_steps):
    """A float64 ReversalSeq2Seq(E=5, H=6, A=4) built from a seed: its parameters, teacher-forced logits and greedy decoding."""
    torch.manual_seed(seed)
    model = ns.ReversalSeq2Seq(embed_dim=5, hidden_size=6, attention_size=4).double()
    with torch.no_grad():
        logits = model(src, tgt_in, src_mask)
        enc_states = model.encode(src)
    tokens, weights = model.greedy_decode(src, src_mask, n_steps)
    return {"params": {name: p.detach().clone() for name, p in model.state_dict().items()},
            "enc_states": enc_states, "logits": logits, "tokens": tokens, "weights": weights}


# %% nbgrader={"grade": true, "grade_id": "seq2seq_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the encoder-decoder returns encoder states (B, S, H), logits (B, T, V), greedy tokens (B, n) and attention weights (B, n, S) that sum to one and are zero on padding"""
from grader.testing import expect

src, tgt, mask = reversal_batch(4, torch.Generator().manual_seed(60))
got = seq2seq_outputs.learner(61, src, teacher_forcing_inputs(tgt), mask, 6)
expect.shape(got["enc_states"], (4, 6, 6), what="the encoder states for B=4, S=6, H=6", hint="one state per source position: (B, S, H)")
expect.shape(got["logits"], (4, 6, REVERSAL_VOCAB), what="the teacher-forced logits for B=4, T=6, V=12", hint="(B, T, V)")
expect.shape(got["tokens"], (4, 6), what="the greedy tokens for n_steps=6")
expect.shape(got["weights"], (4, 6, 6), what="the attention weights of greedy decoding", hint="one (B, S) row of weights per step: (B, n_steps, S)")
expect.close(got["weights"].sum(-1), torch.ones(4, 6, dtype=DTYPE), atol=1e-12, what="the sums of the attention weights over the source positions")
expect.true(bool((got["weights"].transpose(1, 2)[~mask] == 0).all()), "attention gives weight to padded source positions: pass src_mask to additive_attention")
other = seq2seq_outputs.learner(61, (src + 3) % 10 * mask + PAD * ~mask, teacher_forcing_inputs(tgt), mask, 6)
expect.shape(other["logits"], (4, 6, REVERSAL_VOCAB), what="the teacher-forced logits for another source")
expect.true(bool((other["logits"][:, 0] - got["logits"][:, 0]).abs().amax() > 1e-6),
            "the first step's logits do not depend on the source: the decoder starts from zeros, so the source must reach it through attention")
expect.equal(got["tokens"][:, 0], got["logits"][:, 0].argmax(-1), what="the first greedy token compared with the argmax of the first teacher-forced logits",
             hint="both start from BOS and a zero decoder state, so their first step is the same")

# %% nbgrader={"grade": true, "grade_id": "seq2seq_matches_reference_equations", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the encoder-decoder computes exactly the equations above (checked with nn.GRUCell and the additive score written out): encoder states, teacher-forced logits, greedy tokens and attention weights"""
from grader.testing import expect

src, tgt, mask = reversal_batch(5, torch.Generator().manual_seed(62))
got = seq2seq_outputs.learner(63, src, teacher_forcing_inputs(tgt), mask, 6)
expect.shape(got["logits"], (5, 6, REVERSAL_VOCAB), what="the teacher-forced logits for B=5")
### BEGIN HIDDEN TESTS
names = ["attn_key.weight", "attn_query.weight", "attn_v", "decoder.bias_hh", "decoder.bias_ih", "decoder.weight_hh", "decoder.weight_ih",
         "embed.weight", "encoder.bias_hh", "encoder.bias_ih", "encoder.weight_hh", "encoder.weight_ih", "out.bias", "out.weight"]
param_shapes = {"attn_key.weight": (4, 6), "attn_query.weight": (4, 6), "attn_v": (4,), "decoder.bias_hh": (18,), "decoder.bias_ih": (18,),
                "decoder.weight_hh": (18, 6), "decoder.weight_ih": (18, 11), "embed.weight": (REVERSAL_VOCAB, 5), "encoder.bias_hh": (18,),
                "encoder.bias_ih": (18,), "encoder.weight_hh": (18, 6), "encoder.weight_ih": (18, 5), "out.bias": (REVERSAL_VOCAB,),
                "out.weight": (REVERSAL_VOCAB, 12)}


def reference_seq2seq(params, src, tgt_in, mask, n_steps):
    """The equations of this section with nn.GRUCell, nn.Embedding, nn.Linear and the additive score written out."""
    E, H = params["embed.weight"].shape[1], params["encoder.weight_hh"].shape[1]
    embed = nn.Embedding.from_pretrained(params["embed.weight"])
    encoder, decoder = nn.GRUCell(E, H, dtype=DTYPE), nn.GRUCell(E + H, H, dtype=DTYPE)
    for name, module in [("encoder", encoder), ("decoder", decoder)]:
        for p in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
            getattr(module, p).data.copy_(params[f"{name}.{p}"])
    W_q, W_k, v = params["attn_query.weight"], params["attn_key.weight"], params["attn_v"]
    W_out, b_out = params["out.weight"], params["out.bias"]
    with torch.no_grad():
        h, states = None, []
        for j in range(src.shape[1]):
            h = encoder(embed(src[:, j]), h)
            states.append(h)
        keys = torch.stack(states, dim=1)                                           # (B, S, H)

        def step(y, s):
            scores = torch.einsum("a,bsa->bs", v, torch.tanh((W_q @ s.T).T[:, None, :] + torch.einsum("ah,bsh->bsa", W_k, keys)))
            weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
            context = torch.einsum("bs,bsh->bh", weights, keys)
            s = decoder(torch.cat([embed(y), context], -1), s)
            return torch.cat([s, context], -1) @ W_out.T + b_out, s, weights

        s, logits = torch.zeros(src.shape[0], H, dtype=DTYPE), []
        for t in range(tgt_in.shape[1]):
            step_logits, s, _ = step(tgt_in[:, t], s)
            logits.append(step_logits)
        s, y, tokens, all_weights = torch.zeros(src.shape[0], H, dtype=DTYPE), torch.full((src.shape[0],), BOS), [], []
        for _ in range(n_steps):
            step_logits, s, weights = step(y, s)
            y = step_logits.argmax(-1)
            tokens.append(y)
            all_weights.append(weights)
    return {"enc_states": keys, "logits": torch.stack(logits, 1), "tokens": torch.stack(tokens, 1), "weights": torch.stack(all_weights, 1)}


hints = {"enc_states": "embed the source and unroll gru_cell with the encoder's parameters from a zero state",
         "logits": "per step: attention of the PREVIOUS state s_{t-1} over the encoder states (with the mask), "
                   "s_t = gru_cell([embed(y_prev); context], s_{t-1}), logits = out([s_t; context]); the decoder starts from zeros",
         "weights": "greedy decoding starts from BOS and a zero state and feeds back the argmax; the weights are those of each step"}
for seed, B in [(63, 5), (64, 1), (65, 3)]:
    src, tgt, mask = reversal_batch(B, torch.Generator().manual_seed(seed + 100))
    tgt_in = teacher_forcing_inputs(tgt)
    got = seq2seq_outputs.learner(seed, src, tgt_in, mask, 6)
    expect.equal(sorted(got["params"]), names, what="the parameter names of ReversalSeq2Seq", hint="keep the given __init__")
    for name, param_shape in param_shapes.items():
        expect.shape(got["params"][name], param_shape, what=f"the parameter {name} of ReversalSeq2Seq(E=5, H=6, A=4)", hint="keep the given __init__")
    want = reference_seq2seq(got["params"], src, tgt_in, mask, 6)
    for key in ["enc_states", "logits", "weights"]:
        expect.shape(got[key], tuple(want[key].shape), what=f"{key} for B={B}")
        expect.close(got[key], want[key], atol=1e-12, rtol=1e-10, what=f"{key} compared with the equations, B={B}", hint=hints[key])
    expect.equal(got["tokens"], want["tokens"], what=f"the greedy tokens, B={B}", hint=hints["weights"])
### END HIDDEN TESTS

# %% [markdown]
# Train it: 300 steps of 128 fresh sequences, a few seconds on a CPU. Then decode 500 held-out
# sequences greedily and look at where the decoder attends (the red crosses mark the source digit
# each output step has to copy).

# %%
try:
    torch.manual_seed(0)
    reversal_model = ReversalSeq2Seq()
    started = time.time()
    reversal_losses = fit_reversal(reversal_model, steps=300)
    src_test, tgt_test, mask_test = reversal_batch(500, torch.Generator().manual_seed(2024), split="test")
    predicted, attention = reversal_model.greedy_decode(src_test, mask_test, MAX_LEN)
    print(f"trained in {time.time() - started:.1f} s; held-out sequences reversed exactly: "
          f"{reversal_accuracy(predicted, tgt_test, mask_test):.1%}")
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    axes[0].plot(reversal_losses)
    axes[0].set(yscale="log", xlabel="step", ylabel="cross-entropy", title="training loss")
    long_ones = [b for b in range(len(src_test)) if mask_test[b].sum() >= 5][:3]
    for ax, b in zip(axes[1:], long_ones):
        n = int(mask_test[b].sum())
        ax.imshow(attention[b, :n, :n], cmap="Blues", vmin=0, vmax=1)
        ax.plot(range(n - 1, -1, -1), range(n), "x", color="red", markersize=6)   # step t copies position n-1-t
        ax.set_xticks(range(n), src_test[b, :n].tolist())
        ax.set_yticks(range(n), predicted[b, :n].tolist())
        ax.set(xlabel="source digit (position j)", ylabel="output digit (step t)", title=f"attention, length {n}")
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    plt.close("all")
    print("finish additive_attention and ReversalSeq2Seq above to train the model")

# %% [markdown]
# Each row of an attention map is one output step, and each red cross marks the source digit that
# step must copy, at position $\ell - 1 - t$ for a sequence of length $\ell$. The weight follows the
# anti-diagonal of the crosses, often one position to the right of it: a forward encoder's state
# $k_j$ summarises $x_1, \dots, x_j$, so $k_{j+1}$ still holds $x_j$ clearly and the decoder can read
# the digit from either. Nobody told the network where to look; the alignment is learned from the
# loss alone. The blur between neighbouring positions is why Bahdanau et al. used a bidirectional
# encoder, whose annotation
# $k_j = [\overrightarrow{h}_j; \overleftarrow{h}_j]$ is centred on $x_j$.

# %% nbgrader={"grade": true, "grade_id": "seq2seq_reverses_held_out_sequences", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""after 150 training steps (the given fit_reversal, your model), greedy decoding reverses at least 80% of 500 held-out digit sequences exactly (a bar calibrated on the reference)"""
from grader.testing import scenario, expect


@scenario
def reversal_after_training(ns, steps, src, src_mask):
    """Train ReversalSeq2Seq() with the given fit_reversal for `steps` steps, then decode src greedily."""
    torch.manual_seed(0)
    model = ns.ReversalSeq2Seq()
    losses = ns.fit_reversal(model, steps=steps)
    tokens, _ = model.greedy_decode(src, src_mask, src.shape[1])
    return {"losses": [float(loss) for loss in losses], "tokens": tokens}


src_test, tgt_test, mask_test = reversal_batch(500, torch.Generator().manual_seed(2024), split="test")
got = reversal_after_training.learner(2, src_test[:4], mask_test[:4])
expect.true(len(got["losses"]) == 2, "fit_reversal(steps=2) should record 2 losses: does the model's forward run?")
expect.shape(got["tokens"], (4, MAX_LEN), what="the greedy tokens for 4 sequences")
### BEGIN HIDDEN TESTS
got = reversal_after_training.learner(150, src_test, mask_test)
expect.shape(got["tokens"], (500, MAX_LEN), what="the greedy tokens for 500 held-out sequences")
accuracy = reversal_accuracy(got["tokens"], tgt_test, mask_test)
# calibrated on the reference: 0.93 to 0.99 of the held-out sequences for seeds 0-5; a decoder without
# working attention cannot reverse (it sees nothing of the source), a uniform average of the source gets about 0.6
expect.true(accuracy >= 0.8,
            f"after 150 steps your model reverses {accuracy:.1%} of the held-out sequences exactly, below the bar of 80%: "
            "check the attention (softmax over the source positions, the mask, the previous decoder state as query), "
            "that the decoder starts from zeros and feeds [embed(y_prev); context] to its GRU, and that greedy decoding feeds back the argmax")
### END HIDDEN TESTS

# %% [markdown]
# ## Practical considerations
#
# **Numerical stability and training.**
# - *Clip the gradient norm* (`nn.utils.clip_grad_norm_(params, 1.0)`, every step, after
#   `backward()` and before `step()`). Exploding gradients in RNNs are rare but violent: one batch can
#   produce a gradient orders of magnitude larger than usual. Clipping rescales it to the chosen norm and
#   keeps its direction (Pascanu et al., 2013).
# - *Initialise the forget-gate bias to 1 or more.* With the default of about 0 an LSTM starts out
#   forgetting half of its memory per step (the figure of section 6). The GRU's equivalent is a
#   positive bias on the update gate $z$, which in PyTorch's convention is the share of the old state kept.
# - *Orthogonal or identity-scaled recurrent matrices* (`nn.init.orthogonal_`) start a vanilla RNN
#   with spectral radius one, at the edge between vanishing and exploding (Le et al., 2015, IRNN).
# - *Truncated BPTT.* A long text is cut into windows of $T$ steps; the state can be carried from one
#   window to the next (`state = tuple(s.detach() for s in state)`) so the model sees a longer
#   context, but gradients stop at the window boundary. The `detach()` is essential: without it the
#   graph, and the memory, grow with the whole text.
#
# **Common bugs, and how the tests here catch them.**
#
# | bug | symptom | caught by |
# |---|---|---|
# | LSTM gates read from the wrong quarter (e.g. $i$ and $f$ swapped) | trains, but differs from `nn.LSTMCell`; trained weights do not transfer | comparison with `nn.LSTMCell` |
# | cell update without the forget gate, $c' = c + i \odot g$ | memory can only grow; correct from a zero state, wrong after | `nn.LSTMCell` from a random state |
# | GRU reset before the matrix product (the paper's convention) | differs from `nn.GRUCell` whenever $h \neq 0$ | `nn.GRUCell` with copied weights |
# | GRU update gate inverted, $z \odot n + (1-z) \odot h$ | differs from `nn.GRUCell` | `nn.GRUCell` with copied weights |
# | only one of the two biases | differs from `nn.RNNCell` by $b_{hh}$ | `nn.RNNCell` with copied weights |
# | BPTT without the recurrent term | gradients of early steps too small, $W_{hh}$ wrong | `torch.autograd` |
# | gradients taken w.r.t. the stacked outputs | zero gradient for every step but the last | autograd through `nn.*Cell` |
# | targets not shifted | training loss near 0, held-out loss huge, garbage samples | shifted windows, the held-out loss bar |
# | sampling restarts from a zero state | text forgets the prompt after one character | chi-square on pairs of tokens |
# | attention softmax over the batch axis | weights sum to one over the batch, not the source | the score written out by hand |
#
# **Hyperparameters that matter.** The hidden width $H$ (capacity grows like $H^2$ per step), the
# length $T$ of the training windows (how far back BPTT reaches), the learning rate (Adam with
# 1e-3 to 1e-2 for these sizes) and the clipping norm. For a character model, a larger $H$ helps
# more than more layers; two or three stacked layers (`nn.LSTM(num_layers=2)`, with dropout between
# them) are the usual maximum.
#
# **Speed.** A Python loop over time steps launches a few small kernels per step, so these cells are
# slow next to `nn.LSTM`, which fuses the whole sequence (and uses cuDNN on a GPU). One standard trick
# recovers part of the difference: compute the input part $X W_{ih}^\top + b_{ih}$ of all time steps
# in one matrix product before the loop, and keep only the recurrent product inside it (this is
# what the two biases of cuDNN's layout are for). Use the
# hand-written cells to understand and test; use `nn.LSTM` / `nn.GRU` to train.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | Elman cell | $h' = \tanh(W_{ih}x + b_{ih} + W_{hh}h + b_{hh})$ | `torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)` | the ancestor of every sequence model; linear RNNs (Mamba, RWKV) keep the recurrence without the tanh |
# | unrolling | $s_t = \operatorname{cell}(x_t, s_{t-1})$, shared weights | `for x in xs: state = cell(x, state, *params)` | recurrent decoding: one state update per generated token, like a KV cache that never grows |
# | LSTM | $c' = f\odot c + i \odot g$, $h' = o \odot \tanh c'$, gates i, f, g, o | `gates.chunk(4, -1)`, sigmoid / tanh | gating reappears in SwiGLU feed-forward layers and in xLSTM |
# | GRU | $n = \tanh(W_{in}x + b_{in} + r\odot(W_{hn}h + b_{hn}))$, $h' = (1-z)\odot n + z\odot h$ | two products, `chunk(3, -1)` | lightweight recurrent models; the convention matters when loading weights |
# | BPTT | $\delta_t = g_t + W_{hh}^\top \varepsilon_{t+1}$, $\varepsilon_t = \delta_t \odot (1 - h_t^2)$; parameter gradients summed over time | a reversed loop accumulating `eps.T @ h_prev` | backpropagation through any deep stack: residual streams play the LSTM's additive role |
# | vanishing / exploding | $\lVert\partial h_T/\partial h_t\rVert \le \sigma_{\max}(W_{hh})^{T-t}$ | `torch.autograd.grad(loss, states)` | why transformers use residual connections and attention instead of long products; gradient clipping in every LLM run |
# | character LM | $\mathcal{L} = -\frac1N\sum_t \log p(x_{t+1}\mid x_{\le t})$, targets shifted by one | `windows[:, :-1], windows[:, 1:]`, `F.cross_entropy` on flattened logits | the same next-token objective as GPT pre-training (16-gpt) |
# | sampling | $x_{t+1} \sim \operatorname{softmax}(z_t/\tau)$, carry the state | `torch.multinomial(probs, 1, generator=g)`, feed one token back | generation in every LLM (30-decoding) |
# | additive attention | $\alpha = \operatorname{softmax}_j(v^\top\tanh(W_q q + W_k k_j))$, $c = \sum_j \alpha_j k_j$ | `torch.tanh((q @ W_q.T)[:, None] + k @ W_k.T) @ v`, softmax over `dim=-1` | replaced by scaled dot-product attention (13-attention), same softmax over keys |
# | encoder-decoder | decoder state $s_t = \operatorname{GRU}([\operatorname{embed}(y_{t-1}); c_t], s_{t-1})$ | teacher forcing, greedy decoding | T5 and translation models; cross-attention in 15-transformer |

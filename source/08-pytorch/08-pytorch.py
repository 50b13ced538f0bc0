# %% [markdown]
# # 08 · PyTorch: tensors, views, broadcasting, einsum, autograd, modules and the training loop
#
# Until now the course computed everything in NumPy, and you wrote every gradient by hand. From
# here on the work is done in PyTorch, and this notebook opens the box before you rely on it. A
# tensor is not a grid of numbers: it is a flat block of memory (the **storage**) plus a recipe
# that says where each element lives. Autograd is not magic either: it multiplies an incoming
# gradient by the Jacobian of each operation, backwards along the recorded graph. Those are the
# two ideas that explain almost every surprise PyTorch has in store:
#
# $$\boxed{\;\texttt{x}[i_0, \dots, i_{n-1}] = \texttt{storage}\Big[\texttt{offset} + \sum_{k=0}^{n-1} i_k\, \texttt{stride}_k\Big],
# \qquad \bar{x} = J_f(x)^\top\, \bar{y} \quad\text{for}\quad y = f(x)\;}$$
#
# ($\bar y = \partial L / \partial y$ is the gradient arriving from the loss, $\bar x$ the one
# passed on.) Why it matters for LLMs: a transformer is reshapes, transposes, broadcasts and
# batched matrix products from end to end, and a 7B model has no memory to spare for
# accidental copies. Knowing which operation is a free *view* and which one copies, how shapes
# broadcast, and what `backward()` really computes is what lets you read `model.py` of nanoGPT
# or LLaMA and debug it.
#
# **What you will build:** the stride arithmetic behind a tensor; the broadcasting rule; five
# named operations written with `einsum` (batched matrix product, trace, outer product, bilinear
# form, attention scores); a zero-copy sliding-window view; a Jacobian from vector-Jacobian
# products; an `nn.Module` with registered parameters and buffers; a `Dataset`, a reproducible
# `DataLoader` and a training loop; and two custom `torch.autograd.Function`s, a numerically
# stable softplus checked with `torch.autograd.gradcheck` and a straight-through rounding
# estimator of the kind quantization-aware training uses.

# %% [markdown]
# ## Prerequisites
#
# - `06-mlp` (the prerequisite on the roadmap): a two-layer perceptron, ReLU, initialisation, a
#   training loop written by hand in NumPy. This notebook writes the same things with PyTorch.
# - Helpful: `02-calculus` (the chain rule and the gradient checker you wrote there: `gradcheck`
#   is the same idea), `04-optimization` (SGD with momentum; here `torch.optim.SGD` does it),
#   `05-autograd` (a scalar autograd engine; PyTorch's autograd is the same design on tensors).
#
# Packages: `torch` (a CPU is enough), `numpy`, `matplotlib`. Tests compare your code with
# PyTorch's own functions (`torch.broadcast_shapes`, `torch.bmm`, `Tensor.is_contiguous`,
# `Tensor.unfold`, `torch.autograd.functional.jacobian`, `nn.Linear`, `DataLoader`,
# `torch.logaddexp`, `torch.autograd.gradcheck`), in `float64` wherever numbers are compared.

# %%
import math
from collections.abc import Callable, Iterable

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from grader.testing import scenario

DTYPE = torch.float64  # the tests compare numbers in float64


def storage_as_1d(t: torch.Tensor) -> torch.Tensor:
    """The whole storage behind t, as a flat 1-D tensor of t's dtype (it shares that storage)."""
    return torch.empty(0, dtype=t.dtype, device=t.device).set_(t.untyped_storage())


# %% [markdown]
# ## 1 · A tensor is storage plus a recipe: dtype, device, shape, strides, offset
#
# Every tensor has
#
# - a **dtype**, the type of one element: `torch.float32` (the default), `float64`, `float16`,
#   `bfloat16`, `int64` (the default for integers), `bool`, ...;
# - a **device**, where its memory lives: `cpu`, `cuda:0`, `mps`;
# - a **storage**: one flat, contiguous block of memory holding the elements;
# - a **shape** $(n_0, \dots, n_{d-1})$, a **stride** $(s_0, \dots, s_{d-1})$ and a **storage offset**
#   $o$. Element $[i_0, \dots, i_{d-1}]$ sits at position
#
# $$p(i_0, \dots, i_{d-1}) = o + \sum_{k=0}^{d-1} i_k\, s_k$$
#
# of the storage (counted in elements, not bytes). A freshly created tensor is laid out in
# **row-major** ("C") order: the last index moves fastest, so stepping along axis $k$ skips
# the product of the sizes of all later axes,
#
# $$s_k = \prod_{j > k} n_j, \qquad s_{d-1} = 1 .$$
#
# Such a tensor is called **contiguous**. PyTorch computes these strides with every size of 0
# counted as 1 (an empty tensor addresses no element, so any stride would do, and this keeps
# them positive): `torch.empty(2, 0, 3).stride()` is `(3, 3, 1)`.
#
# **What this means.** Transposing, slicing with a step, selecting a row or column, adding an
# axis of size 1: none of these touch the numbers. They build a new (shape, stride, offset)
# recipe over the *same* storage and cost nothing, whatever the size of the tensor. The price is
# that the result may no longer be contiguous: `x.t()` has strides $(1, 4)$ instead of $(3, 1)$,
# and some operations (`view`, many fast kernels) need contiguous memory.
#
# A worked example: a $3 \times 4$ tensor, its transpose and a strided slice, and the storage
# position of one element recomputed from the formula.

# %%
x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
print(f"x: dtype {x.dtype}, device {x.device}, shape {tuple(x.shape)}, stride {x.stride()}, offset {x.storage_offset()}")
print(f"   {x.element_size()} bytes per element, {x.untyped_storage().nbytes()} bytes of storage")
for name, view in [("x.t()", x.t()), ("x[1:, ::2]", x[1:, ::2]), ("x[:, 2]", x[:, 2])]:
    print(f"{name:11} shape {tuple(view.shape)}, stride {view.stride()}, offset {view.storage_offset()}, "
          f"contiguous {view.is_contiguous()}")

view = x[1:, ::2]                       # rows 1..2, columns 0 and 2
i, j = 1, 1                             # view[1, 1] is x[2, 2]
position = view.storage_offset() + i * view.stride()[0] + j * view.stride()[1]
print(f"view[{i}, {j}] = {view[i, j].item()}, storage position {position}, storage[{position}] = {storage_as_1d(view)[position].item()}")

# %% [markdown]
# The picture below shows the storage position of every element for the three recipes. The
# numbers in the cells are storage positions: in `x` they run row by row; in `x.t()` they run
# down the columns (a stride of 1 along axis 0); in the slice they jump by the strides $(4, 2)$
# from the offset 4.

# %%
fig, axes = plt.subplots(1, 4, figsize=(15, 3.2), gridspec_kw={"width_ratios": [12, 4, 3, 2]})
storage_row = torch.arange(12).reshape(1, 12)
panels = [("storage (12 floats)", storage_row), ("x: shape (3, 4), stride (4, 1)", x.long()),
          ("x.t(): shape (4, 3), stride (1, 4)", x.t().long()), ("x[1:, ::2]: stride (4, 2), offset 4", x[1:, ::2].long())]
for ax, (title, grid) in zip(axes, panels):
    ax.imshow(grid, cmap="viridis", vmin=0, vmax=11)
    for (r, c), value in np.ndenumerate(grid.numpy()):
        ax.text(c, r, str(value), ha="center", va="center", color="white" if value < 7 else "black")
    ax.set(title=title, xticks=[], yticks=[])
fig.suptitle("the number in each cell is the storage position of that element (the same colour = the same memory)")
fig.tight_layout()
plt.show()

# %% [markdown]
# **dtypes and promotion.** Mixing dtypes in one operation promotes to the "larger" one:
# `int64 + float32 -> float32`, `float32 + float64 -> float64`. One exception trips people
# up: a 0-dimensional tensor or a Python number does not promote a higher-dimensional tensor
# of the same category, so `float32_tensor * torch.tensor(2.0, dtype=torch.float64)` stays
# `float32`. Integer tensors divide with `/` into floats; `//` floors (towards $-\infty$).
#
# **devices.** Every operand of an operation must be on the same device: a CPU tensor and a
# CUDA tensor do not mix, and the error appears at the first operation that combines them.
# Create new tensors on the device of the tensors they will meet: `torch.zeros(n,
# device=x.device, dtype=x.dtype)`, or `torch.zeros_like(x)`.

# %%
a32 = torch.ones(3)
print("float32 + float64 tensor:", (a32 + torch.ones(3, dtype=torch.float64)).dtype)
print("float32 * 0-d float64:   ", (a32 * torch.tensor(2.0, dtype=torch.float64)).dtype)
print("int64 / int64:", torch.tensor([7, -7]) / 2, "  int64 // int64:", torch.tensor([7, -7]) // 2,
      "  rounding_mode='trunc':", torch.div(torch.tensor([7, -7]), 2, rounding_mode="trunc"))
try:
    torch.ones(2) + torch.ones(2, device="meta")   # "meta" is a device without data, present on every machine
except RuntimeError as error:
    print("device mismatch:", error)

# %% [markdown]
# Now put the layout rules into code. `contiguous_strides` is the row-major formula above.
# `is_contiguous` answers PyTorch's question "are these elements laid out exactly as a fresh
# tensor of this shape would be?", with its two relaxations: a dimension of size 1 may have any
# stride (its index is always 0, so the stride is never used), and a tensor with no elements
# is always contiguous.

# %% nbgrader={"grade": false, "grade_id": "memory_layout", "locked": false, "schema_version": 3, "solution": true, "task": false}
def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The row-major (C-order) strides of a fresh tensor of this shape, in elements.

    Args:
        shape: a tuple of d non-negative ints (d may be 0 for a scalar).

    Returns:
        A tuple of d ints: stride k is the product of the sizes of the axes after k, each size 0
        counted as 1, exactly torch.empty(shape).stride(). About 5 minutes.

    Example:
        >>> contiguous_strides((2, 3, 4))
        (12, 4, 1)
    """
    ### BEGIN SOLUTION
    strides = []
    step = 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))
    ### END SOLUTION


def is_contiguous(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    """Whether a tensor with this shape and stride is contiguous, as Tensor.is_contiguous() says.

    Args:
        shape: a tuple of d non-negative ints. stride: a tuple of d non-negative ints.

    Returns:
        True when every axis of size other than 1 has the row-major stride (the product of the
        sizes of the later axes of size other than 1), or when the tensor has no element at all;
        axes of size 1 may have any stride. A Python bool. About 10 minutes.

    Example:
        >>> is_contiguous((3, 4), (4, 1)), is_contiguous((4, 3), (1, 4)), is_contiguous((2, 1, 3), (3, 99, 1))
        (True, False, True)
    """
    ### BEGIN SOLUTION
    if math.prod(shape) == 0:
        return True
    expected = 1
    for size, step in zip(reversed(shape), reversed(stride)):
        if size == 1:
            continue  # index always 0: the stride is never used
        if step != expected:
            return False
        expected *= size
    return True
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "memory_layout_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""row-major strides of a (2, 3, 4) tensor, and contiguity of a matrix and of its transpose"""
from grader.testing import learner, expect

expect.equal(learner.contiguous_strides((2, 3, 4)), (12, 4, 1), what="contiguous_strides((2, 3, 4))",
             hint="stride k is the product of the sizes after axis k; return a tuple of ints")
expect.equal(learner.is_contiguous((3, 4), (4, 1)), True, what="is_contiguous((3, 4), (4, 1))")
expect.equal(learner.is_contiguous((4, 3), (1, 4)), False, what="is_contiguous of a transposed (3, 4) matrix, shape (4, 3), stride (1, 4)",
             hint="the last axis must have stride 1 and each earlier axis the product of the later sizes")

# %% nbgrader={"grade": true, "grade_id": "contiguous_strides_match_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""contiguous_strides equals torch.empty(shape).stride() for scalars, vectors, axes of size 1 and 0, and random shapes up to 5 axes"""
from grader.testing import learner, expect

expect.equal(learner.contiguous_strides((5,)), (1,), what="contiguous_strides((5,))", hint="the last axis always has stride 1")
### BEGIN HIDDEN TESTS
hint = "stride k is the product of the sizes of the axes after k, with a size of 0 counted as 1 (as torch.empty(shape).stride())"
shapes = [(), (1,), (7, 1), (1, 7), (3, 1, 4), (2, 0, 3), (0,), (4, 0), (2, 3, 4, 5, 6)]
gen = torch.Generator().manual_seed(0)
for _ in range(12):
    rank = int(torch.randint(1, 6, (1,), generator=gen))
    shapes.append(tuple(int(n) for n in torch.randint(0, 5, (rank,), generator=gen)))
for shape in shapes:
    expect.equal(learner.contiguous_strides(shape), tuple(torch.empty(shape).stride()), what=f"contiguous_strides({shape})", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "is_contiguous_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""is_contiguous agrees with Tensor.is_contiguous() on transposes, slices, permutations, expanded and empty tensors, axes of size 1 with odd strides, and random strides"""
from grader.testing import learner, expect

expect.equal(learner.is_contiguous((2, 3), (3, 1)), True, what="is_contiguous((2, 3), (3, 1))")
### BEGIN HIDDEN TESTS
base = torch.empty(3, 4, 5)
tensors = [base, base.transpose(0, 2), base[:, 1:2], base[1:2], base[:, :, ::2], base.permute(2, 0, 1), base[:, 0],
           base.unsqueeze(1), base[:1].expand(4, 4, 5), base[..., :0], base[2], base[2, 3], base[:, :, 1:],
           torch.empty_strided((2, 1, 3), (3, 7, 1)), torch.empty_strided((1,), (5,)), torch.empty_strided((), ()),
           torch.empty_strided((4,), (0,)), torch.empty_strided((0, 3), (5, 9)), torch.empty_strided((1, 1), (0, 0)),
           torch.empty_strided((1, 3), (5, 9)), torch.empty_strided((3, 1, 1, 2), (2, 1, 1, 1))]
gen = torch.Generator().manual_seed(1)
for _ in range(12):
    shape = tuple(int(n) for n in torch.randint(1, 4, (3,), generator=gen))
    stride = [int(s) for s in torch.empty(shape).stride()]
    k = int(torch.randint(0, 3, (1,), generator=gen))
    stride[k] += int(torch.randint(0, 2, (1,), generator=gen))   # sometimes a wrong stride
    tensors.append(torch.empty_strided(shape, tuple(stride)))
wrong = 0
for t in tensors:
    got = learner.is_contiguous(tuple(t.shape), t.stride())
    expect.true(isinstance(got, bool), f"is_contiguous returned a {type(got).__name__}: return a Python bool")
    wrong += bool(got) != t.is_contiguous()  # a bool, checked just above
expect.true(wrong == 0, f"is_contiguous disagrees with Tensor.is_contiguous() on {wrong} of {len(tensors)} tensors: "
            "axes of size 1 may have any stride, a tensor with no elements is contiguous, and every other axis "
            "needs the product of the later sizes (of the axes of size other than 1) as its stride")
### END HIDDEN TESTS

# %% [markdown]
# ## 2 · Broadcasting: how shapes that differ still combine
#
# An elementwise operation on tensors of shapes $a$ and $b$ works when the shapes are
# **broadcastable**. The rule, the same in NumPy and PyTorch:
#
# 1. **Align the shapes on the right** (their last axes line up) and pad the shorter one with 1s
#    on the left until both have the same number of axes.
# 2. Compare axis by axis: two sizes are compatible when they are **equal or one of them is 1**.
# 3. The result has, on each axis, the size that is not 1 (or 1 if both are 1). A size of 1
#    meeting a 0 gives 0; a 0 meeting any size other than 0 or 1 is an error.
#
# $$\text{out}_k = \begin{cases} a_k & b_k = 1 \text{ or } b_k = a_k \\ b_k & a_k = 1 \\ \text{error} & \text{otherwise} \end{cases}
# \qquad\text{after padding both shapes on the left with 1s.}$$
#
# **What this means.** A size-1 axis is stretched to match the other operand without copying:
# `expand` gives it stride 0, so every index along it reads the same memory. Adding a bias of
# shape $(D,)$ to activations of shape $(B, T, D)$, scaling attention scores $(B, H, T, T)$ by a
# mask of shape $(T, T)$, normalising by a per-row statistic kept with `keepdim=True`: all
# broadcasting. Aligning on the right is what makes a bias of shape $(D,)$ meet the *feature*
# axis of $(B, T, D)$, not the batch axis.
#
# The classic silent bug: predictions of shape $(N, 1)$ minus targets of shape $(N,)$ broadcast
# to $(N, N)$, every prediction against every target, and the mean squared error of that is a
# number, just the wrong one. No error, no warning.

# %%
col = torch.tensor([[0.0], [10.0], [20.0]])            # (3, 1)
row = torch.tensor([1.0, 2.0, 3.0, 4.0])              # (4,) -> treated as (1, 4)
print("(3, 1) + (4,) ->", tuple((col + row).shape))
print(col + row)
stretched = row.expand(3, 4)
print("row.expand(3, 4): stride", stretched.stride(), "(stride 0 = the same memory on every row),",
      "shares storage with row:", stretched.untyped_storage().data_ptr() == row.untyped_storage().data_ptr())
print("torch.broadcast_shapes((8, 1, 6, 1), (7, 1, 5)) =", torch.broadcast_shapes((8, 1, 6, 1), (7, 1, 5)))

predictions, targets = torch.randn(5, 1), torch.randn(5)
print("shape of predictions (5, 1) - targets (5,):", tuple((predictions - targets).shape), "<- a silent bug")

# %%
fig, axes = plt.subplots(1, 5, figsize=(14, 3), gridspec_kw={"width_ratios": [1, 4, 4, 4, 4]})
grids = [("col (3, 1)", col), ("row (4,) as (1, 4)", row[None, :]), ("col.expand(3, 4)", col.expand(3, 4)),
         ("row.expand(3, 4)", row.expand(3, 4)), ("col + row: (3, 4)", col + row)]
for ax, (title, grid) in zip(axes, grids):
    ax.imshow(grid, cmap="coolwarm", vmin=0, vmax=24)
    for (r, c), value in np.ndenumerate(grid.numpy()):
        ax.text(c, r, f"{value:g}", ha="center", va="center")
    ax.set(title=title, xticks=[], yticks=[])
fig.suptitle("broadcasting stretches axes of size 1 (as stride-0 views), then adds elementwise")
fig.tight_layout()
plt.show()

# %% [markdown]
# Write the rule. PyTorch's `torch.broadcast_shapes` raises a `RuntimeError`; yours raises a
# `ValueError` that names the axis that does not fit.

# %% nbgrader={"grade": false, "grade_id": "broadcast_shape", "locked": false, "schema_version": 3, "solution": true, "task": false}
def broadcast_shape(shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> tuple[int, ...]:
    """The shape that broadcasting two tensors of these shapes produces.

    Args:
        shape_a, shape_b: tuples of non-negative ints, of any lengths (() for a scalar).

    Returns:
        A tuple of ints with max(len(shape_a), len(shape_b)) entries, equal to
        tuple(torch.broadcast_shapes(shape_a, shape_b)).

    Raises:
        ValueError when the shapes are not broadcastable (two sizes on one axis that differ
        and are both other than 1). About 10 minutes.

    Example:
        >>> broadcast_shape((8, 1, 6, 1), (7, 1, 5))
        (8, 7, 6, 5)
    """
    ### BEGIN SOLUTION
    n_axes = max(len(shape_a), len(shape_b))
    a = (1,) * (n_axes - len(shape_a)) + tuple(shape_a)   # pad on the left: align on the right
    b = (1,) * (n_axes - len(shape_b)) + tuple(shape_b)
    result = []
    for axis, (m, n) in enumerate(zip(a, b)):
        if m == n or n == 1:
            result.append(m)
        elif m == 1:
            result.append(n)
        else:
            raise ValueError(f"shapes {tuple(shape_a)} and {tuple(shape_b)} do not broadcast: "
                             f"axis {axis - n_axes} has sizes {m} and {n}")
    return tuple(result)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "broadcast_shape_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""broadcast_shape of (3, 1) and (1, 4), and of a matrix and a vector that fits its last axis"""
from grader.testing import learner, expect

expect.equal(learner.broadcast_shape((3, 1), (1, 4)), (3, 4), what="broadcast_shape((3, 1), (1, 4))",
             hint="on each axis the size that is not 1 wins; return a tuple of ints")
expect.equal(learner.broadcast_shape((5, 3), (3,)), (5, 3), what="broadcast_shape((5, 3), (3,))",
             hint="align the shapes on the right: (3,) meets the last axis of (5, 3)")

# %% nbgrader={"grade": true, "grade_id": "broadcast_shape_aligns_from_the_right", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""broadcast_shape aligns shapes of different lengths at their last axis, padding the shorter one with 1s on the left"""
from grader.testing import learner, expect

expect.equal(learner.broadcast_shape((), (2, 3)), (2, 3), what="broadcast_shape((), (2, 3))", hint="a scalar broadcasts against anything")
### BEGIN HIDDEN TESTS
hint = "align the shapes at their last axis: pad the shorter shape with 1s on the left, not on the right"
for shape_a, shape_b in [((1, 3), (3,)), ((4, 5), (1,)), ((1, 1, 7), (6, 1)), ((2,), (2, 1, 1)), ((3, 1, 2), (1, 2)), ((6,), (6, 6))]:
    expect.equal(learner.broadcast_shape(shape_a, shape_b), tuple(torch.broadcast_shapes(shape_a, shape_b)),
                 what=f"broadcast_shape({shape_a}, {shape_b})", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "broadcast_shape_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""broadcast_shape equals torch.broadcast_shapes on random compatible shapes (sizes 0 and 1 included) and raises ValueError on every incompatible pair"""
from grader.testing import learner, expect

expect.raises("ValueError", learner.broadcast_shape, (2, 3), (4,))
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(2)
hint = "pad on the left with 1s, then per axis: equal sizes stay, a 1 takes the other size, anything else is an error"
for _ in range(30):
    rank = int(torch.randint(0, 6, (1,), generator=gen))
    target = [int(n) for n in torch.randint(0, 5, (rank,), generator=gen)]
    operands = []
    for _ in range(2):
        dropped = int(torch.randint(0, rank + 1, (1,), generator=gen))     # drop some leading axes
        shape = [1 if torch.rand(1, generator=gen) < 0.3 else n for n in target[dropped:]]
        operands.append(tuple(shape))
    expect.equal(learner.broadcast_shape(*operands), tuple(torch.broadcast_shapes(*operands)),
                 what=f"broadcast_shape{tuple(operands)}", hint=hint)
for shape_a, shape_b in [((2, 3), (3, 2)), ((5, 4), (5,)), ((0,), (2,)), ((3,), (0,)), ((2, 1, 4), (3, 1, 1, 5)), ((7, 2), (2, 7, 3))]:
    expect.raises("ValueError", learner.broadcast_shape, shape_a, shape_b)
    expect.raises("ValueError", learner.broadcast_shape, shape_b, shape_a)
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · einsum: index notation as code
#
# Einstein summation names every axis with a letter and lets the letters say what happens:
#
# - a letter that appears in an input and in the output is **kept** (an output axis);
# - a letter that appears in the inputs but **not in the output is summed over**;
# - a letter shared by two inputs **pairs** their axes (they must have the same size);
# - a letter repeated within one operand takes the **diagonal**.
#
# So `torch.einsum("ij,jk->ik", A, B)` is $C_{ik} = \sum_j A_{ij} B_{jk}$, the matrix product.
# The operations of this section, in index notation:
#
# | name | formula | einsum |
# |---|---|---|
# | batched matrix product | $C_{bik} = \sum_j A_{bij} B_{bjk}$ | `"bij,bjk->bik"` |
# | trace | $\operatorname{tr} A = \sum_i A_{ii}$ | `"ii->"` |
# | outer product | $(u v^\top)_{ij} = u_i v_j$ | `"i,j->ij"` |
# | bilinear form, per batch row | $s_b = x_b^\top W y_b = \sum_{i,j} x_{bi} W_{ij} y_{bj}$ | `"bi,ij,bj->b"` |
# | attention scores | $S_{bhls} = \frac{1}{\sqrt{d}} \sum_{d'} Q_{bhld'} K_{bhsd'}$ | `"bhld,bhsd->bhls"` |
#
# **What this means.** An einsum string is a complete specification of a tensor contraction:
# which axes pair, which survive, in which order. It replaces chains of `transpose`,
# `unsqueeze`, `*` and `sum` that are easy to get subtly wrong, and it documents the shapes in the
# code itself. Be careful with the letters: `"ij,jk->ik"` is $AB$, while `"ij,kj->ik"` is
# $AB^\top$. Both run without error when the matrices are square.
#
# Worked examples: a matrix-vector product, a sum over one axis, a transpose and a diagonal.

# %%
A = torch.arange(6.0).reshape(2, 3)
v = torch.tensor([1.0, 0.0, -1.0])
print("A @ v         :", (A @ v).tolist(), "  einsum('ij,j->i'):", torch.einsum("ij,j->i", A, v).tolist())
print("A.sum(0)      :", A.sum(0).tolist(), "  einsum('ij->j')  :", torch.einsum("ij->j", A).tolist())
print("A.T           :", A.T.tolist(), "  einsum('ij->ji') equal:", torch.equal(torch.einsum("ij->ji", A), A.T))
M = torch.arange(9.0).reshape(3, 3)
print("diagonal of M :", M.diagonal().tolist(), "  einsum('ii->i'):", torch.einsum("ii->i", M).tolist())
print("A B and A B^T on square matrices both run:", torch.einsum("ij,jk->ik", M, M)[0].tolist(), torch.einsum("ij,kj->ik", M, M)[0].tolist())

# %% [markdown]
# Write the five operations, each as one `torch.einsum` call (plus the scaling for attention
# scores). They must keep the dtype of their inputs.

# %% nbgrader={"grade": false, "grade_id": "einsum_operations", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batched_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A batch of matrix products, C[b] = a[b] @ b[b], with einsum.

    Args: a (B, n, m) and b (B, m, p), same float dtype.
    Returns: (B, n, p), equal to torch.bmm(a, b). About 3 minutes.

    Example:
        >>> batched_matmul(torch.ones(2, 3, 4), torch.ones(2, 4, 5)).shape
        torch.Size([2, 3, 5])
    """
    ### BEGIN SOLUTION
    return torch.einsum("bij,bjk->bik", a, b)
    ### END SOLUTION


def trace(a: torch.Tensor) -> torch.Tensor:
    """The trace sum_i a[i, i] of a square matrix, with einsum.

    Args: a (n, n). Returns: a 0-d tensor of a's dtype, equal to torch.trace(a). About 2 minutes.

    Example:
        >>> trace(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor(5.)
    """
    ### BEGIN SOLUTION
    return torch.einsum("ii->", a)
    ### END SOLUTION


def outer(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The outer product u v^T, with einsum.

    Args: u (n,), v (m,). Returns: (n, m) with [i, j] = u[i] * v[j], equal to torch.outer(u, v). About 2 minutes.

    Example:
        >>> outer(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0, 5.0]))
        tensor([[ 3.,  4.,  5.],
                [ 6.,  8., 10.]])
    """
    ### BEGIN SOLUTION
    return torch.einsum("i,j->ij", u, v)
    ### END SOLUTION


def bilinear_form(x: torch.Tensor, W: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x_b^T W y_b for every batch row b, with one einsum.

    Args: x (B, n), W (n, m), y (B, m).
    Returns: (B,), entry b = sum_ij x[b, i] W[i, j] y[b, j]. About 3 minutes.

    Example:
        >>> bilinear_form(torch.ones(4, 2), torch.eye(2), torch.ones(4, 2))
        tensor([2., 2., 2., 2.])
    """
    ### BEGIN SOLUTION
    return torch.einsum("bi,ij,bj->b", x, W, y)
    ### END SOLUTION


def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product scores of every query with every key, per batch and head, with einsum.

    Args: q (B, H, L, d) queries, k (B, H, S, d) keys.
    Returns: (B, H, L, S), entry [b, h, l, s] = q[b, h, l] . k[b, h, s] / sqrt(d), equal to
        q @ k.transpose(-2, -1) / math.sqrt(d). About 3 minutes.

    Example:
        >>> attention_scores(torch.ones(1, 2, 3, 4), torch.ones(1, 2, 5, 4)).shape
        torch.Size([1, 2, 3, 5])
    """
    ### BEGIN SOLUTION
    return torch.einsum("bhld,bhsd->bhls", q, k) / math.sqrt(q.shape[-1])
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "einsum_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the five einsum operations give the right shapes and the hand-computed values of small cases"""
from grader.testing import learner, expect

a = torch.arange(12.0, dtype=DTYPE).reshape(1, 3, 4)
got = learner.batched_matmul(a, torch.eye(4, dtype=DTYPE)[None])
expect.shape(got, (1, 3, 4), what="batched_matmul of (1, 3, 4) and (1, 4, 4)", hint="the result is (B, n, p)")
expect.close(got, a, atol=1e-12, what="batched_matmul(a, identity)", hint="a product with the identity gives a back")
expect.close(learner.trace(torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=DTYPE)), torch.tensor(5.0, dtype=DTYPE), atol=1e-12,
             what="trace([[1, 2], [3, 4]])", hint="sum the diagonal: 'ii->'")
got = learner.outer(torch.tensor([1.0, 2.0], dtype=DTYPE), torch.tensor([3.0, 4.0, 5.0], dtype=DTYPE))
expect.shape(got, (2, 3), what="outer of (2,) and (3,)", hint="rows follow u, columns follow v: 'i,j->ij'")
expect.close(got, torch.tensor([[3.0, 4.0, 5.0], [6.0, 8.0, 10.0]], dtype=DTYPE), atol=1e-12, what="outer([1, 2], [3, 4, 5])")
got = learner.bilinear_form(torch.tensor([[1.0, 2.0]], dtype=DTYPE), torch.eye(2, dtype=DTYPE), torch.tensor([[3.0, 4.0]], dtype=DTYPE))
expect.shape(got, (1,), what="bilinear_form with B = 1", hint="one number per batch row: 'bi,ij,bj->b'")
expect.close(got, torch.tensor([11.0], dtype=DTYPE), atol=1e-12, what="bilinear_form(x=[1, 2], W=I, y=[3, 4])",
             hint="with W the identity the bilinear form is the dot product of x and y")
got = learner.attention_scores(torch.ones(1, 2, 3, 4, dtype=DTYPE), torch.ones(1, 2, 5, 4, dtype=DTYPE))
expect.shape(got, (1, 2, 3, 5), what="attention_scores of q (1, 2, 3, 4) and k (1, 2, 5, 4)", hint="the scores are (B, H, L, S)")
expect.close(got, torch.full((1, 2, 3, 5), 2.0, dtype=DTYPE), atol=1e-12, what="attention_scores of all-ones q and k with d = 4",
             hint="each score is a dot product of length d = 4, divided by sqrt(d) = 2")

# %% nbgrader={"grade": true, "grade_id": "batched_matmul_matches_bmm", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""batched_matmul equals torch.bmm on batches of square matrices, where a transposed operand would still run"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(3)
a, b = torch.randn(2, 3, 3, generator=gen, dtype=DTYPE), torch.randn(2, 3, 3, generator=gen, dtype=DTYPE)
expect.shape(learner.batched_matmul(a, b), (2, 3, 3), what="batched_matmul of two (2, 3, 3) batches")
### BEGIN HIDDEN TESTS
hint = "C[b, i, k] = sum_j A[b, i, j] B[b, j, k]: the summed letter is the last of A and the middle of B ('bij,bjk->bik', not 'bij,bkj->bik')"
expect.close(learner.batched_matmul(a, b), torch.bmm(a, b), atol=1e-12, rtol=1e-12, what="batched_matmul on (2, 3, 3) batches", hint=hint)
for B, n in [(4, 5), (1, 2), (3, 8)]:
    a, b = torch.randn(B, n, n, generator=gen, dtype=DTYPE), torch.randn(B, n, n, generator=gen, dtype=DTYPE)
    got = learner.batched_matmul(a, b)
    expect.shape(got, (B, n, n), what=f"batched_matmul on ({B}, {n}, {n}) batches")
    expect.close(got, torch.bmm(a, b), atol=1e-12, rtol=1e-12, what=f"batched_matmul on ({B}, {n}, {n}) batches", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "einsum_operations_match_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the five einsum operations equal torch.bmm, torch.trace, torch.outer, an explicit bilinear form and q @ k^T / sqrt(d) on random rectangular inputs, keeping the dtype"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(4)
got = learner.batched_matmul(torch.randn(2, 3, 5, generator=gen, dtype=DTYPE), torch.randn(2, 5, 4, generator=gen, dtype=DTYPE))
expect.shape(got, (2, 3, 4), what="batched_matmul of (2, 3, 5) and (2, 5, 4)", hint="the result is (B, n, p)")
### BEGIN HIDDEN TESTS
tol = dict(atol=1e-12, rtol=1e-12)
for shape_a, shape_b in [((2, 3, 5), (2, 5, 4)), ((1, 6, 2), (1, 2, 3)), ((5, 1, 7), (5, 7, 1))]:
    a, b = torch.randn(*shape_a, generator=gen, dtype=DTYPE), torch.randn(*shape_b, generator=gen, dtype=DTYPE)
    got = learner.batched_matmul(a, b)
    expect.shape(got, (shape_a[0], shape_a[1], shape_b[2]), what=f"batched_matmul of {shape_a} and {shape_b}")
    expect.close(got, torch.bmm(a, b), **tol, what=f"batched_matmul of {shape_a} and {shape_b}")
for n in [1, 5]:
    m = torch.randn(n, n, generator=gen, dtype=DTYPE)
    got = learner.trace(m)
    expect.shape(got, (), what=f"trace of a ({n}, {n}) matrix", hint="'ii->' sums the diagonal into a 0-d tensor")
    expect.dtype(got, DTYPE, what=f"trace of a float64 ({n}, {n}) matrix")
    expect.close(got, torch.trace(m), **tol, what=f"trace of a random ({n}, {n}) matrix", hint="sum of the diagonal a[i, i]")
u, w = torch.randn(4, generator=gen, dtype=DTYPE), torch.randn(3, generator=gen, dtype=DTYPE)
got = learner.outer(u, w)
expect.shape(got, (4, 3), what="outer of (4,) and (3,)", hint="entry [i, j] = u[i] * v[j]")
expect.close(got, torch.outer(u, w), **tol, what="outer of random (4,) and (3,) vectors")
x, W, y = (torch.randn(*s, generator=gen, dtype=DTYPE) for s in [(6, 4), (4, 3), (6, 3)])
got = learner.bilinear_form(x, W, y)
expect.shape(got, (6,), what="bilinear_form of x (6, 4), W (4, 3), y (6, 3)", hint="one number per batch row")
expect.close(got, ((x @ W) * y).sum(-1), **tol, what="bilinear_form on random x (6, 4), W (4, 3), y (6, 3)",
             hint="s_b = sum_ij x[b, i] W[i, j] y[b, j]: x pairs with the rows of W, y with its columns")
for shape_q, shape_k in [((2, 3, 5, 8), (2, 3, 7, 8)), ((1, 1, 1, 2), (1, 1, 4, 2))]:
    q, k = torch.randn(*shape_q, generator=gen, dtype=DTYPE), torch.randn(*shape_k, generator=gen, dtype=DTYPE)
    got = learner.attention_scores(q, k)
    expect.shape(got, (*shape_q[:3], shape_k[2]), what=f"attention_scores of q {shape_q} and k {shape_k}")
    expect.close(got, q @ k.transpose(-2, -1) / math.sqrt(shape_q[-1]), **tol, what=f"attention_scores of q {shape_q} and k {shape_k}",
                 hint="pair the feature axis d of q and k, keep l and s, and divide by sqrt(d)")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Views and copies: which operations share memory
#
# A **view** is a new tensor over the same storage: a new (shape, stride, offset) recipe, no
# element copied. A **copy** has a storage of its own. The difference matters twice: for
# memory and time (a copy of a 4096 x 4096 float32 activation is 64 MiB), and for correctness,
# because an in-place write through a view changes the original, and a write into a copy does not.
#
# | operation | result | why |
# |---|---|---|
# | `x.t()`, `x.transpose(i, j)`, `x.permute(...)` | view | strides are swapped |
# | basic slicing `x[1:]`, `x[:, ::2]`, `x[:, 3]`, `x.narrow`, `x.select` | view | offset and strides change |
# | `x.unsqueeze`, `x.squeeze`, `x.expand`, `x.diagonal()`, `x.unfold`, `x.as_strided` | view | strides (possibly 0) |
# | `x.view(shape)` | view, or an **error** | only when the new shape fits the existing strides |
# | `x.reshape(shape)`, `x.flatten()` | view **if possible**, else a copy | never an error, so you cannot tell without checking |
# | `x.contiguous()` | `x` itself if already contiguous, else a copy | |
# | advanced indexing `x[[0, 2]]`, `x[mask]`, `x[idx_tensor]` | **copy** | the selected elements have no regular stride |
# | `x.clone()`, arithmetic `x + 0`, `x.to(other dtype or device)` | copy | `x.to(its own dtype)` returns `x` itself |
# | `x.detach()` | view | same storage, cut from the autograd graph |
#
# **How to tell.** Two tensors share memory when their *storages* are the same:
# `a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()`. Careful: `a.data_ptr()`
# is the address of the tensor's *first element*, which moves with the storage offset. The slice
# `x[1:]` of a float32 matrix with 4 columns shares `x`'s storage, but its `data_ptr()` is 16 bytes (one row
# of 4 floats) further on.
#
# **What this means.** Most shape manipulation in a transformer (splitting heads, transposing
# to $(B, H, T, d)$, slicing a KV cache) is free because it makes views. The copies happen where
# you ask for contiguity (`reshape` after a `transpose`, `contiguous()`) or index with tensors.
# `view` refuses to copy and raises instead, which is a feature: it tells you the memory is not
# laid out the way you think.

# %%
x = torch.arange(12.0).reshape(3, 4)
same_storage = lambda a, b: a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
for name, y in [("x.t()", x.t()), ("x[1:]", x[1:]), ("x[:, 2]", x[:, 2]), ("x.t().reshape(-1)", x.t().reshape(-1)),
                ("x.reshape(2, 6)", x.reshape(2, 6)), ("x[[0, 2]]", x[[0, 2]]), ("x[x > 5]", x[x > 5]), ("x.t().contiguous()", x.t().contiguous())]:
    print(f"{name:20} shares storage: {str(same_storage(x, y)):5}   same data_ptr(): {x.data_ptr() == y.data_ptr()}")

row = x[1]          # a view
row[0] = -1.0       # writes into x
picked = x[[2]]     # a copy
picked[0, 0] = -2.0 # x does not change
print("x after writing through a view and into a copy:\n", x)
try:
    x.t().view(-1)
except RuntimeError as error:
    print("x.t().view(-1) raises:", str(error)[:95], "...")

# %% [markdown]
# ### A zero-copy sliding window
#
# A sliding window of length $w$ and step $s$ over a vector of length $n$ has
# $n_w = \lfloor (n - w)/s \rfloor + 1$ windows, and window $i$ is elements $is, \dots, is + w - 1$.
# Stored as a copy it would take $n_w w$ numbers; as a view it takes none. For a 1-D tensor with
# stride $\sigma$ and offset $o$, element $j$ of window $i$ is element $is + j$ of the vector,
# which sits at storage position $o + (is + j)\sigma$. That is a 2-D tensor with
#
# $$\text{shape } (n_w, w), \qquad \text{stride } (s\sigma, \sigma), \qquad \text{offset } o,$$
#
# which `x.as_strided(size, stride, storage_offset)` builds directly. Windows overlap in memory
# when $s < w$: writing one element changes every window that contains it. Convolutions
# (`09-cnn`, through im2col), moving averages and the `unfold` of a sequence into chunks all
# rest on this trick.
#
# Write `shares_storage`, then `sliding_windows` with `as_strided` (not `Tensor.unfold`, which is
# the library's own version of the same view and is what the tests compare with).

# %%
def storage_cases() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A base tensor x (4, 6) and the results of many operations on it, by name (used by the tests too)."""
    x = torch.arange(24.0).reshape(4, 6)
    cases = {
        "x.t()": x.t(), "x[1:]": x[1:], "x[:, 2]": x[:, 2], "x[::2, 1:]": x[::2, 1:], "x.reshape(6, 4)": x.reshape(6, 4),
        "x.view(2, 12)": x.view(2, 12), "x.t().reshape(-1)": x.t().reshape(-1), "x.t().contiguous()": x.t().contiguous(),
        "x.contiguous()": x.contiguous(), "x[[0, 2]]": x[[0, 2]], "x[x > 5]": x[x > 5], "x.clone()": x.clone(),
        "x.flatten()": x.flatten(), "x.t().flatten()": x.t().flatten(), "x.unsqueeze(0)": x.unsqueeze(0),
        "x[2:3].expand(5, 6)": x[2:3].expand(5, 6), "x.diagonal(1)": x.diagonal(1), "x.detach()": x.detach(),
        "x.to(torch.float64)": x.to(torch.float64), "x.to(torch.float32)": x.to(torch.float32),
        "x.narrow(1, 3, 2)": x.narrow(1, 3, 2), "x.select(0, 3)": x.select(0, 3), "x[3:, 5:]": x[3:, 5:],
        "x + 0": x + 0, "torch.zeros(4, 6)": torch.zeros(4, 6),
    }
    return x, cases


# %% [markdown]
# `storage_cases()` above collects two dozen operations on one tensor; the tests ask your
# `shares_storage` about each of them. Before you write it, predict for each case whether it is a
# view or a copy, using the table.

# %% nbgrader={"grade": false, "grade_id": "views", "locked": false, "schema_version": 3, "solution": true, "task": false}
def shares_storage(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether tensors a and b are backed by the same storage (one is a view of the other, or both of a third).

    Args: a, b: tensors of any shapes, dtypes and devices, each with at least one element.
    Returns: a Python bool, True exactly when their storages start at the same address.
        About 3 minutes.

    Example:
        >>> x = torch.zeros(3, 4)
        >>> shares_storage(x, x[1:]), shares_storage(x, x.clone())
        (True, False)
    """
    ### BEGIN SOLUTION
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    ### END SOLUTION


def sliding_windows(x: torch.Tensor, size: int, step: int = 1) -> torch.Tensor:
    """All windows of `size` consecutive elements of a 1-D tensor, `step` apart, as a view (no copy).

    Args:
        x: a 1-D tensor of length n, of any dtype, possibly non-contiguous (e.g. base[1::2]).
        size: window length w, 1 <= w <= n. step: distance s >= 1 between window starts.

    Returns:
        A tensor (n_w, w) with n_w = (n - w) // s + 1 and [i, j] = x[i * s + j], sharing x's storage
        (writing into it writes into x), equal to x.unfold(0, size, step).

    Raises:
        ValueError if x is not 1-D, or size or step is out of range. About 15 minutes.

    Example:
        >>> sliding_windows(torch.arange(6.0), 3, 2)
        tensor([[0., 1., 2.],
                [2., 3., 4.]])
    """
    ### BEGIN SOLUTION
    if x.dim() != 1:
        raise ValueError(f"sliding_windows needs a 1-D tensor, got shape {tuple(x.shape)}")
    n = x.shape[0]
    if not 1 <= size <= n or step < 1:
        raise ValueError(f"need 1 <= size <= {n} and step >= 1, got size {size} and step {step}")
    n_windows = (n - size) // step + 1
    (stride,) = x.stride()
    return x.as_strided((n_windows, size), (step * stride, stride), x.storage_offset())
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "views_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""a transpose shares storage and a clone does not, and the windows of arange(5) of length 3 have the right shape and values"""
from grader.testing import learner, scenario, expect


@scenario
def small_views(ns):
    """shares_storage on a transpose and a clone, and the windows of arange(5) with size 3, step 1."""
    x = torch.zeros(3, 4)
    return {"transpose": ns.shares_storage(x, x.t()), "clone": ns.shares_storage(x, x.clone()),
            "windows": ns.sliding_windows(torch.arange(5.0, dtype=torch.float64), 3, 1)}


got = small_views.learner()
expect.equal(got["transpose"], True, what="shares_storage(x, x.t())", hint="a transpose is a view: compare x.untyped_storage().data_ptr() of both")
expect.equal(got["clone"], False, what="shares_storage(x, x.clone())", hint="a clone has its own storage")
expect.shape(got["windows"], (3, 3), what="sliding_windows(arange(5), 3, 1)", hint="n_w = (n - size) // step + 1 windows of length size")
expect.close(got["windows"], torch.tensor([[0.0, 1, 2], [1, 2, 3], [2, 3, 4]], dtype=DTYPE), atol=0,
             what="sliding_windows(arange(5), 3, 1)", hint="window i is x[i * step : i * step + size]")

# %% nbgrader={"grade": true, "grade_id": "shares_storage_matches_storage_pointers", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""shares_storage is True for every view (transposes, slices with an offset, selections, expand, diagonal, detach, a reshape that can be a view) and False for every copy (advanced indexing, clone, arithmetic, a reshape or contiguous() after a transpose, a dtype change)"""
from grader.testing import scenario, expect


@scenario
def storage_sharing(ns):
    """shares_storage(x, y) and shares_storage(y, x) for every case of storage_cases()."""
    x, cases = ns.storage_cases()
    return [bool(ns.shares_storage(x, y)) for y in cases.values()] + [bool(ns.shares_storage(y, x)) for y in cases.values()]


base, cases = storage_cases()
truth = [base.untyped_storage().data_ptr() == y.untyped_storage().data_ptr() for y in cases.values()]
got = storage_sharing.learner()
expect.shape(got, (2 * len(truth),), what="the answers of shares_storage on the cases of storage_cases(), asked in both orders")
expect.equal(got[0], True, what="shares_storage(x, x.t())", hint="a transpose is a view of the same storage")
### BEGIN HIDDEN TESTS
wrong = sum(g != t for g, t in zip(got, truth + truth))
expect.true(wrong == 0, f"shares_storage is wrong on {wrong} of {len(got)} pairs (each case asked in both orders): compare the "
            "storages' addresses, a.untyped_storage().data_ptr(); a.data_ptr() is the address of the first element and "
            "moves with the storage offset of a slice")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "sliding_windows_is_a_view", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""sliding_windows equals Tensor.unfold for several sizes and steps, on contiguous and strided inputs with a storage offset, shares the input's storage, writes through to the input, and refuses impossible windows"""
from grader.testing import learner, scenario, expect


@scenario
def windows_of(ns, n, size, step, every):
    """Windows of x = base[1::every] (or base itself when every = 1), then a write into the last window."""
    base = torch.arange(float(n * every + 1), dtype=torch.float64)
    x = base[1::every][:n] if every > 1 else base[:n]
    windows = ns.sliding_windows(x, size, step)
    shares = windows.untyped_storage().data_ptr() == base.untyped_storage().data_ptr()
    values = windows.clone()
    windows[-1, -1] = -1.0
    return {"windows": values, "shares_storage": bool(shares), "x_after_write": x.clone()}


def expected_windows(n, size, step, every):
    base = torch.arange(float(n * every + 1), dtype=DTYPE)
    x = base[1::every][:n] if every > 1 else base[:n]
    want = x.unfold(0, size, step).clone()
    after = x.clone()
    after[(want.shape[0] - 1) * step + size - 1] = -1.0
    return {"windows": want, "shares_storage": True, "x_after_write": after}


got = windows_of.learner(6, 3, 2, 1)
expect.shape(got["windows"], (2, 3), what="sliding_windows(arange(6), 3, 2)", hint="n_w = (n - size) // step + 1 windows of length size")
expect.close(got["windows"], torch.tensor([[0.0, 1, 2], [2, 3, 4]], dtype=DTYPE), atol=0, what="sliding_windows(arange(6), 3, 2)")
### BEGIN HIDDEN TESTS
for n, size, step, every in [(10, 3, 1, 1), (10, 3, 2, 2), (9, 4, 3, 3), (5, 5, 1, 1), (6, 1, 1, 2), (7, 2, 5, 1), (8, 3, 3, 2)]:
    case = f"n={n}, size={size}, step={step}" + (f", on a strided input base[1::{every}]" if every > 1 else "")
    got, want = windows_of.learner(n, size, step, every), expected_windows(n, size, step, every)
    expect.shape(got["windows"], tuple(want["windows"].shape), what=f"the windows with {case}")
    expect.close(got["windows"], want["windows"], atol=0, what=f"the windows with {case}",
                 hint="window i is x[i * step : i * step + size]; with as_strided use the input's own stride and storage_offset()")
    expect.equal(got["shares_storage"], True, what=f"whether the windows share the input's storage ({case})",
                 hint="build a view with x.as_strided((n_w, size), (step * x.stride(0), x.stride(0)), x.storage_offset()), "
                      "not a copy (torch.stack or advanced indexing copy)")
    expect.shape(got["x_after_write"], (n,), what=f"the input after a write into the windows ({case})")
    expect.close(got["x_after_write"], want["x_after_write"], atol=0, what=f"the input after writing into the last window ({case})",
                 hint="writing into a view must change the input it views")
for args in [((torch.arange(4.0), 5, 1)), ((torch.arange(4.0), 0, 1)), ((torch.arange(4.0), 2, 0)), ((torch.zeros(2, 3), 2, 1))]:
    expect.raises("ValueError", learner.sliding_windows, *args)
### END HIDDEN TESTS

# %% [markdown]
# The windows of a noisy signal, averaged along each row: a moving average computed without
# copying the signal, and its memory cost next to that of a copy.

# %%
try:
    signal = torch.sin(torch.linspace(0, 6 * math.pi, 400, dtype=DTYPE)) + 0.3 * torch.randn(400, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
    windows = sliding_windows(signal, 25, 1)
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot(signal, lw=0.8, color="grey", label="signal")
    ax.plot(torch.arange(12, 12 + windows.shape[0]), windows.mean(dim=1), lw=2, label="mean of each window of 25")
    ax.set(xlabel="position", title=f"{tuple(windows.shape)} windows, extra memory {windows.untyped_storage().nbytes() - signal.untyped_storage().nbytes()} bytes "
                                  f"(a copy would take {windows.numel() * windows.element_size()} bytes)")
    ax.legend()
    plt.show()
except NotImplementedError:
    print("Write sliding_windows above to see the moving average drawn here.")

# %% [markdown]
# ## 5 · Autograd: what `backward()` computes, and when
#
# **Recording.** A tensor created with `requires_grad=True` is a **leaf** of the graph. Every
# operation on tensors that require gradients records a node (`y.grad_fn`) that knows its
# inputs and how to pass a gradient back through itself. Leaves have `grad_fn = None`.
#
# **Backward is a vector-Jacobian product.** For $y = f(x)$ with $x \in \mathbb{R}^n$,
# $y \in \mathbb{R}^m$ and a vector $v \in \mathbb{R}^m$ (the gradient of some scalar with respect
# to $y$), `torch.autograd.grad(y, x, grad_outputs=v)` returns
#
# $$\bar x = J^\top v, \qquad J_{ij} = \frac{\partial y_i}{\partial x_j}, \qquad\text{that is}\quad \bar x_j = \sum_i v_i \frac{\partial y_i}{\partial x_j} .$$
#
# For a scalar loss $L$, `L.backward()` is the case $m = 1$, $v = 1$. The Jacobian itself is
# never built: each node multiplies the incoming vector by its local Jacobian (transposed) and
# passes the result on. With $v = e_i$, the $i$-th unit vector, the product is row $i$ of $J$; so
# $m$ backward passes give the whole Jacobian, which is exactly how `gradcheck` builds its
# "analytical" Jacobian.
#
# **The rules that matter in practice:**
#
# - `.grad` is stored on **leaves** only (use `t.retain_grad()` to keep it on an intermediate), and
#   it **accumulates**: each `backward()` *adds* into `.grad`. That is what makes a node used twice
#   get the sum of both contributions, and why a training loop must call `optimizer.zero_grad()`
#   (or `x.grad = None`) before each backward.
# - A backward pass frees the graph's saved tensors. A second backward through the same graph
#   needs `retain_graph=True` on the first.
# - `with torch.no_grad():` records nothing: use it for evaluation and for parameter updates by
#   hand. `t.detach()` returns a view of the same data cut from the graph (no gradient flows
#   through it).
# - An in-place change of a tensor that some node saved for its backward raises an error at
#   backward time (each tensor has a version counter, and the node checks it).
#
# A worked example of each rule:

# %%
w = torch.tensor([2.0, -1.0], requires_grad=True)          # a leaf
y = (w * w).sum()                                           # y = w0^2 + w1^2, dy/dw = 2w
print("leaf:", w.is_leaf, w.grad_fn, "  non-leaf:", y.is_leaf, type(y.grad_fn).__name__)
y.backward()
print("after one backward, w.grad =", w.grad.tolist())
(w * w).sum().backward()
print("after a second backward (no reset), w.grad =", w.grad.tolist(), "<- accumulated: 2 * 2w")
w.grad = None                                               # what optimizer.zero_grad() does (set_to_none=True)

# w appears twice in (w * w.sum()).sum() = S^2 with S = w0 + w1: the gradient 2S sums both uses
print("gradient of (w * w.sum()).sum():", torch.autograd.grad((w * w.sum()).sum(), w)[0].tolist(), "= 2 (w0 + w1) per entry")
with torch.no_grad():
    print("under no_grad: requires_grad =", (w * 2).requires_grad)
print("detach: requires_grad =", w.detach().requires_grad, ", shares storage with w:",
      w.detach().untyped_storage().data_ptr() == w.untyped_storage().data_ptr())

s = torch.sigmoid(w)        # sigmoid saves its output for the backward: ds/dw = s (1 - s)
s.mul_(2)                   # in-place change of a saved tensor
try:
    s.sum().backward()
except RuntimeError as error:
    print("in-place change of a saved tensor:", str(error)[:120], "...")

# %% [markdown]
# Now build a full Jacobian from vector-Jacobian products, one row per backward pass. Use
# `torch.autograd.grad(y[i], x_leaf, retain_graph=True)`: it returns the gradient instead of
# adding it into `.grad`, so nothing accumulates between rows, and `retain_graph=True` keeps the
# graph alive for the next row. Differentiate with respect to a detached copy
# (`x.detach().requires_grad_(True)`) so that the caller's tensor is left alone.

# %% nbgrader={"grade": false, "grade_id": "jacobian", "locked": false, "schema_version": 3, "solution": true, "task": false}
def jacobian(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The Jacobian J[i, j] = d f(x)_i / d x_j, one vector-Jacobian product per row.

    Args:
        f: a function from a tensor (n,) to a tensor (m,), built from differentiable torch operations,
           every output depending on x.
        x: a float tensor (n,). It is not modified, and no gradient is left in x.grad.

    Returns:
        A tensor (m, n) of x's dtype, not attached to any graph (requires_grad False), equal to
        torch.autograd.functional.jacobian(f, x). About 10 minutes.

    Example:
        >>> jacobian(lambda t: t ** 2, torch.tensor([1.0, 3.0]))
        tensor([[2., 0.],
                [0., 6.]])
    """
    ### BEGIN SOLUTION
    leaf = x.detach().requires_grad_(True)  # a fresh leaf: the caller's x stays untouched
    y = f(leaf)
    rows = []
    for i in range(y.shape[0]):
        (row,) = torch.autograd.grad(y[i], leaf, retain_graph=True)  # e_i^T J, nothing accumulates
        rows.append(row)
    return torch.stack(rows)
    ### END SOLUTION

# %%
def jacobian_test_function(name: str):
    """The functions R^4 -> R^m that the tests differentiate (the same on every side)."""
    A = torch.arange(12, dtype=torch.float64).reshape(3, 4) / 7 - 0.5
    functions = {
        "linear": lambda t: A @ t,                                           # J = A
        "elementwise": lambda t: t * torch.tanh(t),                          # a diagonal J
        "softmax": lambda t: torch.softmax(t, dim=0),                        # a dense, symmetric J
        "reused": lambda t: t * t.sum() + t.prod(),                          # t used several times
        "mixed": lambda t: torch.stack([t.norm(), (t[0] * t[3]).sin(), (t ** 3).sum(), t[1] / (1 + t[2] ** 2)]),
    }
    return functions[name]


@scenario
def jacobian_of(ns, name, x, requires_grad=True):
    """The learner's Jacobian of one test function at x (a leaf, with or without requires_grad), and what it left on x."""
    f = ns.jacobian_test_function(name)
    leaf = x.clone().requires_grad_(requires_grad)
    J = ns.jacobian(f, leaf)
    return {"J": J.detach(), "J_requires_grad": bool(J.requires_grad), "grad_left_in_x": leaf.grad is not None,
            "x_requires_grad_after": bool(leaf.requires_grad), "x_after": leaf.detach().clone()}

# %% nbgrader={"grade": true, "grade_id": "jacobian_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the Jacobian of a linear map x -> A x is the matrix A, of shape (3, 4)"""
from grader.testing import expect

x = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=DTYPE)
got = jacobian_of.learner("linear", x)
expect.shape(got["J"], (3, 4), what="the Jacobian of x -> A x with A (3, 4)", hint="one row per output, one column per input: (m, n)")
expect.close(got["J"], torch.arange(12, dtype=DTYPE).reshape(3, 4) / 7 - 0.5, atol=1e-12, what="the Jacobian of x -> A x",
             hint="row i is the gradient of output i with respect to x")

# %% nbgrader={"grade": true, "grade_id": "jacobian_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""jacobian equals torch.autograd.functional.jacobian on elementwise, softmax, reused-variable and mixed functions, for x with and without requires_grad, and leaves x unchanged, no gradient in x.grad and no graph on the result"""
from grader.testing import expect

gen = torch.Generator().manual_seed(5)
got = jacobian_of.learner("elementwise", torch.randn(4, generator=gen, dtype=DTYPE))
expect.shape(got["J"], (4, 4), what="the Jacobian of t * tanh(t) at a point of R^4")
### BEGIN HIDDEN TESTS
hint = ("row i must be the gradient of output i alone: use torch.autograd.grad(y[i], x, retain_graph=True), or reset the "
        "gradient before each row; .backward() adds into .grad, so rows accumulate")
for name in ["elementwise", "softmax", "reused", "mixed", "linear"]:
    for requires_grad in [True, False]:
        x = torch.randn(4, generator=gen, dtype=DTYPE)
        got = jacobian_of.learner(name, x, requires_grad)
        want = torch.autograd.functional.jacobian(jacobian_test_function(name), x)
        expect.shape(got["J"], tuple(want.shape), what=f"the Jacobian of the '{name}' test function")
        expect.close(got["J"], want, atol=1e-12, rtol=1e-10, what=f"the Jacobian of the '{name}' test function", hint=hint)
        expect.equal(got["grad_left_in_x"], False, what=f"whether jacobian left a gradient in x.grad ('{name}')",
                     hint="differentiate with respect to x.detach().requires_grad_(True), and use torch.autograd.grad")
        expect.equal(got["J_requires_grad"], False, what=f"whether the returned Jacobian is attached to a graph ('{name}')",
                     hint="return plain numbers: no create_graph, or .detach() the rows")
        expect.equal(got["x_requires_grad_after"], requires_grad, what=f"x.requires_grad after jacobian ('{name}', x given with requires_grad={requires_grad})",
                     hint="leave the caller's x alone: differentiate with respect to a fresh leaf, x.detach().requires_grad_(True)")
        expect.close(got["x_after"], x, atol=0, what=f"the values of x after jacobian ('{name}')", hint="jacobian must not change x")
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · `nn.Module`: parameters, buffers and the state dict
#
# An `nn.Module` is a container that *knows its own tensors*. When you assign an attribute in
# `__init__`, `Module.__setattr__` looks at its type:
#
# | you assign | it becomes | in `parameters()` | in `state_dict()` | moved by `.to()`, `.double()` | trained |
# |---|---|---|---|---|---|
# | `nn.Parameter(tensor)` | a **parameter** | yes | yes | yes | yes |
# | `self.register_buffer("name", tensor)` | a **buffer** (running statistics, masks, constants) | no | yes | yes | no |
# | another `nn.Module` | a **submodule**, searched recursively | its parameters | its entries, prefixed `"name."` | yes | yes |
# | a plain `torch.Tensor` | an ordinary attribute | **no** | **no** | **no** | **no** |
#
# **What this means.** Everything the framework does for you (handing parameters to the
# optimizer, saving and loading a checkpoint, moving a model to the GPU or to bfloat16, `zero_grad`,
# counting parameters) goes through this registry. A weight stored as a plain tensor is invisible
# to all of it: the optimizer never sees it, so it never trains, and the checkpoint silently
# lacks it. A running statistic stored as a plain tensor stays on the CPU in float32 when the
# model moves to the GPU in bfloat16.
#
# `state_dict()` is an ordered dict from names to tensors (parameters and buffers, detached);
# `load_state_dict(d)` copies tensors into the existing ones by name, and by default (`strict=True`)
# refuses missing or unexpected keys. A checkpoint is `torch.save(model.state_dict(), path)`.
#
# A worked example: one of each kind of attribute, and what the module reports.

# %%
class Demo(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 2))         # registered parameter
        self.register_buffer("scale", torch.ones(3))         # registered buffer
        self.plain = torch.zeros(3)                          # plain attribute: invisible
        self.inner = nn.Linear(2, 2)                          # submodule

    def forward(self, x):
        return self.scale * (x @ self.weight.T) + self.plain


demo = Demo()
print("parameters:", [name for name, _ in demo.named_parameters()])
print("buffers:   ", [name for name, _ in demo.named_buffers()])
print("state_dict:", list(demo.state_dict()))
demo.double()
print("after .double(): weight", demo.weight.dtype, ", scale", demo.scale.dtype, ", plain", demo.plain.dtype)

# %% [markdown]
# ### Your module: an MLP that standardises its inputs
#
# For inputs $x \in \mathbb{R}^{B\times n_\text{in}}$, with per-feature statistics $\mu$ and
# $\sigma$ kept in **buffers** and four **parameters** $W_1 \in \mathbb{R}^{h\times n_\text{in}}$,
# $b_1 \in \mathbb{R}^{h}$, $W_2 \in \mathbb{R}^{n_\text{out}\times h}$, $b_2 \in \mathbb{R}^{n_\text{out}}$:
#
# $$z = \frac{x - \mu}{\sigma}, \qquad \text{logits} = \operatorname{ReLU}(z W_1^\top + b_1)\, W_2^\top + b_2 .$$
#
# The statistics are not learned: `fit_input_statistics(x)` sets them once from training data
# ($\mu$ the mean and $\sigma$ the standard deviation of each feature over the batch, the
# population version, `correction=0`), and they travel with the model in its state dict, so a
# loaded checkpoint standardises exactly as the trained model did.
#
# Initialise like `nn.Linear`: every entry of $W_1$ and $b_1$ uniform in
# $[-1/\sqrt{n_\text{in}}, 1/\sqrt{n_\text{in}}]$, every entry of $W_2$ and $b_2$ uniform in
# $[-1/\sqrt{h}, 1/\sqrt{h}]$ (`torch.empty(shape).uniform_(-bound, bound)`), with PyTorch's
# default dtype (float32); the buffers start as $\mu = 0$, $\sigma = 1$.
#
# A second function, `count_parameters`, counts the **numbers** a model trains, not the tensors.
# It goes through `module.parameters()`, which lists a tensor shared by two submodules (tied
# weights: the input embedding and the output layer of a GPT, `16-gpt`) only once, and skips
# buffers.

# %% nbgrader={"grade": false, "grade_id": "mlp", "locked": false, "schema_version": 3, "solution": true, "task": false}
class MLP(nn.Module):
    """A two-layer perceptron with input standardisation: ReLU(((x - x_mean) / x_std) W1^T + b1) W2^T + b2.

    Registered parameters (in this order): w1 (n_hidden, n_in), b1 (n_hidden,), w2 (n_out, n_hidden),
    b2 (n_out,), float32, initialised like nn.Linear (uniform in +-1/sqrt(fan_in), fan_in = n_in for
    layer 1 and n_hidden for layer 2). Registered buffers: x_mean (n_in,) = 0 and x_std (n_in,) = 1.
    The state dict therefore has exactly the keys w1, b1, w2, b2, x_mean, x_std. About 20 minutes.

    Example:
        >>> model = MLP(2, 16, 3)
        >>> model(torch.randn(5, 2)).shape
        torch.Size([5, 3])
    """

    def __init__(self, n_in: int, n_hidden: int, n_out: int):
        super().__init__()
        ### BEGIN SOLUTION
        bound1, bound2 = 1 / math.sqrt(n_in), 1 / math.sqrt(n_hidden)
        self.w1 = nn.Parameter(torch.empty(n_hidden, n_in).uniform_(-bound1, bound1))
        self.b1 = nn.Parameter(torch.empty(n_hidden).uniform_(-bound1, bound1))
        self.w2 = nn.Parameter(torch.empty(n_out, n_hidden).uniform_(-bound2, bound2))
        self.b2 = nn.Parameter(torch.empty(n_out).uniform_(-bound2, bound2))
        self.register_buffer("x_mean", torch.zeros(n_in))
        self.register_buffer("x_std", torch.ones(n_in))
        ### END SOLUTION

    def fit_input_statistics(self, x: torch.Tensor) -> None:
        """Set the buffers from data x (N, n_in): x_mean = x.mean(0), x_std = x.std(0, correction=0), in place, no gradient."""
        ### BEGIN SOLUTION
        with torch.no_grad():
            self.x_mean.copy_(x.mean(dim=0))
            self.x_std.copy_(x.std(dim=0, correction=0))
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_out) for inputs x (B, n_in) of the module's dtype."""
        ### BEGIN SOLUTION
        z = (x - self.x_mean) / self.x_std
        hidden = torch.relu(z @ self.w1.T + self.b1)
        return hidden @ self.w2.T + self.b2
        ### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "count_parameters", "locked": false, "schema_version": 3, "solution": true, "task": false}
def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """The number of scalar parameters of a module.

    Args:
        module: any nn.Module. trainable_only: count only parameters with requires_grad=True.

    Returns:
        A Python int: the sum of p.numel() over module.parameters() (each shared tensor once,
        buffers never), restricted to trainable ones if asked. About 3 minutes.

    Example:
        >>> count_parameters(nn.Linear(3, 4))
        16
    """
    ### BEGIN SOLUTION
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
    ### END SOLUTION

# %%
@scenario
def mlp_structure(ns):
    """What an MLP(4, 8, 3) registers, as sorted lines of text: parameters, buffers, state dict, dtypes after .double(), gradients."""
    torch.manual_seed(0)
    model = ns.MLP(4, 8, 3)
    lines = [f"parameter {name} {tuple(p.shape)} {p.dtype} requires_grad={p.requires_grad}" for name, p in model.named_parameters()]
    lines += [f"buffer {name} {tuple(b.shape)} {b.dtype}" for name, b in model.named_buffers()]
    lines += [f"state_dict {key}" for key in model.state_dict()]
    model.double()
    lines += [f"after double() {name} {getattr(model, name).dtype}" for name in ["w1", "b1", "w2", "b2", "x_mean", "x_std"]]
    model(torch.randn(16, 4, dtype=torch.float64)).sum().backward()
    lines += [f"gradient reaches {name}: {p.grad is not None and bool(p.grad.abs().sum() > 0)}" for name, p in model.named_parameters()]
    return sorted(lines)


@scenario
def mlp_forward_and_backward(ns, state, x, upstream):
    """An MLP(4, 8, 3) in float64 loaded from `state`: its logits for x, and the gradients of (logits * upstream).sum()."""
    model = ns.MLP(4, 8, 3).double()
    model.load_state_dict(state)
    logits = model(x)
    (logits * upstream).sum().backward()
    return {"logits": logits.detach(), "grads": {name: p.grad for name, p in model.named_parameters()}}


@scenario
def mlp_round_trip(ns, data, x):
    """Statistics fitted on `data`, then the state dict copied into a second, differently initialised MLP."""
    torch.manual_seed(1)
    first = ns.MLP(3, 5, 2).double()
    first.fit_input_statistics(data)
    torch.manual_seed(2)
    second = ns.MLP(3, 5, 2).double()
    second.load_state_dict(first.state_dict())
    with torch.no_grad():
        return {"state": {k: v.clone() for k, v in first.state_dict().items()}, "first": first(x), "second": second(x)}


@scenario
def mlp_initial_state(ns):
    """The state dict of a freshly initialised MLP(16, 144, 64): the two layers have fan-ins 16 and 144."""
    torch.manual_seed(3)
    return {k: v.clone() for k, v in ns.MLP(16, 144, 64).state_dict().items()}

# %% nbgrader={"grade": true, "grade_id": "mlp_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""an MLP(4, 8, 3) turns a batch (5, 4) into logits (5, 3) and registers its four parameters"""
from grader.testing import scenario, expect


@scenario
def mlp_shapes(ns):
    torch.manual_seed(0)
    model = ns.MLP(4, 8, 3)
    return {"logits": model(torch.randn(5, 4)).detach(), "n_parameter_tensors": len(list(model.parameters()))}


got = mlp_shapes.learner()
expect.shape(got["logits"], (5, 3), what="MLP(4, 8, 3) applied to a batch (5, 4)", hint="logits are (B, n_out)")
expect.equal(got["n_parameter_tensors"], 4, what="the number of tensors in model.parameters()",
             hint="wrap w1, b1, w2, b2 in nn.Parameter so that the module registers them")

# %% nbgrader={"grade": true, "grade_id": "mlp_registers_parameters_and_buffers", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the MLP registers w1, b1, w2, b2 as trainable float32 parameters that the output's gradient reaches, and x_mean, x_std as buffers, so all six are in the state dict and .double() converts all six"""
from grader.testing import expect

got = mlp_structure.learner()
expect.true(isinstance(got, list) and all(isinstance(line, str) for line in got), "mlp_structure must return a list of strings")
### BEGIN HIDDEN TESTS
want = mlp_structure.reference()
for kind, hint in [("parameter", "wrap each weight and bias in nn.Parameter (a plain tensor attribute is not a parameter and is never trained)"),
                   ("buffer", "register x_mean and x_std with self.register_buffer(name, tensor), not as plain tensor attributes"),
                   ("state_dict", "parameters and buffers must both be registered to be saved in the state dict"),
                   ("after double()", "only registered parameters and buffers are converted by .double() and moved by .to(device)"),
                   ("gradient", "every parameter must be used by forward, so that the gradient of the output reaches it")]:
    mine, theirs = [line for line in got if line.startswith(kind)], [line for line in want if line.startswith(kind)]
    expect.true(mine == theirs, f"the {kind} lines of MLP(4, 8, 3) differ from the specification in {len(set(mine) ^ set(theirs))} places: {hint}")
expect.equal(got, want, what="the registrations of MLP(4, 8, 3)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "mlp_matches_torch_layers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""with weights loaded from a state dict, the MLP equals nn.Linear -> ReLU -> nn.Linear on standardised inputs, in its logits and in the gradients of all four parameters; fit_input_statistics sets the mean and population std; the state dict round-trips; the initialisation follows nn.Linear's bounds"""
from grader.testing import scenario, expect

gen = torch.Generator().manual_seed(6)
state = {"w1": torch.randn(8, 4, generator=gen, dtype=DTYPE), "b1": torch.randn(8, generator=gen, dtype=DTYPE),
         "w2": torch.randn(3, 8, generator=gen, dtype=DTYPE), "b2": torch.randn(3, generator=gen, dtype=DTYPE),
         "x_mean": torch.randn(4, generator=gen, dtype=DTYPE), "x_std": 0.5 + torch.rand(4, generator=gen, dtype=DTYPE)}
x, upstream = torch.randn(6, 4, generator=gen, dtype=DTYPE), torch.randn(6, 3, generator=gen, dtype=DTYPE)
got = mlp_forward_and_backward.learner(state, x, upstream)
expect.shape(got["logits"], (6, 3), what="the logits of MLP(4, 8, 3) for a batch (6, 4)")
### BEGIN HIDDEN TESTS
layer1, layer2 = nn.Linear(4, 8, dtype=DTYPE), nn.Linear(8, 3, dtype=DTYPE)
with torch.no_grad():
    layer1.weight.copy_(state["w1"]), layer1.bias.copy_(state["b1"]), layer2.weight.copy_(state["w2"]), layer2.bias.copy_(state["b2"])
want = layer2(torch.relu(layer1((x - state["x_mean"]) / state["x_std"])))
(want * upstream).sum().backward()
hint = "z = (x - x_mean) / x_std, then relu(z @ w1.T + b1) @ w2.T + b2 (weights are (out, in), as in nn.Linear)"
expect.close(got["logits"], want.detach(), atol=1e-12, rtol=1e-10, what="the logits with loaded weights and statistics", hint=hint)
for name, parameter in [("w1", layer1.weight), ("b1", layer1.bias), ("w2", layer2.weight), ("b2", layer2.bias)]:
    expect.close(got["grads"][name], parameter.grad, atol=1e-12, rtol=1e-10, what=f"the gradient of {name}", hint=hint)

data, x = 3.0 + 2.0 * torch.randn(40, 3, generator=gen, dtype=DTYPE), torch.randn(7, 3, generator=gen, dtype=DTYPE)
got = mlp_round_trip.learner(data, x)
expect.close(got["state"]["x_mean"], data.mean(0), atol=1e-12, what="x_mean after fit_input_statistics", hint="the mean of each feature over the batch")
expect.close(got["state"]["x_std"], data.std(0, correction=0), atol=1e-12, what="x_std after fit_input_statistics",
             hint="the population standard deviation of each feature, x.std(0, correction=0)")
s = got["state"]
for name, shape in [("w1", (5, 3)), ("b1", (5,)), ("w2", (2, 5)), ("b2", (2,))]:
    expect.shape(s[name], shape, what=f"{name} in the state dict of MLP(3, 5, 2)")
expected_first = torch.relu(((x - s["x_mean"]) / s["x_std"]) @ s["w1"].T + s["b1"]) @ s["w2"].T + s["b2"]
expect.close(got["first"], expected_first, atol=1e-12, rtol=1e-10, what="the logits of the fitted MLP", hint=hint)
expect.close(got["second"], got["first"], atol=0, what="the logits of a second MLP after load_state_dict(first.state_dict())",
             hint="everything the forward pass uses (parameters and statistics) must be in the state dict")

got = mlp_initial_state.learner()
for name, shape, fan_in in [("w1", (144, 16), 16), ("b1", (144,), 16), ("w2", (64, 144), 144), ("b2", (64,), 144)]:
    expect.shape(got[name], shape, what=f"the initial {name} of MLP(16, 144, 64)")
    expect.dtype(got[name], torch.float32, what=f"the initial {name}", hint="create parameters with the default dtype, float32")
    bound = 1 / math.sqrt(fan_in)
    expect.true(float(got[name].abs().max()) <= bound, f"the initial {name} has entries outside +-1/sqrt(fan_in): initialise uniformly in that range")
    spread = float(got[name].std())
    expect.true(spread > 0.7 * bound / math.sqrt(3), f"the initial {name} is too concentrated (std {spread:.3g}): draw every entry uniformly in +-1/sqrt(fan_in)")
expect.close(got["x_mean"], torch.zeros(16), atol=0, what="the initial x_mean", hint="the statistics start at mean 0 and std 1")
expect.close(got["x_std"], torch.ones(16), atol=0, what="the initial x_std", hint="the statistics start at mean 0 and std 1")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "count_parameters_counts_numbers_once", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""count_parameters counts scalars, not tensors: it equals the sum of sizes for stacked layers, skips buffers, counts a tied weight once and frozen parameters only when asked"""
from grader.testing import scenario, expect


@scenario
def parameter_counts(ns):
    torch.manual_seed(0)
    stack = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with_buffers = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6))
    frozen = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    frozen[0].requires_grad_(False)
    embedding, head = nn.Embedding(10, 4), nn.Linear(4, 10, bias=False)
    head.weight = embedding.weight                       # tied weights: one tensor, two modules
    tied = nn.ModuleDict({"embedding": embedding, "head": head})
    return [ns.count_parameters(stack), ns.count_parameters(with_buffers), ns.count_parameters(frozen),
            ns.count_parameters(frozen, trainable_only=False), ns.count_parameters(tied), ns.count_parameters(nn.ReLU())]


got = parameter_counts.learner()
expect.shape(got, (6,), what="the six parameter counts")
expect.equal(got[0], 3 * 4 + 4 + 4 * 2 + 2, what="count_parameters of Linear(3, 4) -> ReLU -> Linear(4, 2)",
             hint="sum p.numel() over module.parameters(): count the numbers, not the tensors")
### BEGIN HIDDEN TESTS
for i, (want, case, hint) in enumerate([
    (5 * 6 + 6 + 6 + 6, "Linear(5, 6) -> BatchNorm1d(6)", "buffers (running statistics) are not parameters: use module.parameters(), not state_dict()"),
    (4 * 2 + 2, "a model with its first layer frozen", "with trainable_only=True skip the parameters whose requires_grad is False"),
    (3 * 4 + 4 + 4 * 2 + 2, "a model with a frozen layer, trainable_only=False", "with trainable_only=False count every parameter"),
    (10 * 4, "an embedding tied to an output layer", "a shared (tied) tensor counts once: module.parameters() lists it once, state_dict() twice"),
    (0, "nn.ReLU()", "a module without parameters has 0"),
], start=1):
    expect.equal(got[i], want, what=f"count_parameters of {case}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 7 · `Dataset` and `DataLoader`: reproducible batches
#
# A **map-style dataset** is any object with `__len__` and `__getitem__(i)` returning one sample.
# A **`DataLoader`** turns it into batches: a *sampler* chooses the order of the indices (in order,
# or a random permutation each epoch with `shuffle=True`), it fetches `batch_size` samples and a
# *collate function* stacks them (a sample `(x, y)` of tensors becomes a batch
# `[x_batch, y_batch]` with a new leading axis). The last batch is smaller when the batch size does
# not divide the dataset, unless `drop_last=True`.
#
# **Reproducibility.** With `shuffle=True` and no generator, the loader draws its permutations from
# PyTorch's *global* random state, which every other random operation also consumes: adding one
# `torch.randn` anywhere changes every later epoch's order. Give the loader its own
# `torch.Generator` seeded once, and the sequence of epoch orders depends on that seed alone. The
# same holds for generating data: draw it from a generator passed in, not from the global state.
# (With `num_workers > 0`, each worker process also needs its seed: see `worker_init_fn`. Here
# everything runs in the main process.)
#
# A worked example with a `TensorDataset` of ten numbers:

# %%
numbers = TensorDataset(torch.arange(10), torch.arange(10) % 2)
print("sample 3:", numbers[3])
loader_demo = DataLoader(numbers, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))
for epoch in range(2):
    print(f"epoch {epoch}:", [batch[0].tolist() for batch in loader_demo])
print("again from the same seed:", [batch[0].tolist() for batch in DataLoader(numbers, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))])

# %% [markdown]
# ### The data: concentric rings
#
# Three classes of points in the plane, class $k \in \{0, \dots, K-1\}$ on a ring of radius $k + 1$:
#
# $$\theta \sim \mathcal{U}[0, 2\pi), \qquad r = k + 1 + \varepsilon,\ \ \varepsilon \sim \mathcal{N}(0, \text{noise}^2),
# \qquad x = (r \cos\theta,\ r \sin\theta).$$
#
# No straight line separates the classes, so a linear model fails and the MLP of section 6 is
# needed; the radius is what it has to discover. Write the dataset: generate everything in
# `__init__` from the generator you are given, keep it in two tensors `x` and `y`, and serve one
# sample per `__getitem__`. Then `make_loader`, the one place where the order of the batches is
# decided.

# %% nbgrader={"grade": false, "grade_id": "rings_dataset", "locked": false, "schema_version": 3, "solution": true, "task": false}
class RingsDataset(Dataset):
    """n_per_class points on each of n_classes noisy concentric rings; class k has radius k + 1.

    Args:
        n_per_class: points per class. n_classes: K. noise: standard deviation of the radius.
        generator: a torch.Generator that all the randomness comes from (angles uniform in
            [0, 2 pi), radius k + 1 + noise * N(0, 1)); None uses the global random state.

    Attributes:
        x: float32 tensor (K * n_per_class, 2), the points. y: int64 tensor (K * n_per_class,), the classes.

    len(dataset) is K * n_per_class, and dataset[i] is the pair (x[i], y[i]): a float32 (2,) and a
    0-d int64 tensor. The same generator seed gives the same data, whatever else has used the
    global random state. About 10 minutes.

    Example:
        >>> data = RingsDataset(100, generator=torch.Generator().manual_seed(0))
        >>> len(data), data[0][0].shape, data[0][1].dtype
        (300, torch.Size([2]), torch.int64)
    """

    def __init__(self, n_per_class: int, n_classes: int = 3, noise: float = 0.15, generator: torch.Generator | None = None):
        ### BEGIN SOLUTION
        self.y = torch.arange(n_classes).repeat_interleave(n_per_class)                 # (N,) int64
        angles = 2 * math.pi * torch.rand(len(self.y), generator=generator)
        radii = self.y + 1 + noise * torch.randn(len(self.y), generator=generator)
        self.x = torch.stack([radii * torch.cos(angles), radii * torch.sin(angles)], dim=1)   # (N, 2) float32
        ### END SOLUTION

    def __len__(self) -> int:
        ### BEGIN SOLUTION
        return len(self.y)
        ### END SOLUTION

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        ### BEGIN SOLUTION
        return self.x[i], self.y[i]
        ### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "make_loader", "locked": false, "schema_version": 3, "solution": true, "task": false}
def make_loader(dataset: Dataset, batch_size: int, seed: int, shuffle: bool = True) -> DataLoader:
    """A DataLoader over `dataset` whose order depends only on `seed`.

    Args:
        dataset: a map-style dataset. batch_size: samples per batch (the last batch may be smaller).
        seed: seeds the loader's own torch.Generator. shuffle: a new random order each epoch.

    Returns:
        A torch.utils.data.DataLoader (main process, no drop_last) that yields exactly the batches
        DataLoader(dataset, batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed))
        yields, epoch after epoch. About 3 minutes.

    Example:
        >>> [b[0].tolist() for b in make_loader(TensorDataset(torch.arange(5)), 2, seed=0, shuffle=False)]
        [[0, 1], [2, 3], [4]]
    """
    ### BEGIN SOLUTION
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)
    ### END SOLUTION

# %%
@scenario
def rings(ns, n_per_class, n_classes, noise, seed):
    """The learner's RingsDataset: its tensors, its length and one sample, built twice from one seed and once from another."""
    torch.manual_seed(100)
    data = ns.RingsDataset(n_per_class, n_classes, noise, torch.Generator().manual_seed(seed))
    torch.manual_seed(200)                     # a different global state must not matter
    again = ns.RingsDataset(n_per_class, n_classes, noise, torch.Generator().manual_seed(seed))
    other = ns.RingsDataset(n_per_class, n_classes, noise, torch.Generator().manual_seed(seed + 1))
    sample_x, sample_y = data[3]
    return {"x": data.x, "y": data.y, "len": len(data), "sample_x": sample_x, "sample_y": sample_y,
            "x_again": again.x, "y_again": again.y, "x_other_seed": other.x}


@scenario
def loader_orders(ns, n, batch_size, seed, shuffle, epochs):
    """The batches of ns.make_loader over the dataset 0..n-1, for several epochs, as lists of ints."""
    from torch.utils.data import TensorDataset
    loader = ns.make_loader(TensorDataset(torch.arange(n)), batch_size, seed, shuffle)
    return [[batch[0].tolist() for batch in loader] for _ in range(epochs)]

# %% nbgrader={"grade": true, "grade_id": "rings_dataset_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the rings dataset has K * n_per_class samples, float32 points of shape (2,) and int64 labels, and serves (x[i], y[i])"""
from grader.testing import expect

got = rings.learner(20, 3, 0.1, 0)
expect.equal(got["len"], 60, what="len(RingsDataset(20, 3))", hint="one sample per point: n_classes * n_per_class")
expect.shape(got["x"], (60, 2), what="dataset.x for RingsDataset(20, 3)")
expect.dtype(got["x"], torch.float32, what="dataset.x", hint="points are float32, PyTorch's default")
expect.shape(got["y"], (60,), what="dataset.y")
expect.dtype(got["y"], torch.int64, what="dataset.y", hint="class labels are int64 (what F.cross_entropy expects)")
expect.shape(got["sample_x"], (2,), what="dataset[3][0]")
expect.dtype(got["sample_y"], torch.int64, what="dataset[3][1]")
expect.close(got["sample_x"], got["x"][3], atol=0, what="dataset[3][0] compared with dataset.x[3]", hint="__getitem__(i) returns (x[i], y[i])")
expect.equal(got["sample_y"], got["y"][3], what="dataset[3][1] compared with dataset.y[3]", hint="__getitem__(i) returns (x[i], y[i])")

# %% nbgrader={"grade": true, "grade_id": "rings_dataset_statistics", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the rings have the right radii (mean k + 1, spread = noise), equal class sizes and uniformly spread angles, and exact radii without noise"""
from grader.testing import expect

got = rings.learner(400, 4, 0.1, 1)
expect.shape(got["x"], (1600, 2), what="dataset.x for RingsDataset(400, 4)")
expect.shape(got["y"], (1600,), what="dataset.y for RingsDataset(400, 4)")
### BEGIN HIDDEN TESTS
x, y = got["x"].double(), got["y"]
radius, angle = x.norm(dim=1), torch.atan2(x[:, 1], x[:, 0])
for k in range(4):
    members = y == k
    expect.equal(int(members.sum()), 400, what=f"the number of points of class {k}", hint="n_per_class points in every class")
    r = radius[members]
    expect.true(abs(float(r.mean()) - (k + 1)) < 0.03, f"the mean radius of class {k} is {float(r.mean()):.3f}: class k lies on the ring of radius k + 1")
    expect.true(abs(float(r.std()) - 0.1) < 0.02, f"the spread of the radius of class {k} is {float(r.std()):.3f}: the radius is k + 1 + noise * N(0, 1)")
    quadrants = torch.bincount(((angle[members] + math.pi) // (math.pi / 2)).long().clamp(0, 3), minlength=4).double() / 400
    expect.true(bool((quadrants - 0.25).abs().max() < 0.08), f"the angles of class {k} are not spread uniformly around the circle: draw them uniformly in [0, 2 pi)")
exact = rings.learner(50, 3, 0.0, 2)
expect.shape(exact["x"], (150, 2), what="dataset.x for RingsDataset(50, 3, noise=0)")
expect.shape(exact["y"], (150,), what="dataset.y for RingsDataset(50, 3, noise=0)")
expect.close(exact["x"].double().norm(dim=1), exact["y"].double() + 1, atol=1e-5, what="the radii without noise", hint="with noise 0 every point of class k has radius exactly k + 1")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "rings_dataset_is_reproducible", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the same generator seed gives the same dataset whatever the global random state, and another seed gives other points"""
from grader.testing import expect

got = rings.learner(30, 3, 0.15, 3)
expect.shape(got["x_again"], (90, 2), what="a second dataset built from the same seed")
### BEGIN HIDDEN TESTS
expect.close(got["x_again"], got["x"], atol=0, what="the points of two datasets from the same seed (different global random states)",
             hint="draw every random number from the generator argument (torch.rand(..., generator=generator)), not from the global state")
expect.equal(got["y_again"], got["y"], what="the labels of two datasets from the same seed")
expect.shape(got["x_other_seed"], (90, 2), what="a dataset built from another seed")
expect.true(float((got["x_other_seed"] - got["x"]).abs().max()) > 0.1, "two different seeds gave the same points: use the generator you are given")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "make_loader_matches_dataloader", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""make_loader yields batches of the right sizes that cover every sample once per epoch, in exactly the order of a DataLoader with a seeded generator, a new order each epoch, the same orders for the same seed"""
from grader.testing import expect

got = loader_orders.learner(10, 4, 0, False, 1)
expect.equal(got, [[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]], what="the batches of make_loader over 0..9, batch size 4, shuffle=False",
             hint="batches of batch_size in order; the last one holds the rest")
### BEGIN HIDDEN TESTS
def dataloader_orders(n, batch_size, seed, shuffle, epochs):
    loader = DataLoader(TensorDataset(torch.arange(n)), batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed))
    return [[batch[0].tolist() for batch in loader] for _ in range(epochs)]


for n, batch_size, seed in [(50, 8, 0), (37, 5, 7), (12, 12, 3), (9, 20, 1)]:
    got = loader_orders.learner(n, batch_size, seed, True, 3)
    expect.equal(len(got), 3, what="the number of epochs read")
    for epoch in got:
        expect.equal([len(b) for b in epoch], [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else []),
                     what=f"the batch sizes over {n} samples with batch size {batch_size}", hint="keep the last, smaller batch (no drop_last)")
        expect.equal(sorted(i for b in epoch for i in b), list(range(n)), what="the samples of one epoch", hint="each sample exactly once per epoch")
    expect.true(str(got[0]) != str(got[1]), "two epochs came in the same order: shuffle=True draws a new permutation every epoch")
    expect.equal(got, dataloader_orders(n, batch_size, seed, True, 3), what=f"the batches of three epochs (n={n}, batch size {batch_size}, seed {seed})",
                 hint="shuffle with the loader's own generator, torch.Generator().manual_seed(seed), passed as DataLoader(generator=...)")
    expect.equal(loader_orders.learner(n, batch_size, seed, True, 3), got, what="the batches of a second loader from the same seed")
for n, batch_size, seed in [(23, 5, 4), (7, 7, 0)]:
    expect.equal(loader_orders.learner(n, batch_size, seed, False, 2), dataloader_orders(n, batch_size, seed, False, 2),
                 what=f"the batches of two epochs with shuffle=False (n={n}, batch size {batch_size})",
                 hint="pass shuffle on to the DataLoader: with shuffle=False every epoch is in the dataset's order")
### END HIDDEN TESTS

# %% [markdown]
# The rings, drawn from your dataset:

# %%
try:
    rings_demo = RingsDataset(200, generator=torch.Generator().manual_seed(0))
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(rings_demo.x[:, 0], rings_demo.x[:, 1], c=rings_demo.y, cmap="viridis", s=6)
    ax.set(aspect="equal", title=f"RingsDataset: {len(rings_demo)} points, 3 classes")
    plt.show()
except NotImplementedError:
    print("Write RingsDataset above to see the data drawn here.")

# %% [markdown]
# ## 8 · The training loop
#
# One pass over the data (an **epoch**) visits batches $B_1, \dots, B_m$ that together hold every
# sample once. On each batch the mean loss and one step of SGD with momentum $\mu$ and learning
# rate $\eta$ (the form `torch.optim.SGD` uses, with $v = 0$ at the start):
#
# $$L_B(\theta) = \frac{1}{|B|} \sum_{i \in B} \ell\big(f_\theta(x_i), y_i\big), \qquad
# \ell(z, y) = \log \sum_c e^{z_c} - z_y, \qquad
# v \leftarrow \mu v + \nabla_\theta L_B(\theta), \qquad \theta \leftarrow \theta - \eta\, v .$$
#
# The loss reported for the epoch is the mean over its samples, each batch's loss weighted by
# its size: $\bar L = \sum_b |B_b|\, L_{B_b} / \sum_b |B_b|$ (each $L_{B_b}$ measured before that
# batch's update).
#
# Every PyTorch training loop is the same five lines per batch:
#
# ```python
# optimizer.zero_grad()            # 1. forget the previous batch's gradients
# loss = loss_fn(model(x), y)      # 2. forward: builds the graph
# loss.backward()                  # 3. backward: adds d loss / d parameter into every .grad
# optimizer.step()                 # 4. update the parameters from their .grad
# total += loss.item() * len(y)    # 5. bookkeeping with a Python number, not the tensor
# ```
#
# **What each line guards against.**
#
# 1. `zero_grad` exists because `.grad` accumulates (section 5). Without it, the gradient used at
#    step $t$ is the *sum* of the gradients of all batches so far: an ever larger, stale step, and
#    training blows up.
# 2. The model must be in training mode (`model.train()`), so that dropout drops and batch norm
#    uses batch statistics; `model.eval()` switches both off for evaluation.
# 3. `loss.backward()` on the *mean* loss of the batch: `F.cross_entropy` averages over the batch
#    by default, so the learning rate does not depend on the batch size.
# 4. The optimizer updates exactly the tensors it was given: `model.parameters()`, hence the
#    registration of section 6.
# 5. `loss.item()` turns the loss into a Python float. Accumulating the tensor itself
#    (`total += loss`) keeps every batch's graph alive until the end of the epoch. The epoch's loss
#    is the mean over *samples*: weight each batch by its size, or a smaller last batch counts as
#    much as a full one.
#
# Batches must be on the device of the model: move them with `x.to(device)` where `device` is
# that of the model's parameters, `next(model.parameters()).device`. On a CPU-only machine this
# changes nothing; on a GPU it is the difference between training and a `RuntimeError`.
#
# A worked example: three steps of `torch.optim.SGD` with momentum on $L(w) = \lVert w \rVert^2$
# (gradient $2w$), next to the update rule above computed by hand.

# %%
w_sgd = torch.tensor([1.0, -2.0], requires_grad=True)
optimizer_sgd = torch.optim.SGD([w_sgd], lr=0.1, momentum=0.9)
velocity = torch.zeros(2)
for step in range(3):
    optimizer_sgd.zero_grad()
    (w_sgd ** 2).sum().backward()                  # w_sgd.grad = 2 w
    with torch.no_grad():
        velocity = 0.9 * velocity + w_sgd.grad     # v <- mu v + grad
        by_hand = w_sgd - 0.1 * velocity           # theta <- theta - lr v
    optimizer_sgd.step()
    print(f"step {step}: optimizer {[round(v, 6) for v in w_sgd.tolist()]}   by hand {[round(v, 6) for v in by_hand.tolist()]}")

# %% [markdown]
# Write `train` with `torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)` and
# `F.cross_entropy`, exactly in the order above.

# %% nbgrader={"grade": false, "grade_id": "train", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train(model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]], n_epochs: int, lr: float,
          momentum: float = 0.9) -> list[float]:
    """Train a classifier with SGD and cross-entropy; return the mean training loss of each epoch.

    Args:
        model: an nn.Module mapping a batch x (B, ...) to logits (B, C), with at least one parameter.
        loader: an iterable of batches (x, y), y int64 class indices (B,), e.g. a DataLoader.
        n_epochs: passes over the loader. lr, momentum: for torch.optim.SGD, created once here.

    Returns:
        A list of n_epochs Python floats: epoch e's entry is the mean over the samples of that epoch
        of the cross-entropy of each batch, computed before that batch's update (each batch's mean
        loss weighted by its size). The model is in training mode, each batch is moved to the
        device of the model's parameters, and the gradients are reset before every backward pass.
        About 15 minutes.

    Example:
        >>> history = train(nn.Linear(2, 3), DataLoader(RingsDataset(10), batch_size=8), n_epochs=2, lr=0.1)
        >>> len(history)
        2
    """
    ### BEGIN SOLUTION
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    device = next(model.parameters()).device
    model.train()
    history = []
    for _ in range(n_epochs):
        total, count = 0.0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            count += len(y)
        history.append(total / count)
    return history
    ### END SOLUTION

# %%
@scenario
def training_run(ns, n_epochs, lr, seed, dropout=0.0):
    """ns.train on a small float64 problem (50 samples, batches of 16 and a last one of 2): the history and the final weights."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(50, 2, generator=gen, dtype=torch.float64)
    y = (x[:, 0] * x[:, 1] > 0).long() + (x[:, 0] > 1).long()
    torch.manual_seed(seed)
    layers = [nn.Linear(2, 8), nn.Tanh()] + ([nn.Dropout(dropout)] if dropout else []) + [nn.Linear(8, 3)]
    model = nn.Sequential(*layers).double()
    model.eval()                               # left in evaluation mode, as after a validation pass
    start = [p.detach().clone() for p in model.parameters()]
    from torch.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(seed))
    history = ns.train(model, loader, n_epochs, lr)
    return {"history": history, "start": start, "weights": [p.detach().clone() for p in model.parameters()]}


@scenario
def rings_pipeline(ns, seed, n_epochs):
    """The learner's whole pipeline: RingsDataset, MLP with fitted statistics, make_loader and train; then held-out loss and accuracy."""
    torch.manual_seed(seed)
    train_set = ns.RingsDataset(100, generator=torch.Generator().manual_seed(seed))
    model = ns.MLP(2, 32, 3)
    model.fit_input_statistics(train_set.x)
    history = ns.train(model, ns.make_loader(train_set, 30, seed), n_epochs, 0.1)
    test_set = ns.RingsDataset(100, generator=torch.Generator().manual_seed(seed + 1000))
    model.eval()
    with torch.no_grad():
        logits = model(test_set.x)
    return {"history": history, "test_loss": F.cross_entropy(logits, test_set.y).item(),
            "test_accuracy": (logits.argmax(dim=1) == test_set.y).double().mean().item()}

# %% nbgrader={"grade": true, "grade_id": "train_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""train returns one float per epoch, changes the weights and lowers the loss on a small problem"""
from grader.testing import expect

got = training_run.learner(6, 0.1, 0)
expect.shape(got["history"], (6,), what="the history of train(..., n_epochs=6)", hint="one mean loss per epoch")
expect.finite(got["history"], what="the training losses")
expect.true(got["history"][-1] < got["history"][0], "the loss did not go down in 6 epochs: per batch, reset the gradients (optimizer.zero_grad()), then loss.backward(), then optimizer.step()")
expect.shape(got["weights"][0], (8, 2), what="the first layer's weight after training", hint="train the model it is given; do not replace its layers")
expect.shape(got["start"][0], (8, 2), what="the first layer's weight before training")
expect.true(float((got["weights"][0] - got["start"][0]).abs().max()) > 0, "the weights did not change: give the optimizer model.parameters()")

# %% nbgrader={"grade": true, "grade_id": "train_matches_the_reference_loop", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""train follows the specified loop exactly: the same per-epoch losses (means over samples, a small last batch included) and the same final weights as zero_grad, forward, backward, SGD step per batch, also with dropout after an eval()"""
from grader.testing import expect

got = training_run.learner(3, 0.1, 1)
expect.shape(got["history"], (3,), what="the history of train(..., n_epochs=3)")
### BEGIN HIDDEN TESTS
for n_epochs, lr, seed, dropout in [(3, 0.1, 1, 0.0), (4, 0.3, 2, 0.0), (3, 0.1, 3, 0.3)]:
    case = f"{n_epochs} epochs, lr {lr}, seed {seed}" + (f", dropout {dropout}" if dropout else "")
    got, want = training_run.learner(n_epochs, lr, seed, dropout), training_run.reference(n_epochs, lr, seed, dropout)
    expect.shape(got["history"], (n_epochs,), what=f"the history ({case})")
    expect.close(got["weights"], want["weights"], atol=1e-10, rtol=1e-8, what=f"the weights after training ({case})",
                 hint="per batch: optimizer.zero_grad(), loss = F.cross_entropy(model(x), y), loss.backward(), optimizer.step(), "
                      "with one torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum) for the whole run and model.train() first; "
                      "without zero_grad the gradients of all earlier batches are added in")
    expect.close(got["history"], want["history"], atol=1e-10, rtol=1e-8, what=f"the per-epoch losses ({case})",
                 hint="each epoch's loss is the mean over samples: add loss.item() * len(y) per batch and divide by the "
                      "number of samples (the last batch here holds 2 samples, not 16)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "training_reaches_the_bar", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""your RingsDataset, MLP, make_loader and train together learn the rings: the training loss falls below 0.25 in 15 epochs, and held-out points reach a loss below 0.25 and an accuracy of at least 95%"""
from grader.testing import expect

got = rings_pipeline.learner(0, 15)
expect.shape(got["history"], (15,), what="the history of 15 epochs on the rings")
expect.finite(got["history"], what="the training losses on the rings", hint="a diverging loss: are the gradients reset before each backward pass?")
### BEGIN HIDDEN TESTS
# bars calibrated on the reference over seeds 0-19: its final training loss stays below 0.076, its held-out loss
# below 0.079 and its held-out accuracy at or above 98.6%; an untrained model sits at ln 3 = 1.10. The bars leave
# a factor of 3 in the loss for other correct ways of drawing the data and initialising the model.
for seed in [0, 1]:
    got = rings_pipeline.learner(seed, 15)
    expect.shape(got["history"], (15,), what=f"the history of 15 epochs on the rings (seed {seed})")
    expect.true(got["history"][-1] < 0.25, f"the training loss after 15 epochs is {got['history'][-1]:.3f} (seed {seed}), not below 0.25")
    expect.true(got["history"][-1] < 0.5 * got["history"][0], f"the training loss fell only from {got['history'][0]:.3f} to {got['history'][-1]:.3f} (seed {seed})")
    expect.true(got["test_loss"] < 0.25, f"the held-out loss is {got['test_loss']:.3f} (seed {seed}), not below 0.25: did the model train, "
                "and do the standardisation statistics reach the forward pass?")
    expect.true(got["test_accuracy"] >= 0.95, f"the held-out accuracy is {got['test_accuracy']:.3f} (seed {seed}), below 0.95")
### END HIDDEN TESTS

# %% [markdown]
# Your training run, and what the model learned: the loss per epoch and the class the trained
# MLP predicts at every point of the plane.

# %%
try:
    torch.manual_seed(0)
    rings_train = RingsDataset(100, generator=torch.Generator().manual_seed(0))
    rings_model = MLP(2, 32, 3)
    rings_model.fit_input_statistics(rings_train.x)
    rings_history = train(rings_model, make_loader(rings_train, 30, seed=0), n_epochs=15, lr=0.1)
    grid_x, grid_y = torch.meshgrid(torch.linspace(-4.5, 4.5, 200), torch.linspace(-4.5, 4.5, 200), indexing="xy")
    rings_model.eval()
    with torch.no_grad():
        regions = rings_model(torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)).argmax(dim=1).reshape(200, 200)
    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax_loss.plot(range(1, 16), rings_history, marker="o")
    ax_loss.set(xlabel="epoch", ylabel="mean training loss", yscale="log", title="your training loop")
    ax_map.contourf(grid_x, grid_y, regions, levels=[-0.5, 0.5, 1.5, 2.5], cmap="viridis", alpha=0.3)
    ax_map.scatter(rings_train.x[:, 0], rings_train.x[:, 1], c=rings_train.y, cmap="viridis", s=6)
    ax_map.set(aspect="equal", title="predicted class regions and the training points")
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    print("Write RingsDataset, MLP, make_loader and train above to train the model and see the result here.")

# %% [markdown]
# ## 9 · A custom `torch.autograd.Function`
#
# When an operation is not (or not well) expressed by existing ones, you write its forward and
# its backward yourself:
#
# ```python
# class MyOp(torch.autograd.Function):
#     @staticmethod
#     def forward(ctx, x, some_constant):       # runs without recording a graph
#         ctx.save_for_backward(x)              # tensors the backward needs (version-checked)
#         ctx.some_constant = some_constant     # anything else, as plain attributes
#         return result
#
#     @staticmethod
#     def backward(ctx, grad_output):           # grad_output = d loss / d result, same shape as result
#         (x,) = ctx.saved_tensors
#         return grad_output * local_derivative, None   # one gradient per input of forward; None for non-tensors
#
# y = MyOp.apply(x, 2.0)                        # never call forward directly
# ```
#
# **The contract.** `backward` receives $\bar y = \partial L / \partial y$ and must return
# $\bar x = J^\top \bar y$, the vector-Jacobian product of section 5, not the Jacobian itself. For an
# elementwise function $y_i = g(x_i)$ the Jacobian is diagonal, so $\bar x_i = \bar y_i\, g'(x_i)$:
# **multiply by `grad_output`**. Returning $g'(x)$ alone is right only when $y$ is the loss itself
# ($\bar y = 1$); inside a network it silently drops everything downstream of your operation.
#
# **How to check it.** `torch.autograd.gradcheck(fn, (x,))` builds the Jacobian twice, once from
# your backward (one vector-Jacobian product per output, with unit vectors as `grad_output`) and once
# from central finite differences $\big(f(x + h e_j) - f(x - h e_j)\big) / 2h$, and compares them. In
# float32 the finite differences are too noisy to compare to useful precision: always gradcheck in
# **float64**. `gradgradcheck` does the same for the backward of your backward (second derivatives),
# which works for free when the backward is written with differentiable torch operations.
#
# ### A numerically stable softplus
#
# $$\operatorname{softplus}_\beta(x) = \frac{1}{\beta}\log\big(1 + e^{\beta x}\big)
# = \max(x, 0) + \frac{1}{\beta}\log\big(1 + e^{-\beta |x|}\big),
# \qquad \frac{d}{dx}\operatorname{softplus}_\beta(x) = \sigma(\beta x) = \frac{1}{1 + e^{-\beta x}} .$$
#
# The two forms are equal (for $x > 0$ factor $e^{\beta x}$ out of the logarithm), but only the
# second is safe: $e^{\beta x}$ overflows to `inf` for $\beta x > 88.7$ in float32 and $709.8$ in
# float64, while $e^{-\beta|x|} \in (0, 1]$ never does, and `torch.log1p` keeps the small values
# accurate. Softplus is a smooth ReLU; it keeps variances positive ($\sigma = \operatorname{softplus}(s)$
# in a Gaussian head), and $\log \sigma(x) = -\operatorname{softplus}(-x)$ is how the
# Bradley-Terry loss of a reward model (`27-reward-model`) and the DPO loss (`29-dpo`) are computed
# stably.

# %%
xs = torch.linspace(-100, 100, 2001, dtype=torch.float32)
naive = torch.log1p(torch.exp(xs))
fig, (ax_value, ax_slope) = plt.subplots(1, 2, figsize=(11, 3.5))
ax_value.plot(xs, F.softplus(xs), label="F.softplus (stable)")
ax_value.plot(xs, torch.where(torch.isfinite(naive), naive, torch.nan), "--", label="log1p(exp(x)) in float32")
ax_value.axvline(88.7, color="grey", ls=":", label="exp overflows (float32)")
ax_value.set(xlabel="x", title="softplus: the naive formula overflows beyond x = 88.7")
ax_value.legend(fontsize=8)
near = torch.linspace(-6, 6, 400, dtype=DTYPE)
for beta in [0.5, 1.0, 4.0]:
    ax_slope.plot(near, F.softplus(near, beta=beta), label=f"softplus, beta={beta}")
ax_slope.plot(near, torch.relu(near), "k:", label="ReLU (beta -> inf)")
ax_slope.plot(near, torch.sigmoid(near), label="derivative sigma(x), beta=1")
ax_slope.set(xlabel="x", title="softplus is a smooth ReLU; its slope is the sigmoid")
ax_slope.legend(fontsize=8)
fig.tight_layout()
plt.show()
print("naive softplus at x = 100 in float32:", naive[-1].item(), "  stable:", F.softplus(xs[-1:]).item())

# %% [markdown]
# Write the `Function` (forward with the stable formula, keeping the input's dtype; backward
# multiplying `grad_output` by $\sigma(\beta x)$) and a small wrapper `softplus(x, beta)` that
# applies it.

# %% nbgrader={"grade": false, "grade_id": "stable_softplus", "locked": false, "schema_version": 3, "solution": true, "task": false}
class StableSoftplus(torch.autograd.Function):
    """softplus_beta(x) = max(x, 0) + log1p(exp(-beta |x|)) / beta, with the backward grad_output * sigmoid(beta x).

    forward(ctx, x, beta): x a float tensor of any shape, beta a positive Python float; returns a tensor
    of x's shape and dtype, finite for any finite x. backward(ctx, grad_output): returns (grad_x, None),
    grad_x of x's shape. Save x with ctx.save_for_backward. About 15 minutes (with the wrapper).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, beta: float) -> torch.Tensor:
        ### BEGIN SOLUTION
        ctx.save_for_backward(x)
        ctx.beta = beta
        bx = beta * x
        return (bx.clamp_min(0) + torch.log1p(torch.exp(-bx.abs()))) / beta
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        ### BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        return grad_output * torch.sigmoid(ctx.beta * x), None  # no gradient for the Python float beta
        ### END SOLUTION


def softplus(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """StableSoftplus applied to x: differentiable with respect to x, with your backward.

    Args: x a float tensor of any shape (float32 or float64); beta a positive Python float.
    Returns: a tensor of x's shape and dtype, softplus_beta(x) elementwise. About 1 minute.

    Example:
        >>> softplus(torch.tensor([0.0, 1000.0]))
        tensor([6.9315e-01, 1.0000e+03])
    """
    ### BEGIN SOLUTION
    return StableSoftplus.apply(x, beta)
    ### END SOLUTION

# %%
@scenario
def softplus_with_grad(ns, x, beta, upstream):
    """ns.softplus(x, beta), and the gradient of (softplus(x) * upstream).sum() with respect to x."""
    leaf = x.clone().requires_grad_(True)
    y = ns.softplus(leaf, beta)
    (y * upstream).sum().backward()
    return {"y": y.detach(), "grad": leaf.grad}


@scenario
def softplus_gradchecks(ns, seed):
    """torch.autograd.gradcheck and gradgradcheck of ns.softplus in float64 at random points x (2, 5), for two betas, and its values there."""
    gen = torch.Generator().manual_seed(seed)
    x = (3 * torch.randn(2, 5, generator=gen, dtype=torch.float64)).requires_grad_(True)
    verdicts, values = [], []
    for beta in [1.0, 2.5]:
        verdicts.append(bool(torch.autograd.gradcheck(lambda t: ns.softplus(t, beta), (x,), raise_exception=False)))
        verdicts.append(bool(torch.autograd.gradgradcheck(lambda t: ns.softplus(t, beta), (x,), raise_exception=False)))
        values.append(ns.softplus(x, beta).detach())
    return {"verdicts": verdicts, "values": values}

# %% nbgrader={"grade": true, "grade_id": "softplus_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""softplus(0) = log 2 with slope 1/2, and beta scales it: softplus_2(0) = log 2 / 2"""
from grader.testing import expect

got = softplus_with_grad.learner(torch.zeros(3, dtype=DTYPE), 1.0, torch.ones(3, dtype=DTYPE))
expect.shape(got["y"], (3,), what="softplus of a tensor (3,)", hint="softplus is elementwise: same shape as the input")
expect.close(got["y"], torch.full((3,), math.log(2.0), dtype=DTYPE), atol=1e-12, what="softplus(0)", hint="log(1 + e^0) = log 2")
expect.close(got["grad"], torch.full((3,), 0.5, dtype=DTYPE), atol=1e-12, what="the gradient of softplus at 0", hint="sigmoid(0) = 1/2")
got = softplus_with_grad.learner(torch.zeros(2, dtype=DTYPE), 2.0, torch.ones(2, dtype=DTYPE))
expect.close(got["y"], torch.full((2,), math.log(2.0) / 2, dtype=DTYPE), atol=1e-12, what="softplus(0) with beta = 2",
             hint="softplus_beta(x) = log(1 + e^(beta x)) / beta")

# %% nbgrader={"grade": true, "grade_id": "softplus_gradients_match_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""softplus equals torch.logaddexp(beta x, 0) / beta, and its gradient under a random upstream gradient equals upstream * sigmoid(beta x), for several shapes and betas"""
from grader.testing import expect

gen = torch.Generator().manual_seed(7)
x, upstream = 4 * torch.randn(3, 4, generator=gen, dtype=DTYPE), torch.randn(3, 4, generator=gen, dtype=DTYPE)
got = softplus_with_grad.learner(x, 1.0, upstream)
expect.shape(got["grad"], (3, 4), what="the gradient of softplus for an input (3, 4)")
### BEGIN HIDDEN TESTS
hint = "backward must return grad_output * sigmoid(beta * x): the chain rule multiplies by the gradient arriving from above"
for shape, beta in [((3, 4), 1.0), ((7,), 0.5), ((2, 3, 2), 3.0), ((1,), 1.0)]:
    x, upstream = 4 * torch.randn(*shape, generator=gen, dtype=DTYPE), torch.randn(*shape, generator=gen, dtype=DTYPE)
    got = softplus_with_grad.learner(x, beta, upstream)
    expect.shape(got["y"], shape, what=f"softplus of an input {shape}")
    expect.dtype(got["y"], DTYPE, what=f"softplus of a float64 input {shape}", hint="keep the input's dtype")
    expect.close(got["y"], torch.logaddexp(beta * x, torch.zeros_like(x)) / beta, atol=1e-13, rtol=1e-12,
                 what=f"softplus values, shape {shape}, beta {beta}", hint="max(x, 0) + log1p(exp(-beta |x|)) / beta")
    expect.close(got["grad"], upstream * torch.sigmoid(beta * x), atol=1e-13, rtol=1e-12,
                 what=f"the gradient under a random upstream gradient, shape {shape}, beta {beta}", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "softplus_passes_gradcheck", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""torch.autograd.gradcheck and gradgradcheck accept softplus in float64 (its backward equals finite differences, and so does the backward of its backward), at points where its values are right"""
from grader.testing import expect

got = softplus_gradchecks.learner(0)
expect.shape(got["verdicts"], (4,), what="the four gradcheck verdicts")
### BEGIN HIDDEN TESTS
for seed in [0, 1]:
    got = softplus_gradchecks.learner(seed)
    verdicts = got["verdicts"]
    expect.shape(verdicts, (4,), what="the four gradcheck verdicts")
    x = 3 * torch.randn(2, 5, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)
    for beta, values in zip([1.0, 2.5], got["values"]):   # gradcheck alone also accepts a consistent but wrong function
        expect.close(values, torch.logaddexp(beta * x, torch.zeros_like(x)) / beta, atol=1e-13, rtol=1e-12,
                     what=f"softplus at the gradcheck points (beta {beta}, seed {seed})", hint="max(x, 0) + log1p(exp(-beta |x|)) / beta")
    for (check, beta), verdict in zip([("gradcheck", 1.0), ("gradgradcheck", 1.0), ("gradcheck", 2.5), ("gradgradcheck", 2.5)], verdicts):
        expect.equal(verdict, True, what=f"torch.autograd.{check} of softplus with beta {beta} (float64, seed {seed})",
                     hint="the backward must be grad_output * sigmoid(beta * x), written with torch operations so that it is differentiable too")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "softplus_large_inputs", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""softplus stays finite and exact for inputs up to 1e4 in size, in float64 (12 significant digits, tiny values such as softplus(-30) included) and in float32 (keeping the dtype), with gradients 0 and 1 at the extremes"""
from grader.testing import expect

got = softplus_with_grad.learner(torch.tensor([1000.0], dtype=DTYPE), 1.0, torch.ones(1, dtype=DTYPE))
expect.finite(got["y"], what="softplus(1000)", hint="exp(1000) overflows: use max(x, 0) + log1p(exp(-|x|))")
### BEGIN HIDDEN TESTS
extremes = [-1e4, -800.0, -100.0, -30.0, -1.0, 0.0, 1e-3, 30.0, 100.0, 800.0, 1e4]
for dtype in [torch.float64, torch.float32]:
    for beta in [1.0, 2.0]:
        x = torch.tensor(extremes, dtype=dtype)
        got = softplus_with_grad.learner(x, beta, torch.ones_like(x))
        case = f"{str(dtype).removeprefix('torch.')} inputs from -1e4 to 1e4, beta {beta}"
        expect.shape(got["y"], (len(extremes),), what=f"softplus of {case}")
        expect.dtype(got["y"], dtype, what=f"softplus of {case}", hint="keep the input's dtype (no float64 constants)")
        expect.finite(got["y"], what=f"softplus of {case}", hint="never exponentiate a large positive number: exp(-beta |x|) is at most 1")
        want = torch.logaddexp(beta * x.double(), torch.zeros(len(extremes), dtype=DTYPE)) / beta
        # float64: every value to 12 significant digits, also the tiny ones (softplus(-30) = 9.4e-14): log1p, not log(1 + .)
        tol = dict(atol=0.0, rtol=1e-12) if dtype == torch.float64 else dict(atol=1e-6, rtol=1e-6)
        expect.close(got["y"].double(), want, **tol, what=f"softplus of {case}",
                     hint="max(x, 0) + log1p(exp(-beta |x|)) / beta; torch.log1p keeps log(1 + tiny) accurate where log(1 + tiny) rounds to 0")
        expect.finite(got["grad"], what=f"the gradient of softplus for {case}", hint="use torch.sigmoid(beta * x): exp(beta x) / (1 + exp(beta x)) is inf / inf = NaN for large x")
        grad_tol = dict(atol=1e-13, rtol=1e-12) if dtype == torch.float64 else dict(atol=1e-6, rtol=1e-6)
        expect.close(got["grad"].double(), torch.sigmoid(beta * x.double()), **grad_tol, what=f"the gradient of softplus for {case}")
### END HIDDEN TESTS

# %% [markdown]
# ### A straight-through estimator
#
# Some operations have a useless derivative. Rounding is flat almost everywhere:
# $\frac{d}{dx}\operatorname{round}(x) = 0$ except at the jumps, where it does not exist. A
# network that rounds its weights to a grid (**quantization-aware training**, the idea behind the
# int8 and 4-bit models of `25-quantization`) would receive no gradient at all. The
# **straight-through estimator** (Bengio et al., 2013) uses the exact rounding in the forward pass and
# *pretends* it was the identity in the backward pass:
#
# $$\text{forward: } y = \operatorname{round}(x), \qquad \text{backward: } \bar x = \bar y .$$
#
# **What this means.** The gradient is deliberately *not* the derivative of the forward function,
# so `gradcheck` would (correctly) reject it; it is checked instead against the standard trick
# `x + (round(x) - x).detach()`, whose value is `round(x)` and whose gradient is the identity. With
# it, a weight is trained in full precision while the loss is computed with its quantized version
# $q(w) = s \cdot \operatorname{round}(w / s)$.

# %% nbgrader={"grade": false, "grade_id": "round_ste", "locked": false, "schema_version": 3, "solution": true, "task": false}
class RoundSTE(torch.autograd.Function):
    """Round to the nearest integer (ties to even, as torch.round) forward; pass the gradient through unchanged backward.

    forward(ctx, x): x float, any shape; returns torch.round(x). backward(ctx, grad_output): returns grad_output.
    About 5 minutes (with the wrapper).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return torch.round(x)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return grad_output  # straight through: treat round as the identity
        ### END SOLUTION


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """RoundSTE applied to x: round(x) in value, the identity in gradient.

    Args: x a float tensor of any shape. Returns: a tensor of x's shape and dtype, torch.round(x) elementwise,
    through which the gradient passes unchanged. About 1 minute.

    Example:
        >>> round_ste(torch.tensor([0.4, 1.6, 2.5]))
        tensor([0., 2., 2.])
    """
    ### BEGIN SOLUTION
    return RoundSTE.apply(x)
    ### END SOLUTION

# %%
@scenario
def fake_quantization(ns, w, scale, target):
    """The quantized weights s * round_ste(w / s) and the gradient of a squared error through them."""
    leaf = w.clone().requires_grad_(True)
    quantized = ns.round_ste(leaf / scale) * scale
    ((quantized - target) ** 2).sum().backward()
    return {"quantized": quantized.detach(), "grad": leaf.grad}

# %% nbgrader={"grade": true, "grade_id": "round_ste_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""round_ste rounds to the nearest integer with ties to even, like torch.round"""
from grader.testing import learner, expect

got = learner.round_ste(torch.tensor([0.4, 1.6, -2.5, 2.5, -0.6], dtype=DTYPE))
expect.shape(got, (5,), what="round_ste of a tensor (5,)")
expect.close(got, torch.tensor([0.0, 2.0, -2.0, 2.0, -1.0], dtype=DTYPE), atol=0, what="round_ste([0.4, 1.6, -2.5, 2.5, -0.6])",
             hint="use torch.round (halves go to the even neighbour)")

# %% nbgrader={"grade": true, "grade_id": "round_ste_passes_gradients_straight_through", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""fake quantization s * round_ste(w / s) gives the rounded weights in the forward pass and, in the backward pass, exactly the gradient of the straight-through trick w + (q(w) - w).detach()"""
from grader.testing import expect

gen = torch.Generator().manual_seed(8)
w, target = torch.randn(5, 4, generator=gen, dtype=DTYPE), torch.randn(5, 4, generator=gen, dtype=DTYPE)
got = fake_quantization.learner(w, 0.25, target)
expect.shape(got["quantized"], (5, 4), what="the quantized weights of a (5, 4) matrix")
expect.close(got["quantized"], torch.round(w / 0.25) * 0.25, atol=1e-15, what="the quantized weights with scale 0.25")
### BEGIN HIDDEN TESTS
hint = "the backward of RoundSTE returns grad_output unchanged (the identity), not the derivative of round, which is 0"
ties = torch.tensor([0.25, 0.75, -0.25, -0.75, 1.25, -1.25, 0.1, -0.4], dtype=DTYPE)   # w / 0.5 = +-0.5, +-1.5, +-2.5: ties
for shape, scale in [((5, 4), 0.25), ((3, 7), 0.1), ((16,), 1.0), ((2, 2, 3), 0.5), ((8,), 0.5)]:
    w, target = torch.randn(*shape, generator=gen, dtype=DTYPE), torch.randn(*shape, generator=gen, dtype=DTYPE)
    if shape == (8,):
        w = ties
    got = fake_quantization.learner(w, scale, target)
    leaf = w.clone().requires_grad_(True)
    quantized = torch.round(leaf / scale) * scale
    straight = leaf + (quantized - leaf).detach()          # value q(w), gradient the identity
    ((straight - target) ** 2).sum().backward()
    expect.shape(got["quantized"], shape, what=f"the quantized weights, shape {shape}")
    expect.close(got["quantized"], quantized.detach(), atol=1e-15, what=f"the quantized weights, shape {shape}, scale {scale}",
                 hint="forward is torch.round, which rounds halves to the even neighbour (2.5 -> 2, -1.5 -> -2)")
    expect.close(got["grad"], leaf.grad, atol=1e-14, rtol=1e-12, what=f"the straight-through gradient, shape {shape}, scale {scale}", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Training through rounding: a weight vector learns to fit a target under 2-bit-like quantization
# (grid step 0.5), with the straight-through gradient. The full-precision weights move towards the
# targets; their quantized versions settle on the grid points around them, and flicker between two
# neighbours when the target lies between them (a known trait of straight-through training).

# %%
try:
    torch.manual_seed(0)
    target_w = torch.tensor([0.9, -1.3, 0.2, 1.7])
    w_fp = torch.zeros(4, requires_grad=True)
    optimizer_ste = torch.optim.SGD([w_fp], lr=0.05)
    path = []
    for _ in range(60):
        optimizer_ste.zero_grad()
        loss_ste = ((round_ste(w_fp / 0.5) * 0.5 - target_w) ** 2).sum()
        loss_ste.backward()
        optimizer_ste.step()
        path.append(w_fp.detach().clone())
    path = torch.stack(path)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for j in range(4):
        line, = ax.plot(path[:, j], label=f"w[{j}] (full precision)")
        ax.plot(torch.round(path[:, j] / 0.5) * 0.5, ls="--", color=line.get_color())
        ax.axhline(target_w[j], color=line.get_color(), lw=0.6, ls=":")
    ax.set(xlabel="step", ylabel="weight", title="straight-through training: solid = weights, dashed = quantized, dotted = targets")
    ax.legend(fontsize=8, ncol=4)
    plt.show()
except NotImplementedError:
    print("Write RoundSTE and round_ste above to see training through rounding.")

# %% [markdown]
# ## Practical considerations: the pitfalls, one by one
#
# Each of these runs without an error message in at least one of its forms, which is what makes
# it dangerous.
#
# | pitfall | symptom | fix |
# |---|---|---|
# | forgetting `optimizer.zero_grad()` | gradients of all past batches add up; the loss oscillates, then diverges | call it before every `backward()` (or set `.grad = None`) |
# | in-place ops on tensors saved for backward (`x.relu_()`, `y += 1`, `t[mask] = 0`) | `RuntimeError: ... modified by an inplace operation` at backward | use the out-of-place version (`torch.relu(x)`, `y = y + 1`, `torch.where`) |
# | `.view` on a non-contiguous tensor | `RuntimeError: view size is not compatible ...` | `.reshape` (copies if needed) or `.contiguous().view(...)` |
# | `reshape` after `transpose`, then writing into the result | the writes do not reach the original (it was a copy) | check `shares_storage`, or write into the original |
# | integer tensors: `/` vs `//`, `mean()` | `/` gives floats; `//` floors towards $-\infty$ (`-7 // 2 = -4`); `mean()` of int64 raises | `.float()` first; `torch.div(a, b, rounding_mode="trunc")` |
# | device mismatch | `RuntimeError: Expected all tensors to be on the same device` | create tensors with `device=x.device`; move batches to `next(model.parameters()).device` |
# | dtype mismatch | float64 data through a float32 model: `RuntimeError: mat1 and mat2 must have the same dtype` | `model.double()` or `x.float()` |
# | shapes $(N, 1)$ vs $(N,)$ | a loss that broadcasts to $(N, N)$, no error | `squeeze(-1)`, or assert shapes before the loss |
# | plain tensors as weights | not in `parameters()`: never trained, not saved, not moved | `nn.Parameter` / `register_buffer` |
# | `total_loss += loss` | memory grows every batch (each graph is kept) | `total_loss += loss.item()` |
# | evaluating in training mode | dropout active and batch norm updating its statistics during evaluation | `model.eval()` and `torch.no_grad()`; `model.train()` before training again |
# | custom backward without `grad_output` | correct only when the op is the last one; wrong gradients inside a network | `return grad_output * local_derivative`; run `gradcheck` in float64 |
# | gradcheck in float32 | spurious failures (finite differences are too noisy) | `dtype=torch.float64` inputs |
#
# **Numerical stability.** Compare numbers in float64 (every test here does), check gradients in
# float64, and in float32 or lower keep exponentials bounded: `torch.logaddexp`, `F.softplus`,
# `torch.sigmoid`, `F.log_softmax` and `F.cross_entropy` (on logits, never on probabilities) are
# written the stable way, like your `StableSoftplus`. Exact equality (`torch.equal`) is for
# integers, masks and things that must be bit-identical (a view, a resumed run); everything else is
# compared with a tolerance that says how many digits the computation can be trusted to.
#
# **Hyperparameters that matter here.** The learning rate and momentum of SGD (0.1 and 0.9 train the
# rings in 15 epochs; without momentum it takes several times longer), the batch size (smaller
# batches give noisier gradients and more steps per epoch), and the width of the hidden layer. The
# standardisation buffers matter as much as any of them: without them the raw radii of 1 to 3
# would still train, but inputs in the hundreds would not.
#
# The pitfalls not yet shown above, run:

# %%
pitfall_model = nn.Linear(3, 1)
optimizer_demo = torch.optim.SGD(pitfall_model.parameters(), lr=0.1)
x_demo, y_demo = torch.randn(8, 3), torch.randn(8)
for step in range(3):                     # no zero_grad: .grad keeps growing
    F.mse_loss(pitfall_model(x_demo).squeeze(-1), y_demo).backward()
    print(f"step {step}: |grad of weight| without zero_grad = {pitfall_model.weight.grad.norm():.4f}")
print("(N, 1) - (N,) has shape", tuple((pitfall_model(x_demo) - y_demo).shape), "-> mse over 64 pairs, silently")
try:
    pitfall_model(torch.randn(2, 3, dtype=torch.float64))
except RuntimeError as error:
    print("dtype mismatch:", str(error)[:80])
try:
    torch.tensor([1, 2, 3]).mean()
except RuntimeError as error:
    print("integer mean:", str(error)[:70])

# %% [markdown]
# **On a GPU.** Nothing in this notebook needs one, but everything in it runs on one if tensors and
# the model are moved there (`model.to("cuda")` moves parameters *and* buffers; the batches are moved
# by your `train`). Two things change: operations are asynchronous (time them with
# `torch.cuda.synchronize()`), and results in float32 can differ from the CPU's in the last bits
# because reductions are summed in a different order, so GPU tests compare with tolerances, not
# bitwise.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | strided tensor | element at $o + \sum_k i_k s_k$; contiguous $s_k = \prod_{j>k} n_j$ | `x.stride()`, `x.storage_offset()`, `x.is_contiguous()` | every activation; fused kernels require contiguous inputs |
# | broadcasting | align right, pad with 1s; sizes equal or 1 | `bias` $(D,)$ + activations $(B, T, D)$; `keepdim=True` | biases, masks $(T, T)$ over $(B, H, T, T)$, normalisation statistics |
# | einsum | summed letters vanish from the output | `torch.einsum("bhld,bhsd->bhls", q, k)` | attention scores, multi-head projections, MoE routing |
# | views vs copies | view = same storage, new (shape, stride, offset) | `transpose`, slicing, `as_strided` vs `[idx]`, `clone`, `reshape` after `transpose` | splitting heads, KV cache slices, zero-copy windows (im2col) |
# | autograd | backward = vector-Jacobian product $J^\top \bar y$; `.grad` accumulates | `torch.autograd.grad(y, x, grad_outputs=v)`, `no_grad`, `detach` | every training step; gradient accumulation over micro-batches (`19-training`) |
# | `nn.Module` | parameters, buffers, submodules registered on assignment | `nn.Parameter`, `register_buffer`, `state_dict`, `load_state_dict` | checkpoints, `.to(device, dtype)`, tied embeddings, parameter counts |
# | `Dataset` / `DataLoader` | a permutation per epoch from a seeded generator | `DataLoader(ds, batch_size, shuffle=True, generator=g)` | reproducible data order for pre-training and fine-tuning runs |
# | training loop | $\theta \leftarrow \theta - \eta\, \nabla_\theta \frac1B\sum_b \ell_b$ | `zero_grad`, forward, `backward`, `step`, `loss.item()` | the loop of every training script (nanoGPT's `train.py`) |
# | custom `autograd.Function` | return $\bar y \odot g'(x)$, one gradient per input | `ctx.save_for_backward`, `Function.apply`, `gradcheck` in float64 | fused kernels (FlashAttention's backward), stable log-sigmoid losses |
# | straight-through estimator | forward $\operatorname{round}(x)$, backward identity | `x + (round(x) - x).detach()` | quantization-aware training, 4-bit and int8 models (`25-quantization`) |

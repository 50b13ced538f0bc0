# %% [markdown]
# # 09 · Convolutional networks: cross-correlation, im2col, max pooling and a CNN on digits
#
# A convolutional layer slides one small set of weights over an image and takes a dot product at
# every position. With input $X$ of shape $(N, C_\text{in}, H, W)$, weights $W$ of shape
# $(C_\text{out}, C_\text{in}, k_H, k_W)$, stride $s$, zero padding $p$ and dilation $d$:
#
# $$\boxed{\;Y[n, o, i, j] = b_o + \sum_{c=0}^{C_\text{in}-1} \sum_{u=0}^{k_H-1} \sum_{v=0}^{k_W-1}
#   W[o, c, u, v]\; X_\text{pad}[n, c,\; s_H i + d_H u,\; s_W j + d_W v],
# \qquad H_\text{out} = \Big\lfloor \frac{H + 2p_H - d_H (k_H - 1) - 1}{s_H} \Big\rfloor + 1\;}$$
#
# Why it matters for LLMs: this is where the course first meets the idea that *every* layer is a
# matrix product in disguise. You will rewrite the sum above as one matrix multiplication over an
# "unfolded" input (im2col), which is how convolutions run on the same matrix-multiply hardware
# that runs attention and feed-forward layers. Convolutions also live on inside modern models: a
# Vision Transformer's patch embedding is a convolution with stride equal to its kernel,
# Whisper's audio encoder starts with two 1-D convolutions, and Mamba-style sequence models mix
# neighbouring tokens with a short causal convolution. And the CNN's two built-in assumptions,
# *locality* and *weight sharing*, are exactly what attention gave up to let every token see every
# other token.
#
# **What you will implement**
#
# | # | function | concept |
# |---|---|---|
# | 1 | `correlate2d` | convolution as a sliding dot product (cross-correlation, no kernel flip) |
# | 2 | `conv_output_size` | the output size with stride, padding and dilation |
# | 3 | `pad2d` | zero padding on all four sides |
# | 4 | `im2col` | unfolding every receptive field into a column, exactly like `F.unfold` |
# | 5 | `conv2d` | a whole convolutional layer as one matrix product, exactly like `F.conv2d` |
# | 6 | `conv2d_cost` | parameters and FLOPs of a convolutional layer |
# | 7 | (tests only) | translation equivariance of your `conv2d` |
# | 8 | `max_pool2d`, `max_pool2d_backward` | max pooling forward, and its gradient by hand |
# | 9 | `receptive_field` | how far back one output pixel can see |
# | 10 | `DigitsCNN`, `train_digits_cnn` | a small CNN trained on scikit-learn's 8x8 digits |
#
# **How to work.** Read a section, run its worked example, fill in the stub (replace
# `raise NotImplementedError()`), then run the test cell below it. Visible tests give quick
# feedback; more tests run when your notebook is graded. Unless a docstring says otherwise you
# may use anything in `torch`, except the very function you are re-implementing
# (`F.conv2d`, `F.unfold`, `F.pad`, `F.max_pool2d`): the tests compare you against those.

# %% [markdown]
# ## Prerequisites
#
# - `01-linear-algebra`: a dense layer as a matrix product.
# - `02-calculus` and `05-autograd`: the chain rule, gradients that accumulate over several uses.
# - `06-mlp`: ReLU, a classifier trained with cross-entropy.
# - `08-pytorch`: tensors, slicing with strides, `reshape` against `permute`, `nn.Module`, a
#   training loop.
#
# Packages: `torch` (CPU is enough), `numpy`, `scipy` (`scipy.signal`, as a second reference),
# `matplotlib`, `scikit-learn` (only for its bundled digits data set, which needs no download).
#
# **Conventions used throughout.** Images are batched, channels first: $(N, C, H, W)$, as in
# PyTorch. $N$ batch size, $C$ or $C_\text{in}$ input channels, $C_\text{out}$ output channels
# (filters), $H \times W$ the input size, $k_H \times k_W$ the kernel size, $H_\text{out} \times
# W_\text{out}$ the output size, $L = H_\text{out} W_\text{out}$ the number of output positions.
# `stride`, `padding` and `dilation` are either one int (the same for height and width) or a
# pair `(height, width)`, exactly as in `F.conv2d`; the helper `as_pair` below turns either into a
# pair. The tests work in `float64`, so your results can be compared with PyTorch's to about
# $10^{-12}$.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy import signal

DTYPE = torch.float64  # the tests compare with F.conv2d in float64, to about 1e-12


def as_pair(value) -> tuple[int, int]:
    """(value, value) for one int, (height, width) for a pair: how F.conv2d reads stride, padding, dilation."""
    if isinstance(value, int):
        return (value, value)
    height, width = value
    return (int(height), int(width))


def digits_split(n_test: int = 500, seed: int = 0):
    """scikit-learn's bundled digits (1797 grey 8x8 images of 0-9), split into a training and a held-out set.

    Returns (X_train, y_train, X_test, y_test): X float32 (n, 1, 8, 8) scaled to [0, 1], y int64 (n,).
    The split is a fixed random permutation: 1297 training and 500 held-out images.
    """
    from sklearn.datasets import load_digits  # bundled with scikit-learn: nothing is downloaded

    digits = load_digits()
    X = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


X_train, y_train, X_test, y_test = digits_split()
print("training images", tuple(X_train.shape), " held-out images", tuple(X_test.shape),
      " pixel range", (X_train.min().item(), X_train.max().item()))

# %% [markdown]
# ## 1 · Convolution is a sliding dot product
#
# Take a 1-D signal $x$ and a short kernel $w$ of length $k$. Put the kernel on top of the signal
# at position $i$, multiply the overlapping numbers and add them up; then slide by one and repeat:
#
# $$(x \star w)[i] = \sum_{u=0}^{k-1} x[i+u]\, w[u], \qquad i = 0, 1, \dots, n - k .$$
#
# This is **cross-correlation**, and it is what every deep-learning library calls "convolution"
# (`F.conv2d`, `nn.Conv2d`, `tf.nn.conv2d`, `jax.lax.conv`). Signal processing and mathematics
# define the **convolution** with the kernel *flipped*:
#
# $$(x * w)[i] = \sum_{u} x[i-u]\, w[u]
# \quad\text{("valid" part: } (x * w)[i + k - 1] = \textstyle\sum_u x[i + u]\, w[k-1-u] = (x \star \operatorname{flip} w)[i]\text{)} .$$
#
# In 2-D the sliding window moves over rows and columns, and the flip is a rotation by
# 180 degrees, $\operatorname{flip}(w)[u, v] = w[k_H - 1 - u,\, k_W - 1 - v]$:
#
# $$(x \star w)[i, j] = \sum_{u=0}^{k_H-1}\sum_{v=0}^{k_W-1} x[i+u,\, j+v]\; w[u, v] .$$
#
# **What this means.** Each output number says how strongly the patch under the kernel looks like
# the kernel: a dot product of the patch with the kernel, as in a dense layer, but with the same
# few weights reused at every position. For a network the flip is irrelevant: the kernel is
# learned, and a network that learned $w$ under one convention would have learned
# $\operatorname{flip}(w)$ under the other. It matters the moment you copy weights or code between
# the two worlds: `scipy.signal.convolve2d` and a textbook's filter flip, `F.conv2d` does not.
# (True convolution has the nicer algebra: it is commutative and associative, which is why signal
# processing prefers it. Cross-correlation's gradient with respect to its input is a true
# convolution with the same kernel, a "transposed convolution", which is how backpropagation
# through a conv layer is computed.)
#
# A worked example in 1-D: the kernel $[1, 0, -1]$ measures "left minus right".

# %%
x_1d = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
w_1d = np.array([1.0, 0.0, -1.0])
print("cross-correlation, np.correlate:", np.correlate(x_1d, w_1d, mode="valid"), "  (x[i] - x[i+2])")
print("convolution, np.convolve:       ", np.convolve(x_1d, w_1d, mode="valid"), "  (x[i+2] - x[i])")
print("F.conv1d (deep learning):       ",
      F.conv1d(torch.tensor(x_1d).view(1, 1, -1), torch.tensor(w_1d).view(1, 1, -1)).flatten().numpy())

# %% [markdown]
# The same in 2-D on a digit: a Sobel kernel responds to vertical edges. Cross-correlation and
# convolution give maps of opposite sign, because the kernel is antisymmetric: flipping it
# negates it. For a kernel without any symmetry the two maps differ completely.

# %%
sobel_x = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])   # dark-to-bright from left to right
digit = X_test[0, 0].double().numpy()
maps = {
    f"a digit ({y_test[0].item()})": digit,
    "cross-correlation (F.conv2d)": signal.correlate2d(digit, sobel_x, mode="same"),
    "convolution (flipped kernel)": signal.convolve2d(digit, sobel_x, mode="same"),
}
same_as_torch = F.conv2d(torch.tensor(digit)[None, None], torch.tensor(sobel_x)[None, None], padding=1)[0, 0]
print("F.conv2d equals scipy's correlate2d:", np.allclose(same_as_torch.numpy(), maps["cross-correlation (F.conv2d)"]))
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
for ax, (title, image) in zip(axes, maps.items()):
    limit = np.abs(image).max()
    shown = ax.imshow(image, cmap="gray" if "digit" in title else "RdBu_r", vmin=0 if "digit" in title else -limit, vmax=limit)
    ax.set(title=title, xticks=[], yticks=[])
    fig.colorbar(shown, ax=ax, fraction=0.046)
fig.tight_layout()
plt.show()

# %% [markdown]
# Write the definition yourself, with two loops over the output positions. It is slow (one tiny
# dot product per output number) and that is fine: it is the ground truth for everything that
# follows. The output is "valid": only positions where the whole kernel lies inside the image.

# %% nbgrader={"grade": false, "grade_id": "correlate2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def correlate2d(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """2-D cross-correlation, "valid" part: slide the kernel (not flipped) over the image.

    Args:
        image:  float tensor (H, W).
        kernel: float tensor (kH, kW) of image's dtype, with kH <= H and kW <= W.

    Returns:
        A tensor (H - kH + 1, W - kW + 1) of image's dtype with
        out[i, j] = sum over u < kH, v < kW of image[i + u, j + v] * kernel[u, v].

    Example (about 10 minutes):
        >>> correlate2d(torch.arange(9.0).reshape(3, 3), torch.tensor([[1.0, 2.0], [0.0, 0.0]]))
        tensor([[ 2.,  5.],
                [11., 14.]])
    """
    ### BEGIN SOLUTION
    H, W = image.shape
    kH, kW = kernel.shape
    out = image.new_zeros(H - kH + 1, W - kW + 1)
    for i in range(H - kH + 1):
        for j in range(W - kW + 1):
            out[i, j] = (image[i:i + kH, j:j + kW] * kernel).sum()  # the patch under the kernel, dot the kernel
    return out
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "correlate2d_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""correlate2d slides the kernel without flipping it: a hand-computed 3x3 case, the 'valid' output shape and the dtype"""
from grader.testing import learner, expect

image = torch.arange(9, dtype=DTYPE).reshape(3, 3)           # [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
kernel = torch.tensor([[1.0, 2.0], [0.0, 0.0]], dtype=DTYPE)  # out[i, j] = image[i, j] + 2 * image[i, j + 1]
out = learner.correlate2d(image, kernel)
expect.shape(out, (2, 2), what="correlate2d of a 3x3 image with a 2x2 kernel", hint="the 'valid' output has H - kH + 1 rows and W - kW + 1 columns")
expect.dtype(out, DTYPE, what="correlate2d of a float64 image", hint="create the output with image.new_zeros(...) to keep the dtype")
expect.close(out, torch.tensor([[2.0, 5.0], [11.0, 14.0]], dtype=DTYPE), atol=1e-12, rtol=1e-10,
             what="correlate2d(arange(9).reshape(3, 3), [[1, 2], [0, 0]])",
             hint="out[i, j] = sum over u, v of image[i + u, j + v] * kernel[u, v], with the kernel as it is (not flipped)")
expect.shape(learner.correlate2d(torch.zeros(5, 6, dtype=DTYPE), torch.zeros(2, 3, dtype=DTYPE)), (4, 4),
             what="correlate2d of a (5, 6) image with a (2, 3) kernel", hint="rows come from the heights (H, kH), columns from the widths (W, kW)")

# %% nbgrader={"grade": true, "grade_id": "correlate2d_matches_scipy_and_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""correlate2d equals scipy.signal.correlate2d(mode='valid') and F.conv2d on non-square images and kernels, a 1x1 kernel, a single row and a kernel as large as the image"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(1)
image, kernel = torch.randn(7, 9, generator=gen, dtype=DTYPE), torch.randn(3, 2, generator=gen, dtype=DTYPE)
out = learner.correlate2d(image, kernel)
expect.shape(out, (5, 8), what="correlate2d of a (7, 9) image with a (3, 2) kernel",
             hint="the 'valid' output is (H - kH + 1, W - kW + 1): rows from the heights, columns from the widths")
### BEGIN HIDDEN TESTS
from scipy import signal as scipy_signal

hint = ("slide the kernel as it is: out[i, j] = (image[i:i+kH, j:j+kW] * kernel).sum(); "
        "rotating the kernel by 180 degrees first would make a true convolution")
expect.close(out, torch.from_numpy(scipy_signal.correlate2d(image.numpy(), kernel.numpy(), mode="valid")), atol=1e-12, rtol=1e-12,
             what="correlate2d of a (7, 9) image with a (3, 2) kernel compared with scipy.signal.correlate2d", hint=hint)
for (H, W), (kH, kW), case in [((6, 5), (2, 4), "a (2, 4) kernel on a (6, 5) image"), ((4, 4), (1, 1), "a 1x1 kernel"),
                               ((5, 3), (5, 3), "a kernel as large as the image"), ((1, 8), (1, 3), "a single row")]:
    image, kernel = torch.randn(H, W, generator=gen, dtype=DTYPE), torch.randn(kH, kW, generator=gen, dtype=DTYPE)
    got = learner.correlate2d(image, kernel)
    expect.close(got, F.conv2d(image[None, None], kernel[None, None])[0, 0], atol=1e-12, rtol=1e-12,
                 what=f"correlate2d with {case} compared with F.conv2d", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 2 · The output size: stride, padding and dilation
#
# Three knobs change which input pixels a window reads, all available in `nn.Conv2d`:
#
# - **padding** $p$ adds $p$ rows of zeros at the top *and* at the bottom (and $p$ columns on the
#   left and on the right), so the padded height is $H + 2p$;
# - **stride** $s$ moves the window by $s$ pixels instead of one: window $i$ starts at row $s\,i$;
# - **dilation** $d$ spreads the kernel's taps $d$ pixels apart: tap $u$ of window $i$ reads row
#   $s\,i + d\,u$. A dilated kernel of size $k$ covers $d(k-1) + 1$ rows while still having only
#   $k$ weights.
#
# Window $i$ fits when its last tap lies inside the padded input: $s\,i + d(k-1) \le H + 2p - 1$.
# Counting the $i = 0, 1, \dots$ that fit:
#
# $$H_\text{out} = \Big\lfloor \frac{H + 2p - d(k-1) - 1}{s} \Big\rfloor + 1 ,$$
#
# and the same for the width with $W, k_W, s_W, p_W, d_W$. The "+1" counts window $0$; the floor
# drops a last, incomplete window (its pixels are simply never read).
#
# **What this means.** With stride 1 and no padding each layer shrinks the image by $k - 1$. The
# padding $p = d(k-1)/2$ keeps the size unchanged ("same" padding, $p = 1$ for a 3x3 kernel).
# Stride 2 halves the size: the standard way to downsample inside a network. Dilation enlarges
# what a layer sees without adding weights or downsampling (WaveNet stacks dilations
# 1, 2, 4, 8, ...). The sizes where the formula gives less than one window have no output at all:
# PyTorch raises an error, and so will you.

# %%
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
for ax, dilation in zip(axes, [1, 2, 3]):
    grid = np.zeros((7, 7))
    for u in range(3):
        for v in range(3):
            grid[dilation * u, dilation * v] = 1.0       # tap (u, v) of the first window
    ax.imshow(grid, cmap="Blues", vmin=0, vmax=1.3)
    ax.set_xticks(np.arange(-0.5, 7), minor=True)
    ax.set_yticks(np.arange(-0.5, 7), minor=True)
    ax.grid(which="minor", color="grey", lw=0.5)
    ax.set(xticks=[], yticks=[], title=f"3x3 kernel, dilation {dilation}: spans {dilation * 2 + 1}")
fig.tight_layout()
plt.show()

for H, k, s, p, d in [(8, 3, 1, 0, 1), (8, 3, 1, 1, 1), (8, 3, 2, 1, 1), (8, 3, 1, 0, 2), (9, 4, 3, 2, 1)]:
    shape = F.conv2d(torch.zeros(1, 1, H, H), torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d).shape
    print(f"H={H} k={k} stride={s} padding={p} dilation={d}:  F.conv2d gives {shape[2]}x{shape[3]},"
          f"  formula gives {(H + 2 * p - d * (k - 1) - 1) // s + 1}")

# %% nbgrader={"grade": false, "grade_id": "conv_output_size", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """The number of output positions along one axis of a convolution (or pooling) window.

    Args:
        size: the input length along the axis (H or W), >= 1.
        kernel_size: k >= 1. stride: s >= 1. padding: p >= 0 zeros on each side. dilation: d >= 1.

    Returns:
        floor((size + 2p - d(k - 1) - 1) / s) + 1 as a Python int.

    Raises:
        ValueError when that number is below 1 (the dilated kernel is wider than the padded input).

    Example (about 5 minutes):
        >>> conv_output_size(8, 3, stride=2, padding=1)
        4
    """
    ### BEGIN SOLUTION
    span = dilation * (kernel_size - 1) + 1  # input pixels covered by one (dilated) window
    out = (size + 2 * padding - span) // stride + 1
    if out < 1:
        raise ValueError(f"a window spanning {span} pixels does not fit into {size} + 2 * {padding} pixels")
    return out
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "conv_output_size_by_hand", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the output size on hand-computed cases: no padding, 'same' padding, stride 2 with padding 1, dilation 2, and a stride that leaves an incomplete window"""
from grader.testing import learner, expect

expect.equal(learner.conv_output_size(8, 3), 6, what="conv_output_size(8, 3)",
             hint="a 3-wide window fits at positions 0 to 5 of 8: that is 8 - 3 + 1, do not forget the +1")
expect.equal(learner.conv_output_size(32, 3, padding=1), 32, what="conv_output_size(32, 3, padding=1)",
             hint="padding adds p zeros on each side: the padded length is size + 2p")
expect.equal(learner.conv_output_size(8, 3, stride=2, padding=1), 4, what="conv_output_size(8, 3, stride=2, padding=1)",
             hint="divide by the stride with floor division, then add 1")
expect.equal(learner.conv_output_size(7, 3, dilation=2), 3, what="conv_output_size(7, 3, dilation=2)",
             hint="a 3x3 kernel with dilation 2 spans d(k - 1) + 1 = 5 pixels, not 3")
expect.equal(learner.conv_output_size(6, 3, stride=2), 2, what="conv_output_size(6, 3, stride=2)",
             hint="windows start at 0 and 2; one starting at 4 would need pixel 6, which does not exist: floor, not ceil")

# %% nbgrader={"grade": true, "grade_id": "conv_output_size_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the output size equals the shape F.conv2d produces for many combinations of size, kernel, stride, padding and dilation (also when exactly one window fits), and a kernel wider than the padded input raises ValueError"""
from grader.testing import learner, scenario, expect


@scenario
def output_sizes(ns, cases):
    """conv_output_size for each (size, kernel_size, stride, padding, dilation) in cases."""
    return [ns.conv_output_size(*case) for case in cases]


expect.equal(output_sizes.learner([(10, 3, 1, 0, 1), (10, 3, 3, 0, 1)]), [8, 3], what="conv_output_size for a size of 10, kernel 3, stride 1 and 3",
             hint="floor((size + 2p - d(k - 1) - 1) / s) + 1")
### BEGIN HIDDEN TESTS
def torch_output_size(size, kernel_size, stride, padding, dilation):
    """The height of F.conv2d's output for an input of height `size`."""
    weight = torch.zeros(1, 1, kernel_size, 1)
    return F.conv2d(torch.zeros(1, 1, size, 1), weight, stride=(stride, 1), padding=(padding, 0), dilation=(dilation, 1)).shape[2]


hint = "the dilated kernel spans d(k - 1) + 1 pixels of the padded length size + 2p; count the window starts 0, s, 2s, ... that fit: floor(...) + 1"
rng = np.random.default_rng(3)
cases = []
while len(cases) < 150:
    size, k, s, p, d = (int(rng.integers(1, 25)), int(rng.integers(1, 6)), int(rng.integers(1, 4)),
                        int(rng.integers(0, 3)), int(rng.integers(1, 4)))
    if size + 2 * p - d * (k - 1) - 1 >= s:   # at least two windows, so that every answer is >= 2
        cases.append((size, k, s, p, d))
expect.equal(output_sizes.learner(cases), [torch_output_size(*case) for case in cases],
             what="conv_output_size on 150 combinations of size, kernel, stride, padding and dilation", hint=hint)
one_window = [(5, 3, 1, 0, 2), (1, 1, 1, 0, 1), (4, 3, 5, 0, 1), (2, 4, 2, 1, 1), (3, 3, 1, 0, 1)]
expect.equal(output_sizes.learner(one_window), [torch_output_size(*case) for case in one_window],
             what="conv_output_size where exactly one window fits", hint=hint)
expect.raises("ValueError", learner.conv_output_size, 4, 3, 1, 0, 2)
expect.raises("ValueError", learner.conv_output_size, 2, 5, 1, 1, 1)
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · Zero padding
#
# Padding by $(p_H, p_W)$ embeds the image in a frame of zeros, $p_H$ rows above **and** below,
# $p_W$ columns left **and** right:
#
# $$X_\text{pad}[n, c, h, w] = \begin{cases} X[n, c, h - p_H, w - p_W] & \text{if } 0 \le h - p_H < H \text{ and } 0 \le w - p_W < W \\ 0 & \text{otherwise.}\end{cases}$$
#
# **What this means.** Without padding, pixels near the border fall into fewer windows than
# pixels in the middle, and every layer eats $k - 1$ pixels of the image. Symmetric padding keeps
# the output centred on the input: output pixel $(i, j)$ of a "same" convolution looks at a
# window centred on input pixel $(i, j)$. Padding only at the bottom and right would give the
# right *shape* but shift the whole output map up and left. (In 1-D sequence models that one-sided
# padding is exactly what you want: a *causal* convolution pads $k - 1$ zeros on the left only,
# so position $t$ never sees the future, as in WaveNet and Mamba. Not here.)
#
# Worked example with `F.pad`, whose padding tuple lists the *last* axis first:
# `(left, right, top, bottom)`.

# %%
tiny = torch.arange(1.0, 7.0).reshape(1, 1, 2, 3)
print(F.pad(tiny, (2, 2, 1, 1))[0, 0])

# %% nbgrader={"grade": false, "grade_id": "pad2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pad2d(x: torch.Tensor, padding) -> torch.Tensor:
    """Zero-pad the last two axes of a batch of images on all four sides (without F.pad).

    Args:
        x: float tensor (N, C, H, W).
        padding: int p or pair (pH, pW): pH zero rows at the top and at the bottom, pW zero
            columns on the left and on the right.

    Returns:
        A new tensor (N, C, H + 2 pH, W + 2 pW) of x's dtype and device, zero everywhere except
        out[:, :, pH:pH + H, pW:pW + W] == x.

    Example (about 5 minutes):
        >>> pad2d(torch.ones(1, 1, 1, 2), 1)[0, 0]
        tensor([[0., 0., 0., 0.],
                [0., 1., 1., 0.],
                [0., 0., 0., 0.]])
    """
    ### BEGIN SOLUTION
    pH, pW = as_pair(padding)
    N, C, H, W = x.shape
    out = x.new_zeros(N, C, H + 2 * pH, W + 2 * pW)
    out[:, :, pH:pH + H, pW:pW + W] = x  # the image sits in the middle, framed by zeros on every side
    return out
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "pad2d_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""pad2d frames a 2x3 image of ones with one row of zeros above and below and one column left and right"""
from grader.testing import learner, expect

padded = learner.pad2d(torch.ones(1, 1, 2, 3, dtype=DTYPE), 1)
expect.shape(padded, (1, 1, 4, 5), what="pad2d of a (1, 1, 2, 3) image with padding 1", hint="padding p adds p rows on top and p at the bottom: H + 2p")
want = torch.zeros(1, 1, 4, 5, dtype=DTYPE)
want[:, :, 1:3, 1:4] = 1.0
expect.close(padded, want, atol=0, rtol=0, what="pad2d(ones(1, 1, 2, 3), 1)",
             hint="the image must sit in the middle: zeros on all four sides, out[:, :, p:p + H, p:p + W] = x")

# %% nbgrader={"grade": true, "grade_id": "pad2d_matches_torch", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""pad2d equals F.pad for a batch of multi-channel images, for equal and different paddings of height and width, and for padding 0"""
from grader.testing import learner, expect

x = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(2), dtype=DTYPE)
expect.shape(learner.pad2d(x, (1, 2)), (2, 3, 6, 9), what="pad2d of a (2, 3, 4, 5) batch with padding (1, 2)",
             hint="padding (pH, pW): pH rows on top and bottom, pW columns on the left and right")
### BEGIN HIDDEN TESTS
for padding, (pH, pW) in [(2, (2, 2)), ((2, 1), (2, 1)), ((0, 3), (0, 3)), (0, (0, 0))]:
    got = learner.pad2d(x, padding)
    expect.dtype(got, DTYPE, what=f"pad2d with padding {padding}", hint="create the frame with x.new_zeros(...)")
    expect.close(got, F.pad(x, (pW, pW, pH, pH)), atol=0, rtol=0, what=f"pad2d with padding {padding} compared with F.pad",
                 hint="zeros on all four sides: the image goes to out[:, :, pH:pH + H, pW:pW + W]")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · im2col: every window becomes a column
#
# The boxed sum is a dot product between the weights of filter $o$ and one window of the input,
# repeated for every filter and every window. Collect the windows first. For each image $n$, build
# a matrix with one **column per output position** $(i, j)$ and one **row per (channel, tap)**
# $(c, u, v)$:
#
# $$\operatorname{cols}[n,\; \underbrace{c\,k_H k_W + u\,k_W + v}_{\text{row } r},\; \underbrace{i\,W_\text{out} + j}_{\text{column } l}]
#   = X_\text{pad}[n, c,\; s_H i + d_H u,\; s_W j + d_W v] .$$
#
# The shape is $(N,\; C k_H k_W,\; L)$ with $L = H_\text{out} W_\text{out}$. The orders are
# row-major everywhere: rows run over the channel first, then the tap's row $u$, then its
# column $v$ (the order of `weight[o].flatten()` for a weight of shape $(C_\text{out}, C, k_H,
# k_W)$); columns run over output rows $i$, then output columns $j$ (the order of
# `output.flatten()`). That is exactly the layout of `F.unfold`, so you can check yourself
# against it. (Note `F.unfold`'s argument order: `F.unfold(x, kernel_size, dilation, padding,
# stride)`.)
#
# **What this means.** im2col ("image to columns") turns the sliding window into plain data
# layout: after it, a convolution is the same matrix product as a dense layer (section 5). The
# price is memory: every input pixel is copied into up to $k_H k_W$ columns, nine times the input
# for a 3x3 kernel. Below, the columns of a 2-channel 4x4 image (values 0 to 31) with a 2x2
# kernel: column $l$ is the window at output position $(i, j) = (l // 3, l \% 3)$, rows 0 to 3
# its pixels from channel 0, rows 4 to 7 from channel 1.

# %%
x_demo = torch.arange(32.0).reshape(1, 2, 4, 4)
cols_demo = F.unfold(x_demo, kernel_size=2)          # (1, 2 * 2 * 2, 3 * 3)
fig, ax = plt.subplots(figsize=(7, 4.5))
ax.imshow(cols_demo[0], cmap="viridis")
for r in range(cols_demo.shape[1]):
    for l in range(cols_demo.shape[2]):
        ax.text(l, r, int(cols_demo[0, r, l]), ha="center", va="center", color="white", fontsize=9)
ax.set_yticks(range(8), [f"c={r // 4} u={r // 2 % 2} v={r % 2}" for r in range(8)])
ax.set_xticks(range(9), [f"({l // 3},{l % 3})" for l in range(9)])
ax.set(xlabel="column l = output position (i, j)", ylabel="row r = (channel, tap)", title="F.unfold of a (1, 2, 4, 4) image, 2x2 kernel")
fig.tight_layout()
plt.show()
print("channel 0 of the image:\n", x_demo[0, 0])

# %% [markdown]
# **How to build it without a loop over the output positions.** Loop over the $k_H k_W$ kernel
# taps instead. For a fixed tap $(u, v)$, the pixels it reads in all windows form a strided grid
# of the padded input: rows $d_H u, d_H u + s_H, \dots, d_H u + s_H (H_\text{out} - 1)$, and the
# same for the columns. One strided slice gets that whole grid:
#
# ```python
# padded[:, :, d_H*u : d_H*u + s_H*(H_out - 1) + 1 : s_H,  d_W*v : d_W*v + s_W*(W_out - 1) + 1 : s_W]   # (N, C, H_out, W_out)
# ```
#
# Store it at `patches[:, :, u, v]` of a tensor of shape $(N, C, k_H, k_W, H_\text{out},
# W_\text{out})$; a final `reshape` to $(N, C k_H k_W, H_\text{out} W_\text{out})$ then gives
# exactly the row and column order above, because reshape reads row-major.

# %% nbgrader={"grade": false, "grade_id": "im2col", "locked": false, "schema_version": 3, "solution": true, "task": false}
def im2col(x: torch.Tensor, kernel_size, stride=1, padding=0, dilation=1) -> torch.Tensor:
    """Unfold every convolution window of a batch of images into a column (like F.unfold).

    Args:
        x: float tensor (N, C, H, W).
        kernel_size, stride, padding, dilation: int or pair (height, width), as in F.conv2d.

    Returns:
        cols, a tensor (N, C * kH * kW, H_out * W_out) of x's dtype and device, with
        cols[n, c*kH*kW + u*kW + v, i*W_out + j] = x_padded[n, c, sH*i + dH*u, sW*j + dW*v],
        where x_padded = pad2d(x, padding) and H_out, W_out come from conv_output_size.
        Equal to F.unfold(x, kernel_size, dilation, padding, stride) (mind its argument order).

    Example (about 25 minutes):
        >>> im2col(torch.arange(16.0).reshape(1, 1, 4, 4), 2, stride=2)[0]
        tensor([[ 0.,  2.,  8., 10.],
                [ 1.,  3.,  9., 11.],
                [ 4.,  6., 12., 14.],
                [ 5.,  7., 13., 15.]])
    """
    ### BEGIN SOLUTION
    kH, kW = as_pair(kernel_size)
    sH, sW = as_pair(stride)
    pH, pW = as_pair(padding)
    dH, dW = as_pair(dilation)
    N, C, H, W = x.shape
    H_out = conv_output_size(H, kH, sH, pH, dH)
    W_out = conv_output_size(W, kW, sW, pW, dW)
    padded = pad2d(x, (pH, pW))
    patches = x.new_empty(N, C, kH, kW, H_out, W_out)
    for u in range(kH):
        for v in range(kW):
            top, left = dH * u, dW * v  # where tap (u, v) of window (0, 0) reads
            patches[:, :, u, v] = padded[:, :, top:top + sH * (H_out - 1) + 1:sH, left:left + sW * (W_out - 1) + 1:sW]
    return patches.reshape(N, C * kH * kW, H_out * W_out)  # rows (c, u, v), columns (i, j), both row-major
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "im2col_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""im2col of a 4x4 image with a 2x2 kernel and stride 2: one column per window, the window's pixels in row-major order"""
from grader.testing import learner, expect

cols = learner.im2col(torch.arange(16, dtype=DTYPE).reshape(1, 1, 4, 4), 2, stride=2)
expect.shape(cols, (1, 4, 4), what="im2col of a (1, 1, 4, 4) image, 2x2 kernel, stride 2",
             hint="the shape is (N, C * kH * kW, H_out * W_out)")
want = torch.tensor([[0, 2, 8, 10], [1, 3, 9, 11], [4, 6, 12, 14], [5, 7, 13, 15]], dtype=DTYPE)[None]
expect.close(cols, want, atol=0, rtol=0, what="im2col(arange(16).reshape(1, 1, 4, 4), 2, stride=2)",
             hint="column l is the window at output position (l // W_out, l % W_out); its rows are the window's pixels, row by row")

# %% nbgrader={"grade": true, "grade_id": "im2col_matches_unfold", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""im2col equals F.unfold for several channels, non-square kernels, and many combinations of stride, padding and dilation given as ints or (height, width) pairs"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(4)
x = torch.randn(2, 3, 5, 6, generator=gen, dtype=DTYPE)
cols = learner.im2col(x, (3, 2))
expect.shape(cols, (2, 18, 15), what="im2col of a (2, 3, 5, 6) batch with a (3, 2) kernel",
             hint="rows: C * kH * kW = 3 * 3 * 2; columns: H_out * W_out = 3 * 5")
### BEGIN HIDDEN TESTS
hint = ("rows are ordered (channel, tap row u, tap column v) and columns (output row i, output column j), all row-major, "
        "as F.unfold: build patches of shape (N, C, kH, kW, H_out, W_out), then reshape")
expect.close(cols, F.unfold(x, (3, 2)), atol=0, rtol=0, what="im2col of a (2, 3, 5, 6) batch with a (3, 2) kernel compared with F.unfold", hint=hint)
x = torch.randn(2, 3, 7, 8, generator=gen, dtype=DTYPE)
got = learner.im2col(x, (3, 2), (2, 1), (1, 2), (1, 2))
expect.close(got, F.unfold(x, (3, 2), dilation=(1, 2), padding=(1, 2), stride=(2, 1)), atol=0, rtol=0,
             what="im2col with kernel (3, 2), stride (2, 1), padding (1, 2), dilation (1, 2) compared with F.unfold", hint=hint)
rng = np.random.default_rng(5)
checked = 0
while checked < 25:
    C, H, W = int(rng.integers(1, 4)), int(rng.integers(3, 10)), int(rng.integers(3, 10))
    kernel, stride, padding, dilation = ((int(rng.integers(low, high)), int(rng.integers(low, high)))
                                         for low, high in [(1, 4), (1, 4), (0, 3), (1, 3)])
    if any(size + 2 * p - d * (k - 1) - 1 < 0 for size, k, p, d in zip((H, W), kernel, padding, dilation)):
        continue
    x = torch.randn(2, C, H, W, generator=gen, dtype=DTYPE)
    expect.close(learner.im2col(x, kernel, stride, padding, dilation), F.unfold(x, kernel, dilation=dilation, padding=padding, stride=stride),
                 atol=0, rtol=0, what=f"im2col with C={C}, H={H}, W={W}, kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation}",
                 hint=hint)
    checked += 1
expect.close(learner.im2col(x[:1], 1, 1, 0, 1), x[:1].reshape(1, x.shape[1], -1), atol=0, rtol=0,
             what="im2col with a 1x1 kernel on a batch of one", hint="with a 1x1 kernel every pixel is its own window")
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · A convolutional layer is one matrix product
#
# Flatten each filter into a row: `weight.reshape(C_out, C * kH * kW)` is a matrix $W_\text{mat}$ of
# shape $(C_\text{out}, C k_H k_W)$ whose columns are ordered $(c, u, v)$, the same order as the
# rows of the columns matrix. The boxed sum over $(c, u, v)$ is then a matrix product:
#
# $$Y_\text{flat}[n] = W_\text{mat}\, \operatorname{cols}[n] + b\,\mathbf{1}^\top ,
# \qquad (C_\text{out} \times C k_H k_W)\,(C k_H k_W \times L) \to (C_\text{out} \times L),$$
#
# and a reshape of $(N, C_\text{out}, L)$ to $(N, C_\text{out}, H_\text{out}, W_\text{out})$ gives
# the output. `torch.matmul` broadcasts the one weight matrix over the batch axis of `cols`.
#
# **The bias.** There is **one bias per output channel**, $b \in \mathbb{R}^{C_\text{out}}$, added
# at every position of that channel's map: $b\,\mathbf{1}^\top$ is a $(C_\text{out}, L)$ matrix
# whose row $o$ is $b_o$ everywhere. In code that is `bias[:, None]` (or `bias.view(1, -1, 1, 1)`
# on the 4-D output). Writing `out + bias` on an output of shape $(N, C_\text{out}, L)$ would
# broadcast the bias along the *positions* axis instead: an error in most shapes, and silently
# wrong numbers when $L = C_\text{out}$.
#
# **What this means.** A conv layer is a dense layer applied to every window, with the *same*
# weights for every window. Seen as one big linear map from the flattened image to the flattened
# output, it is a huge matrix that is mostly zeros, with each row holding the same few kernel
# weights in shifted places (below, the matrix of a 3x3 convolution on a 4x4 image with padding 1,
# obtained with `torch.autograd.functional.jacobian`). im2col is the trick that avoids ever
# building that sparse matrix.

# %%
kernel_demo = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
as_matrix = torch.autograd.functional.jacobian(lambda image: F.conv2d(image, kernel_demo, padding=1), torch.zeros(1, 1, 4, 4))
as_matrix = as_matrix.reshape(16, 16)       # (output pixel, input pixel)
fig, ax = plt.subplots(figsize=(5.5, 5))
shown = ax.imshow(np.where(as_matrix.numpy() == 0, np.nan, as_matrix.numpy()), cmap="viridis")
ax.set(title="3x3 conv on a 4x4 image as a 16x16 matrix\n(blank = 0, colours = the 9 shared weights)",
       xlabel="input pixel h*4 + w", ylabel="output pixel i*4 + j")
fig.colorbar(shown, ax=ax, fraction=0.046)
plt.show()
print("non-zero entries:", int((as_matrix != 0).sum()), "of", as_matrix.numel(), "- but only 9 distinct weights")

# %% nbgrader={"grade": false, "grade_id": "conv2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1, padding=0, dilation=1) -> torch.Tensor:
    """A 2-D convolutional layer (cross-correlation, groups=1) as one matrix product over im2col.

    Args:
        x: float tensor (N, C_in, H, W).
        weight: (C_out, C_in, kH, kW), same dtype and device as x.
        bias: (C_out,) or None: one bias per output channel, added at every position.
        stride, padding, dilation: int or pair (height, width), as in F.conv2d.

    Returns:
        A tensor (N, C_out, H_out, W_out) of x's dtype, equal to
        F.conv2d(x, weight, bias, stride, padding, dilation).

    Example (about 10 minutes):
        >>> conv2d(torch.arange(9.0).reshape(1, 1, 3, 3), torch.tensor([[[[1.0, 2.0], [0.0, 0.0]]]]), torch.tensor([10.0]))
        tensor([[[[12., 15.],
                  [21., 24.]]]])
    """
    ### BEGIN SOLUTION
    N, _, H, W = x.shape
    C_out, _, kH, kW = weight.shape
    sH, sW = as_pair(stride)
    pH, pW = as_pair(padding)
    dH, dW = as_pair(dilation)
    H_out = conv_output_size(H, kH, sH, pH, dH)
    W_out = conv_output_size(W, kW, sW, pW, dW)
    cols = im2col(x, (kH, kW), stride, padding, dilation)  # (N, C_in * kH * kW, L)
    out = weight.reshape(C_out, -1) @ cols                  # (N, C_out, L): one matrix product
    if bias is not None:
        out = out + bias[:, None]                           # bias[o] at every position of channel o
    return out.reshape(N, C_out, H_out, W_out)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "conv2d_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""conv2d on hand-computed cases: a 2x2 kernel on a 3x3 image with and without a bias, and a 2x2 kernel of ones with padding 1"""
from grader.testing import learner, expect

x = torch.arange(9, dtype=DTYPE).reshape(1, 1, 3, 3)
weight = torch.tensor([[[[1.0, 2.0], [0.0, 0.0]]]], dtype=DTYPE)
out = learner.conv2d(x, weight)
expect.shape(out, (1, 1, 2, 2), what="conv2d of a (1, 1, 3, 3) image with a (1, 1, 2, 2) kernel", hint="the output is (N, C_out, H_out, W_out)")
expect.close(out, torch.tensor([[[[2.0, 5.0], [11.0, 14.0]]]], dtype=DTYPE), atol=1e-12, rtol=1e-10,
             what="conv2d(arange(9).reshape(1, 1, 3, 3), [[1, 2], [0, 0]])",
             hint="the same sliding dot product as correlate2d, the kernel not flipped")
expect.close(learner.conv2d(x, weight, torch.tensor([10.0], dtype=DTYPE)), torch.tensor([[[[12.0, 15.0], [21.0, 24.0]]]], dtype=DTYPE),
             atol=1e-12, rtol=1e-10, what="the same with a bias of 10", hint="the bias is added to every output position")
out = learner.conv2d(torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=DTYPE), torch.ones(1, 1, 2, 2, dtype=DTYPE), padding=1)
expect.shape(out, (1, 1, 3, 3), what="conv2d of a 2x2 image with a 2x2 kernel and padding 1", hint="H_out = (2 + 2 - 1 - 1) // 1 + 1 = 3")
expect.close(out, torch.tensor([[[[1.0, 3.0, 2.0], [4.0, 10.0, 6.0], [3.0, 7.0, 4.0]]]], dtype=DTYPE), atol=1e-12, rtol=1e-10,
             what="conv2d of [[1, 2], [3, 4]] with a 2x2 kernel of ones and padding 1",
             hint="each output is the sum of a 2x2 window of the image framed by one ring of zeros on all four sides")

# %% nbgrader={"grade": true, "grade_id": "conv2d_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""conv2d equals F.conv2d in float64 for batches of multi-channel images, non-square kernels, 1x1 kernels, a kernel that covers the whole padded input and many combinations of stride, padding and dilation"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(6)
x, weight = torch.randn(2, 3, 7, 6, generator=gen, dtype=DTYPE), torch.randn(4, 3, 3, 2, generator=gen, dtype=DTYPE)
out = learner.conv2d(x, weight, None, (2, 1), (1, 2), (1, 2))
expect.shape(out, (2, 4, 4, 8), what="conv2d of a (2, 3, 7, 6) batch, weight (4, 3, 3, 2), stride (2, 1), padding (1, 2), dilation (1, 2)",
             hint="H_out and W_out come from conv_output_size with the height and width settings respectively")
### BEGIN HIDDEN TESTS
hint = ("im2col rows are (channel, u, v) like weight.reshape(C_out, -1), columns (i, j) like the flattened output; "
        "the kernel is not flipped and the padding is on all four sides")
expect.close(out, F.conv2d(x, weight, None, (2, 1), (1, 2), (1, 2)), atol=1e-12, rtol=1e-10,
             what="conv2d with stride (2, 1), padding (1, 2), dilation (1, 2) compared with F.conv2d", hint=hint)
rng = np.random.default_rng(7)
checked = 0
while checked < 20:
    C_in, C_out, H, W = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(3, 10)), int(rng.integers(3, 10))
    kernel, stride, padding, dilation = ((int(rng.integers(low, high)), int(rng.integers(low, high)))
                                         for low, high in [(1, 4), (1, 4), (0, 3), (1, 3)])
    if any(size + 2 * p - d * (k - 1) - 1 < 0 for size, k, p, d in zip((H, W), kernel, padding, dilation)):
        continue
    x = torch.randn(2, C_in, H, W, generator=gen, dtype=DTYPE)
    weight = torch.randn(C_out, C_in, *kernel, generator=gen, dtype=DTYPE)
    expect.close(learner.conv2d(x, weight, None, stride, padding, dilation), F.conv2d(x, weight, None, stride, padding, dilation),
                 atol=1e-12, rtol=1e-10, hint=hint,
                 what=f"conv2d with C_in={C_in}, C_out={C_out}, H={H}, W={W}, kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation}")
    checked += 1
for shapes, settings, case in [
    (((1, 5, 4, 4), (3, 5, 1, 1)), (1, 0, 1), "a 1x1 kernel (a per-pixel dense layer) on a batch of one"),
    (((2, 2, 5, 4), (3, 2, 7, 6)), (1, 1, 1), "a kernel as large as the padded input (one output pixel)"),
    (((3, 1, 9, 9), (2, 1, 3, 3)), (3, 0, 1), "stride equal to the kernel size (patches, as in a ViT)"),
]:
    x, weight = (torch.randn(*shape, generator=gen, dtype=DTYPE) for shape in shapes)
    expect.close(learner.conv2d(x, weight, None, *settings), F.conv2d(x, weight, None, *settings), atol=1e-12, rtol=1e-10,
                 what=f"conv2d with {case}", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "conv2d_bias_per_output_channel", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""conv2d adds one bias per output channel at every position: with zero weights each output channel is its bias everywhere, and with a bias the output equals F.conv2d for several shapes"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(8)
bias = torch.tensor([0.5, -1.0, 2.0, 3.0], dtype=DTYPE)
out = learner.conv2d(torch.randn(1, 2, 4, 4, generator=gen, dtype=DTYPE), torch.zeros(4, 2, 3, 3, dtype=DTYPE), bias)
expect.shape(out, (1, 4, 2, 2), what="conv2d of a (1, 2, 4, 4) image with zero weights (4, 2, 3, 3) and a bias", hint="the output is (N, C_out, H_out, W_out)")
expect.close(out, bias.view(1, 4, 1, 1).expand(1, 4, 2, 2), atol=1e-12, rtol=1e-10, what="conv2d with zero weights and bias [0.5, -1, 2, 3]",
             hint="output channel o must be bias[o] at every position: on (N, C_out, L) add bias[:, None], not bias")
### BEGIN HIDDEN TESTS
hint = "one bias per output channel, the same at every position: out + bias[:, None] on (N, C_out, L), or bias.view(1, -1, 1, 1) on the 4-D output"
for shapes, settings, case in [
    (((2, 3, 5, 5), (4, 3, 4, 4)), (1, 0, 1), "4 output channels and 2x2 = 4 output positions"),
    (((2, 3, 6, 5), (5, 3, 3, 3)), (1, 1, 1), "5 output channels and 'same' padding"),
    (((1, 2, 7, 8), (3, 2, 2, 3)), ((2, 1), (0, 1), 1), "a batch of one with stride (2, 1)"),
    (((2, 4, 3, 3), (6, 4, 1, 1)), (1, 0, 1), "a 1x1 kernel"),
]:
    x, weight = (torch.randn(*shape, generator=gen, dtype=DTYPE) for shape in shapes)
    bias = torch.randn(shapes[1][0], generator=gen, dtype=DTYPE)
    expect.close(learner.conv2d(x, weight, bias, *settings), F.conv2d(x, weight, bias, *settings), atol=1e-12, rtol=1e-10,
                 what=f"conv2d with a bias, {case}, compared with F.conv2d", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Where you will meet this again: a Vision Transformer cuts an image into $P \times P$ patches and
# maps each flattened patch to a $D$-wide token with one linear layer. That is a convolution with
# kernel size and stride $P$, and im2col with stride equal to the kernel *is* "cut into patches
# and flatten". The two computations agree to rounding:

# %%
torch.manual_seed(0)
patch, width = 8, 64
image = torch.randn(2, 3, 32, 32, dtype=DTYPE)
patch_embedding = nn.Conv2d(3, width, kernel_size=patch, stride=patch, dtype=DTYPE)     # as in ViT
with torch.no_grad():
    tokens_by_conv = patch_embedding(image).flatten(2).transpose(1, 2)                 # (B, 16 patches, D)
    patches = F.unfold(image, kernel_size=patch, stride=patch).transpose(1, 2)          # (B, 16 patches, 3 * 8 * 8)
    tokens_by_linear = patches @ patch_embedding.weight.reshape(width, -1).T + patch_embedding.bias
print("tokens", tuple(tokens_by_conv.shape), " largest difference conv vs patches @ W.T:",
      (tokens_by_conv - tokens_by_linear).abs().max().item())

# %% [markdown]
# ## 6 · What a convolutional layer costs
#
# **Parameters.** Each of the $C_\text{out}$ filters has $C_\text{in} k_H k_W$ weights and one bias:
#
# $$\#\text{params} = C_\text{out}\,(C_\text{in}\, k_H k_W + 1) \qquad (C_\text{out} C_\text{in} k_H k_W \text{ without a bias}),$$
#
# independent of the image size. **FLOPs.** Every one of the $C_\text{out} H_\text{out} W_\text{out}$
# outputs is a dot product of length $C_\text{in} k_H k_W$: that many multiply-adds, and we count
# a multiply-add as **2** floating-point operations (the convention of `torch.utils.flop_counter`,
# of the scaling-law literature, and of GPU spec sheets), leaving out the bias additions:
#
# $$\#\text{FLOPs per image} = 2\; C_\text{in} k_H k_W \cdot C_\text{out} \cdot H_\text{out} W_\text{out} .$$
#
# **What this means.** Each weight is used once per output position: FLOPs $= 2 \times$ weights
# $\times$ positions. That is the same rule as for a transformer, where a forward pass costs about
# $2 \times$ parameters $\times$ tokens (`20-scaling-laws`): for a conv layer, the output positions
# play the role of the tokens. A dense layer from a $3 \times 32 \times 32$ image to a
# $16 \times 32 \times 32$ map would need $3072 \cdot 16384 \approx 5 \cdot 10^7$ weights; the 3x3
# conv layer doing the same job needs 448. Weight sharing is what makes convolutions cheap in
# parameters, and FLOPs, not parameters, dominate their cost. Libraries often report "MACs"
# (multiply-accumulates), half our number: always check which one a table means.

# %%
from torch.utils.flop_counter import FlopCounterMode

for name, layer, size in [
    ("first conv of ResNet-50", nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), 224),
    ("a 3x3 conv deep in ResNet-50", nn.Conv2d(256, 256, 3, padding=1, bias=False), 14),
    ("ViT-B/16 patch embedding", nn.Conv2d(3, 768, 16, stride=16), 224),
]:
    with FlopCounterMode(display=False) as counter:
        output = layer(torch.zeros(1, layer.in_channels, size, size))
    print(f"{name:30s} output {tuple(output.shape[1:])}: {sum(p.numel() for p in layer.parameters()):>9,} parameters, "
          f"{counter.get_total_flops() / 1e9:6.3f} GFLOPs per image")

# %% nbgrader={"grade": false, "grade_id": "conv2d_cost", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d_cost(c_in: int, c_out: int, kernel_size, output_size, bias: bool = True) -> dict:
    """Parameter count and forward FLOPs (per image) of a conv layer with groups=1.

    Args:
        c_in, c_out: input and output channels. kernel_size: int or pair (kH, kW).
        output_size: int or pair (H_out, W_out), the size of the layer's output map.
        bias: whether the layer has a bias.

    Returns:
        {"params": C_out * (C_in * kH * kW + 1 if bias else C_in * kH * kW),
         "flops": 2 * C_in * kH * kW * C_out * H_out * W_out}  (Python ints; a multiply-add is 2
        FLOPs, bias additions are not counted, as in torch.utils.flop_counter).

    Example (about 5 minutes):
        >>> conv2d_cost(3, 16, 3, 32)
        {'params': 448, 'flops': 884736}
    """
    ### BEGIN SOLUTION
    kH, kW = as_pair(kernel_size)
    H_out, W_out = as_pair(output_size)
    weights = c_out * c_in * kH * kW
    params = weights + (c_out if bias else 0)
    flops = 2 * weights * H_out * W_out  # every weight: one multiply and one add per output position
    return {"params": params, "flops": flops}
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "conv2d_cost_by_hand", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the cost of a 3x3 conv layer from 3 to 16 channels on a 32x32 output: 448 parameters (432 without bias) and 884,736 FLOPs"""
from grader.testing import learner, expect

cost = learner.conv2d_cost(3, 16, 3, 32)
expect.true(isinstance(cost, dict) and set(cost) == {"params", "flops"}, 'conv2d_cost must return a dict with exactly the keys "params" and "flops"')
expect.equal(cost["params"], 448, what="the parameters of a 3 -> 16 channel 3x3 conv", hint="16 filters of 3 * 3 * 3 weights, plus one bias per filter")
expect.equal(learner.conv2d_cost(3, 16, 3, 32, bias=False)["params"], 432, what="the same without a bias")
expect.equal(cost["flops"], 884736, what="the FLOPs of a 3 -> 16 channel 3x3 conv with a 32x32 output",
             hint="2 FLOPs (a multiply and an add) per weight per output position")

# %% nbgrader={"grade": true, "grade_id": "conv2d_cost_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the parameter count equals that of nn.Conv2d and the FLOPs equal torch.utils.flop_counter's count, for non-square kernels, strides, with and without a bias"""
from grader.testing import learner, expect

expect.equal(learner.conv2d_cost(1, 1, 1, 1, bias=False), {"params": 1, "flops": 2}, what="conv2d_cost(1, 1, 1, 1, bias=False)",
             hint="one weight used at one position: 1 parameter, one multiply-add = 2 FLOPs")
### BEGIN HIDDEN TESTS
from torch.utils.flop_counter import FlopCounterMode

for c_in, c_out, kernel, stride, padding, size, bias in [
    (3, 8, 3, 1, 1, (16, 16), True), (16, 32, (3, 1), (2, 1), 0, (9, 7), False), (1, 5, (2, 4), 2, (1, 0), (11, 12), True),
    (64, 64, 1, 1, 0, (7, 7), True), (3, 96, 11, 4, 2, (63, 63), True), (2, 2, 5, 3, 2, (10, 5), False),
]:
    layer = nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=bias)
    with FlopCounterMode(display=False) as counter:
        output = layer(torch.zeros(1, c_in, *size))
    case = f"C_in={c_in}, C_out={c_out}, kernel {kernel}, output {tuple(output.shape[2:])}, bias={bias}"
    cost = learner.conv2d_cost(c_in, c_out, kernel, tuple(output.shape[2:]), bias)
    expect.equal(cost["params"], sum(p.numel() for p in layer.parameters()), what=f"the parameters for {case}",
                 hint="C_out * C_in * kH * kW weights, plus C_out biases when bias=True")
    expect.equal(cost["flops"], counter.get_total_flops(), what=f"the FLOPs for {case}",
                 hint="2 * C_in * kH * kW * C_out * H_out * W_out: a multiply-add counts as 2 FLOPs")
### END HIDDEN TESTS

# %% [markdown]
# ## 7 · Translation equivariance
#
# Shift an image by $(a, b)$ pixels, $(T_{a,b} X)[c, h, w] = X[c, h - a, w - b]$ (zeros shifted in).
# For a convolution with stride 1, substituting $h' = h - a$ in the boxed sum gives
#
# $$\operatorname{conv}(T_{a,b} X) = T_{a,b}\, \operatorname{conv}(X)$$
#
# as long as nothing is pushed across the border: **shifting the input shifts the output** by the
# same amount. This property is called *equivariance*. With stride $s$ only shifts by multiples of
# the stride commute with the layer, $\operatorname{conv}_s(T_{sa, sb} X) = T_{a,b}
# \operatorname{conv}_s(X)$; a shift by one pixel changes which pixels the strided windows read
# and the output changes in a more complicated way (aliasing).
#
# **What this means.** A filter that detects a vertical stroke detects it wherever it is, and its
# map shows *where*. Nothing has to be learned separately for each position: that is the prior a
# CNN builds in and a dense layer (or attention without positions) does not. The figure shifts a
# digit inside a larger canvas; the edge map moves with it, exactly.

# %%
canvas = torch.zeros(1, 1, 16, 16, dtype=DTYPE)
canvas[..., 1:9, 1:9] = X_test[3].double()
moved = torch.roll(canvas, shifts=(5, 6), dims=(2, 3))     # the digit sits away from the border: a roll is a shift
edge = torch.tensor(sobel_x, dtype=DTYPE)[None, None]
edge_map, moved_map = F.conv2d(canvas, edge, padding=1), F.conv2d(moved, edge, padding=1)
print("largest |conv(shift x) - shift(conv x)|:", (moved_map - torch.roll(edge_map, (5, 6), (2, 3))).abs().max().item())
fig, axes = plt.subplots(1, 4, figsize=(12, 3))
limit = edge_map.abs().max().item()
for ax, image, title in zip(axes, [canvas, edge_map, moved, moved_map],
                            ["x", "conv(x)", "x shifted by (5, 6)", "conv(shifted x) = shifted conv(x)"]):
    if "conv" in title:
        ax.imshow(image[0, 0], cmap="RdBu_r", vmin=-limit, vmax=limit)
    else:
        ax.imshow(image[0, 0], cmap="gray")
    ax.set(title=title, xticks=[], yticks=[])
fig.tight_layout()
plt.show()

# %% nbgrader={"grade": true, "grade_id": "conv2d_translation_equivariance", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""your conv2d is translation equivariant: with a 5x5 kernel and padding 2, shifting the input by (2, 3) shifts the output by (2, 3) with stride 1, a shift by (2, 4) shifts a stride-2 output by (1, 2), and both outputs equal F.conv2d"""
from grader.testing import scenario, expect


@scenario
def shifted_conv(ns, stride, shift):
    """conv2d of an image whose content sits away from the border, and of the same image shifted by `shift`."""
    gen = torch.Generator().manual_seed(9)
    x = torch.zeros(2, 3, 14, 14, dtype=torch.float64)
    x[:, :, 4:9, 3:8] = torch.randn(2, 3, 5, 5, generator=gen, dtype=torch.float64)
    weight = torch.randn(4, 3, 5, 5, generator=gen, dtype=torch.float64)
    bias = torch.randn(4, generator=gen, dtype=torch.float64)
    moved = torch.roll(x, shifts=shift, dims=(2, 3))   # zeros leave on one side and come in on the other
    return {"out": ns.conv2d(x, weight, bias, stride, 2), "out_moved": ns.conv2d(moved, weight, bias, stride, 2)}


got = shifted_conv.learner(1, (2, 3))
expect.shape(got["out"], (2, 4, 14, 14), what="conv2d of a (2, 3, 14, 14) batch, 5x5 kernel, padding 2", hint="'same' padding keeps 14x14")
expect.shape(got["out_moved"], (2, 4, 14, 14), what="conv2d of the shifted batch")
expect.close(got["out_moved"], torch.roll(got["out"], (2, 3), (2, 3)), atol=1e-12, rtol=1e-10, what="conv2d of the input shifted by (2, 3) compared with the output shifted by (2, 3)",
             hint="a convolution applies the same weights at every position, so a shifted input must give a shifted output")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(9)   # the scenario's inputs, recreated here
x = torch.zeros(2, 3, 14, 14, dtype=DTYPE)
x[:, :, 4:9, 3:8] = torch.randn(2, 3, 5, 5, generator=gen, dtype=DTYPE)
weight, bias = torch.randn(4, 3, 5, 5, generator=gen, dtype=DTYPE), torch.randn(4, generator=gen, dtype=DTYPE)
hint = "the same sliding dot product at every position, kernel not flipped, padding on all four sides, one bias per output channel"
expect.close(got["out"], F.conv2d(x, weight, bias, 1, 2), atol=1e-12, rtol=1e-10, what="the unshifted output compared with F.conv2d", hint=hint)
got = shifted_conv.learner(2, (2, 4))
expect.shape(got["out"], (2, 4, 7, 7), what="conv2d with stride 2 of a (2, 3, 14, 14) batch, 5x5 kernel, padding 2")
expect.shape(got["out_moved"], (2, 4, 7, 7), what="conv2d with stride 2 of the shifted batch")
expect.close(got["out_moved"], torch.roll(got["out"], (1, 2), (2, 3)), atol=1e-12, rtol=1e-10,
             what="a stride-2 conv2d of the input shifted by (2, 4) compared with its output shifted by (1, 2)",
             hint="with stride s, a shift by s pixels moves the windows by exactly one output position")
expect.close(got["out"], F.conv2d(x, weight, bias, 2, 2), atol=1e-12, rtol=1e-10, what="the stride-2 output compared with F.conv2d", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 8 · Max pooling, and its gradient
#
# **Forward.** Max pooling with a $k_H \times k_W$ window and stride $s$ (by default $s = k$,
# windows side by side) keeps the largest value of each window, channel by channel:
#
# $$Y[n, c, i, j] = \max_{0 \le u < k_H,\; 0 \le v < k_W} X[n, c,\; s_H i + u,\; s_W j + v] .$$
#
# Its output size is `conv_output_size(H, kH, sH)`, and a window is one column of `im2col` applied
# to each channel on its own, so pooling is "im2col, then a max over the rows". Like
# `F.max_pool2d(x, k, s, return_indices=True)`, we also return **where** each maximum was: the flat
# index $h \cdot W + w$ of the winning pixel in its $H \times W$ input plane.
#
# **Backward.** Inside one window, the max is locally a *selection*: if pixel $(h^*, w^*)$ is the
# maximum, $Y_{ij} = X_{h^* w^*}$, so $\partial Y_{ij} / \partial X_{hw} = 1$ for the winner and $0$
# for every other pixel. By the chain rule the gradient of the loss with respect to a pixel is the
# sum over the windows it wins:
#
# $$\frac{\partial \mathcal{L}}{\partial X_{hw}} = \sum_{(i, j)\,:\; \operatorname{argmax}(i, j) = (h, w)} \frac{\partial \mathcal{L}}{\partial Y_{ij}} .$$
#
# Three consequences. (1) All pixels that did not win get **zero** gradient; spreading
# $\partial\mathcal{L}/\partial Y_{ij}$ evenly over the window, $1/(k_H k_W)$ each, is the gradient
# of *average* pooling, not of max pooling. (2) With overlapping windows ($s < k$) one pixel can win
# several windows, and its gradients must be **added** (scatter-*add*), not overwritten.
# (3) **Ties.** When several pixels of a window share the maximum, the max is not differentiable
# there. We follow PyTorch, and say so: the *first* maximum in row-major order inside the window
# (`u` first, then `v`) wins and receives the whole gradient; the other tied pixels get nothing.
# `torch.max(dim=...)` and `torch.argmax` return exactly that first maximum. Ties are not an exotic
# case: after a ReLU, whole windows are zero. (Sending the gradient to every tied pixel would make
# it sum to more than the upstream gradient.)
#
# **Why pooling gives some invariance.** Moving the maximum of a window *within* that window does
# not change the output at all, so small shifts of a feature leave the pooled map unchanged, and
# every pooling stage makes the map less sensitive to where exactly things are. The figure measures
# it on the digits: the relative change of a feature map when the digit moves by one pixel, before
# pooling, after one and two 2x2 max pools, and after a global max (which is exactly invariant).

# %%
torch.manual_seed(0)
filters = torch.randn(8, 1, 3, 3, dtype=DTYPE)
digits_canvas = torch.zeros(300, 1, 12, 12, dtype=DTYPE)
digits_canvas[:, :, 2:10, 2:10] = X_test[:300].double()
stages = {
    "conv + ReLU": lambda x: F.relu(F.conv2d(x, filters, padding=1)),
    "then max pool 2": lambda x: F.max_pool2d(F.relu(F.conv2d(x, filters, padding=1)), 2),
    "then max pool 2 again": lambda x: F.max_pool2d(F.max_pool2d(F.relu(F.conv2d(x, filters, padding=1)), 2), 2),
    "global max": lambda x: F.relu(F.conv2d(x, filters, padding=1)).amax(dim=(2, 3)),
}
fig, ax = plt.subplots(figsize=(8, 3.5))
for offset, (shift, label) in enumerate([((0, 1), "shift right by 1"), ((1, 1), "shift diagonally by 1")]):
    shifted_digits = torch.roll(digits_canvas, shift, dims=(2, 3))
    changes = [((f(shifted_digits) - f(digits_canvas)).norm() / f(digits_canvas).norm()).item() for f in stages.values()]
    ax.bar(np.arange(len(stages)) + 0.4 * offset, changes, width=0.4, label=label)
    for position, change in enumerate(changes):
        ax.text(position + 0.4 * offset, change + 0.01, f"{change:.2f}", ha="center", va="bottom", fontsize=8)
ax.set_xticks(np.arange(len(stages)) + 0.2, list(stages))
ax.set(ylabel="relative change of the map", title="a 1-pixel shift of the digit: pooling makes the features less sensitive")
ax.legend()
fig.tight_layout()
plt.show()

# %% nbgrader={"grade": false, "grade_id": "max_pool2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
def max_pool2d(x: torch.Tensor, kernel_size, stride=None) -> tuple[torch.Tensor, torch.Tensor]:
    """2-D max pooling (no padding, no dilation) that also returns where each maximum was.

    Args:
        x: float tensor (N, C, H, W).
        kernel_size: int or pair (kH, kW). stride: int or pair, or None for stride = kernel_size.

    Returns:
        (values, indices), both (N, C, H_out, W_out) with H_out = conv_output_size(H, kH, sH):
        values[n, c, i, j] = max of x[n, c, sH*i : sH*i + kH, sW*j : sW*j + kW], x's dtype;
        indices int64, the flat index h * W + w of that maximum in x[n, c]. With ties, the first
        maximum in row-major order inside the window. Equal to
        F.max_pool2d(x, kernel_size, stride, return_indices=True).

    Example (about 15 minutes):
        >>> max_pool2d(torch.tensor([[[[1.0, 5.0], [3.0, 4.0]]]]), 2)
        (tensor([[[[5.]]]]), tensor([[[[1]]]]))
    """
    ### BEGIN SOLUTION
    kH, kW = as_pair(kernel_size)
    sH, sW = as_pair(kernel_size if stride is None else stride)
    N, C, H, W = x.shape
    H_out, W_out = conv_output_size(H, kH, sH), conv_output_size(W, kW, sW)
    windows = im2col(x.reshape(N * C, 1, H, W), (kH, kW), (sH, sW))  # (N*C, kH*kW, L): each channel on its own
    values, tap = windows.max(dim=1)          # tap = u * kW + v of the first maximum of each window
    position = torch.arange(H_out * W_out, device=x.device)
    rows = (position // W_out) * sH + tap // kW  # h = sH * i + u
    columns = (position % W_out) * sW + tap % kW  # w = sW * j + v
    indices = rows * W + columns
    return values.reshape(N, C, H_out, W_out), indices.reshape(N, C, H_out, W_out)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "max_pool2d_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""max pooling a 4x4 image with 2x2 windows: the four window maxima and their flat indices h * W + w in the input"""
from grader.testing import learner, expect

x = torch.tensor([[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 8.0, 1.0], [0.0, 2.0, 6.0, 7.0], [9.0, 1.0, 3.0, 2.0]], dtype=DTYPE)[None, None]
values, indices = learner.max_pool2d(x, 2)
expect.shape(values, (1, 1, 2, 2), what="the values of max_pool2d(4x4 image, 2)", hint="stride None means stride = kernel_size: windows side by side")
expect.shape(indices, (1, 1, 2, 2), what="the indices of max_pool2d(4x4 image, 2)")
expect.close(values, torch.tensor([[[[5.0, 8.0], [9.0, 7.0]]]], dtype=DTYPE), atol=0, rtol=0, what="the window maxima")
expect.dtype(indices, torch.int64, what="the indices", hint="indices are int64, like F.max_pool2d's")
expect.equal(indices, torch.tensor([[[[1, 6], [12, 11]]]]), what="the indices of the window maxima",
             hint="the index of pixel (h, w) is h * W + w in the whole input plane, not the position inside the window")

# %% nbgrader={"grade": true, "grade_id": "max_pool2d_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""max_pool2d equals F.max_pool2d(return_indices=True) in values and indices for overlapping and non-square windows, odd sizes, ties and an all-zero input, and moving a maximum inside its window leaves the output unchanged"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(10)
x = torch.randn(2, 3, 7, 9, generator=gen, dtype=DTYPE)
values, indices = learner.max_pool2d(x, 3, 2)
expect.shape(values, (2, 3, 3, 4), what="the values of max_pool2d of a (2, 3, 7, 9) batch, kernel 3, stride 2",
             hint="H_out = conv_output_size(H, kH, sH): (7 - 3) // 2 + 1 = 3")
expect.shape(indices, (2, 3, 3, 4), what="the indices of max_pool2d of a (2, 3, 7, 9) batch, kernel 3, stride 2")
### BEGIN HIDDEN TESTS
hint = ("the max of each window, channel by channel; indices are h * W + w of the first maximum (row-major inside the window) "
        "in the input plane, as F.max_pool2d(..., return_indices=True)")
want_values, want_indices = F.max_pool2d(x, 3, 2, return_indices=True)
expect.close(values, want_values, atol=0, rtol=0, what="the values of max_pool2d with kernel 3, stride 2", hint=hint)
expect.equal(indices, want_indices, what="the indices of max_pool2d with kernel 3, stride 2", hint=hint)
integers = torch.randint(0, 3, (2, 3, 8, 7), generator=gen).to(DTYPE)   # many ties
for x, kernel, stride, case in [
    (torch.randn(2, 2, 6, 6, generator=gen, dtype=DTYPE), 2, None, "2x2 windows side by side"),
    (torch.randn(1, 3, 9, 8, generator=gen, dtype=DTYPE), (2, 3), (1, 2), "a (2, 3) window with stride (1, 2)"),
    (torch.randn(2, 1, 7, 7, generator=gen, dtype=DTYPE), 2, None, "an odd size (the last row and column are dropped)"),
    (integers, 2, None, "ties (integer pixels), 2x2 windows"),
    (integers, 3, 1, "ties (integer pixels), overlapping 3x3 windows"),
    (torch.zeros(1, 2, 4, 6, dtype=DTYPE), 2, None, "an all-zero input (every window a tie)"),
]:
    got_values, got_indices = learner.max_pool2d(x, kernel, stride)
    want_values, want_indices = F.max_pool2d(x, kernel, stride, return_indices=True)
    expect.close(got_values, want_values, atol=0, rtol=0, what=f"the values of max_pool2d with {case}", hint=hint)
    expect.equal(got_indices, want_indices, what=f"the indices of max_pool2d with {case}", hint=hint)
# the maximum of each 2x2 window moves inside its window: the pooled output does not change
x = 0.1 * torch.rand(1, 2, 6, 6, generator=gen, dtype=DTYPE)
x_moved = x.clone()
for i in range(3):
    for j in range(3):
        x[0, :, 2 * i, 2 * j] = 1.0 + i + j
        x_moved[0, :, 2 * i + 1, 2 * j + (i + j) % 2] = 1.0 + i + j
expect.close(learner.max_pool2d(x_moved, 2)[0], learner.max_pool2d(x, 2)[0], atol=0, rtol=0,
             what="max pooling after moving each window's maximum inside its window", hint=hint)
expect.close(learner.max_pool2d(x, 2)[0], F.max_pool2d(x, 2), atol=0, rtol=0, what="the values of max_pool2d on the moved-maxima image", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "max_pool2d_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def max_pool2d_backward(grad_out: torch.Tensor, x: torch.Tensor, kernel_size, stride=None) -> torch.Tensor:
    """The gradient of a loss with respect to the input of max_pool2d(x, kernel_size, stride).

    Args:
        grad_out: float tensor (N, C, H_out, W_out), dLoss/dvalues.
        x: the pooled input (N, C, H, W). kernel_size, stride: as in max_pool2d.

    Returns:
        grad_x, (N, C, H, W) of grad_out's dtype: each window's grad_out goes entirely to the
        pixel that won it (the first maximum with ties, as max_pool2d's indices say); a pixel that
        wins several overlapping windows gets the sum of their gradients; all other pixels get 0.
        Equal to what autograd computes through F.max_pool2d.

    Example (about 15 minutes):
        >>> max_pool2d_backward(torch.tensor([[[[2.0]]]]), torch.tensor([[[[1.0, 5.0], [3.0, 4.0]]]]), 2)
        tensor([[[[0., 2.],
                  [0., 0.]]]])
    """
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    _, indices = max_pool2d(x, kernel_size, stride)
    grad_x = torch.zeros(N, C, H * W, dtype=grad_out.dtype, device=grad_out.device)
    # scatter-ADD: a pixel that wins several overlapping windows collects all their gradients
    grad_x.scatter_add_(2, indices.reshape(N, C, -1), grad_out.reshape(N, C, -1))
    return grad_x.reshape(N, C, H, W)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "max_pool2d_backward_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the max-pool gradient of a 4x4 image with 2x2 windows: each window's upstream gradient lands on its maximum, every other pixel gets zero"""
from grader.testing import learner, expect

x = torch.tensor([[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 8.0, 1.0], [0.0, 2.0, 6.0, 7.0], [9.0, 1.0, 3.0, 2.0]], dtype=DTYPE)[None, None]
grad_x = learner.max_pool2d_backward(torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=DTYPE), x, 2)
expect.shape(grad_x, (1, 1, 4, 4), what="max_pool2d_backward for a 4x4 input", hint="the gradient has the input's shape")
want = torch.zeros(1, 1, 4, 4, dtype=DTYPE)
want[0, 0, 0, 1], want[0, 0, 1, 2], want[0, 0, 3, 0], want[0, 0, 2, 3] = 1.0, 2.0, 3.0, 4.0
expect.close(grad_x, want, atol=0, rtol=0, what="max_pool2d_backward with upstream gradient [[1, 2], [3, 4]]",
             hint="the whole gradient of a window goes to its maximum (5, 8, 9 and 7 here); the other pixels get exactly 0")

# %% nbgrader={"grade": true, "grade_id": "max_pool2d_backward_matches_autograd", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the max-pool gradient equals autograd through F.max_pool2d for windows side by side, odd sizes, overlapping windows where one pixel wins several windows, and ties"""
from grader.testing import learner, expect


def autograd_max_pool(grad_out, x, kernel_size, stride=None):
    """dLoss/dx through F.max_pool2d for the upstream gradient grad_out."""
    x = x.clone().requires_grad_(True)
    F.max_pool2d(x, kernel_size, stride).backward(grad_out)
    return x.grad


gen = torch.Generator().manual_seed(11)
x, grad_out = torch.randn(2, 3, 6, 6, generator=gen, dtype=DTYPE), torch.randn(2, 3, 3, 3, generator=gen, dtype=DTYPE)
grad_x = learner.max_pool2d_backward(grad_out, x, 2)
expect.shape(grad_x, (2, 3, 6, 6), what="max_pool2d_backward for a (2, 3, 6, 6) input, 2x2 windows", hint="the gradient has the input's shape")
expect.close(grad_x.sum(dim=(2, 3)), grad_out.sum(dim=(2, 3)), atol=1e-12, rtol=1e-10, what="the sum of the input gradient per channel",
             hint="every window passes its gradient on exactly once, so the totals must be equal: not to every pixel of the window")
### BEGIN HIDDEN TESTS
hint = ("each window's gradient goes entirely to its first maximum (the index max_pool2d returns); "
        "a pixel that wins several overlapping windows gets the SUM (scatter_add_); every other pixel gets 0")
expect.close(grad_x, autograd_max_pool(grad_out, x, 2), atol=1e-12, rtol=1e-10, what="max_pool2d_backward with 2x2 windows compared with autograd", hint=hint)
for shape, kernel, stride, case in [
    ((1, 2, 7, 9), 2, None, "an odd size (7, 9), 2x2 windows"),
    ((2, 2, 6, 7), (2, 3), (2, 3), "(2, 3) windows side by side"),
    ((2, 3, 6, 6), 3, 1, "overlapping 3x3 windows with stride 1"),
    ((1, 2, 9, 8), 3, 2, "overlapping 3x3 windows with stride 2"),
]:
    x = torch.randn(*shape, generator=gen, dtype=DTYPE)
    grad_out = torch.randn(*F.max_pool2d(x, kernel, stride).shape, generator=gen, dtype=DTYPE)
    expect.close(learner.max_pool2d_backward(grad_out, x, kernel, stride), autograd_max_pool(grad_out, x, kernel, stride), atol=1e-12, rtol=1e-10,
                 what=f"max_pool2d_backward with {case} compared with autograd", hint=hint)
integers = torch.randint(0, 3, (2, 2, 6, 8), generator=gen).to(DTYPE)
for x, kernel, stride, case in [(integers, 2, None, "ties (integer pixels), 2x2 windows"),
                                (integers, 3, 1, "ties (integer pixels), overlapping 3x3 windows"),
                                (torch.zeros(1, 1, 4, 4, dtype=DTYPE), 2, None, "an all-zero input")]:
    grad_out = torch.randn(*F.max_pool2d(x, kernel, stride).shape, generator=gen, dtype=DTYPE)
    expect.close(learner.max_pool2d_backward(grad_out, x, kernel, stride), autograd_max_pool(grad_out, x, kernel, stride), atol=1e-12, rtol=1e-10,
                 what=f"max_pool2d_backward with {case} compared with autograd",
                 hint="with ties the whole gradient goes to the FIRST maximum of the window in row-major order, as in PyTorch; " + hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 9 · Receptive fields
#
# The **receptive field** of an output pixel is the set of input pixels that can change it. One
# $k \times k$ convolution sees a $k \times k$ patch. Stacking layers widens it: per axis, track the
# receptive-field size $r$ and the **jump** $j$, the distance in input pixels between two
# neighbouring positions of the current map. Starting from the input itself ($r_0 = 1$,
# $j_0 = 1$), a layer with kernel $k_l$, stride $s_l$ and dilation $d_l$ (a pooling layer is a
# layer too, with dilation 1) gives
#
# $$r_l = r_{l-1} + (k_l - 1)\, d_l\, j_{l-1}, \qquad j_l = j_{l-1}\, s_l ,
# \qquad\text{so}\qquad r_L = 1 + \sum_{l=1}^{L} (k_l - 1)\, d_l \prod_{m < l} s_m .$$
#
# **What this means.** A layer adds $k - 1$ neighbours *of its own input map*, and one step on that
# map is $j_{l-1}$ input pixels, so the growth is measured in the input's pixels through the jump.
# Without striding, each 3x3 layer adds only 2 pixels: ten layers see 21 pixels. Every stride or
# pooling multiplies all later growth, and dilations 1, 2, 4, 8, ... double it per layer, which is
# how WaveNet reaches thousands of audio samples. Compare attention: one attention layer already
# sees the whole context (and sliding-window attention, as in Mistral, grows its reach by the
# window size per layer, exactly like a stack of convolutions). The figure measures receptive
# fields the honest way: the gradient of one output pixel with respect to the input is non-zero
# exactly on the pixels it can see.

# %%
def gradient_footprint(layers, size=33):
    """|d output[centre] / d input| for a stack of (kernel, stride, dilation) layers with all-ones weights."""
    image = torch.zeros(1, 1, size, size, dtype=DTYPE, requires_grad=True)
    h = image
    for kernel, stride, dilation in layers:
        h = F.conv2d(h, torch.ones(1, 1, kernel, kernel, dtype=DTYPE), stride=stride, dilation=dilation)
    h[0, 0, h.shape[2] // 2, h.shape[3] // 2].backward()
    return image.grad[0, 0] != 0


stacks = {
    "one 3x3 conv": [(3, 1, 1)],
    "three 3x3 convs": [(3, 1, 1)] * 3,
    "DigitsCNN: conv, pool 2, conv, pool 2": [(3, 1, 1), (2, 2, 1), (3, 1, 1), (2, 2, 1)],
    "3x3 convs, dilation 1, 2, 4": [(3, 1, 1), (3, 1, 2), (3, 1, 4)],
}
fig, axes = plt.subplots(1, 4, figsize=(13, 3.5))
for ax, (title, layers) in zip(axes, stacks.items()):
    footprint = gradient_footprint(layers)
    rows = footprint.any(dim=1).nonzero()
    ax.imshow(footprint, cmap="Greys", vmin=0, vmax=1)
    ax.set(title=f"{title}\nspan {int(rows.max() - rows.min() + 1)} pixels", xticks=[], yticks=[])
fig.tight_layout()
plt.show()

# %% nbgrader={"grade": false, "grade_id": "receptive_field", "locked": false, "schema_version": 3, "solution": true, "task": false}
def receptive_field(layers: list[tuple[int, int, int]]) -> tuple[int, int]:
    """Receptive-field size and jump along one axis of a stack of convolution or pooling layers.

    Args:
        layers: [(kernel_size, stride, dilation), ...] from the input upwards (pooling layers
            have dilation 1). An empty list is the input itself.

    Returns:
        (size, jump) as Python ints: size = the number of input pixels between the first and the
        last pixel (inclusive) that one output pixel of the last layer can see; jump = the
        distance in input pixels between two neighbouring outputs of the last layer.

    Example (about 10 minutes):
        >>> receptive_field([(3, 1, 1), (2, 2, 1), (3, 1, 1)])
        (8, 2)
    """
    ### BEGIN SOLUTION
    size, jump = 1, 1
    for kernel_size, stride, dilation in layers:
        size += (kernel_size - 1) * dilation * jump  # k - 1 more neighbours, each `jump` input pixels apart
        jump *= stride
    return size, jump
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "receptive_field_by_hand", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""receptive fields on hand-computed stacks: the input alone, two 3x3 convs, and conv, 2x2 pool, conv"""
from grader.testing import learner, expect

expect.equal(tuple(learner.receptive_field([])), (1, 1), what="receptive_field([])", hint="the input alone: each pixel sees itself, jump 1")
expect.equal(tuple(learner.receptive_field([(3, 1, 1), (3, 1, 1)])), (5, 1), what="two 3x3 convs with stride 1",
             hint="each 3x3 layer with stride 1 adds 2 pixels")
expect.equal(tuple(learner.receptive_field([(3, 1, 1), (2, 2, 1), (3, 1, 1)])), (8, 2), what="3x3 conv, 2x2 pool with stride 2, 3x3 conv",
             hint="after a stride-2 layer one step on the map is 2 input pixels: the last conv adds (3 - 1) * 2")

# %% nbgrader={"grade": true, "grade_id": "receptive_field_matches_gradients", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the receptive field size and jump equal what autograd measures (the span of input pixels with a non-zero gradient) for random stacks of convolutions with strides and dilations"""
from grader.testing import learner, expect

expect.equal(tuple(learner.receptive_field([(5, 1, 2)])), (9, 1), what="one 5-tap conv with dilation 2",
             hint="a dilated kernel spans d(k - 1) + 1 pixels")
### BEGIN HIDDEN TESTS
def measured_receptive_field(layers, length=5000):
    """(span of the non-zero input gradient of one output, the shift of that span between two neighbouring outputs)."""
    signal_in = torch.zeros(1, 1, length, dtype=DTYPE, requires_grad=True)
    h = signal_in
    for kernel_size, stride, dilation in layers:
        h = F.conv1d(h, torch.ones(1, 1, kernel_size, dtype=DTYPE), stride=stride, dilation=dilation)
    middle = (h.shape[-1] - 1) // 2
    first, = torch.autograd.grad(h[0, 0, middle], signal_in, retain_graph=True)
    second, = torch.autograd.grad(h[0, 0, middle + 1], signal_in)
    seen, seen_next = first[0, 0].nonzero().flatten(), second[0, 0].nonzero().flatten()
    return int(seen.max() - seen.min() + 1), int(seen_next.min() - seen.min())


hint = "size grows by (k - 1) * d * jump, where jump is the product of the strides of the layers BELOW; then jump *= stride"
rng = np.random.default_rng(12)
for _ in range(30):
    layers = [(int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 4))) for _ in range(int(rng.integers(1, 6)))]
    expect.equal(tuple(learner.receptive_field(layers)), measured_receptive_field(layers),
                 what=f"receptive_field of a stack of {len(layers)} layers (kernel, stride, dilation) compared with autograd", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 10 · A small CNN on handwritten digits
#
# Time to put the pieces together. scikit-learn ships 1797 handwritten digits as 8x8 grey images
# with 17 levels (loaded above by `digits_split`, scaled to $[0, 1]$, 1297 for training and 500 held
# out). A tiny CNN classifies them:
#
# | layer | output shape | parameters |
# |---|---|---|
# | input | $(N, 1, 8, 8)$ | |
# | `conv1` = `nn.Conv2d(1, 16, 3, padding=1)`, ReLU | $(N, 16, 8, 8)$ | $16 \cdot (9 + 1) = 160$ |
# | max pool 2 | $(N, 16, 4, 4)$ | |
# | `conv2` = `nn.Conv2d(16, 32, 3, padding=1)`, ReLU | $(N, 32, 4, 4)$ | $32 \cdot (144 + 1) = 4640$ |
# | max pool 2 | $(N, 32, 2, 2)$ | |
# | flatten, `fc` = `nn.Linear(128, 10)` | $(N, 10)$ logits | $1290$ |
#
# 6090 parameters in all. Each output pixel of `conv2` sees $8 \times 8$ input pixels (your
# `receptive_field([(3, 1, 1), (2, 2, 1), (3, 1, 1)])`), so after the second pooling every
# feature has seen most of the digit. The layers use PyTorch's `nn.Conv2d` for speed; your
# `conv2d` computes exactly the same thing, as you will check below.
#
# **Training recipe** (what the test expects): `torch.manual_seed(seed)` before building the model,
# Adam with learning rate $10^{-2}$, mini-batches of 64 in a fresh random order each epoch (from a
# `torch.Generator` seeded with `seed`), cross-entropy on the logits, 12 epochs. It takes about a
# second on a CPU and reaches about 98% on the held-out digits.

# %% nbgrader={"grade": false, "grade_id": "digits_cnn", "locked": false, "schema_version": 3, "solution": true, "task": false}
class DigitsCNN(nn.Module):
    """conv1 (1 -> 16, 3x3, padding 1) -> ReLU -> max pool 2 -> conv2 (16 -> 32, 3x3, padding 1) -> ReLU
    -> max pool 2 -> flatten -> fc (128 -> 10).

    Attributes (exactly these names, so weights can be loaded by name):
        conv1: nn.Conv2d(1, 16, 3, padding=1). conv2: nn.Conv2d(16, 32, 3, padding=1). fc: nn.Linear(128, 10).

    Example (about 10 minutes):
        >>> DigitsCNN()(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 10])
    """

    def __init__(self):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.fc = nn.Linear(32 * 2 * 2, 10)
        ### END SOLUTION

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The maps after each conv + ReLU, before pooling, for images x (N, 1, 8, 8):
        [(N, 16, 8, 8), (N, 32, 4, 4)]."""
        ### BEGIN SOLUTION
        first = F.relu(self.conv1(x))
        second = F.relu(self.conv2(F.max_pool2d(first, 2)))
        return [first, second]
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 10) for images x (N, 1, 8, 8)."""
        ### BEGIN SOLUTION
        _, second = self.feature_maps(x)
        return self.fc(F.max_pool2d(second, 2).flatten(1))  # (N, 32, 2, 2) -> (N, 128) -> (N, 10)
        ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "digits_cnn_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""DigitsCNN has the layers conv1, conv2 and fc with the shapes of the table (6090 parameters), returns (N, 10) logits and feature maps of shapes (N, 16, 8, 8) and (N, 32, 4, 4)"""
from grader.testing import scenario, expect


@scenario
def digits_cnn_summary(ns):
    """The parameter shapes, the logits' shape and the feature maps' shapes of a fresh DigitsCNN."""
    model = ns.DigitsCNN()
    x = torch.zeros(5, 1, 8, 8)
    return {"parameters": {name: list(p.shape) for name, p in model.named_parameters()},
            "logits": list(model(x).shape), "maps": [list(m.shape) for m in model.feature_maps(x)]}


got = digits_cnn_summary.learner()
expect.equal(got["parameters"], {"conv1.weight": [16, 1, 3, 3], "conv1.bias": [16], "conv2.weight": [32, 16, 3, 3], "conv2.bias": [32],
                                 "fc.weight": [10, 128], "fc.bias": [10]},
             what="the parameters of DigitsCNN by name and shape", hint="three layers called conv1, conv2 and fc, as in the table")
expect.equal(got["logits"], [5, 10], what="the logits for 5 images", hint="one row of 10 class scores per image")
expect.equal(got["maps"], [[5, 16, 8, 8], [5, 32, 4, 4]], what="the shapes of feature_maps for 5 images",
             hint="the maps after each conv + ReLU, before pooling; conv2 reads the pooled first map")

# %% nbgrader={"grade": true, "grade_id": "digits_cnn_forward_matches_functional", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""with given weights, DigitsCNN's logits and feature maps equal the same network written with F.conv2d, F.relu, F.max_pool2d and a row-major flatten"""
from grader.testing import scenario, expect


@scenario
def digits_cnn_with_weights(ns, state, images):
    """DigitsCNN in float64 with the weights `state` loaded by name: its logits and feature maps for `images`."""
    model = ns.DigitsCNN().double()
    model.load_state_dict(state)
    with torch.no_grad():
        return {"logits": model(images), "maps": list(model.feature_maps(images))}


gen = torch.Generator().manual_seed(13)
state = {name: 0.3 * torch.randn(*shape, generator=gen, dtype=DTYPE) for name, shape in [
    ("conv1.weight", (16, 1, 3, 3)), ("conv1.bias", (16,)), ("conv2.weight", (32, 16, 3, 3)), ("conv2.bias", (32,)),
    ("fc.weight", (10, 128)), ("fc.bias", (10,))]}
images = digits_split()[2][:6].double()   # six held-out digits
got = digits_cnn_with_weights.learner(state, images)
expect.shape(got["logits"], (6, 10), what="the logits of DigitsCNN for 6 images")
### BEGIN HIDDEN TESTS
first = F.relu(F.conv2d(images, state["conv1.weight"], state["conv1.bias"], padding=1))
second = F.relu(F.conv2d(F.max_pool2d(first, 2), state["conv2.weight"], state["conv2.bias"], padding=1))
logits = F.max_pool2d(second, 2).flatten(1) @ state["fc.weight"].T + state["fc.bias"]
hint = "conv1, ReLU, 2x2 max pool, conv2, ReLU, 2x2 max pool, flatten (N, 32, 2, 2) to (N, 128) in row-major order, fc"
expect.close(got["maps"], [first, second], atol=1e-12, rtol=1e-10, what="the feature maps with given weights", hint=hint)
expect.close(got["logits"], logits, atol=1e-12, rtol=1e-10, what="the logits with given weights", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# Now the training loop, as in `08-pytorch`. Keep it plain: one loop over epochs, one over
# mini-batches, `zero_grad`, `backward`, `step`. Record the mean training loss of each epoch
# (weight each batch's loss by its size, since the last batch is smaller).

# %% nbgrader={"grade": false, "grade_id": "train_digits_cnn", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_digits_cnn(X_train: torch.Tensor, y_train: torch.Tensor, epochs: int = 12, lr: float = 1e-2,
                     batch_size: int = 64, seed: int = 0) -> tuple[DigitsCNN, list[float]]:
    """Train a fresh DigitsCNN with Adam and cross-entropy on mini-batches.

    Args:
        X_train: float32 (n, 1, 8, 8) images. y_train: int64 (n,) labels 0-9.
        epochs, lr, batch_size: the recipe above. seed: seeds the initialisation
            (torch.manual_seed(seed) before building the model) and the batch order
            (a torch.Generator seeded with seed, a new permutation every epoch).

    Returns:
        (model, losses): the trained model in evaluation mode, and a list of `epochs` Python
        floats, the mean cross-entropy over the training set during each epoch.

    Example (about 15 minutes; the run takes about a second):
        >>> model, losses = train_digits_cnn(X_train, y_train)   # losses[-1] is about 0.03
    """
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    model = DigitsCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        model.train()
        total = 0.0
        for batch in torch.randperm(len(y_train), generator=order).split(batch_size):
            loss = F.cross_entropy(model(X_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        losses.append(total / len(y_train))
    model.eval()
    return model, losses
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "digits_cnn_trains_to_accuracy_bar", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""train_digits_cnn returns one finite mean loss per epoch, the loss falls, and the trained CNN classifies at least 95% of 500 held-out digits correctly (the reference reaches about 98%)"""
from grader.testing import scenario, expect


@scenario
def trained_digits_cnn(ns, epochs, seed):
    """Train on digits_split()'s training set; the losses and the accuracy on its 500 held-out digits."""
    X_train, y_train, X_test, y_test = ns.digits_split()
    model, losses = ns.train_digits_cnn(X_train, y_train, epochs=epochs, seed=seed)
    with torch.no_grad():
        predictions = model(X_test).argmax(dim=1)
    return {"losses": [float(loss) for loss in losses], "accuracy": float((predictions == y_test).double().mean())}


got = trained_digits_cnn.learner(1, 0)
expect.equal(len(got["losses"]), 1, what="the number of losses after 1 epoch", hint="append one mean loss per epoch")
expect.finite(np.array(got["losses"]), what="the loss of the first epoch", hint="cross-entropy on the logits; is the learning rate 1e-2?")
### BEGIN HIDDEN TESTS
got = trained_digits_cnn.learner(12, 0)
expect.equal(len(got["losses"]), 12, what="the number of losses after 12 epochs")
losses = np.asarray(got["losses"], dtype=float)
expect.shape(losses, (12,), what="the losses over 12 epochs", hint="one float per epoch")
expect.finite(losses, what="the losses over 12 epochs")
expect.true(losses[-1] < 0.25 * losses[0] and losses[-1] < 0.2,
            "the training loss did not fall as expected over 12 epochs: are zero_grad, backward and step all called on every "
            "mini-batch, with Adam at lr=1e-2 on all the model's parameters?")
expect.true(got["accuracy"] >= 0.95,
            f"the trained CNN classifies {100 * got['accuracy']:.1f}% of the held-out digits correctly, below the bar of 95%: "
            "check the architecture (ReLU after each conv, pooling) and the recipe (12 epochs, Adam, lr=1e-2, batches of 64)")
### END HIDDEN TESTS

# %% [markdown]
# Train it here and look at what it learned: the loss per epoch, the held-out accuracy and the
# confusion matrix (row = true digit, column = predicted digit).

# %%
try:
    cnn, epoch_losses = train_digits_cnn(X_train, y_train)
    with torch.no_grad():
        predicted = cnn(X_test).argmax(dim=1)
    print(f"held-out accuracy: {(predicted == y_test).double().mean().item():.3f}   final training loss: {epoch_losses[-1]:.4f}")
    confusion = torch.zeros(10, 10, dtype=torch.int64)
    confusion.index_put_((y_test, predicted), torch.ones_like(y_test), accumulate=True)
    fig, (ax_loss, ax_conf) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(range(1, len(epoch_losses) + 1), epoch_losses, marker="o")
    ax_loss.set(xlabel="epoch", ylabel="mean training cross-entropy", yscale="log", title="training loss")
    ax_conf.imshow(confusion, cmap="Blues")
    for i in range(10):
        for j in range(10):
            if confusion[i, j]:
                ax_conf.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=8,
                             color="white" if confusion[i, j] > 20 else "black")
    ax_conf.set(xlabel="predicted", ylabel="true", xticks=range(10), yticks=range(10), title="held-out confusion matrix")
    fig.tight_layout()
    plt.show()
except NotImplementedError:
    cnn = None
    print("Write DigitsCNN and train_digits_cnn above to train the network and see its results.")

# %% [markdown]
# **The trained network's filters and feature maps.** The 16 first-layer kernels are 3x3 patterns
# (strokes and edges at various angles); the feature maps show where each pattern occurs in one
# held-out digit. The second layer's maps are coarser (4x4) and respond to combinations of strokes.
# Some channels stay dark for this digit: after the ReLU they are zero wherever their pattern is
# absent, and each digit switches on a different subset.
# Last, your own `conv2d`, given the trained weights, reproduces the network's first layer.

# %%
if cnn is not None:
    digit_image = X_test[:1]
    with torch.no_grad():
        first_maps, second_maps = cnn.feature_maps(digit_image)
    fig = plt.figure(figsize=(16, 4.6))
    grid = fig.add_gridspec(4, 18, width_ratios=[2.2, 3.0] + [1] * 16, wspace=0.15, hspace=0.15)
    ax = fig.add_subplot(grid[1:3, 0])
    ax.imshow(digit_image[0, 0], cmap="gray")
    ax.set(title=f"input: a {y_test[0].item()}", xticks=[], yticks=[])
    rows = [("conv1 kernels (3x3)", [cnn.conv1.weight[k, 0].detach() for k in range(16)], "RdBu_r"),
            ("conv1 maps (8x8)", [first_maps[0, k] for k in range(16)], "viridis"),
            ("conv2 maps 0-15 (4x4)", [second_maps[0, k] for k in range(16)], "viridis"),
            ("conv2 maps 16-31 (4x4)", [second_maps[0, k] for k in range(16, 32)], "viridis")]
    for row, (label, images, cmap) in enumerate(rows):
        text_ax = fig.add_subplot(grid[row, 1])
        text_ax.axis("off")
        text_ax.text(1.0, 0.5, label, ha="right", va="center", fontsize=9)
        for k, image in enumerate(images):
            ax = fig.add_subplot(grid[row, k + 2])
            ax.imshow(image, cmap=cmap)
            ax.set(xticks=[], yticks=[])
    fig.suptitle("the trained DigitsCNN: first-layer kernels and the feature maps of one held-out digit")
    plt.show()
    try:
        with torch.no_grad():
            weight, bias = cnn.conv1.weight.double(), cnn.conv1.bias.double()   # float64 copies of the trained layer
            mine = conv2d(digit_image.double(), weight, bias, 1, 1)
            theirs = F.conv2d(digit_image.double(), weight, bias, 1, 1)
        print("largest difference between your conv2d and PyTorch's on the trained first layer (float64):",
              (mine - theirs).abs().max().item())
    except NotImplementedError:
        print("Write conv2d above to compare it with the trained nn.Conv2d.")
else:
    print("Train the network above to see its filters and feature maps.")

# %% [markdown]
# ## Practical considerations
#
# **Numerical precision.** `float64` sums agree with `F.conv2d` to about $10^{-15}$ per term; in
# `float32` two correct implementations differ by about $10^{-6}$ relative, because they add the
# same products in a different order. On NVIDIA GPUs, cuDNN computes `float32` convolutions in
# TF32 by default (`torch.backends.cudnn.allow_tf32` is `True`), which keeps only about 3 decimal
# digits of each product: compare with a reference in `float64`, or switch TF32 off, before
# deciding that your convolution is wrong.
#
# **Speed and memory.** im2col copies each input pixel $k_H k_W$ times; for large images and
# batches the column matrix is the memory peak. Production libraries pick per shape among
# *implicit* GEMM (the columns are formed on the fly inside the matrix-multiply kernel, never
# stored), Winograd (fewer multiplications for 3x3 kernels) and FFT convolution (large kernels);
# `torch.backends.cudnn.benchmark = True` lets cuDNN time them and choose. The channels-last memory
# layout (`x.to(memory_format=torch.channels_last)`) makes the $C$ values of one pixel contiguous,
# which is what those kernels read. `torch.as_strided` can build the windows as a zero-copy view of
# the padded input (no copy until the matrix product).
#
# **Common bugs, and how the tests here catch them.**
#
# | bug | symptom | caught by |
# |---|---|---|
# | flipping the kernel (true convolution) | equals `scipy.signal.convolve2d`, not `F.conv2d` | comparisons with scipy and `F.conv2d` on asymmetric kernels |
# | output size without the dilation term, or without the "+1" | wrong shapes, crashes in the slicing | `conv_output_size` against `F.conv2d`'s shapes |
# | padding only at the bottom and right | right shape, output shifted by $p$ | `pad2d` against `F.pad`, `conv2d` with padding |
# | im2col rows in (tap, channel) order, or taps (v, u) instead of (u, v) | right shapes, scrambled weights | `im2col` against `F.unfold` with several channels and non-square kernels |
# | `out + bias` on $(N, C_\text{out}, L)$ | a broadcasting error, or (when $L = C_\text{out}$) a bias per position | zero weights with a bias, and $L = C_\text{out}$ against `F.conv2d` |
# | max-pool gradient spread evenly, or to the whole window | gradient of average pooling; totals too large | autograd through `F.max_pool2d` |
# | max-pool gradient to every tied maximum, or overwritten where windows overlap | wrong only on ties / overlaps | integer inputs, stride smaller than the kernel |
# | receptive field without the jump | far too small for strided stacks | autograd's gradient footprint |
# | FLOPs counted as multiply-adds | half of `torch.utils.flop_counter` | `FlopCounterMode` |
# | images of shape $(N, 8, 8)$ fed to `nn.Conv2d` | the 8 rows taken as channels (or an error) | always keep the channel axis: $(N, 1, 8, 8)$ |
#
# **Hyperparameters and design choices that matter.**
# - *3x3 kernels.* Two stacked 3x3 layers see 5x5 pixels with $2 \cdot 9 C^2 = 18 C^2$ weights
#   instead of $25 C^2$, and add a nonlinearity in between; this is why 3x3 kernels (VGG, ResNet)
#   replaced large ones.
# - *Channels double when the resolution halves*, so that every stage costs about the same FLOPs.
# - *Downsampling*: max pooling, or a stride-2 convolution (learned downsampling, common in modern
#   designs). Anti-aliased ("blur-pool") downsampling restores more of the shift equivariance that
#   strides break.
# - *1x1 convolutions* mix channels at each pixel separately: a dense layer applied per position,
#   exactly what a transformer's position-wise feed-forward layer is (Hugging Face's GPT-2 even
#   implements its linear layers in a class called `Conv1D`).
# - *groups*: `groups=C` gives depthwise convolutions (one filter per channel; MobileNet, ConvNeXt,
#   and the short causal `conv1d` in Mamba), cutting parameters and FLOPs by a factor $C$; this
#   notebook only covers `groups=1`.
# - *Padding modes*: zeros (here), reflect, replicate or circular (`padding_mode=` in
#   `nn.Conv2d`); `padding="same"` with an even kernel needs one more zero on one side.
# - *Data*: scale inputs to a small range (here $[0, 1]$); without normalisation layers the
#   learning rate is the hyperparameter that matters most (Adam at $10^{-2}$ is fine for this
#   tiny network, too high for large ones).

# %% [markdown]
# **On a GPU.** The test below (tagged `gpu`, run only where CUDA is present) runs your `conv2d`,
# `max_pool2d` and `max_pool2d_backward` on CUDA tensors. Everything you create inside them must be
# created on the input's device (`x.new_zeros`, `torch.arange(..., device=x.device)`), or PyTorch
# refuses to mix CPU and GPU tensors. It works in `float64`, so no TF32 rounding gets in the way.

# %% nbgrader={"grade": true, "grade_id": "conv_and_pooling_on_cuda", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["gpu"]
"""on a CUDA GPU, conv2d, max_pool2d and max_pool2d_backward keep CUDA inputs on the GPU and give the same results as PyTorch's functions on the CPU"""
from grader.testing import needs_gpu; needs_gpu()
from grader.testing import scenario, expect


@scenario
def conv_and_pooling_on(ns, device):
    """conv2d, max_pool2d and max_pool2d_backward on `device`, with inputs drawn in float64 on the CPU."""
    gen = torch.Generator().manual_seed(14)
    x = torch.randn(2, 3, 9, 8, generator=gen, dtype=torch.float64)
    weight = torch.randn(4, 3, 3, 2, generator=gen, dtype=torch.float64)
    bias = torch.randn(4, generator=gen, dtype=torch.float64)
    grad_out = torch.randn(2, 3, 4, 4, generator=gen, dtype=torch.float64)
    out = ns.conv2d(x.to(device), weight.to(device), bias.to(device), (2, 1), 1, (1, 2))
    values, indices = ns.max_pool2d(x.to(device), 2)
    grad_x = ns.max_pool2d_backward(grad_out.to(device), x.to(device), 2)
    return {"devices": [t.device.type for t in (out, values, indices, grad_x)],
            "out": out.cpu(), "values": values.cpu(), "indices": indices.cpu(), "grad_x": grad_x.cpu()}


got = conv_and_pooling_on.learner("cuda")
expect.equal(got["devices"], ["cuda"] * 4, what="the devices of conv2d's output, max_pool2d's values and indices and max_pool2d_backward's gradient",
             hint="create every new tensor on the input's device: x.new_zeros(...), torch.arange(..., device=x.device)")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(14)   # the scenario's inputs, recreated here
x = torch.randn(2, 3, 9, 8, generator=gen, dtype=DTYPE)
weight, bias = torch.randn(4, 3, 3, 2, generator=gen, dtype=DTYPE), torch.randn(4, generator=gen, dtype=DTYPE)
grad_out = torch.randn(2, 3, 4, 4, generator=gen, dtype=DTYPE)
expect.close(got["out"], F.conv2d(x, weight, bias, (2, 1), 1, (1, 2)), atol=1e-10, rtol=1e-10, what="conv2d on CUDA compared with F.conv2d on the CPU")
want_values, want_indices = F.max_pool2d(x, 2, return_indices=True)
expect.close(got["values"], want_values, atol=0, rtol=0, what="max_pool2d's values on CUDA")
expect.equal(got["indices"], want_indices, what="max_pool2d's indices on CUDA")
x.requires_grad_(True)
F.max_pool2d(x, 2).backward(grad_out)
expect.close(got["grad_x"], x.grad, atol=1e-12, rtol=1e-10, what="max_pool2d_backward on CUDA compared with autograd on the CPU")
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | cross-correlation ("convolution" in DL) | $y[i, j] = \sum_{u,v} x[i+u, j+v]\, w[u, v]$, no flip | `(image[i:i+kH, j:j+kW] * kernel).sum()` | ViT patch embeddings, Whisper's audio stem, Mamba's short convolution |
# | output size | $\lfloor (H + 2p - d(k-1) - 1)/s \rfloor + 1$ | `(size + 2*p - (d*(k-1) + 1)) // s + 1` | sequence lengths after conv stems (Whisper halves 3000 frames to 1500) |
# | zero padding | zeros on both sides; causal 1-D: $k-1$ on the left only | `out[:, :, p:p+H, p:p+W] = x` | causal convolutions in sequence models pad only the past |
# | im2col | $\text{cols}[n, (c,u,v), (i,j)] = X_\text{pad}[n, c, s i + d u, s j + d v]$ | one strided slice per tap, then `reshape` | "patchify" in ViTs; GEMM-based kernels |
# | conv as one matrix product | $Y = W_\text{mat}\,\text{cols} + b\mathbf{1}^\top$ | `weight.reshape(C_out, -1) @ cols + bias[:, None]` | every layer runs as a GEMM on the same hardware |
# | cost | params $C_\text{out}(C_\text{in}k_Hk_W + 1)$; FLOPs $2\,C_\text{in}k_Hk_W C_\text{out} H_\text{out}W_\text{out}$ | `FlopCounterMode` | FLOPs $= 2 \times$ weights $\times$ positions, like $2ND$ for a transformer |
# | translation equivariance | $\operatorname{conv}(T x) = T \operatorname{conv}(x)$ (stride 1) | `torch.roll` test | the locality and weight-sharing prior attention drops (and positions must restore) |
# | max pooling and its gradient | $\partial\mathcal{L}/\partial x_{hw} = \sum_{\text{windows won}} \partial\mathcal{L}/\partial y$ | `max(dim=1)` over im2col, `scatter_add_` | routing gradients through a selection: top-k, MoE routers, argmax-based sampling |
# | receptive field | $r_l = r_{l-1} + (k_l - 1) d_l j_{l-1}$, $j_l = j_{l-1}s_l$ | a loop over layers | how far a conv stack, or sliding-window attention, can see |
# | a small CNN | conv, ReLU, pool, ..., linear | `nn.Conv2d`, `F.max_pool2d`, `F.cross_entropy`, Adam | the vision encoders of multimodal LLMs started as CNNs |

# %% [markdown]
# # 03 · Probability for language models
#
# A language model turns a context into a **probability distribution over the next token**. Its
# last layer emits one real number per vocabulary entry, the *logits* $z \in \mathbb{R}^V$;
# softmax turns them into probabilities, and training makes the tokens that really came next
# as probable as possible:
#
# $$\boxed{\;p_\theta(x_t = i \mid x_{<t}) = \operatorname{softmax}(z)_i = \frac{e^{z_i}}{\sum_{j=1}^{V} e^{z_j}},
# \qquad \mathcal{L}(\theta) = -\frac{1}{N}\sum_{t=1}^{N} \log p_\theta(x_t \mid x_{<t})\;}$$
#
# Every forward pass of an LLM ends in this softmax, every pretraining run minimises this
# cross-entropy, and perplexity, the KL penalty of RLHF and temperature sampling at inference
# time are built from the same few formulas. This assignment builds them from scratch, in a
# form that does not overflow when logits reach $10^4$.
#
# **Prerequisites.** [01-linear-algebra](../01-linear-algebra/01-linear-algebra.ipynb) (arrays,
# broadcasting, the `axis` argument). **Packages.** NumPy and matplotlib. The hidden tests
# compare your code with `scipy.special`, `scipy.stats` and `torch.nn.functional`, but your
# solutions use NumPy only.
#
# **Conventions.** Every function works on the **last axis** (shape `(..., V)`), so a batch
# of distributions is just more leading axes. Arrays are `float64`. `log` is the natural
# logarithm, so information is measured in **nats** (1 nat $= 1/\ln 2 \approx 1.443$ bits).
#
# | § | you implement | one line |
# |---|---|---|
# | 1 | `softmax` | logits → probabilities, without overflow |
# | 2 | `logsumexp` | $\log\sum_j e^{z_j}$, the "soft maximum" |
# | 3 | `log_softmax` | log-probabilities, without $\log 0$ |
# | 4 | `mle_categorical`, `gaussian_log_likelihood`, `mle_gaussian` | maximum-likelihood estimates |
# | 5 | `cross_entropy` | the language-modelling loss, from logits |
# | 6 | `perplexity` | $e^{\text{cross-entropy}}$: the effective number of choices |
# | 7 | `entropy`, `kl_divergence` | uncertainty, and the distance-like gap between distributions |
# | 8 | `fit_gaussian_by_kl` | forward vs reverse KL: mass-covering vs mode-seeking |
# | 9 | `bayes_posterior` | Bayes' rule |
# | 10 | `apply_temperature`, `sample_with_temperature` | sampling the next token |

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ---
# ## 1 · Softmax: from logits to probabilities
#
# $$\operatorname{softmax}(z)_i = \frac{e^{z_i}}{\sum_{j} e^{z_j}}, \qquad i = 1, \dots, V.$$
#
# **What this means.** Exponentiating makes every score positive; dividing by the sum makes the
# scores add up to one. Only *differences* between logits matter: a gap of $\Delta$ between two
# logits is a probability ratio of $e^{\Delta}$, so a gap of 2.3 is a factor of 10.
#
# Three properties do all the work in this assignment:
#
# * **Shift invariance.** $\operatorname{softmax}(z + c) = \operatorname{softmax}(z)$ for any
#   constant $c$, because $e^{z_i + c} / \sum_j e^{z_j + c} = e^c e^{z_i} / (e^c \sum_j e^{z_j})$.
# * **Order preservation.** A larger logit always gets a larger probability, so
#   $\arg\max_i \operatorname{softmax}(z)_i = \arg\max_i z_i$.
# * **A simple Jacobian.** $\partial \operatorname{softmax}(z)_i / \partial z_j = s_i(\delta_{ij} - s_j)$
#   with $s = \operatorname{softmax}(z)$; this is why its gradient is cheap (assignment 06).
#
# **The trap.** `float64` overflows at $e^{709.8}$, `float32` at $e^{88.7}$ and `float16` at
# $e^{11.1}$. Trained LLMs routinely produce logits in the tens, and with low temperatures
# (§10) we divide by small numbers, so the naive formula returns `inf / inf = nan`. Shift
# invariance is the cure: subtract the largest logit first, so the largest exponent is
# $e^0 = 1$ and nothing can overflow.

# %%
# Worked example: the naive formula breaks, the shifted one does not.
z = np.array([1000.0, 999.0, 0.0])
with np.errstate(over="ignore", invalid="ignore"):
    naive = np.exp(z) / np.exp(z).sum()
shifted = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
print("naive   :", naive)      # [nan nan 0.]: inf / inf
print("shifted :", shifted)    # the same distribution as softmax([1, 0, -999])
print("ratio p0/p1 =", shifted[0] / shifted[1], "= e^1 =", math.e)

# %% nbgrader={"grade": false, "grade_id": "softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax(x: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis.

    Args:
        x: float64 array of shape (..., V): logits. Entries may be as large as 1e4 in
           magnitude, and may be -inf (a masked-out choice) as long as each row has a finite
           entry.
    Returns:
        float64 array of shape (..., V): non-negative, each row sums to 1.

    Example:
        >>> softmax(np.array([0.0, 0.0]))
        array([0.5, 0.5])
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    shifted = x - np.max(x, axis=-1, keepdims=True)  # largest entry becomes 0: exp cannot overflow
    exps = np.exp(shifted)
    return exps / np.sum(exps, axis=-1, keepdims=True)
    ### END SOLUTION


# %%
# Try it: a batch of two rows, one of them with huge logits.
print(softmax(np.array([[2.0, 1.0, 0.1], [1e4, 0.0, -1e4]])))

# %% nbgrader={"grade": true, "grade_id": "softmax_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""softmax of small hand-checked logits: equal logits give equal probabilities, rows sum to one, the shape is kept"""
from grader.testing import learner, reference, expect

expect.close(learner.softmax(np.array([0.0, 0.0])), np.array([0.5, 0.5]), atol=1e-15, rtol=0, what="softmax([0, 0])")
p = learner.softmax(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
expect.shape(p, (2, 3), what="softmax of a (2, 3) batch", hint="softmax keeps the shape of its input")
expect.close(np.sum(p, axis=-1), np.ones(2), atol=1e-12, what="the row sums",
             hint="rows do not sum to 1: is the normalisation over the last axis?")
e = np.exp([1.0, 2.0, 3.0])
expect.close(p[0], e / e.sum(), atol=1e-15, rtol=1e-12, what="softmax([1, 2, 3])")

# %% nbgrader={"grade": true, "grade_id": "softmax_matches_scipy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""softmax matches scipy.special.softmax on random batches, is unchanged by adding a constant to every logit, and handles a batch of one and an empty batch"""
from grader.testing import learner, expect

expect.shape(learner.softmax(np.zeros((2, 3, 4))), (2, 3, 4), what="softmax of a (2, 3, 4) array",
             hint="softmax keeps the shape of its input")
### BEGIN HIDDEN TESTS
from scipy import special

rng = np.random.default_rng(20)
x = rng.normal(scale=3.0, size=(3, 4, 5))
got = learner.softmax(x)
expect.shape(got, x.shape, what="softmax of a random (3, 4, 5) batch", hint="softmax keeps the shape of its input")
expect.close(np.sum(got, axis=-1), np.ones((3, 4)), atol=1e-12, what="the row sums",
             hint="rows do not sum to 1: normalise over the last axis (axis=-1, keepdims=True)")
expect.close(got, special.softmax(x, axis=-1), atol=1e-15, rtol=1e-11, what="softmax of a random (3, 4, 5) batch",
             hint="compare with scipy.special.softmax(x, axis=-1)")
expect.close(learner.softmax(x + 123.0), got, atol=1e-15, rtol=1e-11, what="softmax(x + 123)",
             hint="softmax must be invariant to adding a constant to every logit")
expect.close(learner.softmax(np.array([[0.7, -0.2, 3.0]])), special.softmax([[0.7, -0.2, 3.0]], axis=-1),
             atol=1e-15, rtol=1e-12, what="a batch of one row")
expect.shape(learner.softmax(np.zeros((0, 4))), (0, 4), what="softmax of an empty batch",
             hint="an empty batch (shape (0, V)) should give an empty result of the same shape")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "softmax_extreme_logits", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""softmax stays finite and sums to one for logits as large as 1e4, and gives masked (-inf) logits probability zero"""
from grader.testing import learner, expect

p = learner.softmax(np.array([1e4, 0.0, -1e4]))
expect.finite(p, what="softmax([1e4, 0, -1e4])",
              hint="exp overflowed: subtract x.max(axis=-1, keepdims=True) before exponentiating")
### BEGIN HIDDEN TESTS
from scipy import special

x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4], [-1e4, -1e4 + 1.0, -1e4 + 2.0], [800.0, 799.0, -800.0]])
got = learner.softmax(x)
expect.finite(got, what="softmax of logits as large as 1e4",
              hint="exp overflowed (softmax without subtracting the maximum): subtract x.max(axis=-1, keepdims=True) before exponentiating")
expect.close(np.sum(got, axis=-1), np.ones(4), atol=1e-12, what="the row sums",
             hint="rows with logits of magnitude 1e4 must still sum to 1: subtract the row maximum first")
expect.close(got, special.softmax(x, axis=-1), atol=1e-15, rtol=1e-9, what="softmax of logits as large as 1e4",
             hint="softmax(x) must equal softmax(x - max(x)); subtract the row maximum before exponentiating")
masked = np.array([[0.5, -np.inf, 1.5, -np.inf], [-np.inf, 2.0, -np.inf, -np.inf]])
got = learner.softmax(masked)
expect.finite(got, what="softmax with -inf (masked) logits", hint="a row with some -inf logits still has a finite maximum to subtract")
expect.close(got, special.softmax(masked, axis=-1), atol=1e-15, rtol=1e-12, what="softmax with -inf (masked) logits",
             hint="masked (-inf) logits must get probability exactly 0")
### END HIDDEN TESTS

# %% [markdown]
# ---
# ## 2 · logsumexp: the soft maximum
#
# The denominator of softmax, in log space, deserves its own name:
#
# $$\operatorname{LSE}(z) = \log \sum_{j} e^{z_j} = m + \log \sum_{j} e^{z_j - m}, \qquad m = \max_j z_j .$$
#
# The second form is exact (factor $e^m$ out of the sum) and stable: every exponent is
# $\le 0$ and the largest is exactly $e^0 = 1$, so the sum lies in $[1, V]$ and its
# logarithm in $[0, \log V]$.
#
# **What this means.** LSE is a smooth version of the maximum:
# $\max_j z_j \le \operatorname{LSE}(z) \le \max_j z_j + \log V$. When one logit dominates,
# LSE *is* that logit; when all $V$ are equal, it is that value plus $\log V$. Its gradient is
# softmax, $\partial \operatorname{LSE}/\partial z_i = \operatorname{softmax}(z)_i$, which is
# why softmax is sometimes called "soft argmax".
#
# **The two classic bugs.** Computing `log(sum(exp(z)))` directly overflows (or, for very
# negative logits, underflows to $\log 0 = -\infty$); and subtracting $m$ but forgetting to add it
# back, which silently returns a number in $[0, \log V]$ whatever the logits are.

# %%
# Worked example: two equal logits of 1e4. The answer is 1e4 + log 2.
z = np.array([1e4, 1e4])
with np.errstate(over="ignore"):
    print("naive          :", np.log(np.sum(np.exp(z))))             # inf
m = z.max()
print("forgot the max :", np.log(np.sum(np.exp(z - m))))             # log 2: wrong by 1e4
print("stable         :", m + np.log(np.sum(np.exp(z - m))), "=", 1e4 + math.log(2))

# %% nbgrader={"grade": false, "grade_id": "logsumexp", "locked": false, "schema_version": 3, "solution": true, "task": false}
def logsumexp(x: np.ndarray) -> np.ndarray:
    """log(sum(exp(x))) over the last axis, computed without overflow.

    Args:
        x: float64 array of shape (..., V), V >= 1. Entries may be as large as 1e4 in
           magnitude, and may be -inf as long as each row has a finite entry.
    Returns:
        float64 array of shape (...): the last axis is reduced away (a 1-D input gives a
        0-d array or NumPy scalar).

    Example:
        >>> logsumexp(np.array([0.0, 0.0]))   # log 2
        0.6931471805599453
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=-1, keepdims=True)
    return m[..., 0] + np.log(np.sum(np.exp(x - m), axis=-1))  # add the maximum back
    ### END SOLUTION


# %%
# Try it: a soft maximum between max(z) and max(z) + log V.
z = np.array([[3.0, 1.0, 0.0], [5.0, 5.0, 5.0], [1e4, 0.0, -1e4]])
print(logsumexp(z), "  max:", z.max(axis=-1), "  max + log V:", z.max(axis=-1) + math.log(3))

# %% nbgrader={"grade": true, "grade_id": "logsumexp_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""logsumexp of small hand-checked inputs: log 2 for two zeros, the last axis is reduced away"""
from grader.testing import learner, expect

expect.close(learner.logsumexp(np.array([0.0, 0.0])), math.log(2.0), atol=1e-15, rtol=0, what="logsumexp([0, 0])")
got = learner.logsumexp(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
expect.shape(got, (2,), what="logsumexp of a (2, 3) batch", hint="logsumexp reduces the last axis: (..., V) -> (...)")
expect.close(got, np.array([math.log(math.e + math.e**2 + math.e**3), 5.0 + math.log(3.0)]), atol=1e-14, rtol=1e-14,
             what="logsumexp of [[1, 2, 3], [5, 5, 5]]")

# %% nbgrader={"grade": true, "grade_id": "logsumexp_matches_scipy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""logsumexp matches scipy.special.logsumexp on random batches, including a single logit, an empty batch and -inf (masked) entries"""
from grader.testing import learner, expect

expect.shape(learner.logsumexp(np.zeros((2, 3, 4))), (2, 3), what="logsumexp of a (2, 3, 4) array",
             hint="logsumexp reduces the last axis: (..., V) -> (...)")
### BEGIN HIDDEN TESTS
from scipy import special

rng = np.random.default_rng(1)
x = rng.normal(scale=4.0, size=(2, 3, 7))
got = learner.logsumexp(x)
expect.shape(got, (2, 3), what="logsumexp of a random (2, 3, 7) batch",
             hint="logsumexp reduces the last axis: (..., V) -> (...)")
expect.close(got, special.logsumexp(x, axis=-1), atol=1e-13, rtol=1e-13, what="logsumexp of a random (2, 3, 7) batch",
             hint="compare with scipy.special.logsumexp(x, axis=-1)")
expect.close(learner.logsumexp(np.array([[0.3, -1.2]])), special.logsumexp([[0.3, -1.2]], axis=-1), atol=1e-15, rtol=1e-14,
             what="a batch of one row")
expect.close(learner.logsumexp(np.array([[2.5]])), np.array([2.5]), atol=1e-15, rtol=0, what="logsumexp of a single logit",
             hint="with one entry, logsumexp(x) = x")
expect.shape(learner.logsumexp(np.zeros((0, 3))), (0,), what="logsumexp of an empty batch")
expect.close(learner.logsumexp(np.array([[0.0, -np.inf], [1.0, -np.inf]])), np.array([0.0, 1.0]), atol=1e-15, rtol=0,
             what="logsumexp with -inf (masked) entries", hint="-inf entries contribute exp(-inf) = 0 to the sum")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "logsumexp_extreme_logits", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""logsumexp is finite and exact for logits of magnitude 1e4 (it lies between max(x) and max(x) + log V)"""
from grader.testing import learner, expect

got = learner.logsumexp(np.array([1e4, 1e4]))
expect.finite(got, what="logsumexp([1e4, 1e4])",
              hint="exp(1e4) overflows: factor out the maximum, log(sum(exp(x))) = m + log(sum(exp(x - m)))")
### BEGIN HIDDEN TESTS
from scipy import special

x = np.array([[1e4, 1e4], [-1e4, -1e4], [1e4, -1e4], [800.0, 0.0]])
got = learner.logsumexp(x)
expect.finite(got, what="logsumexp of logits of magnitude 1e4",
              hint="log(sum(exp(x))) overflowed or underflowed: factor out the maximum, m + log(sum(exp(x - m)))")
m = x.max(axis=-1)
if np.shape(got) == m.shape and np.allclose(np.asarray(got, dtype=float), special.logsumexp(x, axis=-1) - m, atol=1e-9):
    expect.fail("logsumexp forgets to add the maximum back: after log(sum(exp(x - m))) add m again, "
                "since log(sum(exp(x))) = m + log(sum(exp(x - m)))")
expect.true(np.shape(got) == m.shape and np.all(np.asarray(got) >= m - 1e-9) and np.all(np.asarray(got) <= m + np.log(2) + 1e-9),
            "logsumexp must lie between max(x) and max(x) + log V: did you add the maximum back after subtracting it?")
expect.close(got, special.logsumexp(x, axis=-1), atol=1e-12, rtol=1e-13, what="logsumexp of logits of magnitude 1e4",
             hint="logsumexp(x) = m + log(sum(exp(x - m))) with m the row maximum")
### END HIDDEN TESTS

# %% [markdown]
# ---
# ## 3 · log-softmax: log-probabilities without $\log 0$
#
# Losses need $\log p$, not $p$. Taking the logarithm of the softmax formula gives
#
# $$\log \operatorname{softmax}(z)_i = z_i - \operatorname{LSE}(z).$$
#
# **What this means.** A log-probability is a logit minus one normaliser shared by the whole row.
# Computed this way it is exact for any logits: a token whose logit is 2000 below the best one
# gets log-probability $\approx -2000$, a perfectly good number.
#
# The tempting alternative, `np.log(softmax(z))`, first rounds that probability
# $e^{-2000}$ to exactly `0.0` (the smallest positive `float64` is about $5 \times 10^{-324}$, i.e.
# $e^{-745}$), and then $\log 0 = -\infty$. A single such token makes the loss infinite and the
# gradient NaN. That is why PyTorch has `F.log_softmax` and why `F.cross_entropy` takes logits.

# %%
# Worked example: log(softmax) loses everything below e^-745; log_softmax does not.
z = np.array([0.0, -2000.0])
p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
with np.errstate(divide="ignore"):
    print("log(softmax(z)) :", np.log(p))                 # [0, -inf]
print("z - LSE(z)      :", z - (z.max() + np.log(np.exp(z - z.max()).sum())))   # [0, -2000]

# %% nbgrader={"grade": false, "grade_id": "log_softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def log_softmax(x: np.ndarray) -> np.ndarray:
    """log(softmax(x)) over the last axis, computed as x - logsumexp(x).

    Args:
        x: float64 array of shape (..., V); entries up to 1e4 in magnitude (or -inf, with a
           finite entry in every row).
    Returns:
        float64 array of shape (..., V): log-probabilities, all <= 0, with
        exp(result).sum(axis=-1) == 1. Finite wherever x is finite, even where the
        probability itself underflows to 0.

    Example:
        >>> log_softmax(np.array([0.0, 0.0]))   # [log 0.5, log 0.5]
        array([-0.69314718, -0.69314718])
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    return x - logsumexp(x)[..., np.newaxis]
    ### END SOLUTION


# %%
print(log_softmax(np.array([[2.0, 1.0, 0.1], [0.0, -2000.0, 1e4]])))

# %% nbgrader={"grade": true, "grade_id": "log_softmax_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""log_softmax of small logits: log 0.5 for two equal logits, and its exponential sums to one"""
from grader.testing import learner, expect

got = learner.log_softmax(np.array([[0.0, 0.0], [1.0, 2.0]]))
expect.shape(got, (2, 2), what="log_softmax of a (2, 2) batch", hint="log_softmax keeps the shape of its input")
expect.close(got[0], np.log([0.5, 0.5]), atol=1e-15, rtol=1e-14, what="log_softmax([0, 0])")
expect.close(np.exp(got).sum(axis=-1), np.ones(2), atol=1e-14, what="exp(log_softmax) row sums",
             hint="exp of the result must sum to 1 over the last axis")

# %% nbgrader={"grade": true, "grade_id": "log_softmax_matches_references", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""log_softmax matches scipy.special.log_softmax and torch.nn.functional.log_softmax, and is unchanged by shifting every logit"""
from grader.testing import learner, expect

expect.shape(learner.log_softmax(np.zeros((2, 3, 4))), (2, 3, 4), what="log_softmax of a (2, 3, 4) array",
             hint="log_softmax keeps the shape of its input")
### BEGIN HIDDEN TESTS
import torch
import torch.nn.functional as F
from scipy import special

rng = np.random.default_rng(2)
x = rng.normal(scale=3.0, size=(4, 3, 6))
got = learner.log_softmax(x)
expect.shape(got, x.shape, what="log_softmax of a random (4, 3, 6) batch", hint="log_softmax keeps the shape of its input")
expect.close(got, special.log_softmax(x, axis=-1), atol=1e-13, rtol=1e-13,
             what="log_softmax of a random batch compared with scipy",
             hint="log_softmax(x) = x - logsumexp(x) over the last axis (keepdims for broadcasting)")
expect.close(got, F.log_softmax(torch.from_numpy(x), dim=-1).numpy(), atol=1e-13, rtol=1e-13,
             what="log_softmax of a random batch compared with torch",
             hint="compare with torch.nn.functional.log_softmax(x, dim=-1)")
expect.close(learner.log_softmax(x - 50.0), got, atol=1e-12, rtol=1e-12, what="log_softmax(x - 50)",
             hint="log_softmax must be invariant to shifting every logit by a constant")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "log_softmax_extreme_logits", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""log_softmax stays finite for logits of magnitude 1e4, where the probabilities themselves underflow to zero"""
from grader.testing import learner, expect

got = learner.log_softmax(np.array([0.0, -2000.0]))
expect.finite(got, what="log_softmax([0, -2000])",
              hint="log(softmax(x)) gives log(0) = -inf once a probability underflows: compute x - logsumexp(x) instead")
### BEGIN HIDDEN TESTS
import torch
import torch.nn.functional as F

x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4], [-1e4, -1e4 + 1.0, 0.0], [0.0, -800.0, -2000.0]])
got = learner.log_softmax(x)
expect.finite(got, what="log_softmax of logits of magnitude 1e4",
              hint="log of an underflowed softmax is -inf: compute log_softmax as x - logsumexp(x), never as log(softmax(x))")
expect.close(got, F.log_softmax(torch.from_numpy(x), dim=-1).numpy(), atol=1e-9, rtol=1e-13,
             what="log_softmax of logits of magnitude 1e4",
             hint="log_softmax(x) = x - logsumexp(x); do not take the log of an unstable or underflowed softmax")
### END HIDDEN TESTS

# %% [markdown]
# ---
# ## 4 · Maximum likelihood: fitting a distribution to data
#
# Given observations $x_1, \dots, x_N$ drawn independently from a model $p_\theta$, the
# **likelihood** of the parameters is the probability the model gave to what actually happened,
# and the **maximum-likelihood estimate** (MLE) is the parameter that makes it largest:
#
# $$\ell(\theta) = \log \prod_{n=1}^{N} p_\theta(x_n) = \sum_{n=1}^{N} \log p_\theta(x_n),
# \qquad \hat\theta_{\text{MLE}} = \arg\max_\theta \ell(\theta).$$
#
# We take the log because a product of $N$ numbers below one underflows, a sum of logs does not,
# and the maximiser is the same.
#
# **Categorical (and Bernoulli).** A die with $K$ faces, face $k$ seen $c_k$ times,
# $N = \sum_k c_k$. The log-likelihood is $\ell(\pi) = \sum_k c_k \log \pi_k$ with the constraint
# $\sum_k \pi_k = 1$. A Lagrange multiplier gives $c_k / \pi_k = \lambda$ for every $k$, hence
#
# $$\hat\pi_k = \frac{c_k}{N}.$$
#
# The MLE is the observed frequency. A coin (Bernoulli) is the case $K = 2$: $\hat p = $ heads$/N$.
#
# **Gaussian.** For $x_n \sim \mathcal{N}(\mu, \sigma^2)$,
#
# $$\ell(\mu, \sigma^2) = -\frac{N}{2}\log(2\pi\sigma^2) - \frac{1}{2\sigma^2}\sum_{n}(x_n - \mu)^2 .$$
#
# Setting $\partial\ell/\partial\mu = 0$ gives $\hat\mu = \frac1N\sum_n x_n$, and
# $\partial\ell/\partial\sigma^2 = 0$ gives
#
# $$\hat\sigma^2_{\text{MLE}} = \frac{1}{N}\sum_{n}(x_n - \hat\mu)^2 .$$
#
# **What this means.** The MLE divides by $N$, not $N - 1$. It is *biased*
# ($\mathbb{E}[\hat\sigma^2] = \frac{N-1}{N}\sigma^2$, because $\hat\mu$ was fitted to the same data);
# dividing by $N - 1$ (Bessel's correction) removes the bias but is no longer the maximiser of the
# likelihood. Libraries disagree on the default: `np.var` divides by $N$ (`ddof=0`), `torch.var`
# and pandas by $N - 1$. LayerNorm uses the biased ($N$) variance.
#
# **Why an LLM cares.** Training a language model *is* maximum likelihood for a categorical
# distribution over the next token. A bigram model simply counts, using the formula above (assignment 11-ngram);
# a network cannot count every possible context, so it maximises the same $\ell$ by gradient
# descent. Minimising cross-entropy (§5) is exactly that.

# %%
# Worked example: a coin with 7 heads out of 10. The log-likelihood of p peaks at 7/10.
heads, n_tosses = 7, 10
ps = np.linspace(0.01, 0.99, 99)
loglik = heads * np.log(ps) + (n_tosses - heads) * np.log(1 - ps)
print("argmax over the grid:", ps[np.argmax(loglik)])

# %% nbgrader={"grade": false, "grade_id": "mle_categorical", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mle_categorical(counts: np.ndarray) -> np.ndarray:
    """Maximum-likelihood probabilities of a categorical distribution from observed counts.

    Args:
        counts: array of shape (..., K) of non-negative counts (ints or floats), with a
                positive total in every row. K = 2 is the Bernoulli case.
    Returns:
        float64 array of shape (..., K): counts / total over the last axis.

    Example:
        >>> mle_categorical(np.array([7, 3]))     # 7 heads, 3 tails
        array([0.7, 0.3])
    """
    ### BEGIN SOLUTION
    counts = np.asarray(counts, dtype=np.float64)
    return counts / np.sum(counts, axis=-1, keepdims=True)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "gaussian_log_likelihood", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gaussian_log_likelihood(x: np.ndarray, mean, var) -> np.ndarray:
    """Log-likelihood sum_n log N(x_n | mean, var) of independent Gaussian observations.

    Args:
        x: float64 array of shape (N,) or (N, D): N observations (of D independent features).
        mean: float, or float64 array of shape (D,).
        var: float > 0, or float64 array of shape (D,): the variance sigma^2 (not sigma).
    Returns:
        float64 scalar for x of shape (N,), or array of shape (D,) for x of shape (N, D):
        the sum over the N observations (axis 0).

    Example:
        >>> gaussian_log_likelihood(np.array([0.0]), 0.0, 1.0)   # -0.5 * log(2 pi)
        -0.9189385332046727
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    log_densities = -0.5 * np.log(2 * np.pi * var) - (x - mean) ** 2 / (2 * var)
    return np.sum(log_densities, axis=0)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "mle_gaussian", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mle_gaussian(x: np.ndarray) -> tuple:
    """Maximum-likelihood mean and variance of a Gaussian (the variance divides by N).

    Args:
        x: float64 array of shape (N,) or (N, D), N >= 1: observations along axis 0.
    Returns:
        (mean, var): float64 scalars for x of shape (N,), or arrays of shape (D,) for
        (N, D). var is the biased MLE, sum((x - mean)^2) / N.

    Example:
        >>> mle_gaussian(np.array([1.0, 2.0, 3.0, 4.0]))
        (2.5, 1.25)
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    mean = np.mean(x, axis=0)
    var = np.mean((x - mean) ** 2, axis=0)  # divide by N: the MLE, not Bessel's N - 1
    return mean, var
    ### END SOLUTION


# %%
# The MLE sits at the top of the log-likelihood, in both parameters.
rng = np.random.default_rng(0)
data = rng.normal(loc=1.5, scale=2.0, size=50)
mu_hat, var_hat = mle_gaussian(data)
print(f"MLE: mean {mu_hat:.3f}, var {var_hat:.3f} (divide by N);  unbiased var {data.var(ddof=1):.3f} (divide by N-1)")
print("categorical MLE of counts [5, 0, 15]:", mle_categorical(np.array([5, 0, 15])))

mus = np.linspace(mu_hat - 2, mu_hat + 2, 201)
variances = np.linspace(0.3 * var_hat, 3 * var_hat, 201)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(mus, [gaussian_log_likelihood(data, m, var_hat) for m in mus])
axes[0].axvline(mu_hat, color="k", ls="--", label=r"$\hat\mu$ = sample mean")
axes[0].set(xlabel=r"$\mu$", ylabel=r"$\ell(\mu, \hat\sigma^2)$", title="log-likelihood in the mean")
axes[1].plot(variances, [gaussian_log_likelihood(data, mu_hat, v) for v in variances])
axes[1].axvline(var_hat, color="k", ls="--", label=r"$\hat\sigma^2$ (divide by $N$)")
axes[1].axvline(data.var(ddof=1), color="tab:red", ls=":", label=r"divide by $N-1$")
axes[1].set(xlabel=r"$\sigma^2$", title="log-likelihood in the variance")
for ax in axes:
    ax.legend()
plt.tight_layout()
plt.show()

# %% nbgrader={"grade": true, "grade_id": "mle_categorical_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the categorical MLE is the observed frequency: counts divided by their total, over the last axis"""
from grader.testing import learner, expect

expect.close(learner.mle_categorical(np.array([7, 3])), np.array([0.7, 0.3]), atol=1e-15, rtol=1e-14,
             what="the MLE of counts [7, 3]")
got = learner.mle_categorical(np.array([[1, 1, 2], [0, 5, 0]]))
expect.shape(got, (2, 3), what="the MLE of a (2, 3) count table", hint="one distribution per row: normalise over the last axis")
expect.close(got, np.array([[0.25, 0.25, 0.5], [0.0, 1.0, 0.0]]), atol=1e-15, rtol=1e-14, what="the MLE of a (2, 3) count table",
             hint="divide each row by its own total (axis=-1, keepdims=True)")

# %% nbgrader={"grade": true, "grade_id": "mle_categorical_maximises_likelihood", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the categorical MLE of random count tables is counts / total, no other distribution has a higher multinomial likelihood (scipy.stats.multinomial), and scaling the counts changes nothing"""
from grader.testing import learner, expect

expect.shape(learner.mle_categorical(np.ones((3, 5))), (3, 5), what="the MLE of a (3, 5) count table",
             hint="one distribution per row")
### BEGIN HIDDEN TESTS
from scipy import stats

rng = np.random.default_rng(4)
counts = rng.integers(0, 30, size=(5, 6))
counts[:, 0] += 1
got = learner.mle_categorical(counts)
expect.close(got, counts / counts.sum(axis=-1, keepdims=True), atol=1e-15, rtol=1e-13, what="the MLE of a random count table",
             hint="the MLE of a categorical is counts / counts.sum(axis=-1, keepdims=True)")
# The MLE maximises the multinomial likelihood: no other distribution scores higher.
for row, pi in zip(counts, np.asarray(got)):
    best = stats.multinomial.logpmf(row, row.sum(), pi)
    for other in rng.dirichlet(np.ones(6), size=20):
        expect.true(stats.multinomial.logpmf(row, row.sum(), other) <= best + 1e-9,
                    "another distribution has a higher multinomial likelihood than your estimate: the MLE is counts / total")
expect.close(learner.mle_categorical(np.array([2.0, 6.0]) * 1000), np.array([0.25, 0.75]), atol=1e-15, rtol=1e-14,
             what="the MLE of scaled counts", hint="scaling all counts by the same factor must not change the estimate")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "gaussian_log_likelihood_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the log-likelihood of one observation at the mean of a standard normal is -log(2 pi) / 2, and of two observations twice that"""
from grader.testing import learner, expect

expect.close(learner.gaussian_log_likelihood(np.array([0.0]), 0.0, 1.0), -0.5 * math.log(2 * math.pi), atol=1e-15, rtol=1e-14,
             what="the log-likelihood of x = 0 under N(0, 1)")
expect.close(learner.gaussian_log_likelihood(np.array([1.0, 1.0]), 1.0, 1.0), -math.log(2 * math.pi), atol=1e-15, rtol=1e-14,
             what="the log-likelihood of x = [1, 1] under N(1, 1)",
             hint="sum the log-densities over the observations")

# %% nbgrader={"grade": true, "grade_id": "gaussian_log_likelihood_matches_scipy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the Gaussian log-likelihood is the sum of log-densities and matches scipy.stats.norm.logpdf (var is the variance, not the standard deviation)"""
from grader.testing import learner, expect

expect.finite(learner.gaussian_log_likelihood(np.array([0.5, -0.5]), 0.0, 4.0), what="the log-likelihood of two observations")
### BEGIN HIDDEN TESTS
from scipy import stats

rng = np.random.default_rng(5)
x = rng.normal(loc=-1.0, scale=3.0, size=40)
expect.close(learner.gaussian_log_likelihood(x, 0.5, 4.0), stats.norm.logpdf(x, 0.5, 2.0).sum(), atol=1e-11, rtol=1e-13,
             what="the log-likelihood of 40 observations",
             hint="log N(x | mu, var) = -0.5 log(2 pi var) - (x - mu)^2 / (2 var), summed over observations; var is sigma^2")
x2 = rng.normal(size=(30, 3))
mean, var = np.array([0.0, 1.0, -1.0]), np.array([1.0, 0.25, 9.0])
got = learner.gaussian_log_likelihood(x2, mean, var)
expect.shape(got, (3,), what="the log-likelihood of (30, 3) data, per feature",
             hint="for x of shape (N, D), sum over the N observations (axis 0) and keep D")
expect.close(got, stats.norm.logpdf(x2, mean, np.sqrt(var)).sum(axis=0), atol=1e-11, rtol=1e-13,
             what="the log-likelihood of (30, 3) data, per feature")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "mle_gaussian_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the Gaussian MLE of [1, 2, 3, 4] is mean 2.5 and variance 1.25 (dividing by N = 4)"""
from grader.testing import learner, expect

mean, var = learner.mle_gaussian(np.array([1.0, 2.0, 3.0, 4.0]))
expect.close(mean, 2.5, atol=1e-15, rtol=1e-14, what="the mean")
expect.close(var, 1.25, atol=1e-15, rtol=1e-14, what="the variance",
             hint="the MLE variance divides by N (here 4), not N - 1")

# %% nbgrader={"grade": true, "grade_id": "mle_gaussian_biased_variance", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the Gaussian MLE is the sample mean and the variance divided by N (not N - 1); it matches scipy.stats.norm.fit, maximises the likelihood and works per feature on (N, D) data"""
from grader.testing import learner, expect

mean, var = learner.mle_gaussian(np.array([0.0, 2.0]))
expect.finite(var, what="the variance of two observations")
### BEGIN HIDDEN TESTS
from scipy import stats

rng = np.random.default_rng(6)
x = rng.normal(loc=2.0, scale=0.5, size=25)
mean, var = learner.mle_gaussian(x)
if np.isclose(float(np.asarray(var)), x.var(ddof=1), rtol=1e-9, atol=0):
    expect.fail("the variance divides by N - 1 (Bessel's unbiased estimator); the maximum-likelihood variance divides by N")
loc, scale = stats.norm.fit(x)
expect.close(mean, loc, atol=1e-14, rtol=1e-13, what="the mean", hint="compare with scipy.stats.norm.fit")
expect.close(var, scale**2, atol=1e-14, rtol=1e-12, what="the variance",
             hint="the MLE variance is mean((x - mean)^2), dividing by N; scipy.stats.norm.fit returns its square root")
# No nearby parameters have a higher likelihood.
best = stats.norm.logpdf(x, float(mean), math.sqrt(float(var))).sum()
for dm, scale_var in [(0.01, 1.0), (-0.01, 1.0), (0.0, 1.02), (0.0, 0.98)]:
    other = stats.norm.logpdf(x, float(mean) + dm, math.sqrt(float(var) * scale_var)).sum()
    expect.true(other < best, "a nearby (mean, var) has a higher likelihood than your estimate: the MLE variance divides by N")
x2 = rng.normal(size=(12, 3)) * np.array([1.0, 2.0, 3.0])
mean2, var2 = learner.mle_gaussian(x2)
expect.shape(mean2, (3,), what="the mean of (N, D) data", hint="reduce over axis 0: one mean per feature")
expect.close(mean2, x2.mean(axis=0), atol=1e-14, rtol=1e-13, what="the mean of (N, D) data")
expect.close(var2, x2.var(axis=0), atol=1e-14, rtol=1e-12, what="the variance of (N, D) data",
             hint="reduce over axis 0 and divide by N")
m1, v1 = learner.mle_gaussian(np.array([3.0]))
expect.close(v1, 0.0, atol=0, rtol=0, what="the variance of a single observation",
             hint="with N = 1 the MLE variance is 0 (dividing by N - 1 would divide by zero)")
### END HIDDEN TESTS

# %% [markdown]
# ---
# ## 5 · Cross-entropy from logits: the language-modelling loss
#
# For a batch of $N$ predictions with logits $z_n \in \mathbb{R}^C$ and correct classes
# $y_n \in \{0, \dots, C-1\}$ (the next tokens), the loss is the average negative log-probability
# of the correct class:
#
# $$\mathcal{L} = -\frac{1}{N}\sum_{n=1}^{N} \log \operatorname{softmax}(z_n)_{y_n}
# = \frac{1}{N}\sum_{n=1}^{N} \Big(\operatorname{LSE}(z_n) - z_{n, y_n}\Big).$$
#
# This is the **cross-entropy** $H(p, q) = -\sum_i p_i \log q_i$ between the one-hot target $p$ and
# the model's prediction $q = \operatorname{softmax}(z)$, and it is the negative log-likelihood of
# §4 divided by $N$: minimising it *is* maximum likelihood.
#
# **What this means.** The loss for one token is its *surprise*, $-\log q_y$: 0 when the model
# put all its probability on the right token, $\log 2 \approx 0.69$ at a coin flip, unbounded as
# $q_y \to 0$. A model that knows nothing predicts uniformly and scores $\log C$; a freshly
# initialised GPT-2 ($C = 50\,257$) should start near $\ln 50\,257 \approx 10.8$, a sanity check
# worth running on every new training script. The gradient with respect to the logits is
# $\operatorname{softmax}(z) - \text{onehot}(y)$: push up the right token, push down the others in
# proportion to how much they were believed.
#
# **Logits in, not probabilities.** `torch.nn.functional.cross_entropy` (and your function)
# applies log-softmax itself. Feeding it probabilities (a softmax applied twice) trains, but
# badly: the "logits" then live in $[0, 1]$, so the loss can never go below
# $\log(1 + (C-1)/e) $.

# %%
# Worked example: the surprise -log q of the correct token, and a tiny batch by hand.
q = np.linspace(0.001, 1, 500)
plt.figure(figsize=(5, 3))
plt.plot(q, -np.log(q))
plt.axhline(math.log(2), color="gray", ls=":", label="log 2: a coin flip")
plt.xlabel("probability given to the correct token $q_y$")
plt.ylabel(r"loss $-\log q_y$")
plt.legend()
plt.tight_layout()
plt.show()

logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
targets = np.array([0, 2])
per_example = np.array([np.log(np.exp(row).sum()) - row[t] for row, t in zip(logits, targets)])
print("per-example losses:", per_example, " mean:", np.mean(per_example), " (log 3 =", math.log(3), ")")

# %% nbgrader={"grade": false, "grade_id": "cross_entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy (in nats) between integer targets and softmax(logits).

    Args:
        logits: float64 array of shape (N, C): raw scores, NOT probabilities; entries may be
                as large as 1e4 in magnitude.
        targets: integer array of shape (N,) with values in [0, C): the correct classes.
    Returns:
        float (or float64 scalar): -mean_n log softmax(logits[n])[targets[n]], the same as
        torch.nn.functional.cross_entropy(logits, targets) with its default reduction="mean".

    Example:
        >>> cross_entropy(np.zeros((4, 10)), np.array([0, 3, 9, 1]))   # uniform: log 10
        2.302585092994046
    """
    ### BEGIN SOLUTION
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets)
    log_probs = log_softmax(logits)                                  # (N, C), stable
    correct = log_probs[np.arange(logits.shape[0]), targets]          # (N,): log q of each target
    return -np.mean(correct)
    ### END SOLUTION


# %%
print("tiny batch:", cross_entropy(logits, targets))
print("confident and right:", cross_entropy(np.array([[1e4, 0.0]]), np.array([0])),
      " confident and wrong:", cross_entropy(np.array([[1e4, 0.0]]), np.array([1])))

# %% nbgrader={"grade": true, "grade_id": "cross_entropy_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""cross-entropy of uniform logits is log C, and a hand-computed two-example batch is its mean loss"""
from grader.testing import learner, expect

got = learner.cross_entropy(np.zeros((4, 10)), np.array([0, 3, 9, 1]))
expect.true(np.ndim(got) == 0, "cross_entropy must return one number (the mean over the batch), not an array per example")
expect.close(got, math.log(10), atol=1e-14, rtol=1e-14, what="the loss for uniform logits over 10 classes",
             hint="uniform predictions over C classes give a loss of log C")
hand = (math.log(math.e**2 + 2) - 2.0 + math.log(3)) / 2
expect.close(learner.cross_entropy(np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), np.array([0, 2])), hand, atol=1e-14, rtol=1e-14,
             what="the loss for a batch of two examples",
             hint="loss_n = logsumexp(z_n) - z_n[y_n], averaged over the batch")

# %% nbgrader={"grade": true, "grade_id": "cross_entropy_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""cross-entropy from raw logits, averaged over the batch, matches torch.nn.functional.cross_entropy"""
from grader.testing import learner, expect

got = learner.cross_entropy(np.array([[1.0, 2.0], [3.0, -1.0]]), np.array([1, 0]))
expect.finite(got, what="the loss for a batch of two examples")
### BEGIN HIDDEN TESTS
import torch
import torch.nn.functional as F

rng = np.random.default_rng(7)
for n, c in [(16, 10), (1, 5), (64, 3)]:
    z = rng.normal(scale=2.0, size=(n, c))
    y = rng.integers(0, c, size=n)
    got = learner.cross_entropy(z, y)
    expect.true(np.ndim(got) == 0, "cross_entropy must return one number (the mean over the batch)")
    want = F.cross_entropy(torch.from_numpy(z), torch.from_numpy(y)).item()
    total = F.cross_entropy(torch.from_numpy(z), torch.from_numpy(y), reduction="sum").item()
    p = torch.softmax(torch.from_numpy(z), dim=-1)
    double = F.cross_entropy(p, torch.from_numpy(y)).item()
    if n > 1 and np.isclose(float(got), total, rtol=1e-9):
        expect.fail("the loss is the sum over the batch: take the mean (divide by N), as F.cross_entropy does by default")
    if np.isclose(float(got), double, rtol=1e-9):
        expect.fail("softmax was applied twice: cross_entropy takes raw logits and applies log_softmax itself; "
                    "do not pass softmax(logits) (probabilities) as logits")
    expect.close(got, want, atol=1e-13, rtol=1e-13, what=f"the loss for a batch of {n} with {c} classes",
                 hint="mean over the batch of logsumexp(z_n) - z_n[y_n]; the inputs are logits, not probabilities")
expect.close(learner.cross_entropy(np.array([[0.3, -1.0, 2.0]]), np.array([1])),
             math.log(math.exp(0.3) + math.exp(-1.0) + math.exp(2.0)) + 1.0, atol=1e-14, rtol=1e-14, what="a batch of one",
             hint="loss = logsumexp(z) - z[y] for a single example")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "cross_entropy_extreme_logits", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""cross-entropy is finite and exact for logits of magnitude 1e4: about 0 when confidently right, about 2e4 when confidently wrong"""
from grader.testing import learner, expect

got = learner.cross_entropy(np.array([[1e4, 0.0, -1e4]]), np.array([2]))
expect.finite(got, what="the loss when confidently wrong",
              hint="log(softmax) underflows to log(0) = -inf: use log_softmax = z - logsumexp(z)")
### BEGIN HIDDEN TESTS
import torch
import torch.nn.functional as F

z = np.array([[1e4, 0.0, -1e4], [1e4, 0.0, -1e4], [-1e4, -1e4, -1e4], [5e3, 5e3, -5e3], [0.0, 3e3, 1e4]])
y = np.array([0, 2, 1, 0, 0])
for i in range(len(y)):
    got = learner.cross_entropy(z[i : i + 1], y[i : i + 1])
    expect.finite(got, what=f"the loss of example {i}",
                  hint="log of an underflowed (or overflowed) softmax is not finite: compute log-probabilities as z - logsumexp(z)")
    expect.close(got, F.cross_entropy(torch.from_numpy(z[i : i + 1]), torch.from_numpy(y[i : i + 1])).item(),
                 atol=1e-9, rtol=1e-13, what=f"the loss of example {i}",
                 hint="compute log-probabilities as z - logsumexp(z), never as log(softmax(z))")
got = learner.cross_entropy(z, y)
expect.close(got, F.cross_entropy(torch.from_numpy(z), torch.from_numpy(y)).item(), atol=1e-9, rtol=1e-13,
             what="the batch mean")
### END HIDDEN TESTS

# %% [markdown]
# ---
# ## 6 · Perplexity: the effective number of choices
#
# $$\operatorname{PPL} = \exp(\mathcal{L}_{\text{nats}}) = 2^{\mathcal{L}_{\text{bits}}}
# = \Big(\prod_{n=1}^{N} q_{y_n}\Big)^{-1/N}.$$
#
# **What this means.** Perplexity is the inverse of the geometric-mean probability given to the
# right tokens. A model that spreads its bets evenly over $k$ candidates and always includes the
# right one has perplexity exactly $k$, so perplexity reads as "the model was as unsure as a fair
# $k$-sided die". Uniform over the vocabulary gives $V$; a perfect model gives 1.
#
# The base must match the loss: our cross-entropy is in nats, so perplexity is $e^{\mathcal{L}}$.
# `2 ** loss` is a common slip that makes every model look better than it is. Perplexity is
# comparable only between models with the **same tokenizer**: with bigger tokens each prediction
# covers more text (assignment 34 handles long texts with a sliding window).
#
# | mean cross-entropy (nats) | 0 | 0.69 | 2.0 | 3.0 | $\ln V$ |
# |---|---|---|---|---|---|
# | perplexity | 1 | 2 | 7.4 | 20.1 | $V$ |

# %% nbgrader={"grade": false, "grade_id": "perplexity", "locked": false, "schema_version": 3, "solution": true, "task": false}
def perplexity(logits: np.ndarray, targets: np.ndarray) -> float:
    """Perplexity of predictions: exp of the mean cross-entropy in nats.

    Args:
        logits: float64 array of shape (N, C) (raw scores).
        targets: integer array of shape (N,) with values in [0, C).
    Returns:
        float (or float64 scalar) >= 1: exp(cross_entropy(logits, targets)).

    Example:
        >>> perplexity(np.zeros((3, 50)), np.array([1, 2, 3]))   # uniform over 50 classes
        49.99999999999999   (50 up to rounding)
    """
    ### BEGIN SOLUTION
    return np.exp(cross_entropy(logits, targets))
    ### END SOLUTION


# %%
print("uniform over 50:", perplexity(np.zeros((3, 50)), np.array([1, 2, 3])))
print("half-sure of the right token among 8:", perplexity(np.log(np.array([[0.5] + [0.5 / 7] * 7])), np.array([0])))

# %% nbgrader={"grade": true, "grade_id": "perplexity_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the perplexity of uniform predictions over V classes is V"""
from grader.testing import learner, expect

expect.close(learner.perplexity(np.zeros((3, 50)), np.array([1, 2, 3])), 50.0, atol=0, rtol=1e-12,
             what="the perplexity of uniform predictions over 50 classes",
             hint="uniform predictions over V classes have perplexity V")

# %% nbgrader={"grade": true, "grade_id": "perplexity_from_cross_entropy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""perplexity is exp of the mean cross-entropy in nats (matching torch), 1 for a perfect model and k for a model evenly unsure between k tokens"""
from grader.testing import learner, expect

expect.finite(learner.perplexity(np.array([[1.0, 0.0]]), np.array([0])), what="the perplexity of one example")
### BEGIN HIDDEN TESTS
import torch
import torch.nn.functional as F

rng = np.random.default_rng(8)
z = rng.normal(scale=1.5, size=(20, 12))
y = rng.integers(0, 12, size=20)
ce = F.cross_entropy(torch.from_numpy(z), torch.from_numpy(y)).item()
got = learner.perplexity(z, y)
if np.isclose(float(got), 2.0**ce, rtol=1e-9):
    expect.fail("perplexity used 2 ** cross-entropy, but the cross-entropy is in nats: perplexity = exp(cross-entropy)")
expect.close(got, math.exp(ce), atol=0, rtol=1e-12, what="the perplexity of random logits",
             hint="perplexity = exp(mean cross-entropy in nats)")
expect.close(learner.perplexity(np.array([[1e4, 0.0, 0.0]]), np.array([0])), 1.0, atol=1e-12, rtol=0,
             what="the perplexity of a confident, correct model", hint="a perfect model has perplexity exp(0) = 1")
expect.close(learner.perplexity(np.log(np.full((2, 4), 0.25)), np.array([2, 0])), 4.0, atol=0, rtol=1e-12,
             what="the perplexity of a model unsure between 4 tokens", hint="evenly unsure between k tokens: perplexity k")
### END HIDDEN TESTS

# %% [markdown]
# ---
# ## 7 · Entropy and KL divergence
#
# **Entropy** is the expected surprise of a distribution under itself:
#
# $$H(p) = -\sum_i p_i \log p_i, \qquad 0 \le H(p) \le \log K,$$
#
# with the convention $0 \log 0 = 0$ (the limit of $t \log t$ as $t \to 0$): impossible outcomes
# contribute nothing. $H = 0$ for a certain outcome, $\log K$ for a uniform one.
#
# **Kullback–Leibler divergence** is the *extra* surprise paid for believing $q$ when the truth
# is $p$:
#
# $$\mathrm{KL}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i} = \underbrace{-\sum_i p_i \log q_i}_{H(p,\,q)} - H(p).$$
#
# **What this means.** Cross-entropy = entropy + KL: $H(p, q) = H(p) + \mathrm{KL}(p\|q)$. When
# training a language model, $H(p)$ of the data is fixed, so lowering the loss can only lower the
# KL from the data to the model; the loss can never go below the entropy of language itself.
#
# Properties: $\mathrm{KL}(p\|q) \ge 0$ with equality only when $p = q$ (Gibbs' inequality,
# from Jensen: $-\mathrm{KL} = \sum p \log(q/p) \le \log \sum p \cdot q/p = \log 1 = 0$);
# $\mathrm{KL}(p\|q) = \infty$ when $q_i = 0$ for some $i$ with $p_i > 0$; terms with $p_i = 0$
# are 0. And it is **not symmetric**: $\mathrm{KL}(p\|q) \ne \mathrm{KL}(q\|p)$ in general. The
# average is taken under the **first** argument.
#
# **Where it is used.** RLHF and DPO penalise $\mathrm{KL}(\pi_\theta \,\|\, \pi_{\text{ref}})$,
# the policy's divergence from the reference model, averaged under the *policy's* own samples
# (assignments 28-29). Knowledge distillation minimises $\mathrm{KL}(p_{\text{teacher}}\,\|\,q_{\text{student}})$.
# Mind PyTorch's convention: `F.kl_div(input, target)` expects `input` = $\log q$ and
# `target` = $p$ and returns $\mathrm{KL}(p\|q)$: the argument order is the reverse of the maths.

# %%
# Worked example: the same two distributions, both directions.
p_demo = np.array([0.8, 0.15, 0.05])
q_demo = np.array([0.4, 0.4, 0.2])
kl_pq = np.sum(p_demo * np.log(p_demo / q_demo))
kl_qp = np.sum(q_demo * np.log(q_demo / p_demo))
h_p = -np.sum(p_demo * np.log(p_demo))
h_pq = -np.sum(p_demo * np.log(q_demo))
print(f"KL(p||q) = {kl_pq:.4f}   KL(q||p) = {kl_qp:.4f}   (not symmetric)")
print(f"H(p) + KL(p||q) = {h_p + kl_pq:.4f} = H(p, q) = {h_pq:.4f}")

# %% nbgrader={"grade": false, "grade_id": "entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats over the last axis, with 0 log 0 = 0.

    Args:
        p: float64 array of shape (..., K): probabilities (non-negative, rows sum to 1);
           may contain exact zeros.
    Returns:
        float64 array of shape (...): -sum_i p_i log p_i. Never NaN for valid p.

    Example:
        >>> entropy(np.array([0.5, 0.5, 0.0]))   # log 2
        0.6931471805599453
    """
    ### BEGIN SOLUTION
    p = np.asarray(p, dtype=np.float64)
    safe_p = np.where(p > 0, p, 1.0)  # log(1) = 0, so outcomes with p = 0 add nothing
    return -np.sum(p * np.log(safe_p), axis=-1)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "kl_divergence", "locked": false, "schema_version": 3, "solution": true, "task": false}
def kl_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p || q) = sum_i p_i log(p_i / q_i) in nats over the last axis.

    Terms with p_i = 0 are 0; a term with p_i > 0 and q_i = 0 is +inf. For the other
    direction, KL(q || p), call kl_divergence(q, p).

    Args:
        p: float64 array of shape (..., K): the distribution the average is taken under.
        q: float64 array of shape (..., K) (broadcastable against p): the approximation.
    Returns:
        float64 array of the broadcast shape without its last axis: KL(p || q) >= 0.

    Example:
        >>> kl_divergence(np.array([1.0, 0.0]), np.array([0.5, 0.5]))   # log 2
        0.6931471805599453
    """
    ### BEGIN SOLUTION
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    safe_p = np.where(p > 0, p, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf where q = 0
        terms = np.where(p > 0, p * (np.log(safe_p) - np.log(q)), 0.0)
    return np.sum(terms, axis=-1)
    ### END SOLUTION


# %%
print("entropy of p, uniform(3), one-hot:", entropy(np.array([p_demo, [1 / 3] * 3, [1.0, 0.0, 0.0]])))
print("KL(p||q), KL(q||p):", kl_divergence(p_demo, q_demo), kl_divergence(q_demo, p_demo))
print("q = 0 where p > 0:", kl_divergence(np.array([0.5, 0.5]), np.array([1.0, 0.0])))

# %% nbgrader={"grade": true, "grade_id": "entropy_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""entropy is log K for a uniform distribution and 0 for a certain outcome (with 0 log 0 = 0)"""
from grader.testing import learner, expect

got = learner.entropy(np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]]))
expect.shape(got, (2,), what="the entropy of a uniform and a certain distribution", hint="entropy reduces the last axis")
expect.finite(got, what="the entropy of a uniform and a certain distribution",
              hint="0 * log(0) gives nan: outcomes with probability 0 must contribute 0")
expect.close(got, np.array([math.log(4), 0.0]), atol=1e-15, rtol=1e-14,
             what="the entropy of a uniform and a certain distribution")

# %% nbgrader={"grade": true, "grade_id": "entropy_matches_scipy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""entropy matches scipy.special.entr and scipy.stats.entropy (nats) on random batches with exact zeros, and lies between 0 and log K"""
from grader.testing import learner, expect

expect.finite(learner.entropy(np.array([0.5, 0.5, 0.0])), what="entropy([0.5, 0.5, 0])",
              hint="0 * log(0) gives nan: outcomes with probability 0 must contribute 0")
### BEGIN HIDDEN TESTS
from scipy import special, stats

rng = np.random.default_rng(9)
p = rng.dirichlet(np.ones(7), size=(3, 4))
p[0, 0, :3] = 0.0
p /= p.sum(axis=-1, keepdims=True)
got = learner.entropy(p)
expect.shape(got, (3, 4), what="the entropy of a (3, 4, 7) batch", hint="entropy reduces the last axis")
expect.finite(got, what="the entropy of a batch with exact zeros",
              hint="0 * log(0) is nan in floating point: treat terms with p = 0 as 0 (the limit of t log t)")
expect.close(got, special.entr(p).sum(axis=-1), atol=1e-14, rtol=1e-13, what="the entropy compared with scipy.special.entr",
             hint="compare with scipy.special.entr(p).sum(-1)")
expect.close(got, stats.entropy(p, axis=-1), atol=1e-14, rtol=1e-13, what="the entropy compared with scipy.stats.entropy",
             hint="compare with scipy.stats.entropy(p, axis=-1) (nats)")
expect.true(np.all(np.asarray(got) >= -1e-15) and np.all(np.asarray(got) <= math.log(7) + 1e-12),
            "entropy must lie between 0 and log K")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "kl_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""KL(p || p) is 0, and KL between two coins matches a hand computation"""
from grader.testing import learner, expect

p = np.array([0.2, 0.3, 0.5])
expect.close(learner.kl_divergence(p, p), 0.0, atol=1e-15, rtol=0, what="KL(p || p)",
             hint="a distribution has zero divergence from itself")
hand = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
expect.close(learner.kl_divergence(np.array([0.9, 0.1]), np.array([0.5, 0.5])), hand, atol=1e-15, rtol=1e-14,
             what="KL between a 0.9 coin and a fair coin", hint="KL(p || q) = sum_i p_i log(p_i / q_i)")

# %% nbgrader={"grade": true, "grade_id": "kl_direction_matches_scipy_and_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""KL(p || q) averages under its first argument p: it matches scipy.special.rel_entr(p, q) and torch.nn.functional.kl_div(log q, p), including zeros in p and q"""
from grader.testing import learner, expect

got = learner.kl_divergence(np.array([[0.8, 0.15, 0.05]]), np.array([[0.4, 0.4, 0.2]]))
expect.shape(got, (1,), what="KL of a batch of one pair", hint="KL reduces the last axis")
### BEGIN HIDDEN TESTS
import torch
import torch.nn.functional as F
from scipy import special

rng = np.random.default_rng(10)
p = rng.dirichlet(np.full(6, 0.5), size=(4, 5))
q = rng.dirichlet(np.full(6, 0.5), size=(4, 5))
got = learner.kl_divergence(p, q)
expect.shape(got, (4, 5), what="KL of a (4, 5) batch of pairs", hint="KL reduces the last axis")
if np.allclose(np.asarray(got, dtype=float), special.rel_entr(q, p).sum(-1), rtol=1e-9, atol=0):
    expect.fail("kl_divergence(p, q) returned KL(q || p): the arguments are swapped. "
                "KL(p || q) = sum_i p_i log(p_i / q_i), an average under the FIRST argument p")
expect.close(got, special.rel_entr(p, q).sum(-1), atol=1e-14, rtol=1e-12, what="KL of random pairs compared with scipy",
             hint="KL(p || q) = sum_i p_i log(p_i / q_i); compare with scipy.special.rel_entr(p, q).sum(-1)")
torch_kl = F.kl_div(torch.from_numpy(np.log(q)), torch.from_numpy(p), reduction="none").sum(-1).numpy()
expect.close(got, torch_kl, atol=1e-14, rtol=1e-12, what="KL of random pairs compared with torch",
             hint="torch.nn.functional.kl_div(log q, p) computes KL(p || q): is the order of your arguments right?")
# Zeros: p_i = 0 contributes 0; q_i = 0 where p_i > 0 makes KL infinite.
got = learner.kl_divergence(np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]), np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]]))
expect.finite(got, what="KL with zeros in p", hint="terms with p_i = 0 contribute 0 (0 log 0 = 0), even where q_i = 0")
expect.close(got, np.array([math.log(2), math.log(2)]), atol=1e-15, rtol=1e-14, what="KL with zeros in p")
got = learner.kl_divergence(np.array([0.5, 0.5]), np.array([1.0, 0.0]))
expect.true(np.isposinf(float(np.asarray(got))), "KL(p || q) must be +inf when q_i = 0 for some i with p_i > 0")
# Broadcasting: one reference q against a batch of p.
got = learner.kl_divergence(p[0], q[0, 0])
expect.close(got, special.rel_entr(p[0], q[0, 0]).sum(-1), atol=1e-14, rtol=1e-12, what="KL of a batch of p against one q",
             hint="q must broadcast against p")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "kl_gibbs_and_cross_entropy_identity", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""KL is non-negative and asymmetric, and cross-entropy = entropy + KL(p || q)"""
from grader.testing import learner, expect

p, q = np.array([0.8, 0.15, 0.05]), np.array([0.4, 0.4, 0.2])
forward, backward = learner.kl_divergence(p, q), learner.kl_divergence(q, p)
expect.true(float(forward) > 0 and float(backward) > 0, "KL between different distributions must be positive")
expect.true(abs(float(forward) - float(backward)) > 1e-3, "KL(p || q) and KL(q || p) should differ here: KL is not symmetric")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(11)
p = rng.dirichlet(np.ones(9), size=50)
q = rng.dirichlet(np.ones(9), size=50)
kl = np.asarray(learner.kl_divergence(p, q))
expect.true(np.all(kl >= 0), "KL(p || q) came out negative for some pair: Gibbs' inequality says KL >= 0")
cross = -(p * np.log(q)).sum(-1)
expect.close(np.asarray(learner.entropy(p)) + kl, cross, atol=1e-13, rtol=1e-12, what="H(p) + KL(p || q)",
             hint="H(p) + KL(p || q) must equal the cross-entropy -sum p log q")
### END HIDDEN TESTS

# %% [markdown]
# ---
# ## 8 · The asymmetry, seen: mass-covering vs mode-seeking
#
# Suppose the truth $p$ has two modes and we may only approximate it by a single Gaussian $q$.
# Which Gaussian is "closest" depends on the direction of the KL:
#
# * **Forward KL, $\min_q \mathrm{KL}(p\,\|\,q)$: mass-covering.** The average is under $p$, and the
#   term $p_i \log(p_i / q_i)$ explodes wherever $p$ has mass but $q$ is small. So $q$ must cover
#   *every* region where $p$ lives, even at the price of putting mass in the valley between the
#   modes. For a Gaussian $q$ the optimum is moment matching: $q$ takes the mean and variance of $p$.
#   Maximum-likelihood training minimises this direction (data in the first slot), which is why
#   language models spread probability over every continuation seen in the data.
# * **Reverse KL, $\min_q \mathrm{KL}(q\,\|\,p)$: mode-seeking.** The average is under $q$, and the
#   penalty is for putting mass where $p$ is small. $q$ happily ignores a whole mode and sits
#   inside one of them ("zero-forcing"). The KL penalty of RLHF has the policy in the first slot;
#   together with reward maximisation, this is one reason aligned models produce fewer, more
#   typical answers.
#
# Below, each candidate $q$ is a Gaussian **discretised on the grid**:
# $q_i \propto \exp\!\big(-(x_i - \mu)^2 / 2\sigma^2\big)$, normalised over the grid points: that is a
# softmax of the logits $-(x_i-\mu)^2/2\sigma^2$. We search a grid of $(\mu, \sigma)$ for the
# candidate with the smallest divergence.

# %% nbgrader={"grade": false, "grade_id": "fit_gaussian_by_kl", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fit_gaussian_by_kl(grid: np.ndarray, p: np.ndarray, mus: np.ndarray, sigmas: np.ndarray,
                       direction: str) -> tuple:
    """The discretised Gaussian closest to p in forward or reverse KL, by grid search.

    Each candidate q for (mu, sigma) lives on the points of `grid`:
    q_i = softmax(-(grid - mu)^2 / (2 sigma^2))_i. "forward" minimises KL(p || q)
    (mass-covering), "reverse" minimises KL(q || p) (mode-seeking).

    Args:
        grid: float64 array of shape (G,): the points x_i.
        p: float64 array of shape (G,): the target distribution on the grid (sums to 1).
        mus: float64 array of shape (M,): candidate means.
        sigmas: float64 array of shape (S,): candidate standard deviations (> 0).
        direction: "forward" or "reverse"; anything else raises ValueError.
    Returns:
        (mu, sigma): two floats, the best candidate (the first one found on ties).

    Example:
        >>> grid = np.linspace(-5, 5, 201)
        >>> p = softmax(-0.5 * grid**2)                           # a standard normal on the grid
        >>> fit_gaussian_by_kl(grid, p, np.linspace(-1, 1, 21), np.linspace(0.5, 2, 16), "forward")
        (0.0, 1.0)   (up to rounding)
    """
    ### BEGIN SOLUTION
    if direction not in ("forward", "reverse"):
        raise ValueError(f"direction must be 'forward' or 'reverse', got {direction!r}")
    grid, p = np.asarray(grid, dtype=np.float64), np.asarray(p, dtype=np.float64)
    mus, sigmas = np.asarray(mus, dtype=np.float64), np.asarray(sigmas, dtype=np.float64)
    z = (grid[None, None, :] - mus[:, None, None]) / sigmas[None, :, None]   # (M, S, G)
    q = softmax(-0.5 * z**2)                                                  # one candidate per (mu, sigma)
    kl = kl_divergence(p, q) if direction == "forward" else kl_divergence(q, p)   # (M, S)
    i, j = np.unravel_index(np.argmin(kl), kl.shape)
    return float(mus[i]), float(sigmas[j])
    ### END SOLUTION


# %%
# A two-mode target: 70% of its mass near -2, 30% near +2.
grid = np.linspace(-10, 10, 401)
target = softmax(np.logaddexp(math.log(0.7) - 0.5 * ((grid + 2) / 0.6) ** 2,
                              math.log(0.3) - 0.5 * ((grid - 2) / 0.6) ** 2))
mu_grid, sigma_grid = np.linspace(-4, 4, 81), np.linspace(0.2, 3.0, 57)
fits = {d: fit_gaussian_by_kl(grid, target, mu_grid, sigma_grid, d) for d in ("forward", "reverse")}
mean_p = np.sum(grid * target)
print("moments of p: mean %.2f, std %.2f" % (mean_p, np.sqrt(np.sum((grid - mean_p) ** 2 * target))))
print("forward KL(p||q) fit (mu, sigma):", fits["forward"], "  reverse KL(q||p) fit:", fits["reverse"])

plt.figure(figsize=(8, 3.2))
plt.fill_between(grid, target, color="gray", alpha=0.4, label="target $p$ (two modes)")
styles = {"forward": ("tab:blue", r"forward $\min_q \mathrm{KL}(p\|q)$: mass-covering"),
          "reverse": ("tab:red", r"reverse $\min_q \mathrm{KL}(q\|p)$: mode-seeking")}
for d, (mu, sigma) in fits.items():
    color, label = styles[d]
    plt.plot(grid, softmax(-0.5 * ((grid - mu) / sigma) ** 2), color=color, lw=2, label=label)
plt.xlim(-6, 6)
plt.xlabel("x")
plt.ylabel("probability per grid point")
plt.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% nbgrader={"grade": true, "grade_id": "kl_fit_forward_covers_reverse_seeks", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""fitting one Gaussian to a two-mode target: forward KL(p || q) matches p's mean and spread (mass-covering), reverse KL(q || p) sits on the heavier mode (mode-seeking)"""
from grader.testing import learner, reference, expect

grid = np.linspace(-10, 10, 401)
logits = np.logaddexp(math.log(0.7) - 0.5 * ((grid + 2) / 0.6) ** 2, math.log(0.3) - 0.5 * ((grid - 2) / 0.6) ** 2)
p = np.exp(logits - logits.max())
p /= p.sum()
mus, sigmas = np.linspace(-4, 4, 81), np.linspace(0.2, 3.0, 57)
fit = learner.fit_gaussian_by_kl(grid, p, mus, sigmas, "forward")
expect.true(isinstance(fit, (tuple, list)) and len(fit) == 2, "fit_gaussian_by_kl must return a pair (mu, sigma)")
### BEGIN HIDDEN TESTS
mean_p = float(np.sum(grid * p))
std_p = float(np.sqrt(np.sum((grid - mean_p) ** 2 * p)))
mu_f, sigma_f = (float(v) for v in fit)
mu_r, sigma_r = (float(v) for v in learner.fit_gaussian_by_kl(grid, p, mus, sigmas, "reverse"))
if abs(mu_f + 2.0) < 0.3 and abs(mu_r - mean_p) < 0.3:
    expect.fail("the forward and reverse fits are swapped: 'forward' minimises KL(p || q) (the target p first) and "
                "covers both modes; 'reverse' minimises KL(q || p) and locks onto one mode")
expect.true(abs(mu_f - mean_p) <= 0.1 + 1e-9 and abs(sigma_f - std_p) <= 0.1 + 1e-9,
            "the forward-KL fit should cover both modes: its mean and standard deviation should match p's "
            "(moment matching), within the search grid's resolution. Is 'forward' KL(p || q), with p first?")
expect.true(abs(mu_r + 2.0) <= 0.15 and abs(sigma_r - 0.6) <= 0.1,
            "the reverse-KL fit should sit on the heavier mode (near -2, narrow): reverse is KL(q || p), with the candidate q first")
ref_f, ref_r = reference.fit_gaussian_by_kl(grid, p, mus, sigmas, "forward"), reference.fit_gaussian_by_kl(grid, p, mus, sigmas, "reverse")
expect.close([mu_f, sigma_f, mu_r, sigma_r], [*ref_f, *ref_r], atol=0.1 + 1e-9, rtol=0, what="(mu, sigma) forward and reverse",
             hint="candidates are q = softmax(-(grid - mu)^2 / (2 sigma^2)); pick the (mu, sigma) with the smallest KL")
expect.raises("ValueError", learner.fit_gaussian_by_kl, grid, p, mus, sigmas, "sideways")
### END HIDDEN TESTS

# %% [markdown]
# ---
# ## 9 · Bayes' rule: updating beliefs with evidence
#
# For hypotheses $h$ (mutually exclusive, exhaustive) and an observed piece of evidence $e$:
#
# $$P(h \mid e) = \frac{P(e \mid h)\, P(h)}{\sum_{h'} P(e \mid h')\, P(h')} \qquad
# \text{posterior} = \frac{\text{likelihood} \times \text{prior}}{\text{evidence}} .$$
#
# **What this means.** Multiply what you believed before (the prior) by how well each hypothesis
# predicted what you saw (the likelihood), then rescale so the results sum to one. The likelihood
# alone is not the answer: forgetting the prior is the *base-rate fallacy*.
#
# **A worked example.** A disease affects 1% of people. A test detects it 95% of the time
# (sensitivity) and wrongly flags 5% of healthy people (false-positive rate). Someone tests
# positive. Picture 10,000 people as a table of joint counts:
#
# | | test positive | test negative | total |
# |---|---|---|---|
# | sick | 95 | 5 | 100 |
# | healthy | 495 | 9,405 | 9,900 |
#
# Of the $95 + 495 = 590$ positives only 95 are sick: $P(\text{sick} \mid +) = 95/590 \approx 16\%$,
# not 95%. Bayes' rule gives the same number without the table:
# $\frac{0.95 \times 0.01}{0.95 \times 0.01 + 0.05 \times 0.99} = 0.161$.
#
# **Log space.** Taking logs turns the product into a sum and the normaliser into a logsumexp:
# $\log P(h\mid e) = \log P(h) + \log P(e\mid h) - \operatorname{LSE}_{h'}(\ldots)$, i.e.
# posterior $= \operatorname{softmax}(\log\text{prior} + \log\text{likelihood})$. A classifier's
# logits are unnormalised log-posteriors, and adding a log-prior to them (as in noisy-channel
# decoding or classifier-free guidance) is Bayes' rule. Evidence accumulates the same way: after
# a second independent test, today's posterior is tomorrow's prior.

# %% nbgrader={"grade": false, "grade_id": "bayes_posterior", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bayes_posterior(prior: np.ndarray, likelihood: np.ndarray) -> np.ndarray:
    """Posterior P(h | e) over hypotheses h from a prior P(h) and a likelihood P(e | h).

    Args:
        prior: float64 array of shape (..., H): P(h), non-negative, sums to 1 over the last axis.
        likelihood: float64 array of shape (..., H), broadcastable against prior: P(e | h) of
                    the observed evidence e under each hypothesis (it need not sum to 1 over h).
                    The evidence sum_h P(e | h) P(h) must be positive.
    Returns:
        float64 array of the broadcast shape (..., H): the posterior, sums to 1 over the last axis.

    Example:
        >>> bayes_posterior(np.array([0.01, 0.99]), np.array([0.95, 0.05]))   # sick, healthy
        array([0.16101695, 0.83898305])
    """
    ### BEGIN SOLUTION
    prior = np.asarray(prior, dtype=np.float64)
    likelihood = np.asarray(likelihood, dtype=np.float64)
    joint = prior * likelihood                                   # P(h, e)
    return joint / np.sum(joint, axis=-1, keepdims=True)         # divide by the evidence P(e)
    ### END SOLUTION


# %%
prior = np.array([0.01, 0.99])                     # sick, healthy
positive = np.array([0.95, 0.05])                  # P(+ | sick), P(+ | healthy)
after_one = bayes_posterior(prior, positive)
after_two = bayes_posterior(after_one, positive)   # a second, independent positive test
counts = np.array([[95, 5], [495, 9405]])          # the table above: rows sick/healthy, columns +/-
print("P(sick | +)     :", after_one[0], "  from the table:", counts[0, 0] / counts[:, 0].sum())
print("P(sick | +, +)  :", after_two[0])

prevalence = np.logspace(-4, 0, 200)
plt.figure(figsize=(6, 3.2))
for sens, fpr in [(0.95, 0.05), (0.99, 0.01), (0.999, 0.001)]:
    post = bayes_posterior(np.stack([prevalence, 1 - prevalence], axis=-1), np.array([sens, fpr]))
    plt.semilogx(prevalence, post[:, 0], label=f"sensitivity {sens}, false positives {fpr}")
plt.axvline(0.01, color="gray", ls=":")
plt.xlabel("prior: prevalence of the disease")
plt.ylabel("P(sick | positive test)")
plt.title("the base rate matters")
plt.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% nbgrader={"grade": true, "grade_id": "bayes_disease_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the posterior of a disease after a positive test (1% prevalence, 95% sensitivity, 5% false positives) is about 16%"""
from grader.testing import learner, expect

got = learner.bayes_posterior(np.array([0.01, 0.99]), np.array([0.95, 0.05]))
expect.shape(got, (2,), what="the posterior after a positive test", hint="one posterior probability per hypothesis")
expect.close(got, np.array([0.0095, 0.0495]) / 0.059, atol=1e-15, rtol=1e-13, what="the posterior after a positive test",
             hint="posterior = prior * likelihood / sum(prior * likelihood)")

# %% nbgrader={"grade": true, "grade_id": "bayes_tables_and_updates", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""Bayes' rule agrees with a table of joint counts, weighs the prior (no base-rate neglect), accumulates evidence and works on batches"""
from grader.testing import learner, expect

got = learner.bayes_posterior(np.array([0.5, 0.5]), np.array([0.2, 0.6]))
expect.close(np.sum(got), 1.0, atol=1e-14, what="the posterior's sum", hint="divide by the evidence sum_h P(e|h) P(h)")
### BEGIN HIDDEN TESTS
disease = learner.bayes_posterior(np.array([0.01, 0.99]), np.array([0.95, 0.05]))
if np.allclose(np.asarray(disease, dtype=float), [0.95, 0.05], rtol=1e-9):
    expect.fail("the posterior ignores the prior (the base-rate fallacy): multiply the likelihood by the prior before normalising")
# A joint table of counts: rows are 3 hypotheses, columns 4 possible observations.
counts = np.array([[30.0, 10.0, 5.0, 5.0], [4.0, 20.0, 12.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
prior = counts.sum(axis=1) / counts.sum()
likelihood = counts / counts.sum(axis=1, keepdims=True)          # P(e | h), one row per h
for e in range(4):
    got = learner.bayes_posterior(prior, likelihood[:, e])
    lik = likelihood[:, e]
    if np.allclose(np.asarray(got, dtype=float), lik / lik.sum(), rtol=1e-9):
        expect.fail("the posterior ignores the prior (base-rate neglect): posterior is proportional to prior * likelihood")
    if np.allclose(np.asarray(got, dtype=float), prior * lik, rtol=1e-9):
        expect.fail("the posterior is not normalised: divide prior * likelihood by the evidence sum_h P(e|h) P(h)")
    expect.close(got, counts[:, e] / counts[:, e].sum(), atol=1e-15, rtol=1e-13, what=f"P(h | e={e})",
                 hint="the posterior must equal the column of the joint-count table, normalised")
# Two independent positive tests at once equal one update with the squared likelihood, and two updates in turn.
prior = np.array([0.001, 0.999])
lik = np.array([0.99, 0.02])
once = learner.bayes_posterior(prior, lik)
twice = learner.bayes_posterior(once, lik)
expect.close(twice, learner.bayes_posterior(prior, lik**2), atol=1e-15, rtol=1e-12, what="two updates in turn",
             hint="sequential updating: the posterior after one observation is the prior for the next")
expect.close(twice, prior * lik**2 / np.sum(prior * lik**2), atol=1e-15, rtol=1e-12, what="the posterior after two tests")
expect.close(learner.bayes_posterior(prior, 7.0 * lik), once, atol=1e-15, rtol=1e-12, what="a rescaled likelihood",
             hint="scaling every likelihood by the same constant must not change the posterior")
# A batch: 5 priors against one likelihood, and the log-space identity posterior = softmax(log prior + log likelihood).
rng = np.random.default_rng(12)
priors = rng.dirichlet(np.ones(4), size=5)
lik = rng.uniform(0.05, 1.0, size=4)
got = learner.bayes_posterior(priors, lik)
expect.shape(got, (5, 4), what="a batch of posteriors",
             hint="normalise over the last axis; the likelihood broadcasts against a batch of priors")
z = np.log(priors) + np.log(lik)
expect.close(got, np.exp(z - z.max(-1, keepdims=True)) / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True),
             atol=1e-15, rtol=1e-12, what="a batch of posteriors")
### END HIDDEN TESTS

# %% [markdown]
# ---
# ## 10 · Sampling the next token, with temperature
#
# At inference time an LLM draws the next token from its predicted distribution. The
# **temperature** $T$ rescales the logits first:
#
# $$p_T(i) = \operatorname{softmax}(z / T)_i = \frac{e^{z_i/T}}{\sum_j e^{z_j/T}} .$$
#
# **What this means.** The ratio of two probabilities becomes $p_T(i)/p_T(j) = e^{(z_i - z_j)/T}$.
#
# * $T = 1$: the model's own distribution.
# * $T < 1$: gaps are magnified, the distribution sharpens, output gets more predictable.
# * $T \to 0$: the ratio to the top token goes to $\infty$; all mass lands on
#   $\arg\max_i z_i$. $T = 0$ is therefore defined as **greedy decoding** (argmax), which we
#   must special-case since $z / 0$ is undefined.
# * $T \to \infty$: every gap shrinks to 0; the distribution becomes uniform.
#
# Entropy grows monotonically with $T$. Dividing, not multiplying, is the definition: with $T=0.5$
# the logits are *doubled*. Very small $T$ creates huge logits ($z / 10^{-8}$), so the stable
# softmax of §1 is essential here.
#
# **Drawing a sample.** To sample from a categorical distribution $\pi$, draw
# $u \sim \mathcal{U}(0, 1)$ and return the first $i$ whose cumulative probability
# $\sum_{k \le i} \pi_k$ exceeds $u$ (inverse-CDF sampling); `rng.choice(V, size=n, p=pi)` does
# exactly this. Always take the random generator as an argument (a `np.random.Generator`), never
# the global `np.random` state: the same seed must give the same tokens, so experiments and
# tests are reproducible.

# %%
# Worked example: inverse-CDF sampling by hand.
pi = np.array([0.1, 0.6, 0.3])
u = np.random.default_rng(0).random(8)
print("u      :", np.round(u, 2))
print("tokens :", np.searchsorted(np.cumsum(pi), u, side="right"))

# %% nbgrader={"grade": false, "grade_id": "apply_temperature", "locked": false, "schema_version": 3, "solution": true, "task": false}
def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """The sampling distribution softmax(logits / temperature) over the last axis.

    Args:
        logits: float64 array of shape (..., V).
        temperature: float >= 0. 0 means greedy: all probability on the argmax (ties go to
                     the lowest index, as np.argmax does). Very small positive values (1e-8)
                     must not overflow. Negative values raise ValueError.
    Returns:
        float64 array of shape (..., V): probabilities, each row sums to 1.

    Example:
        >>> apply_temperature(np.array([1.0, 0.0]), 0.5)     # softmax([2, 0])
        array([0.88079708, 0.11920292])
    """
    ### BEGIN SOLUTION
    logits = np.asarray(logits, dtype=np.float64)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        greedy = np.argmax(logits, axis=-1)
        return np.eye(logits.shape[-1])[greedy]   # one-hot rows: the limit T -> 0
    return softmax(logits / temperature)          # divide: T < 1 sharpens, T > 1 flattens
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "sample_with_temperature", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sample_with_temperature(logits: np.ndarray, temperature: float, num_samples: int,
                            rng: np.random.Generator) -> np.ndarray:
    """Draw token ids from softmax(logits / temperature), using the given random generator.

    Args:
        logits: float64 array of shape (V,): one distribution's logits.
        temperature: float >= 0; 0 returns the argmax every time (greedy decoding).
        num_samples: int >= 0: how many independent draws.
        rng: a np.random.Generator (e.g. np.random.default_rng(0)); use it for all
             randomness, so that the same seed gives the same samples.
    Returns:
        integer array (int64) of shape (num_samples,) with values in [0, V).

    Example:
        >>> sample_with_temperature(np.array([0.0, 5.0, 1.0]), 0.0, 4, np.random.default_rng(0))
        array([1, 1, 1, 1])
    """
    ### BEGIN SOLUTION
    probs = apply_temperature(logits, temperature)
    return rng.choice(len(probs), size=num_samples, p=probs)
    ### END SOLUTION


# %%
# Histograms of 5,000 samples at several temperatures, against the exact probabilities.
demo_logits = np.array([3.0, 2.0, 1.5, 1.0, 0.0, -1.0])
temperatures = [0.0, 0.5, 1.0, 2.0]
rng = np.random.default_rng(0)
fig, axes = plt.subplots(1, len(temperatures), figsize=(12, 2.8), sharey=True)
for ax, t in zip(axes, temperatures):
    samples = sample_with_temperature(demo_logits, t, 5000, rng)
    freq = np.bincount(samples, minlength=len(demo_logits)) / len(samples)
    ax.bar(range(len(demo_logits)), freq, color="tab:blue", alpha=0.6, label="samples")
    ax.plot(range(len(demo_logits)), apply_temperature(demo_logits, t), "k_", ms=18, mew=2, label="softmax(z / T)")
    ax.set(title=f"T = {t}" + (" (greedy)" if t == 0 else ""), xlabel="token id")
axes[0].set_ylabel("frequency")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

ts = np.logspace(-2, 2, 100)
plt.figure(figsize=(5, 2.8))
plt.semilogx(ts, [entropy(apply_temperature(demo_logits, t)) for t in ts])
plt.axhline(math.log(len(demo_logits)), color="gray", ls=":", label="log V (uniform)")
plt.xlabel("temperature T")
plt.ylabel("entropy (nats)")
plt.legend()
plt.tight_layout()
plt.show()

# %% nbgrader={"grade": true, "grade_id": "temperature_distribution", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""at temperature 1 the sampling distribution is the softmax, and temperature 0 puts all probability on the argmax"""
from grader.testing import learner, expect

z = np.array([1.0, 3.0, 2.0])
e = np.exp(z - 3.0)
expect.close(learner.apply_temperature(z, 1.0), e / e.sum(), atol=1e-15, rtol=1e-13, what="the distribution at T = 1",
             hint="T = 1 leaves softmax unchanged")
expect.close(learner.apply_temperature(z, 0.0), np.array([0.0, 1.0, 0.0]), atol=0, rtol=0, what="the distribution at T = 0",
             hint="T = 0 is greedy decoding: a one-hot distribution on the argmax")

# %% nbgrader={"grade": true, "grade_id": "temperature_divides_logits", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""temperature divides the logits: softmax(z / T) matches scipy for T = 0.5 and 2, sharpens as T -> 0 without overflow, flattens as T grows, and rejects negative T"""
from grader.testing import learner, expect

got = learner.apply_temperature(np.array([1.0, 0.0]), 0.5)
expect.close(np.sum(got), 1.0, atol=1e-14, what="the probabilities' sum")
### BEGIN HIDDEN TESTS
from scipy import special

rng = np.random.default_rng(13)
z = rng.normal(scale=2.0, size=(3, 6))
for t in (0.5, 2.0, 0.3):
    got = learner.apply_temperature(z, t)
    expect.shape(got, z.shape, what=f"the distribution at T = {t}", hint="apply_temperature keeps the shape of the logits")
    if np.allclose(np.asarray(got, dtype=float), special.softmax(z * t, axis=-1), rtol=1e-9):
        expect.fail("the logits are multiplied by the temperature; temperature divides them: softmax(z / T), "
                    "so T < 1 sharpens and T > 1 flattens")
    expect.close(got, special.softmax(z / t, axis=-1), atol=1e-15, rtol=1e-11, what=f"the distribution at T = {t}",
                 hint="temperature divides the logits: softmax(z / T)")
sharp = learner.apply_temperature(z, 1e-8)
expect.finite(sharp, what="the distribution at T = 1e-8",
              hint="z / 1e-8 is huge: use the stable softmax (subtract the maximum)")
expect.close(sharp, np.eye(6)[np.argmax(z, axis=-1)], atol=1e-12, rtol=0, what="the distribution at T = 1e-8",
             hint="as T -> 0 the distribution tends to a one-hot on the argmax")
expect.close(learner.apply_temperature(np.array([[0.5, -1.0, 0.2], [4.0, 4.5, 1.0]]), 0.0), np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
             atol=0, rtol=0, what="T = 0 on a batch", hint="one one-hot row per batch row, at each row's argmax")
flat = learner.apply_temperature(z, 1e6)
expect.close(flat, np.full((3, 6), 1 / 6), atol=1e-5, rtol=0, what="the distribution at T = 1e6",
             hint="as T grows the distribution tends to uniform")
h = [special.entr(np.asarray(learner.apply_temperature(z[0], t))).sum() for t in (0.25, 0.5, 1.0, 2.0, 4.0)]
expect.true(np.all(np.diff(h) > 0), "entropy should grow with the temperature: does T divide the logits?")
expect.raises("ValueError", learner.apply_temperature, z, -1.0)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "sampler_shape_and_greedy", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the sampler returns num_samples integer token ids in [0, V), and temperature 0 always returns the argmax"""
from grader.testing import scenario, expect


@scenario
def draw(ns, logits, temperature, n, seed):
    return ns.sample_with_temperature(np.asarray(logits), temperature, n, np.random.default_rng(seed))


s = draw.learner(np.array([0.0, 1.0, 0.5, -2.0]), 1.0, 100, 0)
expect.shape(s, (100,), what="100 samples at T = 1", hint="one token id per sample")
expect.true(np.asarray(s).dtype.kind in "iu", "samples must be integer token ids (e.g. int64), not floats")
expect.true(np.all((np.asarray(s) >= 0) & (np.asarray(s) < 4)), "token ids must lie in [0, V)")
expect.equal(draw.learner(np.array([0.0, 5.0, 1.0]), 0.0, 10, 1), np.full(10, 1),
             what="samples at T = 0", hint="temperature 0 is greedy decoding: always the argmax")

# %% nbgrader={"grade": true, "grade_id": "sampler_statistics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""sample frequencies follow softmax(logits / T) (a chi-square test with a fixed seed) and the sampler draws only from the Generator it is given"""
from grader.testing import scenario, expect


@scenario
def draw(ns, logits, temperature, n, seed):
    return ns.sample_with_temperature(np.asarray(logits), temperature, n, np.random.default_rng(seed))


a = draw.learner(np.array([0.0, 1.0, 2.0]), 1.0, 200, 5)
b = draw.learner(np.array([0.0, 1.0, 2.0]), 1.0, 200, 5)
expect.equal(np.asarray(a), np.asarray(b), what="two runs with the same seed",
             hint="use the rng argument for all randomness (not np.random.* global functions)")
### BEGIN HIDDEN TESTS
from scipy import special, stats

expect.shape(draw.learner(np.array([0.0, 1.0]), 1.0, 0, 0), (0,), what="zero samples")
expect.equal(draw.learner(np.array([-3.0, 2.0, 2.5, 9.0, 1.0]), 0.0, 50, 2), np.full(50, 3), what="samples at T = 0",
             hint="T = 0 must return the argmax token every time (greedy decoding)")
c = draw.learner(np.array([0.0, 1.0, 2.0]), 1.0, 200, 6)
expect.true(not np.array_equal(np.asarray(a), np.asarray(c)),
            "different seeds gave identical samples: draw with the rng that is passed in, not a fixed internal seed")
logits = np.array([2.0, 1.0, 0.5, 0.0, -1.0])
n = 20000
for i, t in enumerate((0.5, 1.0, 2.0)):
    s = np.asarray(draw.learner(logits, t, n, 100 + i))
    expect.shape(s, (n,), what=f"samples at T = {t}")
    expect.true(s.dtype.kind in "iu" and np.all((s >= 0) & (s < 5)), "samples must be integer token ids in [0, V)")
    counts = np.bincount(s, minlength=5)
    p_value = stats.chisquare(counts, n * special.softmax(logits / t)).pvalue
    if p_value < 1e-4 and t != 1.0 and stats.chisquare(counts, n * special.softmax(logits * t)).pvalue > 1e-4:
        expect.fail(f"at T = {t} the samples follow softmax(logits * T): temperature divides the logits, softmax(logits / T)")
    expect.true(p_value > 1e-4,
                f"at T = {t} the sample frequencies do not follow softmax(logits / T) (chi-square p-value {p_value:.1e} "
                f"< 1e-4 on {n} samples): check that you divide by T and sample with these probabilities")
### END HIDDEN TESTS

# %% [markdown]
# ---
# ## Practical considerations
#
# **Numerical stability.**
#
# * Stay in log space as long as you can. Combine log-probabilities by adding, normalise with
#   logsumexp, and exponentiate only at the end (or never). Products of many probabilities
#   underflow: 100 tokens at probability 0.001 give $10^{-300}$, one step from `0.0`.
# * Subtract the maximum before `exp`. `float64` overflows at $e^{709.8}$, `float32` at $e^{88.7}$,
#   `float16` at $e^{11.1}$, `bfloat16` at $e^{88.7}$ but with only 8 bits of precision. Mixed-precision
#   training (assignment 19) keeps softmax and the loss in `float32` for this reason.
# * Use the fused operations: `torch.logsumexp`, `F.log_softmax`, `F.cross_entropy` (which takes
#   logits). In NumPy-land, `scipy.special.logsumexp`, `softmax`, `log_softmax`, `entr`, `rel_entr`.
# * A fully masked row (every logit $-\infty$) has no maximum to subtract: softmax returns NaN
#   (PyTorch does too). Attention implementations guard against it explicitly (assignment 13).
#
# **Common bugs, each of which the hidden tests catch.**
#
# | bug | symptom | fix |
# |---|---|---|
# | softmax without subtracting the max | NaN for logits around 710 (float64) or 89 (float32) | `x - x.max(-1, keepdims=True)` |
# | logsumexp that forgets to add the max back | a "loss" stuck in $[0, \log V]$ | `m + log(sum(exp(x - m)))` |
# | `log(softmax(x))` | `-inf` loss once a probability underflows | `x - logsumexp(x)` |
# | softmax before `cross_entropy` | loss plateaus well above 0, slow training | pass raw logits |
# | sum instead of mean over the batch | loss (and gradient) scale with the batch size | `reduction="mean"` |
# | `KL(q‖p)` where `KL(p‖q)` was meant | wrong penalty, mode-seeking where you wanted covering | average under the first argument |
# | `p * log(p)` with zeros | NaN entropy | $0 \log 0 = 0$ |
# | perplexity as `2 ** loss` with a loss in nats | perplexity too low | `exp(loss)` |
# | logits multiplied by $T$ | $T < 1$ flattens instead of sharpening | `logits / T` |
# | variance with `ddof=1` where the MLE is asked | estimates too large by $N/(N-1)$ | divide by $N$ |
# | forgetting the prior | "95% sure" after one positive test | multiply by the prior, then normalise |
#
# **Hyperparameters and habits that matter.**
#
# * Temperature: 0 for deterministic evaluation and code, about 0.7 to 1.0 for chat. It is usually
#   combined with top-k and top-p truncation (assignments 16 and 30).
# * The loss at initialisation should be close to $\log V$. If it is much higher, the output
#   layer's initial logits are too large.
# * Report cross-entropy in nats (PyTorch's default) or bits, and say which. Perplexities are only
#   comparable under the same tokenizer.
# * When accumulating gradients over micro-batches (assignment 19), "mean over the batch" must mean
#   over the *whole* batch, or the effective learning rate changes.
# * `np.var` divides by $N$, `torch.var` by $N - 1$ unless told `correction=0`.
#
# ---
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | softmax | $e^{z_i} / \sum_j e^{z_j}$ | `e = np.exp(x - x.max(-1, keepdims=True)); e / e.sum(-1, keepdims=True)` | output layer, attention weights |
# | logsumexp | $m + \log\sum_j e^{z_j - m}$ | `m + np.log(np.exp(x - m).sum(-1))` | loss normaliser, online softmax in FlashAttention |
# | log-softmax | $z_i - \operatorname{LSE}(z)$ | `x - logsumexp(x)[..., None]` | token log-probabilities for losses, RLHF, DPO |
# | maximum likelihood | $\hat\pi_k = c_k/N$; $\hat\sigma^2 = \frac1N\sum(x-\hat\mu)^2$ | `counts / counts.sum()`; `((x - x.mean())**2).mean()` | pretraining is MLE; n-gram models; LayerNorm statistics |
# | cross-entropy | $-\frac1N\sum_n \log \operatorname{softmax}(z_n)_{y_n}$ | `-log_softmax(z)[np.arange(N), y].mean()` | the pretraining and fine-tuning loss |
# | perplexity | $e^{\mathcal{L}_{\text{nats}}}$ | `np.exp(cross_entropy(z, y))` | evaluating language models |
# | entropy | $-\sum_i p_i \log p_i$ | `-(p * np.log(np.where(p > 0, p, 1))).sum(-1)` | uncertainty of predictions, entropy bonuses |
# | KL divergence | $\sum_i p_i \log(p_i/q_i)$, asymmetric | `np.where(p > 0, p * (log p - log q), 0).sum(-1)` | RLHF/DPO penalty (reverse), distillation (forward) |
# | Bayes' rule | $P(h\mid e) \propto P(e\mid h)P(h)$ | `j = prior * lik; j / j.sum(-1, keepdims=True)` | log-space priors, guidance, calibration |
# | temperature sampling | $\operatorname{softmax}(z/T)$; $T\to0$ argmax | `rng.choice(V, p=softmax(z / T))` | text generation |

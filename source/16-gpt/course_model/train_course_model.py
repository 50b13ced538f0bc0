"""Train the course model: the reference GPT of 16-gpt on Tiny Shakespeare, character level, on a CPU.

The model, the loss, the schedule and the training loop are the reference solution's own
definitions, read from the solution cells of source/16-gpt/16-gpt.ipynb exactly as the grader
reads its reference (grader.notebook.answer.reference_cells: imports, functions, classes and
constants only), so there is no second copy of the model code. Run `grader release 16-gpt`
after editing the notebook's text twin, then, from anywhere:

    python source/16-gpt/course_model/train_course_model.py            # the shipped run (about 13 minutes on 2 cores)
    python source/16-gpt/course_model/train_course_model.py --steps 50 --out /tmp/trial   # a quick trial

It writes, beside itself (or into --out): course_model.safetensors (the weights, float32, under
the names of the notebook's table), course_model.json (configuration, vocabulary, recipe,
held-out loss, time, machine), training_curve.csv and training_curve.png. The run is reproducible
from its seed on the same machine and thread count: the initialisation comes from
torch.manual_seed(seed), every batch from a torch.Generator seeded with seed + 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ASSIGNMENT = HERE.parent
NANOGPT_CPU_LOSS = 1.88  # nanoGPT's shakespeare_char example on a CPU: 4 layers, 4 heads, 128 wide, context 64, batch 12, 2000 steps
CURVE_SLICE = 50_000  # held-out characters read for each point of the curve (the final loss reads all of them)


def reference_definitions() -> dict:
    """The reference solution's definitions (GPT, train_gpt, held_out_loss, ...), as the grader's judge builds them."""
    from grader.notebook.answer import reference_cells

    namespace = {"__name__": "course_model_reference"}
    for cell in reference_cells(ASSIGNMENT / "16-gpt.ipynb"):
        exec(compile(cell.code, f"<16-gpt {cell.name}>", "exec", dont_inherit=True), namespace)
    return namespace


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1600)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--block-size", type=int, default=256)
    parser.add_argument("--max-lr", type=float, default=2e-3)
    parser.add_argument("--min-lr", type=float, default=2e-4)
    parser.add_argument("--warmup-steps", type=int, default=200)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--out", type=Path, default=HERE)
    return parser.parse_args()


def main() -> None:
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    ns = reference_definitions()
    GPT, GPTConfig, train_gpt, held_out_loss, lr_at = ns["GPT"], ns["GPTConfig"], ns["train_gpt"], ns["held_out_loss"], ns["lr_at"]

    text = (ASSIGNMENT / "tinyshakespeare.txt").read_text(encoding="utf-8")
    vocabulary = ns["character_vocabulary"](text)
    ids = ns["encode"](text, vocabulary)
    split = int(0.9 * len(ids))  # nanoGPT's split: the first 90 % for training, the last 10 % held out
    train_ids, held_out_ids = ids[:split], ids[split:]

    config = GPTConfig(vocab_size=len(vocabulary), block_size=args.block_size, n_layer=4, n_head=4, n_embd=128)
    torch.manual_seed(args.seed)
    model = GPT(config)
    generator = torch.Generator().manual_seed(args.seed + 1)

    rows, recent = [], []
    evaluation_seconds = 0.0
    started = time.perf_counter()

    def log(step: int, loss: float) -> None:
        nonlocal evaluation_seconds
        recent.append(loss)
        del recent[:-20]
        row = {"step": step + 1, "tokens_seen": (step + 1) * args.batch_size * args.block_size,
               "lr": lr_at(step, args.max_lr, args.warmup_steps, args.steps, args.min_lr),
               "train_loss": sum(recent) / len(recent), "held_out_loss": float("nan"),
               "seconds": time.perf_counter() - started - evaluation_seconds}
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            paused = time.perf_counter()
            row["held_out_loss"] = held_out_loss(model, held_out_ids[:CURVE_SLICE])
            evaluation_seconds += time.perf_counter() - paused
            print(f"step {step + 1:5d}  train {row['train_loss']:.4f}  held-out (first {CURVE_SLICE:,}) {row['held_out_loss']:.4f}  "
                  f"{row['seconds']:.0f} s", flush=True)
        rows.append(row)

    losses = train_gpt(model, train_ids, args.steps, args.batch_size, args.max_lr, generator, warmup_steps=args.warmup_steps,
                       min_lr=args.min_lr, weight_decay=args.weight_decay, betas=(0.9, 0.99), clip=1.0, log=log)
    training_seconds = time.perf_counter() - started - evaluation_seconds
    model.eval()
    paused = time.perf_counter()
    final_loss = held_out_loss(model, held_out_ids)
    final_evaluation_seconds = time.perf_counter() - paused
    wall_seconds = time.perf_counter() - started
    print(f"held-out loss over all {len(held_out_ids):,} held-out characters: {final_loss:.4f} nats per character")

    args.out.mkdir(parents=True, exist_ok=True)
    write_checkpoint(model, args.out / "course_model.safetensors")
    write_curve(rows, args.out / "training_curve.csv")
    plot_curve(rows, final_loss, args.out / "training_curve.png")
    tokens_seen = args.steps * args.batch_size * args.block_size
    info = {
        "name": "course model of 16-gpt: a character-level GPT trained on Tiny Shakespeare",
        "config": {"vocab_size": config.vocab_size, "block_size": config.block_size, "n_layer": config.n_layer,
                   "n_head": config.n_head, "n_embd": config.n_embd},
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "vocabulary": vocabulary,
        "seed": args.seed,
        "data": {"text": "tinyshakespeare.txt", "split": "first 90 % for training, last 10 % held out (nanoGPT's split)",
                 "train_characters": len(train_ids), "held_out_characters": len(held_out_ids)},
        "training": {
            "steps": args.steps, "batch_size": args.batch_size, "context": args.block_size, "tokens_seen": tokens_seen,
            "passes_over_training_text": tokens_seen / len(train_ids),
            "optimizer": "AdamW, weight decay on parameters with 2 or more dimensions only",
            "max_lr": args.max_lr, "min_lr": args.min_lr, "warmup_steps": args.warmup_steps,
            "schedule": "linear warm-up over warmup_steps, then cosine decay to min_lr at the last step (lr_at)",
            "weight_decay": args.weight_decay, "betas": [0.9, 0.99], "grad_clip": 1.0, "dropout": 0.0,
            "initialisation": "GPT-2's: N(0, 0.02), output projections N(0, 0.02 / sqrt(2 n_layer)), biases 0, gains 1",
            "batches": "random windows of context + 1 characters, torch.Generator seeded with seed + 1",
        },
        "held_out_loss": final_loss,
        "held_out_loss_measured": (f"mean cross-entropy in nats per character over all {len(held_out_ids) - 1:,} next-character "
                                   f"predictions of the held-out text, read in consecutive windows of {args.block_size} + 1 characters "
                                   "overlapping by one (each prediction from the characters before it in its window); float64 sum"),
        "final_training_loss": sum(losses[-20:]) / len(losses[-20:]),
        "final_training_loss_measured": "mean of the training losses of the last 20 steps (one batch each)",
        "training_seconds": training_seconds,
        "training_seconds_measured": "wall time of the training steps, without the held-out evaluations of the curve",
        "wall_seconds": wall_seconds,
        "evaluation_seconds": evaluation_seconds + final_evaluation_seconds,
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "python": platform.python_version(), "os": platform.platform()},
        "anchor": {"nanoGPT_cpu_held_out_loss": NANOGPT_CPU_LOSS,
                   "nanoGPT_cpu_recipe": "4 layers, 4 heads, width 128, context 64, batch 12, 2000 steps, lr 1e-3 decayed to 1e-4, "
                                         "dropout 0: 1.5 million characters seen"},
        "what_made_the_difference": (
            f"{tokens_seen / 1e6:.1f} million characters seen instead of nanoGPT's 1.5 million ({tokens_seen / 1.536e6:.1f} times as many, "
            f"{tokens_seen / len(train_ids):.1f} passes over the training text): the model is far from converged after 1.5 million; "
            f"in windows of {args.block_size} instead of 64 characters (more context for each prediction, and each window trains "
            f"{args.block_size // 64} times as many positions), with {args.batch_size} windows per step instead of 12; made affordable "
            "in 15 minutes on 2 threads by the fused attention kernel (F.scaled_dot_product_attention) and large matrix products; "
            f"plus AdamW with betas (0.9, 0.99), a warm-up over {args.warmup_steps} steps to a higher peak learning rate "
            f"({args.max_lr:g} instead of 0.001) and a cosine decay to {args.min_lr:g}, and no dropout."),
        "script": "source/16-gpt/course_model/train_course_model.py (reads the reference solution's cells of 16-gpt)",
    }
    (args.out / "course_model.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: info[k] for k in ("held_out_loss", "final_training_loss", "training_seconds", "wall_seconds")}, indent=2))


def write_checkpoint(model: torch.nn.Module, path: Path) -> None:
    """The state dict as safetensors, every key of model.state_dict() (lm_head.weight a copy of the tied embedding)."""
    from safetensors.torch import save_file

    # safetensors refuses tensors that share memory; a copy per key keeps load_state_dict(strict=True) working
    save_file({name: tensor.detach().clone().contiguous() for name, tensor in model.state_dict().items()}, str(path),
              metadata={"format": "pt", "names": "GPT-2 names, nn.Linear (out, in) layout"})
    path.chmod(0o644)


def write_curve(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) and not math.isnan(v) else ("" if isinstance(v, float) else v))
                             for k, v in row.items()})


def plot_curve(rows: list[dict], final_loss: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tokens = [row["tokens_seen"] / 1e6 for row in rows]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(tokens, [row["train_loss"] for row in rows], lw=0.7, label="training loss (mean of the last 20 steps)")
    held = [(t, row["held_out_loss"]) for t, row in zip(tokens, rows) if not math.isnan(row["held_out_loss"])]
    ax.plot([t for t, _ in held], [loss for _, loss in held], "o-", ms=3, label=f"held-out loss (first {CURVE_SLICE:,} characters)")
    ax.axhline(NANOGPT_CPU_LOSS, color="grey", ls="--", lw=1, label=f"nanoGPT's CPU run: {NANOGPT_CPU_LOSS}")
    ax.axhline(final_loss, color="C3", lw=1, label=f"course model, all held-out text: {final_loss:.3f}")
    ax.set(xlabel="millions of characters seen", ylabel="nats per character", ylim=(1.2, 3.0),
           title="course model of 16-gpt: 4 layers, 4 heads, width 128, Tiny Shakespeare")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()

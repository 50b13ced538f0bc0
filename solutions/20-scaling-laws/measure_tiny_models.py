"""Measure the held-out loss of tiny character GPTs on Tiny Shakespeare: the CSV 20-scaling-laws fits.

Each row is one training run of course_model.new_model(n_layer=2, n_head=2, n_embd=w, block_size=64)
from random weights, with AdamW (lr 3e-3, betas 0.9/0.99, weight decay 0.1 on matrices), a linear
warm-up over 10 % of the steps and a cosine decay to lr/10 at the last step of *that* run (the
schedule is tuned to each run length, as Chinchilla does and Kaplan did not), batches of 16 random
windows of 64 + 1 characters. The held-out loss is the mean cross-entropy (nats per character) over
256 fixed windows of the last 10 % of the text. n_params counts every parameter (the tied
embedding once); n_tokens = steps * 16 * 64 predictions trained on.

    python measure_tiny_models.py            # about two minutes on two CPU threads; writes tiny_models.csv
"""

from __future__ import annotations

import csv
import math
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from course_model import encode, new_model

HERE = Path(__file__).resolve().parent
WIDTHS = (16, 24, 32, 48, 64)
STEPS = (75, 150, 300, 600)
BATCH, CONTEXT, LR, SEED = 16, 64, 3e-3, 0


def lr_at(step: int, steps: int) -> float:
    warmup = max(1, steps // 10)
    if step < warmup:
        return LR * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - 1 - warmup)
    return LR / 10 + 0.5 * (LR - LR / 10) * (1 + math.cos(math.pi * progress))


def windows(ids: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    starts = torch.randint(0, len(ids) - CONTEXT - 1, (count,), generator=generator)
    return torch.stack([ids[s: s + CONTEXT + 1] for s in starts.tolist()])


def held_out_loss(model, batch: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        logits = model(batch[:, :-1]).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), batch[:, 1:].reshape(-1))
    model.train()
    return float(loss)


def train_one(width: int, steps: int, train_ids, held_out_batch) -> dict:
    torch.manual_seed(SEED)
    model = new_model(n_layer=2, n_head=2, n_embd=width, block_size=CONTEXT)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=LR, betas=(0.9, 0.99))
    generator = torch.Generator().manual_seed(SEED + 1)
    started = time.perf_counter()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps)
        batch = windows(train_ids, BATCH, generator)
        logits = model(batch[:, :-1]).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    seconds = time.perf_counter() - started
    n_params = sum(p.numel() for p in model.parameters())
    non_embedding = n_params - sum(p.numel() for name, p in model.named_parameters() if name.endswith(("wte.weight", "wpe.weight")))
    return {"n_layer": 2, "n_embd": width, "n_params": n_params, "n_non_embedding": non_embedding, "steps": steps,
            "n_tokens": steps * BATCH * CONTEXT, "held_out_loss": round(held_out_loss(model, held_out_batch), 6),
            "train_seconds": round(seconds, 2)}


def main() -> None:
    torch.set_num_threads(2)
    ids = encode((HERE / "tinyshakespeare.txt").read_text(encoding="utf-8"))
    split = int(0.9 * len(ids))
    train_ids, held_out_ids = ids[:split], ids[split:]
    held_out_batch = windows(held_out_ids, 256, torch.Generator().manual_seed(12345))
    rows = []
    for width in WIDTHS:
        for steps in STEPS:
            row = train_one(width, steps, train_ids, held_out_batch)
            print(row, flush=True)
            rows.append(row)
    path = HERE / "tiny_models.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        handle.write(f"# made by measure_tiny_models.py (torch {torch.__version__}, {platform.processor() or platform.machine()}, "
                     f"2 threads): n_layer=2, n_head=2, context {CONTEXT}, batch {BATCH}, AdamW lr {LR} with warm-up and cosine "
                     "decay per run, seed 0; held_out_loss in nats per character on 256 fixed held-out windows\n")
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print("wrote", path)


if __name__ == "__main__":
    main()

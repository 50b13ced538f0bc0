"""Weight decay on every parameter, LayerNorm gains and biases included: the gains are pulled towards 0 instead of 1, for nothing. Make two AdamW parameter groups: weight_decay for the parameters with dim() >= 2, 0 for the others."""
import torch
import torch.nn as nn


def train_gpt(model, data, steps, batch_size, max_lr, generator, warmup_steps=0, min_lr=0.0, weight_decay=0.1, betas=(0.9, 0.99), clip=1.0, log=None):
    optimizer = torch.optim.AdamW(model.parameters(), lr=max_lr, betas=betas, weight_decay=weight_decay)  # BUG: one group, all decayed
    window = model.config.block_size + 1
    losses = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, max_lr, warmup_steps, steps, min_lr)
        batch = random_windows(data, batch_size, window, generator)
        loss = lm_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(loss.item())
        if log is not None:
            log(step, losses[-1])
    return losses

"""An fp16 step that clips the gradients before unscaling them: it clips s * g (65536 times too large) to max_norm, and after unscaling the real step is s times too small. Call scaler.unscale_(optimizer) first, then clip_grad_norm, then scaler.step(optimizer)."""
import torch


def mixed_precision_step(model, optimizer, scaler, inputs, targets, max_norm, dtype=torch.float16, device_type="cpu"):
    optimizer.zero_grad(set_to_none=True)
    loss = autocast_lm_loss(model, inputs, targets, dtype, device_type)
    scaler.scale(loss).backward()
    clip_grad_norm(model.parameters(), max_norm)  # BUG: clips the scaled gradients
    scaler.unscale_(optimizer)
    stepped = scaler.step(optimizer)
    scaler.update()
    return loss.item(), stepped

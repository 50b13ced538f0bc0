"""Mixed precision by casting the whole model to bfloat16 (model.to(torch.bfloat16)) instead of autocast: the parameters lose their float32 master copy, and updates smaller than 2^-8 of a weight round away. Leave the model in float32 and run the forward pass inside torch.autocast(device_type, dtype=dtype)."""
import torch
import torch.nn.functional as F


def autocast_lm_loss(model, inputs, targets, dtype=torch.bfloat16, device_type="cpu"):
    model.to(dtype)  # BUG: the parameters themselves become 16-bit
    logits = model(inputs).logits.float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)

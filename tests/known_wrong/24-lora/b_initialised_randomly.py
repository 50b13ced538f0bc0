"""lora_B initialised randomly like lora_A: the adapted model no longer starts equal to the pretrained one. Initialise B with zeros so that B A = 0 at step 0."""
import math

import torch
import torch.nn as nn
from transformers.pytorch_utils import Conv1D


class LoRALinear(nn.Module):
    """A frozen nn.Linear or transformers Conv1D with a trainable low-rank update: h = base(x) + (alpha / r) B A x.

    Attributes:
        base: the wrapped layer; its parameters are frozen (requires_grad False).
        r, alpha: the rank and the LoRA alpha; scaling = alpha / r.
        fan_in_fan_out: True when base is a Conv1D (weight stored (d_in, d_out)), False for nn.Linear.
        lora_A: nn.Parameter (r, d_in), drawn from N(0, 1 / d_in), in base.weight's dtype and device.
        lora_B: nn.Parameter (d_out, r), zeros, same dtype and device.
        merged: whether (alpha / r) B A is currently added into base.weight.
    """

    def __init__(self, base: nn.Module, r: int, alpha: float):
        """Wrap base (about 5 minutes). Example: LoRALinear(nn.Linear(32, 48), r=4, alpha=8).lora_B.shape == (48, 4)."""
        super().__init__()
        d_in, d_out = in_out_features(base)
        self.base, self.r, self.alpha = base, r, alpha
        self.fan_in_fan_out = isinstance(base, Conv1D)
        self.merged = False
        self.scaling = alpha / r
        for parameter in self.base.parameters():
            parameter.requires_grad_(False)                       # the pretrained layer stays frozen
        weight = base.weight
        self.lora_A = nn.Parameter(torch.randn(r, d_in, dtype=weight.dtype, device=weight.device) / math.sqrt(d_in))
        self.lora_B = nn.Parameter(torch.randn(d_out, r, dtype=weight.dtype, device=weight.device) / math.sqrt(r))  # BUG: B random   # B = 0: starts as the base

    def delta_weight(self) -> torch.Tensor:
        """The update (alpha / r) B A in the mathematical orientation: a tensor (d_out, d_in) (about 1 minute)."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """base(x) + (alpha / r) B (A x) for x (..., d_in); returns (..., d_out). A merged layer returns base(x) alone (about 3 minutes).

        Example:
            >>> layer = LoRALinear(nn.Linear(32, 48), r=4, alpha=8)
            >>> torch.equal(layer(x := torch.randn(2, 5, 32)), layer.base(x))   # B = 0 at the start
            True
        """
        result = self.base(x)
        if self.merged:
            return result                                          # the update already sits in base.weight
        return result + self.scaling * ((x @ self.lora_A.T) @ self.lora_B.T)

    @torch.no_grad()
    def merge(self) -> None:
        """Add (alpha / r) B A into base.weight (transposed for a Conv1D) and mark the layer merged; nothing if already merged (about 3 minutes)."""
        if self.merged:
            return
        delta = self.delta_weight()
        self.base.weight += delta.T if self.fan_in_fan_out else delta
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract (alpha / r) B A from base.weight again and mark the layer unmerged; nothing if not merged (about 2 minutes)."""
        if not self.merged:
            return
        delta = self.delta_weight()
        self.base.weight -= delta.T if self.fan_in_fan_out else delta
        self.merged = False

"""SwiGLU with the gate and up projections swapped: SiLU is applied to x @ w_up.T and the gate matrix stays linear, so pretrained weights compute something else. SiLU goes on the gate: F.silu(x @ w_gate.T) * (x @ w_up.T)."""
import torch.nn.functional as F


def swiglu(x, w_gate, w_up, w_down):
    return (F.silu(x @ w_up.T) * (x @ w_gate.T)) @ w_down.T  # BUG: roles of gate_proj and up_proj swapped

"""SwiGLU with a sigmoid gate: sigmoid(z) in place of SiLU(z) = z * sigmoid(z) is the original GLU, another layer. Use F.silu on the gate projection."""
import torch


def swiglu(x, w_gate, w_up, w_down):
    return (torch.sigmoid(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T  # BUG: sigmoid instead of SiLU

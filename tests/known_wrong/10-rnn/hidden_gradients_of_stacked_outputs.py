"""Hidden-state gradients taken with respect to the stacked outputs of unroll: the stack is a copy made after the loop, which the loss reaches only through its last row, so every earlier gradient comes out zero. Take torch.autograd.grad with respect to the list of states built inside the loop, the tensors each next step consumed."""
import torch


def hidden_state_gradients(cell, xs, state, params, readout):
    with torch.enable_grad():
        xs = xs.detach().requires_grad_(True)
        outputs, _ = unroll(cell, xs, state, params)
        loss = (readout * outputs[-1]).sum()
        (grad,) = torch.autograd.grad(loss, [outputs])  # BUG: the stacked copy, not the states of the loop
    return grad

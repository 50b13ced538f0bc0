"""Freezing by setting `module.requires_grad = False` freezes nothing: it is a plain attribute autograd never reads. Set the flag on each parameter: `for p in module.parameters(): p.requires_grad_(False)` (or `module.requires_grad_(False)`)."""


def freeze(module: nn.Module) -> None:
    module.requires_grad = False


def unfreeze(module: nn.Module) -> None:
    module.requires_grad = True

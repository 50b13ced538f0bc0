"""merge_and_unload that puts the base layers back without merging: the exported model is the pretrained one and the fine-tuning is silently lost. Call layer.merge() before replacing the LoRALinear by its base."""


def merge_and_unload(model):
    wrapped = [name for name, module in model.named_modules() if isinstance(module, LoRALinear)]
    for name in wrapped:
        parent_name, _, child_name = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        layer = getattr(parent, child_name)
        setattr(parent, child_name, layer.base)  # BUG: not merged first
    return model

"""The trainable count includes the frozen base: every parameter is reported as trainable ("100 %"), and memory estimates are wrong. Count only parameters with requires_grad."""


def count_trainable_parameters(model):
    trainable = sum(p.numel() for p in model.parameters())  # BUG: frozen parameters counted too
    total = sum(p.numel() for p in model.parameters())
    return trainable, total

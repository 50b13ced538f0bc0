"""Cross-entropy on softmaxed logits applies softmax twice: the loss cannot fall below log(1 + e^-1) for two classes and its gradients are squashed. Pass the raw logits to F.cross_entropy, which applies log_softmax itself."""


def train_classifier(model: nn.Module, head: nn.Linear, batches: list, lr: float = 3e-4,
                     weight_decay: float = 0.01, how: str = "last") -> list:
    optimizer = make_optimizer([model, head], lr, weight_decay)
    model.train()
    losses = []
    for input_ids, attention_mask, labels in batches:
        logits = classify(model, head, input_ids, attention_mask, how)
        loss = F.cross_entropy(logits.softmax(dim=-1), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses

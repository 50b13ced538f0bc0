"""A repetition penalty that divides every seen logit by theta brings negative logits closer to 0 and makes those repeated tokens MORE likely. Multiply negative logits by theta, divide positive ones."""
import torch


def apply_repetition_penalty(logits, previous_ids, penalty):
    penalised = logits.clone()
    seen = torch.tensor(sorted(set(int(t) for t in previous_ids)), dtype=torch.long)
    if len(seen) == 0:
        return penalised
    penalised[seen] = penalised[seen] / penalty  # BUG: the sign of the logit is ignored
    return penalised

"""Sampling that restarts the model from a zero state at every new token, feeding it only the last sampled token: after the first character the generated text no longer depends on the prompt or on anything before the last character. Feed the sampled token back together with the state the model returned."""
import torch


@torch.no_grad()
def sample(model, prompt, n_new, temperature, generator, num_samples=1):
    logits, _ = model(prompt[None, :].expand(num_samples, -1))
    next_logits = logits[:, -1]
    new_tokens = []
    for _ in range(n_new):
        if temperature == 0:
            token = next_logits.argmax(dim=-1)
        else:
            probs = torch.softmax(next_logits / temperature, dim=-1)
            token = torch.multinomial(probs, 1, generator=generator)[:, 0]
        new_tokens.append(token)
        logits, _ = model(token[:, None])  # BUG: the state is dropped, the model starts from zero
        next_logits = logits[:, -1]
    return torch.stack(new_tokens, dim=1)

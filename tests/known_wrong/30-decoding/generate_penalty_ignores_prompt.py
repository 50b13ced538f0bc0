"""A generation loop whose repetition penalty sees only the generated tokens, not the prompt, differs from CTRL and transformers' generate. Penalise every token of the ids so far, prompt included."""


def generate(next_logits, prompt, n_new, temperature=1.0, top_k=None, top_p=None, repetition_penalty=1.0, generator=None):
    ids = [int(t) for t in prompt]
    for _ in range(n_new):
        logits = next_logits(ids)
        if repetition_penalty != 1.0:
            logits = apply_repetition_penalty(logits, ids[len(prompt):], repetition_penalty)  # BUG: the prompt is not penalised
        logits = apply_temperature(logits, temperature)
        if top_k is not None:
            logits = top_k_filter(logits, top_k)
        if top_p is not None:
            logits = top_p_filter(logits, top_p)
        ids.append(int(sample(logits, generator)))
    return ids

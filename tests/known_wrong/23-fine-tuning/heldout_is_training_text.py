"""Taking the first 10 % of the text as held-out measures forgetting on text the model was trained on. nanoGPT's validation split is the last 10 %: text[int(0.9 * n):]."""


def shakespeare_split(text: str) -> tuple[str, str]:
    cut = int(0.9 * len(text))
    return text[len(text) - cut:], text[:len(text) - cut]

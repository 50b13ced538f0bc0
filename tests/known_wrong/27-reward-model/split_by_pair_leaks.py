"""Pairs shuffled and split one by one: held-out prompts also appear in training, and the held-out accuracy measures memorised prompts. Shuffle and split the distinct prompts, then send each pair to the side of its prompt."""
import random


def split_by_prompt(pairs, held_out_share=0.2, seed=0):
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)  # BUG: pairs, not prompts
    held = set(order[:round(held_out_share * len(pairs))])
    return [p for i, p in enumerate(pairs) if i not in held], [p for i, p in enumerate(pairs) if i in held]

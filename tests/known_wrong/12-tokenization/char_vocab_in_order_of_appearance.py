"""The character vocabulary in the order the characters first appear, not sorted: the ids then depend on the text's order instead of only on its set of characters, and two vocabularies of the same characters disagree. Return sorted(set(text)), the code points in increasing order."""


def char_vocab(text):
    return list(dict.fromkeys(text))  # BUG: order of first appearance

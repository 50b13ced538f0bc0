"""The word lists matched as substrings: 'affair' then contains 'fair' and 'soldier' contains 'die'. Split the text into words (re.findall(WORD, text)), lower-case them, and compare whole words."""


def rule_score(text):
    lowered = text.lower()
    score = 1 if text.rstrip().endswith((".", "!", "?")) else 0
    if any(word in lowered for word in KIND_WORDS):  # BUG: substrings
        score += 1
    if any(word in lowered for word in CRUEL_WORDS):
        score -= 1
    return score

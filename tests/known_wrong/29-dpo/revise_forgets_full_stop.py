"""revise that strips the trailing punctuation but forgets to add the full stop, so its revisions still violate "end with a full stop". Append "." after removing the trailing non-alphanumerics."""
import re

WORD = r"[A-Za-z]+"
SHOUTED_WORD = r"(?<![A-Za-z])[A-Z]{2,}(?![A-Za-z])"


def revise(text):
    repeated = re.compile(r"(?<![A-Za-z])([A-Za-z]+)[^A-Za-z]+\1(?![A-Za-z])", re.IGNORECASE)
    while repeated.search(text):
        text = repeated.sub(r"\1", text)
    if len(re.findall(SHOUTED_WORD, text)) > 1:
        seen = []

        def quieten(match):
            seen.append(match.group(0))
            return match.group(0) if len(seen) == 1 else match.group(0).lower()

        text = re.sub(SHOUTED_WORD, quieten, text)
    if not text.rstrip().endswith("."):
        text = re.sub(r"[^A-Za-z0-9]*$", "", text)  # BUG: no "." added
    return text

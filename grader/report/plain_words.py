"""What a learner reads of a check, in the course's words and not the sandbox's.

The sandbox's own terms (cgroup, namespace, zygote, Landlock, rlimit, ...) belong to whoever
runs the grader: `grader check --verbose` shows them. Without it the parts of a message that
use them (a parenthesis, a clause after a colon, a clause between semicolons) are left out, with
a pointer to `--verbose`, and the list of protections is not shown at all.
"""

from __future__ import annotations

import dataclasses
import re

from grader.judging.results import CheckReport

JARGON = re.compile(
    r"cgroup|namespace|zygote|seccomp|rlimit|landlock|unshare|ptrace|setpriv|capabilit|pids\.max|tmpfs|clone_new|\bABI\b",
    re.IGNORECASE,
)
MORE = "(details: grader check --verbose)"


def has_jargon(text: str) -> bool:
    return bool(JARGON.search(text or ""))


def plain(text: str) -> str:
    """`text` without the parts that speak the sandbox's language; unchanged when it has none."""
    if not has_jargon(text):
        return text
    text = _without_parentheses_with_jargon(text)
    if has_jargon(text) and "; " in text:
        kept = [part for part in text.split("; ") if not has_jargon(part)]
        text = "; ".join(kept)
    if has_jargon(text):  # a clause after a colon: "failed while defining your answer: <what the kernel said>"
        text = text[: JARGON.search(text).start()].rsplit(": ", 1)[0] if ": " in text else ""
    text = text.strip(" :;,")
    return f"{text} {MORE}" if text else f"the grader could not run your code on this machine {MORE}"


def for_the_learner(report: CheckReport) -> CheckReport:
    """A copy of `report` whose messages are `plain` and without the list of protections (`grader check` without --verbose)."""
    results = [dataclasses.replace(r, message=plain(r.message), traceback=[line for line in r.traceback if not has_jargon(line)])
               for r in report.results]
    return dataclasses.replace(
        report, results=results, not_gradable=plain(report.not_gradable) if report.not_gradable else report.not_gradable,
        load_problems={cell: plain(problem) for cell, problem in report.load_problems.items()}, protections={},
    )


def _without_parentheses_with_jargon(text: str) -> str:
    """Drop each outermost (…) group whose text uses a jargon term, with the space before it."""
    spans, opened = [], []
    for at, char in enumerate(text):
        if char == "(":
            opened.append(at)
        elif char == ")" and opened:
            start = opened.pop()
            if has_jargon(text[start:at + 1]):
                spans = [s for s in spans if not (start <= s[0] and s[1] <= at + 1)] + [(start, at + 1)]
    for start, end in sorted(spans, reverse=True):
        while start > 0 and text[start - 1] == " ":
            start -= 1
        text = text[:start] + text[end:]
    return text

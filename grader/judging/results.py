"""What a judged check produces: one result per test cell, the report around them, and its codec.

A report travels as plain JSON-able data (`to_dict` / `from_dict`): from a class-grading
worker to the one writer, and from `grader check --json` to the check cell.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class TestResult:
    name: str  # the test cell's grade_id
    words: str  # the property it checks, in the learner's words
    max_points: float
    hidden: bool
    gpu: bool
    status: str  # "passed", "failed" or "not run"
    points: float = 0.0
    category: str = ""  # how it failed: shape, dtype, tolerance, exception, timeout, memory, ...
    message: str = ""  # what to fix; never hidden source or expected values
    traceback: list[str] = field(default_factory=list)  # the learner's own lines only
    misconception: str = ""  # the classic mistake the learner's outputs match, in words, with the fix
    misconception_id: str = ""  # which known-wrong implementation that is
    seconds: float = 0.0  # how long the test took, judge and learner together


@dataclass
class CheckReport:
    assignment: str
    learner: str
    notebook: str
    results: list[TestResult] = field(default_factory=list)
    not_gradable: str | None = None  # why the notebook could not be graded (every test then scores 0)
    grader_fault: bool = False  # not_gradable because the grader itself failed: retried, not the learner's fault
    protections: dict = field(default_factory=dict)
    load_problems: dict = field(default_factory=dict)
    seconds: float = 0.0

    def _sum(self, attribute: str, **where) -> float:
        return sum(getattr(r, attribute) for r in self.results if r.status != "not run" and all(getattr(r, k) == v for k, v in where.items()))

    def _maximum(self, hidden: bool) -> float:
        return sum(r.max_points for r in self.results if r.hidden == hidden)

    @property
    def points(self) -> float:
        return self._sum("points")

    @property
    def max_points(self) -> float:
        """Every test's points, GPU tests not run here included: the maximum is the same in every view."""
        return sum(r.max_points for r in self.results)

    @property
    def not_run(self) -> list[TestResult]:
        return [r for r in self.results if r.status == "not run"]

    @property
    def complete(self) -> bool:
        """Every test that could run here passed (GPU tests without CUDA are told apart, not failed)."""
        return self.not_gradable is None and self.points == self._sum("max_points")

    def summary(self) -> str:
        if self.not_gradable:
            return f"not gradable: {self.not_gradable}"
        line = (
            f"{_n(self.points)}/{_n(self.max_points)} points: "
            f"visible {_n(self._sum('points', hidden=False))}/{_n(self._maximum(hidden=False))}, "
            f"hidden {_n(self._sum('points', hidden=True))}/{_n(self._maximum(hidden=True))}"
        )
        if self.not_run:
            count = len(self.not_run)
            line += (f"; {_n(sum(r.max_points for r in self.not_run))} of them in {count} GPU test{'s' if count != 1 else ''}"
                     f" not run here (no CUDA)")
        return line

    @classmethod
    def not_gradable_for(cls, tests, reason: str, *, assignment: str, learner: str, notebook: str, grader_fault: bool = False) -> "CheckReport":
        """A report giving every test (grader.notebook.cells.TestCell) 0 points, because of `reason`."""
        report = cls(assignment=assignment, learner=learner, notebook=str(notebook), not_gradable=reason, grader_fault=grader_fault)
        report.results = [
            TestResult(name=t.name, words=t.words, max_points=t.points, hidden=t.hidden, gpu=t.gpu,
                       status="failed", category="not gradable", message=reason)
            for t in tests
        ]
        return report

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(points=self.points, max_points=self.max_points, summary=self.summary(), complete=self.complete)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "CheckReport":
        """The inverse of `to_dict` (its derived keys are dropped)."""
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "results"}
        known = TestResult.__dataclass_fields__
        return cls(**fields, results=[TestResult(**{k: v for k, v in r.items() if k in known}) for r in data.get("results", [])])

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _n(x: float) -> str:
    return f"{x:g}"

"""What a judged check produces: one result per test cell, and the report around them."""

from __future__ import annotations

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


@dataclass
class CheckReport:
    assignment: str
    learner: str
    notebook: str
    results: list[TestResult] = field(default_factory=list)
    not_gradable: str | None = None
    protections: dict = field(default_factory=dict)
    load_problems: dict = field(default_factory=dict)
    seconds: float = 0.0

    def _sum(self, attribute: str, **where) -> float:
        return sum(getattr(r, attribute) for r in self.results if r.status != "not run" and all(getattr(r, k) == v for k, v in where.items()))

    @property
    def points(self) -> float:
        return self._sum("points")

    @property
    def max_points(self) -> float:
        return self._sum("max_points")

    @property
    def not_run(self) -> list[TestResult]:
        return [r for r in self.results if r.status == "not run"]

    @property
    def complete(self) -> bool:
        return self.not_gradable is None and self.points == self.max_points

    def summary(self) -> str:
        if self.not_gradable:
            return f"not gradable: {self.not_gradable}"
        line = (
            f"{_n(self.points)}/{_n(self.max_points)} points: "
            f"visible {_n(self._sum('points', hidden=False))}/{_n(self._sum('max_points', hidden=False))}, "
            f"hidden {_n(self._sum('points', hidden=True))}/{_n(self._sum('max_points', hidden=True))}"
        )
        if self.not_run:
            count = len(self.not_run)
            line += f", {count} GPU test{'s' if count != 1 else ''} not run (no CUDA)"
        return line

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(points=self.points, max_points=self.max_points, summary=self.summary(), complete=self.complete)
        return data


def _n(x: float) -> str:
    return f"{x:g}"

"""What instructors hand out: per-learner feedback pages and the class CSV.

    grader feedback ID [--student S]   feedback/<student>/<ID>/<ID>.html (nbgrader's layout)
    grader export [ID ...] [-o FILE]   student, assignment, score, max_score, status

Feedback comes from the latest judged attempt of each learner (table grader_test_results):
for each test, the property it checks in words, how it failed (the category), what to fix
(the message) and, where the judge recognised one, the classic mistake behind it (the
docstring of a tests/known_wrong/ implementation, written for learners). It never contains test cell code, hidden or not, nor expected values: those are
not stored anywhere it reads from, and as a second guard any line of a hidden test that turned
up in a message would be blanked. Every text is HTML-escaped (messages quote learner output).

The CSV takes scores from nbgrader's gradebook, as formgrader and `nbgrader export` see them
(manual grades included), and the status from grader autograde's state table.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, select

from grader.course import Course

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ assignment }} · feedback for {{ learner }}</title>
<style>
 body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
 table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
 .passed { color: #1a7f37; } .failed { color: #cf222e; } .notrun { color: #9a6700; } .kind, .when { color: #666; font-size: .9em; }
 .banner { background: #fff1f0; border: 1px solid #cf222e; padding: .8rem 1rem; margin: 1rem 0; }
 .category { font-weight: 600; }
</style></head><body>
<h1>{{ assignment }}</h1>
<p>Feedback for <strong>{{ learner }}</strong>: <strong>{{ points }}/{{ max_points }} points</strong>
 (visible {{ visible }}, hidden {{ hidden }}){% if not_run %}; {{ not_run }} GPU test(s) not run on the grading machine, outside the score{% endif %}.</p>
{% if not_gradable %}<div class="banner"><strong>Not gradable</strong>: {{ not_gradable }}</div>{% endif %}
<table>
<thead><tr><th></th><th>what the test checks</th><th>kind</th><th>points</th><th>what to fix</th></tr></thead>
<tbody>
{% for t in tests %}<tr>
 <td class="{{ t.css }}">{{ t.mark }}</td>
 <td>{{ t.words }}</td>
 <td class="kind">{{ t.kind }}</td>
 <td>{{ t.points }}</td>
 <td>{% if t.category %}<span class="category">{{ t.category }}</span>: {% endif %}{{ t.message }}{% if t.mistake %}<br><em>Likely mistake</em>: {{ t.mistake }}{% endif %}</td>
</tr>{% endfor %}
</tbody></table>
<p class="when">Graded {{ attempt }} UTC by the course grader: every test ran outside your notebook's process.
Hidden tests are named by the property they check; their code and expected values are not shown.</p>
</body></html>
"""

MARKS = {"passed": ("✔", "passed"), "failed": ("✘", "failed"), "not run": ("–", "notrun"), "not gradable": ("✘", "failed")}


@dataclass
class Attempt:
    """A learner's latest recorded attempt at an assignment: the rows of grader_test_results."""

    learner: str
    assignment: str
    when: object  # datetime of the attempt
    rows: list[dict]

    @property
    def not_gradable(self) -> str:
        return next((r["message"] for r in self.rows if r["status"] == "not gradable"), "")

    def total(self, attribute: str, hidden: bool | None = None) -> float:
        return sum(r[attribute] for r in self.rows if r["status"] != "not run" and (hidden is None or r["hidden"] == hidden))


def latest_attempts(course: Course, assignment: str, learners=()) -> list[Attempt]:
    """The latest attempt of each learner (or of `learners`) at `assignment`, sorted by learner."""
    from grader.gradebook import ensure_schema, test_results

    engine = create_engine(course.db_url)
    ensure_schema(engine)
    t = test_results
    latest = (
        select(t.c.learner, func.max(t.c.attempt).label("attempt"))
        .where(t.c.assignment == assignment)
        .group_by(t.c.learner)
        .subquery()
    )
    query = (
        select(t)
        .join(latest, (t.c.learner == latest.c.learner) & (t.c.attempt == latest.c.attempt))
        .where(t.c.assignment == assignment)
        .order_by(t.c.learner, t.c.id)
    )
    attempts: dict[str, Attempt] = {}
    with engine.connect() as connection:
        for row in connection.execute(query):
            row = row._asdict()
            if learners and row["learner"] not in learners:
                continue
            attempts.setdefault(row["learner"], Attempt(row["learner"], assignment, row["attempt"], [])).rows.append(row)
    engine.dispose()
    return [attempts[k] for k in sorted(attempts)]


def feedback_html(attempt: Attempt, secrets: list[str] = (), mistakes: dict[str, str] | None = None) -> str:
    """One learner's feedback page: property words, categories, messages, named mistakes.

    `secrets`: hidden test lines to blank should a message quote one; `mistakes`: known-wrong
    id -> its text for learners.
    """
    from jinja2 import Environment

    def clean(text: str) -> str:
        for line in secrets:  # a second guard: no hidden test line, whatever a message quotes
            text = text.replace(line, "[hidden test line]")
        return text

    tests = []
    for r in attempt.rows:
        mark, css = MARKS.get(r["status"], ("?", "failed"))
        kind = ("hidden" if r["hidden"] else "visible") + (", GPU" if r["gpu"] else "")
        points = f"–/{r['max_points']:g}" if r["status"] == "not run" else f"{r['points']:g}/{r['max_points']:g}"
        passed = r["status"] == "passed"
        tests.append(dict(
            mark=mark, css=css, words=clean(r["words"]), kind=kind, points=points,
            category="" if passed or r["status"] == "not gradable" else clean(r["category"]),
            message="" if passed or r["status"] == "not gradable" else clean(r["message"]),
            mistake="" if passed else clean((mistakes or {}).get(r.get("misconception") or "", "")),
        ))
    template = Environment(autoescape=True).from_string(PAGE)
    return template.render(
        assignment=attempt.assignment, learner=attempt.learner, tests=tests,
        points=f"{attempt.total('points'):g}", max_points=f"{attempt.total('max_points'):g}",
        visible=f"{attempt.total('points', False):g}/{attempt.total('max_points', False):g}",
        hidden=f"{attempt.total('points', True):g}/{attempt.total('max_points', True):g}",
        not_run=sum(r["status"] == "not run" for r in attempt.rows),
        not_gradable=clean(attempt.not_gradable), attempt=f"{attempt.when:%Y-%m-%d %H:%M}",
    )


def write_feedback(course: Course, assignment: str, learners=()) -> list[Path]:
    """feedback/<learner>/<assignment>/<assignment>.html for each learner with a recorded attempt."""
    from grader.misconception import known_wrong_files, load
    from grader.answer_extraction import hidden_lines

    source = course.source_notebook(assignment)
    secrets = sorted(hidden_lines(source), key=len, reverse=True)
    mistakes = {m.id: m.text for m, _ in map(load, known_wrong_files(course.root, assignment))}
    folder = Path(course.config.get("CourseDirectory", {}).get("feedback_directory", "feedback"))
    written = []
    for attempt in latest_attempts(course, assignment, set(learners)):
        target = course.root / folder / attempt.learner / assignment / f"{source.stem}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(feedback_html(attempt, secrets, mistakes), encoding="utf-8")
        written.append(target)
    return written


# --- the class CSV -------------------------------------------------------------------------

COLUMNS = ["student", "assignment", "score", "max_score", "status"]


def class_rows(course: Course, assignments=()) -> list[dict]:
    """One row per student and assignment in the gradebook, scores as nbgrader computes them."""
    import warnings

    from sqlalchemy.exc import SAWarning

    from grader.autograde import autograde_state
    from grader.gradebook import quick_nbgrader_import

    quick_nbgrader_import()
    from nbgrader.api import Gradebook, MissingEntry

    course_id = course.config.get("CourseDirectory", {}).get("course_id", "default_course")
    rows = []
    with warnings.catch_warnings(), Gradebook(course.db_url, course_id=course_id) as gradebook:
        warnings.simplefilter("ignore", SAWarning)
        students = sorted(s.id for s in gradebook.students)
        names = list(assignments) or sorted(a.name for a in gradebook.assignments)
        autograde_state.create(gradebook.engine, checkfirst=True)
        with gradebook.engine.connect() as connection:
            state = {(r.student, r.assignment): r for r in connection.execute(select(autograde_state))}
        for name in names:
            try:
                assignment = gradebook.find_assignment(name)
            except MissingEntry:
                raise LookupError(f"no assignment '{name}' in the gradebook {course.db_url} (grade it first: grader autograde {name})") from None
            submitted = {d["student"]: d for d in gradebook.submission_dicts(name)}
            for student in students:
                if student not in submitted:
                    rows.append(dict(student=student, assignment=name, score=0.0, max_score=assignment.max_score, status="no submission"))
                    continue
                known = state.get((student, name))
                status = "graded" if known is None or known.status == "graded" else f"{known.status}: {known.reason}"
                data = submitted[student]
                rows.append(dict(student=student, assignment=name, score=data["score"], max_score=data["max_score"], status=status))
    return rows


def write_csv(rows: list[dict], out) -> None:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "score": f"{row['score']:g}", "max_score": f"{row['max_score']:g}"})


# --- command line --------------------------------------------------------------------------


def register(subparsers) -> None:
    """Add `grader feedback` and `grader export` to the grader command's subparsers."""
    feedback = subparsers.add_parser("feedback", help="write each learner's feedback page: feedback/<student>/<id>/<id>.html")
    feedback.add_argument("assignment")
    feedback.add_argument("--student", action="append", default=[], help="only this student (repeatable)")
    feedback.set_defaults(func=run_feedback)

    export = subparsers.add_parser("export", help="write the class grades as CSV: student, assignment, score, max_score, status")
    export.add_argument("assignments", nargs="*", help="assignment ids (default: every assignment in the gradebook)")
    export.add_argument("-o", "--output", default="grades.csv", help="CSV file to write, '-' for standard output (default: grades.csv)")
    export.set_defaults(func=run_export)


def run_feedback(args) -> int:
    course = Course.find()
    written = write_feedback(course, args.assignment, args.student)
    if not written:
        raise LookupError(f"no recorded results for {args.assignment}" + (f" of {', '.join(args.student)}" if args.student else "") + f": grade first (grader autograde {args.assignment})")
    print(f"wrote {len(written)} feedback page(s) under {written[0].parents[2].relative_to(course.root)}/")
    return 0


def run_export(args) -> int:
    course = Course.find()
    rows = class_rows(course, args.assignments)
    if args.output == "-":
        write_csv(rows, sys.stdout)
        return 0
    with open(args.output, "w", newline="", encoding="utf-8") as out:
        write_csv(rows, out)
    print(f"wrote {len(rows)} row(s) to {args.output}", file=sys.stderr)
    return 0

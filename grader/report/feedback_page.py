"""Feedback pages for learners: what each test checks, how it failed, what to fix.

    grader feedback ID [--student S]   feedback/<student>/<ID>/<ID>.html (nbgrader's layout)

A page comes from the learner's latest judged attempt (the gradebook reader): for each test,
the property it checks in words, how it failed (the category), what to fix (the message) and,
where the judge recognised one, the classic mistake behind it (the docstring of a
tests/known_wrong/ implementation, written for learners). It never contains test cell code,
hidden or not, nor expected values: those are not stored anywhere it reads from, and as a
second guard any line of a hidden test that turned up in a message is blanked. Every text is
HTML-escaped (messages quote learner output).
"""

from __future__ import annotations

from pathlib import Path

from grader.course import Course
from grader.gradebook.reader import Attempt, Standing, latest_attempts, reachable, standings
from grader.judging.diagnosis import load
from grader.notebook.reading import copy_submission_files
from grader.notebook.cells import hidden_lines
from grader.report.rows import duration, row

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ assignment }} · feedback for {{ learner }}</title>
<style>
 body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
 table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
 .passed { color: #1a7f37; } .failed { color: #cf222e; } .not-run { color: #9a6700; } .kind, .when { color: #666; font-size: .9em; }
 .banner { background: #fff1f0; border: 1px solid #cf222e; padding: .8rem 1rem; margin: 1rem 0; }
 .category { font-weight: 600; }
</style></head><body>
<h1>{{ assignment }}</h1>
<p>Feedback for <strong>{{ learner }}</strong>: <strong>{{ points }}/{{ max_points }} points</strong>
 (tests: visible {{ visible }}, hidden {{ hidden }}){% if not_run %}; {{ not_run }} GPU test(s) not run on the grading machine score 0 here{% endif %}.</p>
{% if late %}<p class="late">Submitted {{ submitted }} UTC, {{ late }} after the due date: late penalty {{ penalty }} point(s).</p>{% endif %}
{% if manual %}<p>Your instructor adjusted the points of {{ manual }} test(s): the points column shows their grade.</p>{% endif %}
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
{% if comments %}<h2>Comments from your instructor</h2>
<ul>{% for c in comments %}<li><strong>{{ c.cell }}</strong>: {{ c.text }}</li>{% endfor %}</ul>{% endif %}
<p class="when">Graded {{ attempt }} UTC by the course grader: every test ran outside your notebook's process.
Hidden tests are named by the property they check; their code and expected values are not shown.</p>
</body></html>
"""


def feedback_html(attempt: Attempt, secrets: list[str] = (), mistakes: dict[str, str] | None = None, standing: Standing | None = None) -> str:
    """One learner's feedback page: property words, categories, messages, named mistakes.

    `secrets`: hidden test lines to blank should a message quote one; `mistakes`: known-wrong
    id -> its text for learners; `standing`: the submission's grade in the gradebook, whose
    manual grades, comments and late penalty the page shows (its total is every view's total).
    """
    from jinja2 import Environment

    def clean(text: str) -> str:
        for line in secrets:  # a second guard: no hidden test line, whatever a message quotes
            text = text.replace(line, "[hidden test line]")
        return text

    cells = standing.cells if standing else {}
    tests, manual = [], 0
    for test in attempt.tests:
        r = row({**test, "misconception": (mistakes or {}).get(test.get("misconception") or "", "")})
        graded = cells.get(test.get("test", ""))
        shown = r.points
        if graded is not None and (graded.manual is not None or graded.extra_credit):
            manual += 1
            shown = f"{graded.score:g}/{graded.max_score:g} (instructor; tests gave {r.points})"
        tests.append(dict(mark=r.mark, css=r.css, words=clean(r.words), kind=r.kind, points=shown,
                          category=clean(r.category), message=clean(r.message), mistake=clean(r.mistake)))
    everything = sum(t["max_points"] for t in attempt.tests)
    template = Environment(autoescape=True).from_string(PAGE)
    return template.render(
        assignment=attempt.assignment, learner=attempt.learner, tests=tests,
        points=f"{standing.score if standing else attempt.total('points'):g}",
        max_points=f"{standing.max_score if standing else everything:g}",
        visible=f"{attempt.total('points', False):g}/{sum(t['max_points'] for t in attempt.tests if not t['hidden']):g}",
        hidden=f"{attempt.total('points', True):g}/{sum(t['max_points'] for t in attempt.tests if t['hidden']):g}",
        not_run=sum(t["status"] == "not run" for t in attempt.tests), manual=manual,
        late=duration(standing.seconds_late) if standing and standing.seconds_late > 0 else "",
        submitted=f"{standing.submitted_at:%Y-%m-%d %H:%M}" if standing and standing.submitted_at else "",
        penalty=f"{standing.late_penalty:g}" if standing else "0",
        comments=[dict(cell=cell, text=clean(text)) for cell, text in sorted((standing.comments if standing else {}).items())]
        + [dict(cell=cell, text=clean(c.comment)) for cell, c in sorted(cells.items()) if c.comment],
        not_gradable=clean(attempt.not_gradable), attempt=f"{attempt.at:%Y-%m-%d %H:%M}",
    )


def page_for(course: Course, assignment: str, learner: str) -> str | None:
    """The feedback page of one learner, or None when nothing of theirs was judged."""
    attempts = latest_attempts(course.db_url, assignment, {learner})
    if not attempts:
        return None
    source = course.source_notebook(assignment)
    secrets = sorted(hidden_lines(source), key=len, reverse=True)
    mistakes = {m.id: m.text for m, _ in map(load, course.known_wrong(assignment))}
    return feedback_html(attempts[0], secrets, mistakes, standings(course.db_url, assignment, {learner}).get(learner))


def write_feedback(course: Course, assignment: str, learners=()) -> list[Path]:
    """feedback/<learner>/<assignment>/<assignment>.html for each learner with a recorded attempt."""
    source = course.source_notebook(assignment)
    secrets = sorted(hidden_lines(source), key=len, reverse=True)
    mistakes = {m.id: m.text for m, _ in map(load, course.known_wrong(assignment))}
    reachable(course.db_url)
    grades = standings(course.db_url, assignment, set(learners))
    written = []
    for attempt in latest_attempts(course.db_url, assignment, set(learners)):
        target = course.feedback / attempt.learner / assignment / f"{source.stem}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(feedback_html(attempt, secrets, mistakes, grades.get(attempt.learner)), encoding="utf-8")
        copy_submission_files(course.autograded / attempt.learner / assignment, target.parent)  # for nbgrader release_feedback
        written.append(target)
    return written

"""The progress page: one self-contained HTML file (inline CSS, SVG and a check script).

For one learner: the next step, the roadmap coloured by status, a bar per phase, and per phase
a table of assignments with the tests still failing. For a class: the roadmap coloured by the
share of learners who passed, a bar per phase split by status, per phase a table of
assignments, learners by assignment, who is stuck, and per-test pass rates.

Nothing is fetched from anywhere. A short script at the end checks that every phase is on the
page and the pictures have a size, and writes the verdict to `<body data-check="ok">`, which a
headless browser's DOM dump shows (the project's tests read it).
"""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path

from grader.progress.figures import roadmap_svg, stacked_bars_svg
from grader.progress.model import STATUSES, STUCK_AFTER, AssignmentProgress, ClassProgress, LearnerProgress
from grader.progress.words import STATUS_GLYPH, next_step_text, phase_summary, points, shown_assignments

COLOUR = {"passed": "#86d39a", "in progress": "#fcd671", "not started": "#ffffff", "planned": "#e5e7eb"}

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #111827; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #e5e7eb; }
.meta { color: #6b7280; margin-top: 0; }
.next { background: #eff6ff; border-left: 4px solid #3b82f6; padding: .6rem 1rem; }
svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid #f3f4f6; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } td:first-child { white-space: nowrap; }
.bar { background: #f3f4f6; border: 1px solid #d1d5db; height: .8rem; width: 20rem; display: inline-block; vertical-align: middle; }
.bar span { background: #34a853; display: block; height: 100%; }
.s-passed { background: #86d39a; } .s-in-progress { background: #fcd671; }
.s-not-started { background: #ffffff; } .s-planned { background: #e5e7eb; color: #6b7280; }
.status { padding: 0 .4rem; border-radius: .3rem; border: 1px solid #d1d5db; white-space: nowrap; }
table.matrix td { text-align: center; padding: .1rem .25rem; border: 1px solid #e5e7eb; }
table.matrix th { font-weight: normal; font-size: 12px; }
table.matrix .pts { display: block; font-size: 11px; font-variant-numeric: tabular-nums; }
.failing { margin: 0; padding-left: 1rem; } .dim { color: #6b7280; } .scroll { overflow-x: auto; }
"""

# Collects script errors from the first moment: the check at the end reports them.
ERROR_HOOK = "window.pageErrors=[];window.addEventListener('error',function(e){window.pageErrors.push(String(e.message))});"
CHECK = """(function () {
  var problems = [];
  var expected = Number(document.body.getAttribute('data-phases'));
  var phases = document.querySelectorAll('section.phase');
  if (phases.length !== expected) problems.push('expected ' + expected + ' phases, found ' + phases.length);
  for (var i = 0; i < phases.length; i++) {
    var heading = phases[i].querySelector('h2');
    var number = phases[i].getAttribute('data-phase');
    if (!heading || heading.textContent.indexOf('Phase ' + number) !== 0) problems.push('phase ' + number + ' has no heading');
    if (!phases[i].querySelector('table')) problems.push('phase ' + number + ' has no table');
  }
  ['roadmap', 'phase-chart'].forEach(function (id) {
    var picture = document.querySelector('#' + id + ' svg');
    if (!picture || !(picture.getBoundingClientRect().width > 0)) problems.push(id + ' picture not rendered');
  });
  problems = problems.concat(window.pageErrors);
  document.body.setAttribute('data-check', problems.length ? 'failed: ' + problems.join('; ') : 'ok');
})();"""


def write_html(progress: LearnerProgress | ClassProgress, path: Path) -> None:
    Path(path).write_text(page(progress), encoding="utf-8")


def page(progress: LearnerProgress | ClassProgress) -> str:
    if isinstance(progress, ClassProgress):
        title, body = "Class progress", _class_body(progress)
        phases = len(progress.roadmap.phases)
    else:
        title, body = f"Progress of {progress.learner}", _learner_body(progress)
        phases = len(progress.phases)
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><script>{ERROR_HOOK}</script><style>{STYLE}</style></head>\n"
        f'<body data-check="pending" data-phases="{phases}">\n<h1>{escape(title)}</h1>'
        f'<p class="meta">from the gradebook, {generated}</p>\n{body}\n<script>{CHECK}</script>\n</body></html>\n'
    )


def _status(status: str) -> str:
    return f'<span class="status s-{status.replace(" ", "-")}">{escape(status)}</span>'


def _bar(share: float) -> str:
    return f'<span class="bar" role="img" aria-label="{share:.0%}"><span style="width:{share * 100:.1f}%"></span></span> {share:.0%}'


def _legend() -> list[tuple[str, str]]:
    return [(status, COLOUR[status]) for status in STATUSES]


# ---------------------------------------------------------------- one learner


def _learner_body(progress: LearnerProgress) -> str:
    roadmap = progress.roadmap
    fill = {a.id: COLOUR[a.status] for a in progress.assignments}
    note = {a.id: f"{points(a.score)}/{points(a.max_points)}" for a in progress.assignments if a.score is not None}
    phase_chart = stacked_bars_svg(
        [f"Phase {p.number} · {p.title}" for p in progress.phases],
        [[(p.share, COLOUR["passed"])] for p in progress.phases],
        [f"{p.share:.0%} · {phase_summary(p)}" for p in progress.phases],
        [],
    )
    parts = [f'<p class="next">{escape(next_step_text(progress)).replace(chr(10), "<br>")}</p>']
    parts.append(f'<section id="roadmap"><h2>The road</h2>{roadmap_svg(roadmap, fill, note, _legend())}</section>')
    parts.append(f'<section id="phase-chart"><h2>Points per phase</h2>{phase_chart}</section>')
    for phase in progress.phases:
        parts.append(
            f'<section class="phase" data-phase="{phase.number}"><h2>Phase {phase.number} · {escape(phase.title)}</h2>'
            f"<p>{_bar(phase.share)} · {escape(phase_summary(phase))}</p>{_assignment_table(phase.assignments)}</section>"
        )
    if progress.off_roadmap:
        parts.append(f'<section id="off-roadmap"><h2>Not on the roadmap</h2>{_assignment_table(progress.off_roadmap)}</section>')
    gpu = [a for a in [*progress.assignments, *progress.off_roadmap] if a.not_run]
    if gpu:
        items = "".join(f"<li>{escape(a.id)}: {'; '.join(escape(w) for w in a.not_run)}</li>" for a in gpu)
        parts.append(
            '<section id="gpu"><h2>Needs a GPU</h2><p class="dim">Not run where it was judged (no CUDA), so not counted: '
            f"neither passed nor failed.</p><ul>{items}</ul></section>"
        )
    return "\n".join(parts)


def _assignment_table(assignments) -> str:
    rows = "".join(_assignment_row(a) for a in assignments)
    return (
        "<table><thead><tr><th>assignment</th><th>status</th><th>score</th><th>best</th><th>latest</th>"
        f"<th>attempts</th><th>still failing</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _assignment_row(a: AssignmentProgress) -> str:
    failing = "".join(f"<li>{escape(t.words)} <span class='dim'>[{escape(t.category)}]</span></li>" for t in a.failing)
    if a.not_gradable:
        failing = f"<li>not gradable: {escape(a.not_gradable)}</li>"
    if a.not_run:
        failing += f"<li class='dim'>{len(a.not_run)} GPU test(s) not run</li>"
    score = "" if a.score is None else f"{points(a.score)}/{points(a.max_points)}"
    return (
        f"<tr><td title='{escape(a.title)}'>{escape(a.id)}</td><td>{_status(a.status)}</td><td class='num'>{score}</td>"
        f"<td class='num'>{points(a.best)}</td><td class='num'>{points(a.latest)}</td><td class='num'>{a.attempts or ''}</td>"
        f"<td>{'<ul class=failing>' + failing + '</ul>' if failing else ''}</td></tr>"
    )


# ---------------------------------------------------------------- a class


def _class_body(progress: ClassProgress) -> str:
    roadmap = progress.roadmap
    counts = progress.status_counts()
    learners = max(len(progress.learners), 1)
    fill, note = {}, {}
    for a in roadmap.assignments:
        c = counts[a.id]
        started = c["passed"] + c["in progress"]
        if a.status == "planned" and not started:
            fill[a.id] = COLOUR["planned"]
            continue
        fill[a.id] = _green(c["passed"] / learners)
        note[a.id] = f"{c['passed']}/{len(progress.learners)} passed"
    legend = [("nobody passed", _green(0.0)), ("half passed", _green(0.5)), ("everyone passed", _green(1.0)), ("planned", COLOUR["planned"])]
    shown = set(shown_assignments(progress))
    labels, segments, notes = [], [], []
    for number, title in roadmap.phases.items():
        ids = [a.id for a in roadmap.in_phase(number) if a.id in shown]
        cells = max(len(ids) * len(progress.learners), 1)
        share = {s: sum(counts[i][s] for i in ids) / cells for s in ("passed", "in progress")}
        labels.append(f"Phase {number} · {title}")
        segments.append([(share["passed"], COLOUR["passed"]), (share["in progress"], COLOUR["in progress"])])
        notes.append(f"{len(ids)} assignment(s) · {share['passed']:.0%} passed" if ids else "planned")
    chart = stacked_bars_svg(labels, segments, notes, [(s, COLOUR[s]) for s in ("passed", "in progress", "not started")])
    stuck_by = {}
    for s in progress.stuck:
        stuck_by[s.assignment.id] = stuck_by.get(s.assignment.id, 0) + 1
    parts = [
        f'<p>{len(progress.learners)} learner(s) · {len(progress.stuck)} stuck on an assignment · '
        f"{len(shown)} assignment(s) written or attempted</p>",
        f'<section id="roadmap"><h2>The road: share of the class that passed</h2>{roadmap_svg(roadmap, fill, note, legend)}</section>',
        f'<section id="phase-chart"><h2>Phases: learner × assignment by status</h2>{chart}</section>',
    ]
    for number, title in roadmap.phases.items():
        rows = "".join(_class_row(a, counts[a.id], stuck_by.get(a.id, "")) for a in roadmap.in_phase(number))
        parts.append(
            f'<section class="phase" data-phase="{number}"><h2>Phase {number} · {escape(title)}</h2><table><thead><tr><th>assignment</th>'
            f"<th>passed</th><th>in progress</th><th>not started</th><th>stuck</th></tr></thead><tbody>{rows}</tbody></table></section>"
        )
    parts.append(_matrix(progress, [a for a in roadmap.assignments if a.id in shown]))
    parts.append(_stuck(progress))
    parts.append(_pass_rates(progress))
    parts.append(_mistakes(progress))
    return "\n".join(parts)


def _class_row(a, counts: dict[str, int], stuck) -> str:
    name = f"<td title='{escape(a.title)}'>{escape(a.id)}</td>"
    if not counts["passed"] + counts["in progress"] and a.status == "planned":
        return f"<tr class='dim'>{name}<td colspan='4'>planned (not written yet)</td></tr>"
    waiting = counts["not started"] + counts["planned"]
    return f"<tr>{name}<td class='num'>{counts['passed']}</td><td class='num'>{counts['in progress']}</td><td class='num'>{waiting}</td><td class='num'>{stuck}</td></tr>"


def _green(share: float) -> str:
    """White for nobody, through to the 'passed' green for everyone."""
    low, high = (255, 255, 255), (52, 168, 83)
    r, g, b = (round(lo + (hi - lo) * share) for lo, hi in zip(low, high))
    return f"#{r:02x}{g:02x}{b:02x}"


def _matrix(progress: ClassProgress, assignments) -> str:
    head = "".join(f"<th title='{escape(a.id)}'>{escape(a.id.split('-')[0])}</th>" for a in assignments)
    head += "".join(f"<th>phase {n}</th>" for n in progress.roadmap.phases)
    ids = {a.id for a in assignments}
    rows = []
    for learner in progress.learners:
        cells = []
        for a in learner.assignments:
            if a.id not in ids:
                continue
            tip = f"{a.id}: {a.status}" + (f", {points(a.score)}/{points(a.max_points)}, {a.attempts} attempt(s)" if a.attempts else "")
            score = f"<span class='pts'>{points(a.score)}/{points(a.max_points)}</span>" if a.score is not None else ""
            cells.append(f"<td class='s-{a.status.replace(' ', '-')}' title='{escape(tip)}'>{STATUS_GLYPH[a.status]}{score}</td>")
        shares = "".join(f"<td class='num'>{p.share:.0%}</td>" for p in learner.phases)
        rows.append(f"<tr><th>{escape(learner.learner)}</th>{''.join(cells)}{shares}</tr>")
    return (
        f'<section id="learners"><h2>Learners by assignment and phase</h2><div class="scroll"><table class="matrix"><thead><tr><th>learner</th>{head}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _stuck(progress: ClassProgress) -> str:
    rows = "".join(
        f"<tr><td>{escape(s.learner)}</td><td>{escape(s.assignment.id)}</td><td class='num'>{s.assignment.attempts}</td>"
        f"<td class='num'>{points(s.assignment.best)}/{points(s.assignment.max_points)}</td>"
        f"<td>{escape(_failing_text(s.assignment))}</td></tr>"
        for s in progress.stuck
    )
    body = (
        f"<table><thead><tr><th>learner</th><th>assignment</th><th>attempts</th><th>best</th><th>still failing</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows else "<p>Nobody is stuck.</p>"
    )
    return f'<section id="stuck"><h2>Stuck: {STUCK_AFTER} or more attempts without passing</h2>{body}</section>'


def _failing_text(a: AssignmentProgress) -> str:
    return f"not gradable: {a.not_gradable}" if a.not_gradable else "; ".join(t.words for t in a.failing)


def _mistakes(progress: ClassProgress) -> str:
    if not progress.mistakes:
        return ""
    rows = "".join(
        f"<tr><td>{escape(m.assignment)}</td><td>{escape(m.text)}</td><td class='num'>{m.learners}</td></tr>" for m in progress.mistakes
    )
    return (
        '<section id="mistakes"><h2>Classic mistakes the judge recognised</h2><p class="dim">learners whose outputs matched '
        "that known-wrong implementation in some attempt.</p><table><thead><tr><th>assignment</th><th>mistake</th>"
        f"<th>learners</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _pass_rates(progress: ClassProgress) -> str:
    rows = "".join(
        f"<tr><td>{escape(r.assignment)}</td><td>{escape(r.words)}</td><td class='num'>{r.rate:.0%}</td>"
        f"<td class='num'>{r.tripped_share:.0%}</td><td class='num'>{r.learners}</td><td class='num'>{r.not_run or ''}</td></tr>"
        for r in progress.pass_rates
    )
    return (
        '<section id="pass-rates"><h2>Per-test pass rates (hardest first)</h2><p class="dim">passing now: the learner\'s latest '
        "attempt passes it; ever failed: it failed in some attempt; learners: who ran it at least once.</p><table><thead><tr>"
        "<th>assignment</th><th>property tested</th><th>passing now</th><th>ever failed</th><th>learners</th><th>GPU not run</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></section>"
    )

"""Pictures for the progress page, drawn with matplotlib into inline SVG text.

    roadmap_svg        the roadmap as a graph: phases as columns, one box per assignment
                       coloured as the caller says, every prerequisite drawn to be followed
    stacked_bars_svg   one horizontal bar per phase, made of coloured segments

matplotlib's object API is used without pyplot (no GUI backend to load), text stays text in
the SVG (searchable, and the browser's own fonts), and ids are salted per picture so that two
pictures inline in one page never share an id.
"""

from __future__ import annotations

import io
import textwrap

from grader.roadmap import Roadmap

COLUMN = 3.9  # data units between phase columns: a box and a gutter for the arrows
BOX_W, BOX_H = 2.5, 0.72  # an assignment's box, in data units
ARROW = "#4b5563"
LANE = 0.13  # data units between nested brackets of one phase


def roadmap_svg(roadmap: Roadmap, fill: dict[str, str], note: dict[str, str], legend: list[tuple[str, str]]) -> str:
    """The roadmap graph; `fill` and `note` (a short second line) per assignment id.

    Every prerequisite is drawn so that it can be followed by eye, in one of three ways:
    within a phase, a bracket in the gutter right of the column (nested brackets never share a
    lane); into the next phase, an arrow across the gutter between the two columns; from a phase
    further back, the prerequisite's name beside the box with a short arrow (a connector, as on
    a map, so that no line runs through the boxes of the phase between).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch, Patch

    phases = list(roadmap.phases)
    rows = max(len(roadmap.in_phase(p)) for p in phases)
    where, column_of = {}, {}
    for column, number in enumerate(phases):
        for row, a in enumerate(roadmap.in_phase(number)):
            where[a.id], column_of[a.id] = (column * COLUMN, -row), column
    fig = Figure(figsize=(2.45 * len(phases), 0.42 * rows + 1.5))
    ax = fig.add_axes((0.01, 0.1, 0.98, 0.82))
    ax.set_xlim(-COLUMN / 2 + 0.3, (len(phases) - 0.5) * COLUMN)
    ax.set_ylim(-rows - 0.1, 1.6)
    ax.set_axis_off()
    for column, number in enumerate(phases):
        title = textwrap.fill(_plain(roadmap.phases[number]), 30)
        ax.text(column * COLUMN, 0.65, f"Phase {number}\n{title}", ha="center", va="bottom", fontsize=8.5, fontweight="bold")
    same, next_phase, far = [], [], []
    for a in roadmap.assignments:
        for prerequisite in a.prerequisites:
            span = column_of[a.id] - column_of[prerequisite]
            (same if span == 0 else next_phase if span == 1 else far).append((prerequisite, a.id))
    for (source, target), lane in _lanes(same, where).items():
        (x, ys), (_, yt) = where[source], where[target]
        edge, arm = x + BOX_W / 2, 0.1 + LANE * (lane + 1)
        _arrow(ax, [(edge, ys - 0.12), (edge + arm, ys - 0.12), (edge + arm, yt + 0.12), (edge, yt + 0.12)])
    for source, target in next_phase:
        (xs, ys), (xt, yt) = where[source], where[target]
        _arrow(ax, [(xs + BOX_W / 2, ys + 0.1), (xt - BOX_W / 2, yt)], curve=0.08)
    arriving: dict[str, int] = {}
    for source, target in far:
        xt, yt = where[target]
        slot = arriving.get(target, 0)
        arriving[target] = slot + 1
        y = yt + 0.2 - 0.3 * slot
        ax.text(xt - BOX_W / 2 - 0.42, y, _plain(source), ha="right", va="center", fontsize=6, color=ARROW, fontstyle="italic")
        _arrow(ax, [(xt - BOX_W / 2 - 0.38, y), (xt - BOX_W / 2, y)])
    for a in roadmap.assignments:
        x, y = where[a.id]
        planned = a.status == "planned"
        ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H, boxstyle="round,pad=0,rounding_size=0.12",
                                    facecolor=fill.get(a.id, "#ffffff"), edgecolor="#9ca3af" if planned else "#374151",
                                    linestyle="--" if planned else "-", linewidth=0.8, zorder=2))
        label = _plain(a.id) + (f"\n{_plain(note[a.id])}" if note.get(a.id) else "")
        ax.text(x, y, label, ha="center", va="center", fontsize=7.5, color="#6b7280" if planned else "#111827", zorder=3)
    ax.text(-COLUMN / 2 + 0.35, -rows - 0.05, "arrows: take the box they leave first; an italic name beside a box: "
            "a prerequisite from an earlier phase", fontsize=7, color=ARROW, va="bottom")
    if legend:
        handles = [Patch(facecolor=colour, edgecolor="#374151", label=label) for label, colour in legend]
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    return _svg(fig, "roadmap")


def _lanes(edges: list[tuple[str, str]], where: dict) -> dict[tuple[str, str], int]:
    """A lane per same-phase edge, inner lanes for short spans, so that no two brackets overlap."""
    taken_in: dict[float, list[list[tuple[float, float]]]] = {}  # per column: lanes, each a list of spans
    lanes = {}
    for edge in sorted(edges, key=lambda e: abs(where[e[0]][1] - where[e[1]][1])):
        low, high = sorted((where[edge[0]][1], where[edge[1]][1]))
        taken = taken_in.setdefault(where[edge[0]][0], [])
        lane = 0
        while lane < len(taken) and any(low <= h + 0.3 and l - 0.3 <= high for l, h in taken[lane]):
            lane += 1
        if lane == len(taken):
            taken.append([])
        taken[lane].append((low, high))
        lanes[edge] = lane
    return lanes


def _arrow(ax, points: list[tuple[float, float]], curve: float = 0.0) -> None:
    """A line through `points` with an arrow head at the last (a gentle arc when only two)."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    style = dict(arrowstyle="-|>", mutation_scale=7, color=ARROW, linewidth=0.8, zorder=1, shrinkA=0, shrinkB=0)
    if len(points) == 2:
        ax.add_patch(FancyArrowPatch(*points, connectionstyle=f"arc3,rad={curve}", **style))
    else:
        ax.add_patch(FancyArrowPatch(path=Path(points), **style))


def stacked_bars_svg(labels: list[str], segments: list[list[tuple[float, str]]], notes: list[str], legend: list[tuple[str, str]]) -> str:
    """One bar per label, segments (fraction in [0, 1], colour) left to right, a note beside each."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    height = 0.4 * len(labels) + 0.8
    fig = Figure(figsize=(10, height))
    ax = fig.add_axes((0.32, 0.55 / height, 0.4, 1 - 0.65 / height))  # labels left, notes right, legend below
    for row, parts in enumerate(segments):
        left = 0.0
        for fraction, colour in parts:
            ax.barh(row, fraction, left=left, color=colour, edgecolor="#374151", linewidth=0.4, height=0.6)
            left += fraction
        if left < 1.0:
            ax.barh(row, 1.0 - left, left=left, color="#f3f4f6", edgecolor="#d1d5db", linewidth=0.4, height=0.6)
        ax.text(1.03, row, _plain(notes[row]), va="center", fontsize=7.5)
    ax.set_yticks(range(len(labels)), [_plain(textwrap.shorten(label, 48)) for label in labels], fontsize=7.5)
    ax.set_xlim(0, 1)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "25%", "50%", "75%", "100%"], fontsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if legend:
        handles = [Patch(facecolor=colour, edgecolor="#374151", label=label) for label, colour in legend]
        fig.legend(handles=handles, loc="lower left", ncol=len(handles), fontsize=7, frameon=False)
    return _svg(fig, "phases")


def _plain(text: str) -> str:
    """Text as matplotlib should print it: a '$' is a dollar sign, not mathematics."""
    return text.replace("$", r"\$")


def _svg(fig, salt: str) -> str:
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})  # margins are set by hand: "tight" draws twice
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # inline: without the XML declaration and DOCTYPE

"""Pictures for the progress page, drawn with matplotlib into inline SVG text.

    roadmap_svg        the roadmap as a graph: phases as columns, one box per assignment
                       coloured as the caller says, arrows from prerequisites
    stacked_bars_svg   one horizontal bar per phase, made of coloured segments

matplotlib's object API is used without pyplot (no GUI backend to load), text stays text in
the SVG (searchable, and the browser's own fonts), and ids are salted per picture so that two
pictures inline in one page never share an id.
"""

from __future__ import annotations

import io
import textwrap

from grader.roadmap import Roadmap

COLUMN = 3.0  # data units between phase columns
BOX_W, BOX_H = 2.5, 0.72  # an assignment's box, in data units
ARROW = "#6b7280"


def roadmap_svg(roadmap: Roadmap, fill: dict[str, str], note: dict[str, str], legend: list[tuple[str, str]]) -> str:
    """The roadmap graph; `fill` and `note` (a short second line) per assignment id."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

    phases = list(roadmap.phases)
    rows = max(len(roadmap.in_phase(p)) for p in phases)
    where = {}
    for column, number in enumerate(phases):
        for row, a in enumerate(roadmap.in_phase(number)):
            where[a.id] = (column * COLUMN, -row)
    fig = Figure(figsize=(2.1 * len(phases), 0.42 * rows + 1.2))
    ax = fig.add_axes((0.01, 0.08, 0.98, 0.84))
    ax.set_xlim(-COLUMN / 2, (len(phases) - 0.5) * COLUMN)
    ax.set_ylim(-rows + 0.4, 1.6)
    ax.set_axis_off()
    for column, number in enumerate(phases):
        title = textwrap.fill(_plain(roadmap.phases[number]), 30)
        ax.text(column * COLUMN, 0.65, f"Phase {number}\n{title}", ha="center", va="bottom", fontsize=8.5, fontweight="bold")
    for a in roadmap.assignments:
        for prerequisite in a.prerequisites:
            (xs, ys), (xt, yt) = where[prerequisite], where[a.id]
            if xs == xt:  # same phase: curve around the right-hand side of the column
                start, end, bend = (xs + BOX_W / 2, ys), (xt + BOX_W / 2, yt), 0.5
            else:
                start, end, bend = (xs + BOX_W / 2, ys), (xt - BOX_W / 2, yt), 0.08
            ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=7, connectionstyle=f"arc3,rad={bend}",
                                         color=ARROW, linewidth=0.6, alpha=0.6, zorder=1))
    for a in roadmap.assignments:
        x, y = where[a.id]
        planned = a.status == "planned"
        ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H, boxstyle="round,pad=0,rounding_size=0.12",
                                    facecolor=fill.get(a.id, "#ffffff"), edgecolor="#9ca3af" if planned else "#374151",
                                    linestyle="--" if planned else "-", linewidth=0.8, zorder=2))
        label = _plain(a.id) + (f"\n{_plain(note[a.id])}" if note.get(a.id) else "")
        ax.text(x, y, label, ha="center", va="center", fontsize=7.5, color="#6b7280" if planned else "#111827", zorder=3)
    if legend:
        handles = [Patch(facecolor=colour, edgecolor="#374151", label=label) for label, colour in legend]
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    return _svg(fig, "roadmap")


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

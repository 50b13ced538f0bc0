"""Reading a notebook: anything that is not a readable notebook is not gradable.

Notebooks are read as plain JSON and checked for the structure the grader relies on (nbformat
4: a list of cells, each with a type, a source and metadata). nbformat's full schema check
is not used on the hot path: importing it costs more than a whole judged check.
"""

from __future__ import annotations

import json
from pathlib import Path


class NotGradable(Exception):
    """A submission that cannot be graded; the message says why and what to do."""


MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024
CELL_TYPES = {"code", "markdown", "raw"}


def read_notebook(path: Path) -> dict:
    """The notebook at `path` as a dict, each cell's source one string; or NotGradable."""
    path = Path(path)
    if not path.is_file():
        raise NotGradable(f"{path} does not exist")
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise NotGradable(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB: clear its outputs and save again")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise NotGradable(f"{path.name} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotGradable(
            f"{path.name} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            "restore it from a checkpoint (File > Revert Notebook to Checkpoint) or start again from the release copy"
        ) from None
    return normalise(raw, path.name)


def normalise(raw, name: str = "the notebook") -> dict:
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise NotGradable(f"{name} is JSON but not a notebook (it has no list of cells)")
    if raw.get("nbformat") != 4:
        raise NotGradable(f"{name} is in notebook format {raw.get('nbformat')!r}; save it with JupyterLab (format 4)")
    cells = []
    for index, cell in enumerate(raw["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") not in CELL_TYPES:
            raise NotGradable(f"cell {index + 1} of {name} is not a notebook cell")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotGradable(f"cell {index + 1} of {name} has a malformed source")
        metadata = cell.get("metadata", {})
        if not isinstance(metadata, dict):
            raise NotGradable(f"cell {index + 1} of {name} has malformed metadata")
        nbgrader = metadata.get("nbgrader", {})
        if not isinstance(nbgrader, dict):
            raise NotGradable(f"cell {index + 1} of {name} has malformed nbgrader metadata")
        cells.append({**cell, "source": source, "metadata": metadata})
    return {**raw, "cells": cells}

"""Finding the learner's answer: definitions only, by grade_id, with clear reasons when it cannot."""

import json

import pytest

from grader.notebook.answer import keep_definitions
from grader.notebook.cells import property_words
from grader.notebook.reading import NotGradable, read_notebook


@pytest.mark.cpu
def test_keeps_definitions_and_constants_and_drops_the_rest():
    code = (
        "%matplotlib inline\n"
        "import numpy as np\n"
        "EPS = 1e-9\n"
        "scale = 2\n"
        "rng = np.random.default_rng(0)\n"
        "get_ipython().input_transformers_post.append(lambda lines: [])\n"
        "relu = lambda x: max(x, 0)\n"
        "@staticmethod\n"
        "def f(x):\n"
        "    return x\n"
        "f(3)\n"
        "!pip install something\n"
    )
    kept = keep_definitions(code).splitlines()
    assert kept[1] == "import numpy as np" and kept[2] == "EPS = 1e-9" and kept[3] == "scale = 2"
    assert kept[4] == "" and kept[5] == "" and kept[0] == "" and kept[10] == "" and kept[11] == ""
    assert kept[6].startswith("relu") and kept[7] == "@staticmethod" and kept[8] == "def f(x):"


@pytest.mark.cpu
def test_code_that_does_not_parse_is_kept_so_its_error_is_reported():
    assert "def f(:" in keep_definitions("def f(:\n    pass\n")


@pytest.mark.cpu
def test_property_words_come_from_the_docstring_or_first_comment():
    assert property_words('"""rows  sum\n to one"""\nx = 1', "id") == "rows sum to one"
    assert property_words("# shapes are kept\nx = 1", "id") == "shapes are kept"
    assert property_words("x = 1", "fallback") == "fallback"


@pytest.mark.cpu
@pytest.mark.parametrize(
    "content, reason",
    [
        ("{not json", "not valid JSON"),
        ('{"cells": 3, "nbformat": 4}', "no list of cells"),
        ('{"cells": [], "nbformat": 3}', "notebook format 3"),
        ('{"cells": [{"cell_type": "weird", "source": ""}], "nbformat": 4}', "not a notebook cell"),
    ],
)
def test_unreadable_notebooks_are_not_gradable_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    with pytest.raises(NotGradable, match=reason):
        read_notebook(path)


@pytest.mark.cpu
def test_missing_notebook_is_not_gradable(tmp_path):
    with pytest.raises(NotGradable, match="does not exist"):
        read_notebook(tmp_path / "nowhere.ipynb")


@pytest.mark.cpu
def test_sources_given_as_lists_are_joined(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "source": ["a = 1\n", "b = 2"], "metadata": {}, "outputs": [], "execution_count": None}]}))
    assert read_notebook(path)["cells"][0]["source"] == "a = 1\nb = 2"

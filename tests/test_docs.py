"""Every Python example in README.md and docs/ runs, and prints what the
page says it prints.

A page shows an example's output in the fenced block that follows it, after
a line starting with "prints". Words must match exactly; numbers to 0.01,
because a page's accuracies come from one machine and float32 rounding on
another moves them by seed noise (a few thousandths), while a broken example
moves them by far more or prints something else. Examples that load the
real data are in the slow layer.
"""

import contextlib
import io
import re

import jax
import numpy as np
import pytest

from helpers import ROOT
from jaxmnist import plugins

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
NUMBER = re.compile(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?")


def examples():
    """(page, line, code, expected output or None) for each python block."""
    for page in PAGES:
        text = page.read_text()
        blocks = list(FENCE.finditer(text))
        for i, block in enumerate(blocks):
            if block.group(1) != "python":
                continue
            expected = None
            if i + 1 < len(blocks):
                between = text[block.end():blocks[i + 1].start()].strip()
                if between.lower().startswith("prints"):
                    expected = blocks[i + 1].group(2)
            line = text[:block.start()].count("\n") + 1
            yield page.relative_to(ROOT), line, block.group(2), expected


def params():
    for page, line, code, expected in examples():
        marks = [pytest.mark.slow] if "load_dataset" in code else []
        yield pytest.param(code, expected, id=f"{page}:{line}", marks=marks)


def same_output(got: str, want: str) -> bool:
    """The same words, and numbers within 0.01 of each other."""
    got_numbers = [float(x) for x in NUMBER.findall(got)]
    want_numbers = [float(x) for x in NUMBER.findall(want)]
    return (NUMBER.sub("#", got).split() == NUMBER.sub("#", want).split()
            and np.allclose(got_numbers, want_numbers, rtol=0, atol=0.01))


@pytest.mark.parametrize("code,expected", list(params()))
def test_example_runs_and_prints_what_the_page_says(code, expected,
                                                    monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    counts = plugins.registered_count()
    # as a user runs it: standard dtype promotion, not the suite's strict
    try:
        with contextlib.redirect_stdout(out), \
                jax.numpy_dtype_promotion("standard"):
            exec(compile(code, "<example>", "exec"),
                 {"__name__": "__example__"})
    finally:  # what an example registers must not reach later tests
        plugins.forget_after(counts)
    if expected is not None:
        assert same_output(out.getvalue(), expected), out.getvalue()


def test_the_output_comparison_tells_a_wrong_output():
    want = "relu lr 0.001: 0.9672\ntanh lr 0.003: 0.9688"
    assert same_output("relu lr 0.001: 0.9691\ntanh lr 0.003: 0.9650", want)
    assert not same_output("relu lr 0.001: 0.8672\ntanh lr 0.003: 0.9688",
                           want)
    assert not same_output("gelu lr 0.001: 0.9672\ntanh lr 0.003: 0.9688",
                           want)


def test_every_page_with_examples_is_found():
    pages = {str(page) for page, *_ in examples()}
    assert "README.md" in pages

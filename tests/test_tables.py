"""Text tables of the results."""

import numpy as np

from helpers import synthetic_run
from jaxmnist.results.tables import (
    cells_table,
    markdown_table,
    per_class_table,
    summary_table,
)


def test_summary_table_is_sorted_and_marks_divergence():
    run = synthetic_run(["adam", "sgd"], ["relu", "tanh"],
                        nan_cell=("sgd", "tanh"))
    lines = summary_table(run.members).splitlines()
    assert lines[0].split()[:3] == ["#", "optimizer", "activation"]
    assert lines[-1].split()[1:3] == ["sgd", "tanh"]
    assert lines[-1].endswith("epoch 2")
    accs = [float(line.split()[7]) for line in lines[2:-1]]
    assert accs == sorted(accs, reverse=True)


def test_cells_table_and_markdown():
    run = synthetic_run(["adam"], ["relu", "tanh"], seeds=3)
    text = cells_table(run.cells, 0.97)
    assert "95% CI" in text and "epoch to 0.97" in text and "±" in text
    md = markdown_table(run.members).splitlines()
    assert md[0].startswith("| # | optimizer") and len(md) == 2 + 6


def test_per_class_table_names_the_classes():
    y = np.asarray([0, 0, 1, 1])
    text = per_class_table(y, np.asarray([0, 1, 1, 1]), ("T-shirt", "Bag"))
    lines = text.splitlines()
    assert lines[2].split() == ["T-shirt", "1.0000", "0.5000", "2"]
    assert lines[3].split() == ["Bag", "0.6667", "1.0000", "2"]

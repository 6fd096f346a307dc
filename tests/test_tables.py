"""Text tables of the results: sorted by test accuracy, the best by
validation marked, the rule stated under the table."""

import numpy as np

from helpers import synthetic_run
from jaxmnist.results.stats import cell_results
from jaxmnist.results.tables import (
    best_cell,
    cells_markdown,
    cells_table,
    markdown_table,
    per_class_table,
    summary_table,
)


def val_not_test_run():
    """A run whose best test accuracy is not its best validation accuracy:
    adam/relu has the top test accuracy, sgd/tanh the top validation."""
    run = synthetic_run(["adam", "sgd"], ["relu", "tanh"], seeds=2)
    members = [m._replace(test_accuracy=0.99, val_accuracy=0.90)
               if (m.optimizer, m.activation) == ("adam", "relu") else
               m._replace(test_accuracy=0.95, val_accuracy=0.98)
               if (m.optimizer, m.activation) == ("sgd", "tanh") else m
               for m in run.members]
    return run._replace(members=members, cells=cell_results(members))


def rows(text: str) -> list[list[str]]:
    """The data rows of a fixed-width table (before the blank line)."""
    return [line.split() for line in text.split("\n\n")[0].splitlines()[2:]]


def test_summary_table_is_sorted_and_marks_divergence():
    run = synthetic_run(["adam", "sgd"], ["relu", "tanh"],
                        nan_cell=("sgd", "tanh"))
    table = rows(summary_table(run.members))
    assert table[-1][1:3] == ["sgd", "tanh"]
    assert table[-1][-2:] == ["epoch", "2"]
    accs = [float(r[7]) for r in table[:-1]]
    assert accs == sorted(accs, reverse=True)


def test_summary_table_marks_the_best_by_validation():
    run = val_not_test_run()
    text = summary_table(run.members)
    table = rows(text)
    assert table[0][1:3] == ["adam", "relu"]  # sorted by test accuracy
    marked = [r for r in table if r[-1] == "*"]
    assert [r[1:3] for r in marked] == [["sgd", "tanh"]]
    assert "* best model: the highest validation accuracy" in text


def test_cells_table_marks_the_best_cell_by_validation():
    run = val_not_test_run()
    text = cells_table(run.cells, 0.97, run.members)
    assert "95% CI" in text and "epoch to 0.97" in text and "±" in text
    table = rows(text)
    assert table[0][1:3] == ["adam", "relu"]
    assert [r[1:3] for r in table if r[-1] == "*"] == [["sgd", "tanh"]]
    best = best_cell(run.cells)
    assert best is not None and (best.optimizer, best.activation) == (
        "sgd", "tanh")
    assert "* best cell: the highest mean validation accuracy" in text
    assert "best model (evaluate --best, predict RUN): sgd/tanh/" in text


def test_markdown_tables():
    run = val_not_test_run()
    md = markdown_table(run.members).splitlines()
    assert md[0].startswith("| # | optimizer") and len(md) == 2 + 8
    marked = [line for line in md[2:] if "*" in line.split("|")[1]]
    assert len(marked) == 1 and "| sgd | tanh |" in marked[0]
    cells = cells_markdown(run.cells, 0.97).splitlines()
    assert len(cells) == 2 + 4
    marked = [c for c in cells[2:] if "*" in c.split("|")[1]]
    assert len(marked) == 1 and "| sgd | tanh |" in marked[0]
    # one of two seeds reached the target, at epoch 2 (not "2.0")
    assert "| 2, 2.0 s (1/2) |" in cells_markdown(
        synthetic_run(["adam"], ["relu"], seeds=2).cells, 0.97)


def test_per_class_table_names_the_classes():
    y = np.asarray([0, 0, 1, 1])
    text = per_class_table(y, np.asarray([0, 1, 1, 1]), ("T-shirt", "Bag"))
    lines = text.splitlines()
    assert lines[2].split() == ["T-shirt", "1.0000", "0.5000", "2"]
    assert lines[3].split() == ["Bag", "0.6667", "1.0000", "2"]

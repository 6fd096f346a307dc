"""Typed records: the one schema for memory, CSV and JSON."""

import ast
import math
from pathlib import Path

import numpy as np
import pytest

import jaxmnist
from helpers import synthetic_run
from jaxmnist import files
from jaxmnist.results import records
from jaxmnist.results.records import (
    CellResult,
    HistoryRow,
    MemberResult,
    read_csv,
    time_to_target,
    write_csv,
)
from jaxmnist.sweep.config_file import read_run, to_toml


def test_time_to_target():
    val = np.asarray([0.90, 0.965, 0.971, 0.98])
    assert time_to_target(val, np.zeros(4, bool), 0.97, 100,
                          [1.0, 2.0, 3.0, 4.0]) == (3, 300, 6.0)
    assert time_to_target(val, np.asarray([0, 1, 1, 1], bool), 0.97, 100,
                          [1.0] * 4) == (None, None, None)


@pytest.mark.parametrize("kind", [MemberResult, CellResult, HistoryRow])
def test_csv_round_trip_keeps_types_none_and_nan(kind, tmp_path):
    run = synthetic_run(["adam", "sgd"], ["relu"], seeds=2,
                        nan_cell=("sgd", "relu"))
    rows = {MemberResult: run.members, CellResult: run.cells,
            HistoryRow: run.history}[kind]
    write_csv(tmp_path / "x.csv", rows, kind)
    back = read_csv(tmp_path / "x.csv", kind)
    assert len(back) == len(rows)
    for a, b in zip(rows, back):
        for x, y in zip(a, b):
            assert type(x) is type(y)
            assert x == y or (isinstance(x, float) and math.isnan(x)
                              and math.isnan(y))


def test_csv_layout_is_the_documented_one(tmp_path):
    run = synthetic_run(["adam"], ["relu"], nan_cell=("adam", "relu"))
    write_csv(tmp_path / "r.csv", run.members, MemberResult)
    header, row = (tmp_path / "r.csv").read_text().splitlines()
    assert header.startswith("optimizer,activation,learning_rate,seed,"
                             "train_accuracy,val_accuracy,test_accuracy,")
    assert header.endswith("target_seconds,seconds,model,hidden,batch_norm,"
                           "dropout,weight_decay,optimizer_options")
    assert row.startswith("adam,relu,0.01,0,")
    cells = row.split(",")
    assert cells[header.split(",").index("diverged_epoch")] == "2"


def test_read_run_round_trip(tmp_path):
    run = synthetic_run(["adam", "sgd"], ["relu", "tanh"], seeds=2)
    records.write_results(tmp_path, run)
    files.write_text(tmp_path / "config.toml", to_toml(run.config))
    back = read_run(tmp_path)
    assert back.config == run.config
    assert back.members == run.members and back.history == run.history
    assert back.meta == run.meta


def test_read_run_errors(tmp_path):
    with pytest.raises(ValueError, match="not a finished run dir"):
        read_run(tmp_path)
    run = synthetic_run(["adam"], ["relu"])
    records.write_results(tmp_path, run._replace(meta={}))
    files.write_text(tmp_path / "config.toml", to_toml(run.config))
    (tmp_path / "results.csv").write_text("optimizer,seed\nadam,zero\n")
    with pytest.raises(ValueError, match="damaged file"):
        read_run(tmp_path)



def _imported(path: Path) -> list[str]:
    """Every module an import statement of ``path`` names."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append(node.module or "")
    return out


def test_results_and_report_import_nothing_from_sweep():
    """Data flows one way: sweep/ imports results/ and report/, never the
    reverse (every import statement, those inside functions included)."""
    root = Path(jaxmnist.__file__).parent
    paths = sorted([*root.glob("results/*.py"), *root.glob("report/*.py")])
    assert len(paths) > 10
    assert [f"{p.name}: {m}" for p in paths for m in _imported(p)
            if m.startswith("jaxmnist.sweep")] == []

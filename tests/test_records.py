"""Typed records: the one schema for memory, CSV and JSON."""

import ast
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

import jaxmnist
from helpers import synthetic_run
from jaxmnist import files
from jaxmnist.results import records
from jaxmnist.results.members import Member
from jaxmnist.results.records import (
    CellResult,
    DynamicsRow,
    HistoryRow,
    MemberResult,
    read_csv,
    write_csv,
)
from jaxmnist.results.rows import time_to_target
from jaxmnist.sweep.config import read_run, to_toml


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


#: The header lines of the files runs already hold (they must still read,
#: and new files must stay the same).
HEADERS = {
    MemberResult: "optimizer,activation,learning_rate,seed,train_accuracy,"
    "val_accuracy,test_accuracy,train_loss,val_loss,test_loss,"
    "epochs_to_best_val,diverged_epoch,target_epoch,target_steps,"
    "target_seconds,seconds,model,hidden,batch_norm,dropout,weight_decay,"
    "optimizer_options",
    CellResult: "optimizer,activation,learning_rate,chosen,seeds,diverged,"
    "val_mean,val_std,val_ci95,test_mean,test_std,test_ci95,reached_target,"
    "target_epoch_mean,target_seconds_mean,model,hidden,batch_norm,dropout,"
    "weight_decay,optimizer_options",
    HistoryRow: "optimizer,activation,learning_rate,seed,epoch,train_loss,"
    "train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy,diverged,"
    "model,hidden,batch_norm,dropout,weight_decay,optimizer_options",
    DynamicsRow: "optimizer,activation,learning_rate,seed,epoch,layer,"
    "quantity,value,model,hidden,batch_norm,dropout,weight_decay,"
    "optimizer_options",
}


@pytest.mark.parametrize("kind", list(HEADERS), ids=lambda k: k.__name__)
def test_the_columns_are_those_runs_hold(tmp_path, kind):
    write_csv(tmp_path / "t.csv", [], kind)
    assert (tmp_path / "t.csv").read_text().splitlines() == [HEADERS[kind]]


def test_every_row_carries_the_member_key_once_declared():
    """The key's head leads each row and its tail closes it; a member's
    row gives back its Member (a cell's has no seed)."""
    m = Member("adam", "relu", 1e-3, 2, "cnn", "lenet5", True, 0.2, 1e-4,
               "b2=0.99")
    row = HistoryRow(**m._asdict(), epoch=1, train_loss=0.1,
                     train_accuracy=0.9, val_loss=0.2, val_accuracy=0.8,
                     test_loss=0.2, test_accuracy=0.8, diverged=False)
    assert row._fields[:4] + row._fields[-6:] == Member._fields
    assert list(row)[:4] + list(row)[-6:] == list(m)
    assert CellResult._fields[:3] + CellResult._fields[-6:] == tuple(
        f for f in Member._fields if f != "seed")
    assert row._replace(epoch=2).epoch == 2 and row._replace(epoch=2) != row
    assert Member(*list(m)) == m and hash(Member(*list(m))) == hash(m)


class _Plain(NamedTuple):
    name: str
    value: float
    note: str = ""


def test_named_tuple_tables_read_back_and_missing_columns_are_named(tmp_path):
    """Tables of other stages (landscape.csv, lr_find.csv) are NamedTuples."""
    rows = [_Plain("a", 0.5, "x"), _Plain("b", float("inf"))]
    write_csv(tmp_path / "p.csv", rows, _Plain)
    assert read_csv(tmp_path / "p.csv", _Plain) == rows
    (tmp_path / "old.csv").write_text("name,value\na,0.5\n")
    assert read_csv(tmp_path / "old.csv", _Plain) == [_Plain("a", 0.5)]
    (tmp_path / "bad.csv").write_text("name\na\n")
    with pytest.raises(ValueError, match="lacks the column.s. value$"):
        read_csv(tmp_path / "bad.csv", _Plain)

"""python -m jaxmnist.evaluate reloads a model and reproduces results.csv."""

import subprocess
import sys

import pytest

from helpers import synthetic_run
from jaxmnist.cli import evaluate as evaluate_cli
from jaxmnist.results.stats import best_member
from jaxmnist.sweep.config import read_run


def evaluate(*args):
    return subprocess.run([sys.executable, "-m", "jaxmnist.evaluate", *args],
                          capture_output=True, text=True)


@pytest.mark.integration
def test_evaluate_reproduces_results_csv(smoke_run):
    out, _ = smoke_run
    proc = evaluate(str(out), "--member", "adam/relu/0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    first = proc.stdout.splitlines()[0]
    got, want = first.split("test accuracy ")[1].split(" (results.csv: ")
    assert got == want.rstrip(")")
    assert "precision" in proc.stdout and "recall" in proc.stdout
    assert (out / "evaluation" / "adam-relu-0-confusion.png").is_file()
    best = evaluate(str(out), "--best")
    assert best.returncode == 0, best.stderr[-2000:]
    chosen = best_member(read_run(out).members)
    assert chosen is not None
    assert best.stdout.startswith(f"{chosen.name} (lr ")
    assert "the best by validation accuracy" in best.stdout.splitlines()[0]


@pytest.mark.integration
def test_evaluate_unknown_member(smoke_run):
    out, _ = smoke_run
    proc = evaluate(str(out), "--member", "adam/gelu/0")
    assert proc.returncode == 2
    assert "no member 'adam/gelu/0' in this run; choose from:" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_evaluate_a_non_run(tmp_path, capsys):
    """A folder that does not exist is called that; one without the run's
    files is named with what it lacks."""
    missing = tmp_path / "nothing"
    assert evaluate_cli.main([str(missing)]) == 2
    assert capsys.readouterr().err == (f"jaxmnist.evaluate: error: run dir "
                                       f"{str(missing)!r} does not exist\n")
    assert evaluate_cli.main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"jaxmnist.evaluate: error: {str(tmp_path)!r} is not a finished run "
        f"dir (missing config.toml, results.csv, cells.csv, history.csv)\n")


def test_an_unknown_member_lists_every_member():
    run = synthetic_run(["adam", "sgd", "momentum"],
                        ["relu", "tanh", "elu", "gelu"], seeds=2)
    names = sorted({m.name for m in run.members})
    assert len(names) == 24
    with pytest.raises(ValueError) as e:
        evaluate_cli.pick_member(run.members, "adam/silu/0")
    assert str(e.value) == (f"no member 'adam/silu/0' in this run; choose "
                            f"from: {', '.join(names)}")

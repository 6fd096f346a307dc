"""python -m jaxmnist.evaluate reloads a model and reproduces results.csv."""

import subprocess
import sys

import pytest

from jaxmnist.results.records import read_run
from jaxmnist.results.stats import best_member


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


def test_evaluate_a_non_run(tmp_path):
    proc = evaluate(str(tmp_path / "nothing"))
    assert proc.returncode == 2 and "is not a finished run dir" in proc.stderr
    assert proc.stderr.count("\n") == 1

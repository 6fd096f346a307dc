"""python -m jaxmnist.compare: one verdict over several runs."""

import subprocess
import sys

import pytest

from helpers import scored_run
from jaxmnist import files
from jaxmnist.cli.compare import main, parse_target
from jaxmnist.report.across import write_compare
from jaxmnist.report.verdict_figures import AGGREGATE, TUNING_BUDGET
from jaxmnist.results import records
from jaxmnist.sweep import config
from jaxmnist.sweep.config import to_toml


def scores(gain, optimizers=("adam", "sgd")):
    """Each optimizer after the first loses ``gain`` per rank, on every
    activation and seed; two learning rates, 0.1 apart."""
    out = {}
    for t, act in enumerate(("relu", "tanh")):
        for rank, o in enumerate(optimizers):
            out[(o, act)] = {lr: [(0.8 + 0.1 * i + 0.01 * s - gain * rank,
                                   0.8 + 0.1 * i + 0.02 * t + 0.01 * s
                                   - gain * rank) for s in range(3)]
                             for i, lr in enumerate((0.001, 0.01))}
    return out


def write_run(path, dataset, optimizers=("adam", "sgd")):
    run = scored_run(scores(0.01, optimizers), dataset)
    path.mkdir(parents=True)
    records.write_results(path, run)
    files.write_text(path / "config.toml", to_toml(run.config))
    return path


def test_compare_pools_the_tasks_of_both_runs(tmp_path):
    runs = [write_run(tmp_path / "m", "mnist"),
            write_run(tmp_path / "f", "fashion_mnist")]
    out = tmp_path / "out"
    written = write_compare(out, runs, [config.read_run(p) for p in runs])
    assert {p.name for p in written} >= {"verdict.md", "comparisons.csv",
                                         TUNING_BUDGET, AGGREGATE}
    text = (out / "verdict.md").read_text()
    assert ("over 4 tasks (mnist/relu, mnist/tanh, fashion_mnist/relu, "
            "fashion_mnist/tanh), 3 seeds each") in text
    # 12 pairs, all won by adam: the exact sign-flip p is 2 / 2^12
    assert "1 of 1 gaps are significant" in text
    assert "- significant: adam - sgd: +0.0100" in text
    assert f"![tuning_budget](figures/{TUNING_BUDGET})" in text
    assert "- mnist: budget 1:" in text and "- fashion_mnist: budget" in text


def test_compare_refuses_runs_without_the_same_optimizers(tmp_path, capsys):
    a = write_run(tmp_path / "a", "mnist", ("adam", "sgd", "momentum"))
    b = write_run(tmp_path / "b", "fashion_mnist")
    assert main([str(a), str(b), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("jaxmnist.compare: error: runs do not share the "
                   "optimizers compared (adam, sgd, momentum): "
                   f"{b} lacks momentum")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text", ["mnist", "=0.9", "mnist=high",
                                  "mnist=1.5"])
def test_a_bad_target_is_refused(text):
    with pytest.raises(ValueError, match="expected DATASET=ACCURACY"):
        parse_target(text)


@pytest.mark.slow
def test_compare_cli_end_to_end(tmp_path):
    runs = [write_run(tmp_path / "m", "mnist"),
            write_run(tmp_path / "f", "fashion_mnist")]
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmnist.compare", *map(str, runs),
         "--out", str(out), "--target", "fashion_mnist=0.85"],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == str(out / "verdict.md")
    text = (out / "verdict.md").read_text()
    assert "--target fashion_mnist=0.85" in text
    assert "| fashion_mnist | " in text and " | 0.85 |" in text

"""The end-to-end run: golden numbers, one sweep per run dir, data checks."""

import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, TIMING
from jaxmnist.results.records import (
    CellResult,
    HistoryRow,
    MemberResult,
    read_csv,
)
from jaxmnist.sweep.config import SweepConfig, to_toml
from jaxmnist.sweep.run import RUN_DIRS, RUN_FILES, check_run_dir


@pytest.mark.integration
@pytest.mark.parametrize("name,kind", [("results.csv", MemberResult),
                                       ("cells.csv", CellResult),
                                       ("history.csv", HistoryRow)])
def test_smoke_sweep_matches_its_golden_numbers(smoke_run, name, kind):
    """sweeps/smoke.toml's files as captured in tests/golden (every column but
    the wall-clock ones; floats to 1e-6 relative, everything else exactly):
    a change that is not meant to move the numbers must not."""
    out, _ = smoke_run
    got = read_csv(out / name, kind)
    want = read_csv(ROOT / "tests/golden/smoke" / name, kind)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        for k, wv in w._asdict().items():
            gv = getattr(g, k)
            if k in TIMING:
                continue
            if isinstance(wv, float):
                np.testing.assert_allclose(gv, wv, rtol=1e-6,
                                           err_msg=f"{name} {k}")
            else:
                assert gv == wv, (name, k)


def test_a_different_sweep_is_refused(tmp_path):
    (tmp_path / "config.toml").write_text(to_toml(SweepConfig(epochs=2)))
    with pytest.raises(ValueError, match=r"holds a different sweep \(epochs: "
                       r"2 -> 3\)"):
        check_run_dir(SweepConfig(epochs=3), tmp_path, overwrite=False)
    check_run_dir(SweepConfig(epochs=2, out="elsewhere"), tmp_path, False)


def test_overwrite_removes_exactly_the_run_outputs(tmp_path):
    (tmp_path / "config.toml").write_text(to_toml(SweepConfig(epochs=2)))
    for name in RUN_FILES[1:]:
        (tmp_path / name).write_text("x")
    for name in RUN_DIRS:
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    check_run_dir(SweepConfig(epochs=3), tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.integration
@pytest.mark.parametrize("extra,message", [
    (["--train-subset", "60000"], "train_subset 60000 is outside 1..55000"),
    (["--train-subset", "100", "--batch-size", "128"],
     "batch_size 128 is larger than the 100 training images"),
])
def test_sizes_checked_against_the_data(extra, message, mnist_dirs, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmnist.sweep", "--manual-dir", mnist_dirs[0],
         "--data-dir", mnist_dirs[1], "--out", str(tmp_path / "o"), *extra],
        capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr
    errors = [line for line in proc.stderr.splitlines()
              if not line.startswith("jaxmnist: reading")]  # first use
    assert len(errors) == 1
    assert not (tmp_path / "o").exists()

"""A sweep's ``--landscape`` stage, end to end on a small real run."""

import subprocess
import sys

import numpy as np
import pytest

from helpers import png_size
from jaxmnist.report.landscape import LANDSCAPE_FIGURES
from jaxmnist.results.landscape import member_label, read_landscape
from jaxmnist.sweep.config import read_run


@pytest.mark.slow
def test_landscape_run_writes_its_records_and_figures(mnist_dirs, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "jaxmnist.sweep", "--activations",
           "relu,tanh", "--optimizers", "adam,momentum", "--seeds", "2",
           "--epochs", "1", "--train-subset", "1000", "--manual-dir",
           mnist_dirs[0], "--data-dir", mnist_dirs[1], "--landscape",
           "--no-dynamics", "--out", str(out), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    land, run = read_landscape(out), read_run(out)
    kinds = [r.kind for r in land.rows]
    # 8 members; 2 seeds in each of 4 cells; 2 optimizers' best members
    assert (kinds.count("init_to_final"), kinds.count("seeds"),
            kinds.count("optimizers")) == (8, 4, 1)
    assert [s.role for s in land.surfaces] == ["best", "worst"]
    assert land.curves["val_loss"].shape == (13, len(land.alphas))
    # each path ends at the member's own trained params
    by_label = {member_label(m): m for m in run.members}
    for r in land.rows:
        if r.kind == "init_to_final":
            np.testing.assert_allclose(
                r.val_accuracy_end, by_label[r.end].val_accuracy, rtol=1e-6)
        if r.kind == "seeds":
            assert r.start.rsplit("/", 1)[0] == r.end.rsplit("/", 1)[0]
    for name in LANDSCAPE_FIGURES:
        assert png_size(out / "figures" / name)[0] > 300
        (out / "figures" / name).unlink()
    redraw = subprocess.run([sys.executable, "-m", "jaxmnist.plot", str(out)],
                            capture_output=True, text=True)
    assert redraw.returncode == 0, redraw.stderr[-2000:]
    assert all((out / "figures" / n).is_file() for n in LANDSCAPE_FIGURES)

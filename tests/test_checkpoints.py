"""A killed sweep resumes with identical results (with batch norm, dropout
and the dynamics probes on); Ctrl-C says how to resume. Real MNIST
(skipped when absent)."""

import csv
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import tree_allclose
from jaxmnist.sweep.store import load_model

pytestmark = pytest.mark.integration

TIMING = {"seconds", "target_seconds", "target_seconds_mean"}
# Two groups (adam, adam-bn): one finished before the kill, one killed.
ARGS = ["--optimizers", "adam", "--activations", "relu,tanh",
        "--epochs", "3", "--train-subset", "6000", "--seeds", "2",
        "--batch-norm", "off,on", "--dropout", "0,0.3", "--no-progress"]


def sweep(out, manual, data_dir, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "jaxmnist.sweep", *ARGS, "--out", str(out),
         "--manual-dir", manual, "--data-dir", data_dir, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def table(path):
    with open(path) as f:
        return [{k: v for k, v in r.items() if k not in TIMING}
                for r in csv.DictReader(f)]


def wait_for(path, proc, timeout=300):
    t = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t < timeout
        time.sleep(0.05)


@pytest.fixture(scope="module")
def uninterrupted(mnist_dirs, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    proc = sweep(out, *mnist_dirs)
    _, err = proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    return out


def compare_runs(a, b):
    for name in ("results.csv", "cells.csv", "history.csv", "dynamics.csv"):
        assert table(a / name) == table(b / name), name
    for name in ("best_predictions.npz", "dynamics.npz"):
        with np.load(a / name) as x, np.load(b / name) as y:
            assert x.files == y.files
            for k in x.files:
                np.testing.assert_array_equal(x[k], y[k])
    metas = sorted((a / "models").glob("*/*/*/metadata.json"))
    assert len(metas) == 2 * 2 * 2 * 2  # bn x act x dropout x seed
    for meta in metas:
        rel = meta.parent.relative_to(a)
        pa, ma = load_model(a / rel)
        pb, mb = load_model(b / rel)
        tree_allclose(pa, pb)  # bitwise
        for m in (ma, mb):
            for k in TIMING:
                m["metrics"].pop(k, None)
        assert ma == mb
    assert not list(b.rglob("*.tmp")), "half-written files left behind"


def test_sigkill_then_resume_is_identical(uninterrupted, mnist_dirs,
                                          tmp_path):
    out = tmp_path / "run"
    proc = sweep(out, *mnist_dirs)
    # kill it once the second group has checkpointed its first epoch
    wait_for(out / "checkpoints" / "adam-bn" / "epochs" / "1", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "checkpoints" / "adam" / "done.json").is_file()
    assert not (out / "checkpoints" / "adam-bn" / "done.json").exists()
    again = sweep(out, *mnist_dirs)
    _, err = again.communicate()
    assert again.returncode == 0, err[-2000:]
    compare_runs(uninterrupted, out)


def test_ctrl_c_says_how_to_resume(mnist_dirs, tmp_path):
    out = tmp_path / "run"
    # 8 epochs: epoch 1's checkpoint is written while epoch 2 trains, and
    # on a fast CPU a 3-epoch group was in its last epoch by then (it then
    # said "stopped after group adam", rightly, and this test failed)
    proc = sweep(out, *mnist_dirs, "--epochs", "8")
    wait_for(out / "checkpoints" / "adam" / "epochs" / "1", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    assert proc.returncode == 130
    assert "interrupted: group adam stopped after epoch" in err
    assert "resume with: python -m jaxmnist.sweep" in err
    assert "Traceback" not in err

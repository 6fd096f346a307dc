"""A killed sweep resumes with identical results (with batch norm, dropout
and the dynamics probes on); Ctrl-C says how to resume. Real MNIST
(skipped when absent)."""

import signal

import pytest

from helpers import assert_same_run, start_sweep, wait_for

pytestmark = pytest.mark.integration

# Two groups (adam, adam-bn): one finished before the kill, one killed.
ARGS = ["--optimizers", "adam", "--activations", "relu,tanh",
        "--epochs", "3", "--train-subset", "6000", "--seeds", "2",
        "--batch-norm", "off,on", "--dropout", "0,0.3", "--no-progress"]


def sweep(out, manual, data_dir, *extra):
    return start_sweep(*ARGS, "--out", str(out), "--manual-dir", manual,
                       "--data-dir", data_dir, *extra)


def wait_for_path(path, proc):
    wait_for(path.exists, proc)


@pytest.fixture(scope="module")
def uninterrupted(mnist_dirs, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    proc = sweep(out, *mnist_dirs)
    _, err = proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    return out


def compare_runs(a, b):
    assert_same_run(a, b, models=2 * 2 * 2 * 2,  # bn x act x dropout x seed
                    tables=("results.csv", "cells.csv", "history.csv",
                            "dynamics.csv"),
                    arrays=("best_predictions.npz", "dynamics.npz"))


def test_sigkill_then_resume_is_identical(uninterrupted, mnist_dirs,
                                          tmp_path):
    out = tmp_path / "run"
    proc = sweep(out, *mnist_dirs)
    # kill it once the second group has checkpointed its first epoch
    wait_for_path(out / "checkpoints" / "adam-bn" / "epochs" / "1", proc)
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
    wait_for_path(out / "checkpoints" / "adam" / "epochs" / "1", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    assert proc.returncode == 130
    assert "interrupted: group adam stopped after epoch" in err
    assert "resume with: python -m jaxmnist.sweep" in err
    assert "Traceback" not in err

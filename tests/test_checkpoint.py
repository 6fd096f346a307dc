"""A killed sweep resumes with identical results (with batch norm, dropout
and the dynamics probes on); Ctrl-C says how to resume (real MNIST, skipped
when absent). A damaged checkpoint or result is one line naming it, and the
group falls back to the last readable epoch (synthetic data)."""

import os
import signal

import jax
import numpy as np
import pytest

from helpers import (
    assert_same_run,
    start_sweep,
    synthetic_dataset,
    wait_for,
)
from jaxmnist.core.train import Metrics
from jaxmnist.results.members import GroupResult, Member
from jaxmnist.sweep import checkpoint
from jaxmnist.sweep.config import SweepConfig
from jaxmnist.sweep.group import train_group
from jaxmnist.sweep.progress import RunBar

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


@pytest.mark.integration
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


@pytest.mark.integration
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


# --------------------------------------------------------------------------
# Damaged checkpoints (synthetic data)
# --------------------------------------------------------------------------

def truncate(file):
    file.write_bytes(file.read_bytes()[:100])


def state(value: float):
    return [{"w": np.full((3, 4), value, np.float32)}]


@pytest.mark.parametrize("damage", [truncate, lambda f: f.write_bytes(b""),
                                    lambda f: f.write_bytes(b"x" * 999)],
                         ids=["truncated", "emptied", "overwritten"])
def test_a_damaged_epoch_falls_back_to_the_one_before(damage, tmp_path):
    history = [{"loss": np.float32(v)} for v in (1.0, 0.5, 0.25)]
    for e in (1, 2, 3):
        checkpoint.save_epoch(tmp_path, e, state(float(e)), history[:e],
                               [1.0] * e)
    assert sorted(os.listdir(tmp_path / "epochs")) == ["2", "3"]
    latest = tmp_path / "epochs" / "3" / "state.npz"
    damage(latest)
    said = []
    restored = checkpoint.restore_epoch(tmp_path, state(0.0), history[0],
                                         said.append)
    assert restored is not None
    epoch, got, hist, _ = restored
    assert epoch == 2 and [float(h["loss"]) for h in hist] == [1.0, 0.5]
    np.testing.assert_array_equal(got[0]["w"], state(2.0)[0]["w"])
    assert len(said) == 1 and said[0].startswith(f"cannot read "
                                                 f"{str(latest)!r} (")
    damage(tmp_path / "epochs" / "2" / "state.npz")
    said.clear()
    assert checkpoint.restore_epoch(tmp_path, state(0.0), history[0],
                                     said.append) is None
    assert [line.split("'")[1] for line in said] == [
        str(latest), str(tmp_path / "epochs" / "2" / "state.npz")]


def test_a_result_reads_back_and_a_damaged_one_is_named(tmp_path):
    member = Member("adam", "relu", 1e-3, 0, "mlp", "2", False, 0.0, 0.0, "")
    metrics = Metrics(*(np.full((1, 2), i, np.float32)
                        for i in range(len(Metrics._fields))))
    group = GroupResult([member], metrics, [{"w": np.ones((2, 2))}], 1.5,
                        0.5, [1.0, 2.0], 3, None, [{"mean": np.zeros(2)}])
    checkpoint.save_result(tmp_path, group)
    back = checkpoint.load_result(tmp_path)
    assert back is not None and back.members == [member]
    assert (back.seconds, back.steps_per_epoch, back.dynamics) == (1.5, 3,
                                                                   None)
    jax.tree.map(np.testing.assert_array_equal, back.history, metrics)
    jax.tree.map(np.testing.assert_array_equal, (back.params, back.stats),
                 (group.params, group.stats))
    for name in ("done.json", "result.npz"):
        truncate(tmp_path / name) if name.endswith("npz") else \
            (tmp_path / name).write_text('{"a": ')
        said = []
        assert checkpoint.load_result(tmp_path, said.append) is None
        assert len(said) == 1 and said[0].startswith(
            f"cannot read {str(tmp_path / name)!r} (")


class Notes(RunBar):
    """A disabled run bar that keeps its notes."""

    def __init__(self):
        super().__init__(1000, enabled=False)
        self.lines: list[str] = []

    def note(self, text: str) -> None:
        self.lines.append(text)


@pytest.mark.slow
def test_a_group_resumes_bitwise_from_its_last_readable_epoch(tmp_path):
    """A finished group's damaged result, with none, one, then both of its
    epoch checkpoints damaged too: one line naming each file, and the group
    trained again from the epoch it says, to the same bits."""
    data = synthetic_dataset(n_train=64, n_val=16, n_test=16)
    (spec,) = SweepConfig(activations=("relu",), optimizers=("adam",),
                          epochs=4, batch_size=32, dynamics=False).groups()
    first = train_group(spec, data, progress=False, checkpoint_dir=tmp_path)
    epochs, name = tmp_path / "epochs", spec.name
    assert sorted(os.listdir(epochs)) == ["2", "3"]  # the 4th: the result
    damaged = [tmp_path / "result.npz", epochs / "3" / "state.npz",
               epochs / "2" / "state.npz"]
    for n, then in [(1, [f"resuming {name} from epoch 3"]),
                    (2, [f"; {name} falls back to epoch 2",
                         f"resuming {name} from epoch 2"]),
                    (3, ["; trying the epoch before",
                         f"; no readable epoch left: training {name} from "
                         f"the start"])]:
        for file in damaged[:n]:
            truncate(file)
        bar = Notes()
        again = train_group(spec, data, progress=bar, checkpoint_dir=tmp_path)
        assert bar.lines[0] == (
            f"warning: cannot read {str(damaged[0])!r} (BadZipFile: File is "
            f"not a zip file); the finished group {name} resumes from its "
            f"last readable epoch checkpoint (from the start if none)")
        assert len(bar.lines) == 1 + len(then), bar.lines
        for i, (line, end) in enumerate(zip(bar.lines[1:], then)):
            if i + 1 < n:
                assert line.startswith(f"warning: cannot read "
                                       f"{str(damaged[i + 1])!r} (")
            assert line.endswith(end), (line, end)
        jax.tree.map(np.testing.assert_array_equal,
                     (first.history, first.params),
                     (again.history, again.params))
        assert checkpoint.load_result(tmp_path) is not None

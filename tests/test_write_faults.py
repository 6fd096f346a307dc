"""A full or forbidden disk under a checkpoint's or a model's (orbax)
writes, in process: an OSError naming what was being written, the previous
checkpoint intact, never half a model. (test_faults.py tries each kind of
write through the command line.)"""

import errno
import os

import numpy as np
import orbax.checkpoint as ocp
import pytest

from inject import orbax_error
from jaxmnist import files
from jaxmnist.sweep import checkpoint, store


def state(value: float):
    return [{"w": np.full((3, 4), value, np.float32)}]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_a_failed_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch,
                                                     code):
    history = [{"loss": np.float32(1.0)}, {"loss": np.float32(0.5)}]
    checkpoint.save_epoch(tmp_path, 1, state(1.0), history[:1], [1.0])
    write = files.write_bytes

    def failing(path, data):
        write(path, data[:10])  # half the file, then the disk gives out
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(files, "write_bytes", failing)
    with pytest.raises(OSError) as e:
        checkpoint.save_epoch(tmp_path, 2, state(2.0), history, [1.0, 2.0])
    assert e.value.errno == code and e.value.strerror == os.strerror(code)
    assert e.value.filename == str(tmp_path / "epochs" / "2")
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path / "epochs")) == ["1", "2.tmp"]
    epoch, got, hist, times = checkpoint.restore_epoch(
        tmp_path, state(0.0), history[0])
    assert (epoch, times) == (1, [1.0])
    np.testing.assert_array_equal(got[0]["w"], state(1.0)[0]["w"])
    checkpoint.save_epoch(tmp_path, 2, state(2.0), history, [1.0, 2.0])
    assert sorted(os.listdir(tmp_path / "epochs")) == ["1", "2"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_a_failed_model_save_names_it_and_leaves_no_half_model(
        tmp_path, monkeypatch, code):
    path = tmp_path / "models" / "adam" / "relu" / "lr0.001-seed0"
    store.save_model(path, state(1.0), {"activation": "relu"})

    def failing(self, directory, *args, **kwargs):
        raise orbax_error(code, tmp_path)

    monkeypatch.setattr(ocp.StandardCheckpointer, "save", failing)
    with pytest.raises(OSError) as e:
        store.save_model(path, state(2.0), {"activation": "relu"})
    assert (e.value.errno, e.value.filename) == (code, str(path / "params"))
    with pytest.raises(ValueError, match="metadata.json missing"):
        store.load_model(path)  # the sweep saves it again on resume
    monkeypatch.undo()
    store.save_model(path, state(2.0), {"activation": "relu"})
    np.testing.assert_array_equal(store.load_model(path)[0][0]["w"],
                                  state(2.0)[0]["w"])


def test_an_error_that_is_not_the_disks_passes_through(tmp_path,
                                                      monkeypatch):
    def failing(path, data):
        raise ValueError("shapes differ")

    monkeypatch.setattr(files, "write_bytes", failing)
    with pytest.raises(ValueError, match="shapes differ"):
        checkpoint.save_epoch(tmp_path, 1, state(1.0),
                               [{"loss": np.float32(1.0)}], [1.0])


def test_epoch_checkpoints_round_trip(tmp_path):
    """The npz epoch checkpoints: the latest one restored, the one before
    it kept (a fallback), a killed write's leftover not."""
    history = [{"loss": np.float32(1.0)}, {"loss": np.float32(0.5)}]
    checkpoint.save_epoch(tmp_path, 1, state(1.0), history[:1], [1.0])
    (tmp_path / "epochs" / "2.tmp").mkdir()  # a killed write's leftover
    checkpoint.save_epoch(tmp_path, 2, state(2.0), history, [1.0, 2.0])
    assert sorted(os.listdir(tmp_path / "epochs")) == ["1", "2"]
    (tmp_path / "epochs" / "3.tmp").mkdir()  # killed before its rename
    (tmp_path / "epochs" / "3.tmp" / "state.npz").write_bytes(b"half")
    assert checkpoint.latest_epoch(tmp_path) == 2
    epoch, got, hist, times = checkpoint.restore_epoch(
        tmp_path, state(0.0), history[0])
    assert (epoch, times) == (2, [1.0, 2.0])
    np.testing.assert_array_equal(got[0]["w"], state(2.0)[0]["w"])
    assert [float(h["loss"]) for h in hist] == [1.0, 0.5]
    with pytest.raises(ValueError, match="does not fit this group"):
        checkpoint.restore_epoch(tmp_path, [{"w": np.zeros((2, 2))}],
                                  history[0])

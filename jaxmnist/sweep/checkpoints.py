"""Group checkpoints, so a killed sweep resumes where it stopped.

While a group trains, its full state (params, optimizer state, divergence
flags), its metrics so far and its epoch timings are saved with orbax at the
end of every epoch (atomic; only the latest is kept) under
``<run>/checkpoints/<optimizer>/``. A finished group's result is written
there as ``result.npz`` (atomically) and marks the group done. The data
order of every epoch is derived from the seed and the epoch number, so no
RNG state needs saving: resumed runs continue bit for bit.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import jax
import numpy as np

from jaxmnist import files
from jaxmnist.core.train import Metrics

#: What a run dir holds from this module.
CHECKPOINTS_DIR = "checkpoints"


def group_dir(run_dir: Path, optimizer: str) -> Path:
    return Path(run_dir).absolute() / CHECKPOINTS_DIR / optimizer


def _manager(path: Path):
    import orbax.checkpoint as ocp  # noqa: PLC0415  (slow import, lazy)

    return ocp.CheckpointManager(path, options=ocp.CheckpointManagerOptions(
        max_to_keep=1, enable_async_checkpointing=False))


def save_epoch(path: Path, epoch: int, state, history: list,
               epoch_times: list[float]) -> None:
    """Checkpoint after ``epoch`` finished epochs (host arrays)."""
    import orbax.checkpoint as ocp  # noqa: PLC0415

    tree = {"state": jax.device_get(state),
            "history": {f: np.stack([np.asarray(getattr(h, f))
                                     for h in history])
                        for f in history[0]._fields},
            "epoch_times": np.asarray(epoch_times, np.float64)}
    mngr = _manager(path / "epochs")
    mngr.save(epoch, args=ocp.args.StandardSave(tree), force=True)
    mngr.wait_until_finished()
    mngr.close()


def restore_epoch(path: Path, state_like, n_members: int):
    """(epoch, host state, history, epoch_times) of the latest checkpoint,
    or None when there is none. ``state_like`` gives the state's structure,
    shapes and dtypes; history entries are :class:`Metrics` of
    ``[n_members]`` arrays."""
    import orbax.checkpoint as ocp  # noqa: PLC0415

    if not (path / "epochs").is_dir():
        return None
    mngr = _manager(path / "epochs")
    epoch = mngr.latest_step()
    if epoch is None:
        mngr.close()
        return None
    target = {"state": jax.tree.map(lambda x: np.zeros(x.shape, x.dtype),
                                    state_like),
              "history": {f: np.zeros((epoch, n_members),
                                      bool if f == "diverged" else np.float32)
                          for f in Metrics._fields},
              "epoch_times": np.zeros((epoch,), np.float64)}
    tree = mngr.restore(epoch, args=ocp.args.StandardRestore(target))
    mngr.close()
    history = [Metrics(*(np.asarray(tree["history"][f][e])
                         for f in Metrics._fields)) for e in range(epoch)]
    return (epoch, tree["state"], history,
            [float(t) for t in tree["epoch_times"]])


def save_result(path: Path, arrays: dict, meta: dict) -> None:
    """The finished group's arrays and metadata; marks the group done."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    files.write_bytes(path / "result.npz", buf.getvalue())
    files.write_json(path / "done.json", meta)


def load_result(path: Path) -> tuple[dict, dict] | None:
    if not (path / "done.json").is_file():
        return None
    with np.load(path / "result.npz") as f:
        arrays = {k: f[k] for k in f.files}
    return arrays, json.loads((path / "done.json").read_text())

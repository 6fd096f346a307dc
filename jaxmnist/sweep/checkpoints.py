"""Group checkpoints, so a killed sweep resumes where it stopped.

While a group trains, its full state (params, optimizer state, divergence
flags), its metrics so far and its epoch timings are saved with orbax at the
end of every epoch (atomic; only the latest is kept) under
``<run>/checkpoints/<optimizer>/``. A finished group's result is written
there as ``result.npz`` (atomically) and marks the group done. The data
order of every epoch is derived from the seed and the epoch number, so no
RNG state needs saving: resumed runs continue bit for bit.

orbax writes a step into ``<step>.orbax-checkpoint-tmp*`` and renames it
when complete, so a kill or a full disk in the middle of a save leaves the
previous step as the latest (the next save clears the leftover); the old
step is deleted only after the new one is in place. A write that fails
raises an OSError naming the checkpoint (see :func:`jaxmnist.files.os_error`).
Once a run has finished, :func:`remove` deletes the whole folder.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import jax
import numpy as np

from jaxmnist import files

#: What a run dir holds from this module.
CHECKPOINTS_DIR = "checkpoints"


def group_dir(run_dir: Path, optimizer: str) -> Path:
    return Path(run_dir).absolute() / CHECKPOINTS_DIR / optimizer


def _manager(path: Path):
    import orbax.checkpoint as ocp  # noqa: PLC0415  (slow import, lazy)

    return ocp.CheckpointManager(path, options=ocp.CheckpointManagerOptions(
        max_to_keep=1, enable_async_checkpointing=False))


def stack(results: list):
    """Per-epoch pytrees stacked along a new leading (epoch) axis."""
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]),
                        *results)


def unstack(tree, epochs: int) -> list:
    """The inverse of :func:`stack`."""
    return [jax.tree.map(lambda x, e=e: np.asarray(x[e]), tree)
            for e in range(epochs)]


def save_epoch(path: Path, epoch: int, state, history: list,
               epoch_times: list[float]) -> None:
    """Checkpoint after ``epoch`` finished epochs (host arrays); ``history``
    holds one pytree per finished epoch (its metrics and probes)."""
    import orbax.checkpoint as ocp  # noqa: PLC0415  (slow import, lazy)

    tree = {"state": jax.device_get(state), "history": stack(history),
            "epoch_times": np.asarray(epoch_times, np.float64)}
    mngr = _manager(path / "epochs")
    try:
        with files.orbax_write(path / "epochs" / str(epoch)):
            mngr.save(epoch, args=ocp.args.StandardSave(tree), force=True)
            mngr.wait_until_finished()
    finally:
        mngr.close()


def latest_epoch(path: Path) -> int:
    """The number of epochs the latest checkpoint under ``path`` holds."""
    if not (path / "epochs").is_dir():
        return 0
    mngr = _manager(path / "epochs")
    epoch = mngr.latest_step()
    mngr.close()
    return epoch or 0


def restore_epoch(path: Path, state_like, epoch_like):
    """(epoch, host state, history, epoch_times) of the latest checkpoint,
    or None when there is none. ``state_like`` and ``epoch_like`` (one
    epoch's history entry) give the structures, shapes and dtypes."""
    import orbax.checkpoint as ocp  # noqa: PLC0415  (slow import, lazy)

    if not (path / "epochs").is_dir():
        return None
    mngr = _manager(path / "epochs")
    epoch = mngr.latest_step()
    if epoch is None:
        mngr.close()
        return None
    zeros = lambda x, *lead: np.zeros((*lead, *x.shape), x.dtype)
    target = {"state": jax.tree.map(zeros, state_like),
              "history": jax.tree.map(lambda x: zeros(x, epoch), epoch_like),
              "epoch_times": np.zeros((epoch,), np.float64)}
    tree = mngr.restore(epoch, args=ocp.args.StandardRestore(target))
    mngr.close()
    return (epoch, tree["state"], unstack(tree["history"], epoch),
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


def remove(run_dir: Path) -> None:
    """Delete a finished run's checkpoints (its models and results hold
    everything they had)."""
    shutil.rmtree(Path(run_dir) / CHECKPOINTS_DIR, ignore_errors=True)

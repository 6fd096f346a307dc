"""Group checkpoints, so a killed sweep resumes where it stopped.

While a group trains, its full state (params, optimizer state, divergence
flags), its metrics so far and its epoch timings are saved at the end of
every epoch under ``<run>/checkpoints/<optimizer>/epochs/<epoch>/state.npz``
(the tree's leaves in one uncompressed npz), written in
``epochs/<epoch>.tmp`` and renamed into place when complete; only then are
the epochs before the previous one deleted, so a kill or a full disk in the
middle of a save leaves the previous epoch as the latest (the next save
clears the leftover), and a checkpoint damaged later (a truncated or
corrupted file) still has the epoch before it to fall back to: an
unreadable epoch is reported (one line naming the file) and the next older
one restored, or none. A write that fails raises an OSError naming the
checkpoint. A finished group's result is written there as ``result.npz``
(atomically) and marks the group done; an unreadable result is reported
the same way and the group resumed from its epochs. The data order of
every epoch is derived from the seed and the epoch number, so no RNG state
needs saving: resumed runs continue bit for bit. Once a run has
finished, :func:`remove` deletes the whole folder.

Every process of a distributed run writes its own (each with its own
``--out``, or sharing one). An npz is written rather than an orbax step
because it is several times faster to write, and the sweep writes one an
epoch per group (docs/performance.md).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxmnist import files
from jaxmnist.sweep.cluster import cluster

#: What a run dir holds from this module.
CHECKPOINTS_DIR = "checkpoints"
NPZ_STATE = "state.npz"  # an epoch checkpoint
#: What reading a damaged (truncated, overwritten, emptied) npz raises.
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile,
               zlib.error)


def group_dir(run_dir: Path, optimizer: str) -> Path:
    return Path(run_dir).absolute() / CHECKPOINTS_DIR / optimizer


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
    """Checkpoint after ``epoch`` finished epochs (host arrays) as
    ``epochs/<epoch>/state.npz``; ``history`` holds one pytree per finished
    epoch (its metrics and probes)."""
    tree = {"state": jax.device_get(state), "history": stack(history),
            "epoch_times": np.asarray(epoch_times, np.float64)}
    _save_npz(path / "epochs", epoch, tree)


def _save_npz(epochs: Path, epoch: int, tree) -> None:
    """``tree``'s leaves as ``epochs/<epoch>/state.npz``, the folder renamed
    into place when complete, then every epoch but it and the one before
    removed (an OS error names ``epochs/<epoch>``).

    The processes of a distributed run each save the same (gathered)
    state; when they share one ``--out`` each writes its own temporary
    folder, and a process that finds the epoch already put in place by
    another keeps that one."""
    arrays: dict[str, Any] = {f"leaf{i}": np.asarray(x) for i, x in
                              enumerate(jax.tree.leaves(tree))}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    mine = ".tmp" if cluster.size == 1 else f".tmp{cluster.index}"
    final, tmp = epochs / str(epoch), epochs / f"{epoch}{mine}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        files.write_bytes(tmp / NPZ_STATE, buf.getvalue())
    except OSError as e:
        raise files.named(e, final) from e
    shutil.rmtree(final, ignore_errors=True)
    try:
        os.replace(tmp, final)
    except OSError as e:
        if not (final / NPZ_STATE).is_file():
            raise files.named(e, final) from e
        shutil.rmtree(tmp, ignore_errors=True)  # another process's, in place
    kept = {final.name, str(epoch - 1)}  # the previous: a fallback
    for old in epochs.iterdir():  # older epochs and this process's leftovers
        if old.name not in kept and (old.name.isdigit()
                                     or old.name.endswith(mine)):
            shutil.rmtree(old, ignore_errors=True)


def _npz_epochs(path: Path) -> list[int]:
    """The epochs of the npz checkpoints, latest first."""
    epochs = path / "epochs"
    return sorted((int(d.name) for d in epochs.iterdir()
                   if d.name.isdigit() and (d / NPZ_STATE).is_file()),
                  reverse=True)


def damage_message(file: Path, error: BaseException) -> str:
    """One line: ``file`` cannot be read, and why."""
    why = " ".join(str(error).split())[:160]
    return (f"cannot read {str(file)!r} ({type(error).__name__}"
            f"{': ' + why if why else ''})")


def _ignore(_message: str) -> None:
    pass


def latest_epoch(path: Path) -> int:
    """The number of epochs the latest checkpoint under ``path`` holds."""
    if not (path / "epochs").is_dir():
        return 0
    return next(iter(_npz_epochs(path)), 0)


def restore_epoch(path: Path, state_like, epoch_like,
                  damaged: Callable[[str], None] = _ignore):
    """(epoch, host state, history, epoch_times) of the latest readable
    checkpoint, or None when there is none. ``state_like`` and
    ``epoch_like`` (one epoch's history entry) give the structures, shapes
    and dtypes. Each npz checkpoint that cannot be read (truncated,
    corrupted) is passed over for the one before it, after calling
    ``damaged`` with one line naming it (:func:`damage_message`).

    Raises:
      ValueError: a readable checkpoint holds other shapes or dtypes.
    """
    if not (path / "epochs").is_dir():
        return None
    for epoch in _npz_epochs(path):
        file = path / "epochs" / str(epoch) / NPZ_STATE
        try:
            leaves = _read_npz(file)
        except READ_ERRORS as e:
            damaged(damage_message(file, e))
            continue
        tree = _fit(leaves, _target(state_like, epoch_like, epoch), file)
        return _restored(epoch, tree)
    return None


def _target(state_like, epoch_like, epoch: int):
    """Zeros shaped like what a checkpoint after ``epoch`` epochs holds."""
    zeros = lambda x, *lead: np.zeros((*lead, *x.shape), x.dtype)
    return {"state": jax.tree.map(zeros, state_like),
            "history": jax.tree.map(lambda x: zeros(x, epoch), epoch_like),
            "epoch_times": np.zeros((epoch,), np.float64)}


def _restored(epoch: int, tree):
    return (epoch, tree["state"], unstack(tree["history"], epoch),
            [float(t) for t in tree["epoch_times"]])


def _read_npz(file: Path) -> list[np.ndarray]:
    """The leaves saved by :func:`_save_npz`, each read in full (so a
    damaged file fails here, with one of :data:`READ_ERRORS`)."""
    with np.load(file) as f:
        return [f[f"leaf{i}"] for i in range(len(f.files))]


def _fit(leaves: list[np.ndarray], target, file: Path):
    """``leaves`` as the tree ``target``, if their shapes and dtypes fit."""
    like = jax.tree.leaves(target)
    if [(x.shape, x.dtype) for x in leaves] != [(x.shape, x.dtype)
                                                for x in like]:
        raise ValueError(f"checkpoint {str(file)!r} does not fit this group "
                         f"(other shapes or dtypes)")
    return jax.tree.unflatten(jax.tree.structure(target), leaves)


def save_result(path: Path, arrays: dict, meta: dict) -> None:
    """The finished group's arrays and metadata; marks the group done."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    files.write_bytes(path / "result.npz", buf.getvalue())
    files.write_json(path / "done.json", meta)


def finished(path: Path) -> bool:
    """Whether the group checkpointed under ``path`` saved its result."""
    return (path / "done.json").is_file()


def load_result(path: Path, damaged: Callable[[str], None] = _ignore
                ) -> tuple[dict, dict] | None:
    """(arrays, metadata) of the finished group under ``path``, or None
    when it has not finished, or when its result cannot be read: then
    ``damaged`` is called with one line naming the file, and the group is
    resumed from its epoch checkpoints."""
    if not finished(path):
        return None
    file = path / "result.npz"
    try:
        with np.load(file) as f:
            arrays = {k: f[k] for k in f.files}
        file = path / "done.json"
        meta = json.loads(file.read_text())  # a ValueError when damaged
    except READ_ERRORS as e:
        damaged(damage_message(file, e))
        return None
    return arrays, meta


def remove(run_dir: Path) -> None:
    """Delete a finished run's checkpoints (its models and results hold
    everything they had)."""
    shutil.rmtree(Path(run_dir) / CHECKPOINTS_DIR, ignore_errors=True)

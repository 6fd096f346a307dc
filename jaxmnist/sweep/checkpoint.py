"""A run dir's state on disk: its lock, its finished mark, its checkpoints.

**The lock.** The sweep writing into ``RUN`` holds an exclusive ``flock`` on
``RUN/sweep.lock`` for its life, its holder (host, pid, start) written in
it, so a second sweep is refused with one line naming it. The kernel frees
the lock however the process ends, so a lock file whose lock is free names a
dead sweep, and the next one takes it over. Between hosts this needs a file
system that shares locks (NFS; Lustre mounted ``-o flock``). NFS drops the
lock when its process closes any descriptor of the file, so the holder opens
it once. (Not the ``filelock`` package: it opens the file with ``O_TRUNC``
on every try, which would erase the holder's name.)

**Checkpoints.** After every epoch a training group saves its state,
history and epoch times as ``checkpoints/<group>/epochs/<epoch>/state.npz``
(written aside, renamed into place, then all but it and the epoch before
removed): a kill, a full disk or a damaged file leaves an earlier epoch to
resume from, bit for bit (the data order derives from seed and epoch). A
finished group's result is ``result.npz`` and ``done.json``. An npz, not an
orbax step: several times faster to write (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import os
import shutil
import socket
import sys
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, NamedTuple

import jax
import numpy as np

from jaxmnist import files
from jaxmnist.core.dynamics import Dynamics
from jaxmnist.core.train import Metrics
from jaxmnist.results.members import GroupResult, Member
from jaxmnist.sweep.cluster import cluster

# --------------------------------------------------------------------------
# The lock
# --------------------------------------------------------------------------

LOCK_FILE = "sweep.lock"
#: A reader's shared lock lasts a moment: a sweep finding the lock taken
#: tries again for this long before it says who holds it.
RETRY_S = 0.2


class Holder(NamedTuple):
    """Who holds (or last held) a run dir."""
    host: str
    pid: int
    started: str  # local time, to the second

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} (started {self.started})"


#: The holder of a lock file still empty (taken, its name not yet written).
UNKNOWN = Holder("?", 0, "?")


class InUse(ValueError):
    """The run dir is being written by another sweep (one line)."""

    def __init__(self, out: Path, holder: Holder):
        super().__init__(f"{str(out)!r} is in use by {holder.describe()}; "
                         f"wait for it or use another --out")


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def _parse(text: str) -> Holder | None:
    """The holder a lock file names; None when it names none."""
    try:
        d = json.loads(text)
        return Holder(str(d["host"]), int(d["pid"]), str(d["started"]))
    except (ValueError, KeyError, TypeError):
        return None


def read_holder(out: Path) -> Holder | None:
    """The holder ``out``'s lock file names, held or not."""
    try:
        return _parse((Path(out) / LOCK_FILE).read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None


def held_by(out: Path) -> Holder | None:
    """The holder of ``out``'s lock while a live process holds it."""
    try:
        f = open(Path(out) / LOCK_FILE)
    except (FileNotFoundError, NotADirectoryError):
        return None
    with f:
        try:  # a shared lock: readers do not exclude each other
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _parse(f.read()) or UNKNOWN
        except OSError as e:
            raise _no_locks(Path(out) / LOCK_FILE, e) from None
    return None


def check_free(out: Path) -> None:
    """InUse when a live sweep holds ``out``; creates nothing."""
    holder = held_by(out)
    if holder is not None:
        raise InUse(out, holder)


def check_not_in_progress(run_dir: Path) -> None:
    """ValueError (one line) when a live sweep is writing ``run_dir``: for
    the commands that read a run, which must not read half of one."""
    holder = held_by(run_dir)
    if holder is not None:
        raise ValueError(f"{str(run_dir)!r} is a sweep in progress, by "
                         f"{holder.describe()}: its results are partial "
                         f"until it finishes; wait for it")


def _no_locks(path: Path, error: OSError) -> ValueError:
    return ValueError(f"cannot lock {str(path)!r} ({error.strerror}): its "
                      f"file system has no file locks; use an --out on one "
                      f"that has (a local disk, NFS with locking)")


def _same_file(f: IO, path: Path) -> bool:
    """Whether the open ``f`` is still the file at ``path`` (a releasing
    holder removes it: a lock on the removed file holds nothing)."""
    try:
        return os.path.samestat(os.fstat(f.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def _locked(path: Path) -> IO:
    """``path`` opened and exclusively locked (InUse naming its holder)."""
    deadline = time.monotonic() + RETRY_S
    while True:
        f = open(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _parse(f.read()) or UNKNOWN
            f.close()
            if time.monotonic() > deadline:
                raise InUse(path.parent, holder) from None
            time.sleep(0.02)
            continue
        except OSError as e:
            f.close()
            if e.errno in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP):
                raise _no_locks(path, e) from None
            raise
        if _same_file(f, path):
            return f
        f.close()  # removed by its releasing holder meanwhile: again


@contextlib.contextmanager
def held(out: Path) -> Iterator[Holder | None]:
    """Hold ``out`` for the ``with`` block, this process named in its lock
    file; yields the holder a dead sweep's lock file named (noted on
    stderr; its interrupted writes' temporary files, ``.NAME.XXXX.tmp``,
    removed), else None. On leaving, the lock file is removed (if still
    ours) and the lock freed.

    Raises:
      InUse: a live sweep holds ``out``.
    """
    path = Path(out) / LOCK_FILE
    f = _locked(path)
    try:
        stale = _parse(f.read())
        f.seek(0)
        f.truncate()
        me = Holder(socket.gethostname(), os.getpid(), _now())
        f.write(json.dumps(me._asdict()) + "\n")
        f.flush()
        if stale is not None:
            print(f"note: {out} was held by {stale.describe()}, which is no "
                  f"longer running; taking it over", file=sys.stderr)
        for p in Path(out).rglob(".*.tmp"):
            if p.is_file():
                p.unlink(missing_ok=True)
        yield stale
    finally:  # never raises: the error that stopped the sweep counts
        with contextlib.suppress(OSError):
            if _same_file(f, path):
                path.unlink()
        f.close()

# --------------------------------------------------------------------------
# The run dir: finished, its checkpoints
# --------------------------------------------------------------------------

#: Written last: the run dir holds every file of a finished sweep.
FINISHED = "finished.json"
CHECKPOINTS_DIR = "checkpoints"
NPZ_STATE = "state.npz"  # an epoch checkpoint
#: What reading a damaged (truncated, overwritten, emptied) npz raises.
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile,
               zlib.error)


def run_finished(out: Path) -> str | None:
    """When the sweep in ``out`` finished, or None if it has not."""
    try:
        return str(json.loads((Path(out) / FINISHED).read_text())["finished"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def finish(out: Path, keep_checkpoints: bool) -> None:
    """Mark ``out`` finished, then remove its checkpoints unless kept."""
    files.write_json(Path(out) / FINISHED, {
        "finished": _now(),
        "checkpoints": "kept" if keep_checkpoints else "removed"})
    tidy(out, keep_checkpoints)


def tidy(out: Path, keep_checkpoints: bool) -> None:
    """Remove a finished run's checkpoints (again, after a kill during the
    removal) unless kept: its models and results hold everything."""
    if not keep_checkpoints:
        shutil.rmtree(Path(out) / CHECKPOINTS_DIR, ignore_errors=True)


def group_dir(run_dir: Path, name: str) -> Path:
    return Path(run_dir).absolute() / CHECKPOINTS_DIR / name


def stack(results: list):
    """Per-epoch pytrees stacked along a new leading (epoch) axis."""
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]),
                        *results)


def _npz(arrays: dict) -> bytes:
    buf, named = io.BytesIO(), {k: np.asarray(x) for k, x in arrays.items()}
    np.savez(buf, **named)  # type: ignore[arg-type]
    return buf.getvalue()


def _read_npz(file: Path) -> dict:
    """Every array of ``file``, read in full: a damaged file fails here,
    with one of :data:`READ_ERRORS`."""
    with np.load(file) as f:
        return {k: f[k] for k in f.files}


def damage_message(file: Path, error: BaseException) -> str:
    """One line: ``file`` cannot be read, and why."""
    why = " ".join(str(error).split())[:160]
    return (f"cannot read {str(file)!r} ({type(error).__name__}"
            f"{': ' + why if why else ''})")

# --------------------------------------------------------------------------
# Epoch checkpoints
# --------------------------------------------------------------------------

def save_epoch(path: Path, epoch: int, state, history: list,
               epoch_times: list[float]) -> None:
    """Checkpoint after ``epoch`` finished epochs (``history``: one pytree
    per epoch) as ``epochs/<epoch>/state.npz``; an OSError names
    ``epochs/<epoch>``. Processes sharing one ``--out`` each write their own
    temporary folder; one finding the epoch already in place keeps it."""
    tree = {"state": jax.device_get(state), "history": stack(history),
            "epoch_times": np.asarray(epoch_times, np.float64)}
    epochs = path / "epochs"
    mine = ".tmp" if cluster.size == 1 else f".tmp{cluster.index}"
    final, tmp = epochs / str(epoch), epochs / f"{epoch}{mine}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        files.write_bytes(tmp / NPZ_STATE, _npz({
            f"leaf{i}": x for i, x in enumerate(jax.tree.leaves(tree))}))
    except OSError as e:
        raise files.named(e, final) from e
    shutil.rmtree(final, ignore_errors=True)
    try:
        os.replace(tmp, final)
    except OSError as e:
        if not (final / NPZ_STATE).is_file():
            raise files.named(e, final) from e
        shutil.rmtree(tmp, ignore_errors=True)  # another process's, in place
    for old in epochs.iterdir():  # older epochs, this process's leftovers
        if old.name not in (final.name, str(epoch - 1)) and (
                old.name.isdigit() or old.name.endswith(mine)):
            shutil.rmtree(old, ignore_errors=True)


def saved_epochs(path: Path | None) -> list[int]:
    """The epochs checkpointed under ``path``, latest first."""
    epochs = None if path is None else path / "epochs"
    if epochs is None or not epochs.is_dir():
        return []
    return sorted((int(d.name) for d in epochs.iterdir()
                   if d.name.isdigit() and (d / NPZ_STATE).is_file()),
                  reverse=True)


def latest_epoch(path: Path | None) -> int:
    """How many epochs the latest checkpoint under ``path`` holds."""
    return next(iter(saved_epochs(path)), 0)


def restore_epoch(path: Path, state_like, epoch_like,
                  damaged: Callable[[str], None] | None = None):
    """(epoch, host state, history, epoch_times) of the latest readable
    checkpoint, or None. ``state_like`` and ``epoch_like`` (one epoch's
    history entry) give the structures, shapes and dtypes. An unreadable
    checkpoint is passed over for the one before, after ``damaged`` is
    called with a line naming it.

    Raises:
      ValueError: a readable checkpoint holds other shapes or dtypes.
    """
    for epoch in saved_epochs(path):
        file = path / "epochs" / str(epoch) / NPZ_STATE
        try:
            a = _read_npz(file)
            leaves = [a[f"leaf{i}"] for i in range(len(a))]
        except READ_ERRORS as e:
            if damaged is not None:
                damaged(damage_message(file, e))
            continue
        tree = _fitted(leaves, state_like, epoch_like, epoch, file)
        history = [jax.tree.map(lambda x, e=e: np.asarray(x[e]),
                                tree["history"])
                   for e in range(epoch)]
        return (epoch, tree["state"], history,
                [float(t) for t in tree["epoch_times"]])
    return None


def _fitted(leaves: list, state_like, epoch_like, epoch: int, file: Path):
    """``leaves`` as the tree a checkpoint after ``epoch`` epochs holds."""
    ahead = lambda x, *lead: jax.ShapeDtypeStruct((*lead, *x.shape), x.dtype)
    target = {"state": state_like,
              "history": jax.tree.map(lambda x: ahead(x, epoch), epoch_like),
              "epoch_times": jax.ShapeDtypeStruct((epoch,), np.float64)}
    like = jax.tree.leaves(target)
    if [(x.shape, x.dtype) for x in leaves] != [(x.shape, x.dtype)
                                                for x in like]:
        raise ValueError(f"checkpoint {str(file)!r} does not fit this group "
                         f"(other shapes or dtypes)")
    return jax.tree.unflatten(jax.tree.structure(target), leaves)

# --------------------------------------------------------------------------
# A finished group's result
# --------------------------------------------------------------------------

def _layers(prefix: str, layers: list | None) -> dict:
    """``[{"w": w, "b": b}, ...]`` as ``{"params.0.w": w, ...}``."""
    return {f"{prefix}.{i}.{k}": np.asarray(v)
            for i, layer in enumerate(layers or []) for k, v in layer.items()}


def _unlayers(prefix: str, arrays: dict) -> list | None:
    """The inverse of :func:`_layers` (None when there are none)."""
    layers: dict[int, dict] = {}
    for key, value in arrays.items():
        if key.startswith(f"{prefix}."):
            _, i, k = key.split(".", 2)
            layers.setdefault(int(i), {})[k] = value
    return [layers[i] for i in sorted(layers)] or None


def save_result(path: Path, group: GroupResult) -> None:
    """The finished group's arrays (``result.npz``) and metadata
    (``done.json``, written last: it marks the group done)."""
    arrays = {**{f"history.{f}": getattr(group.history, f)
                 for f in Metrics._fields},
              **{f"dynamics.{f}": getattr(group.dynamics, f)
                 for f in Dynamics._fields if group.dynamics is not None},
              **_layers("params", group.params),
              **_layers("stats", group.stats),
              "epoch_seconds": np.asarray(group.epoch_seconds)}
    files.write_bytes(path / "result.npz", _npz(arrays))
    files.write_json(path / "done.json", {
        "members": [list(m) for m in group.members],
        "seconds": group.seconds, "compile_seconds": group.compile_seconds,
        "steps_per_epoch": group.steps_per_epoch})


def load_result(path: Path, damaged: Callable[[str], None] | None = None
                ) -> GroupResult | None:
    """The finished group saved under ``path``, or None when it has not
    finished or its result cannot be read (then ``damaged`` is called with
    a line naming the file)."""
    if not (path / "done.json").is_file():
        return None
    file = path / "result.npz"
    try:
        a = _read_npz(file)
        file = path / "done.json"
        meta = json.loads(file.read_text())  # a ValueError when damaged
        file = path / "result.npz"
        return GroupResult(
            [Member(*m) for m in meta["members"]],
            Metrics(*(a[f"history.{f}"] for f in Metrics._fields)),
            _unlayers("params", a) or [], meta["seconds"],
            meta["compile_seconds"],
            [float(t) for t in a["epoch_seconds"]], meta["steps_per_epoch"],
            Dynamics(*(a[f"dynamics.{f}"] for f in Dynamics._fields))
            if "dynamics.sharpness" in a else None, _unlayers("stats", a))
    except READ_ERRORS as e:
        if damaged is not None:
            damaged(damage_message(file, e))
        return None

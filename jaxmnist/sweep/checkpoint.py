"""A run dir's state on disk: its lock, its finished mark, its checkpoint.

**The lock.** The sweep writing into ``RUN`` holds an exclusive
``fcntl.flock`` on ``RUN/sweep.lock`` for the process's life and writes its
holder there (host, pid, start time), so that a second sweep is refused with
one line naming it. The kernel frees the lock when the process ends, however
it ends (exit, ``kill -9``, the OOM killer): a lock file whose lock is free
names a sweep that no longer runs, and the next sweep takes it over. A sweep
that exits removes the file. ``evaluate``, ``plot``, ``predict`` and
``compare`` refuse a run dir whose lock is held. Between processes of one
host the lock is the kernel's. Between hosts it needs a file system that
shares locks: NFS does (Linux emulates ``flock`` there with byte-range
locks, which the server sees), Lustre when mounted with ``-o flock``. On one
that keeps locks local (NFS mounted ``nolock`` or ``local_lock=all``,
Lustre's ``localflock``) sweeps on two hosts are not kept apart. Because
NFS's emulated lock is dropped when its process closes any descriptor of the
file, the holder never opens the file a second time.

**The run dir.** On taking the lock a sweep removes the temporary files a
killed writer left (``.NAME.XXXX.tmp``: :mod:`jaxmnist.files` writes through
them). When every file of a run is written, ``finished.json`` marks it done
and its checkpoints are removed (unless kept); a finished run is not trained
again.

**Group checkpoint.** While a group trains, its full state (params,
optimizer state, divergence flags), its metrics so far and its epoch timings
are saved at the end of every epoch under
``<run>/checkpoints/<optimizer>/epochs/<epoch>/state.npz`` (the tree's
leaves in one uncompressed npz), written in ``epochs/<epoch>.tmp`` and
renamed into place when complete; only then are the epochs before the
previous one deleted, so a kill or a full disk in the middle of a save
leaves the previous epoch as the latest, and a checkpoint damaged later (a
truncated or corrupted file) still has the epoch before it to fall back to:
an unreadable epoch is reported (one line naming the file) and the next
older one restored, or none. A write that fails raises an OSError naming the
checkpoint. A finished group's result is written there as ``result.npz``
(atomically) and marks the group done; an unreadable result is reported the
same way and the group resumed from its epochs. The data order of every
epoch is derived from the seed and the epoch number, so no RNG state needs
saving: resumed runs continue bit for bit. Every process of a distributed
run writes its own (each with its own ``--out``, or sharing one). An npz is
written rather than an orbax step because it is several times faster to
write, and the sweep writes one an epoch per group (docs/performance.md).
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
from typing import IO, Any, NamedTuple

import jax
import numpy as np

from jaxmnist import files
from jaxmnist.sweep.cluster import cluster

# --------------------------------------------------------------------------
# The lock
# --------------------------------------------------------------------------

LOCK_FILE = "sweep.lock"


class Holder(NamedTuple):
    """Who holds (or last held) a run dir."""
    host: str
    pid: int
    started: str  # local time, to the second

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} (started {self.started})"


#: The holder of a lock whose file is still empty (its holder is between
#: taking the lock and writing its name).
UNKNOWN = Holder("?", 0, "?")


class InUse(ValueError):
    """The run dir is being written by another sweep (one line)."""

    def __init__(self, out: Path, holder: Holder):
        super().__init__(f"{str(out)!r} is in use by {holder.describe()}; "
                         f"wait for it or use another --out")
        self.holder = holder


def me() -> Holder:
    """This process as a lock holder."""
    return Holder(socket.gethostname(), os.getpid(),
                  datetime.now().strftime("%Y-%m-%d %H:%M:%S"))


def _parse(text: str) -> Holder | None:
    """The holder a lock file names; None when it names none (empty, or
    written by something else)."""
    try:
        d = json.loads(text)
        return Holder(str(d["host"]), int(d["pid"]), str(d["started"]))
    except (ValueError, KeyError, TypeError):
        return None


def read_holder(out: Path) -> Holder | None:
    """The holder named by ``out``'s lock file (held or not), None when
    there is none."""
    try:
        return _parse((Path(out) / LOCK_FILE).read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None


def held_by(out: Path) -> Holder | None:
    """The holder of ``out``'s lock while a live process holds it, None
    when it is free (no file, or a file its dead holder left)."""
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
    """ValueError (one line) when a live sweep is writing into ``run_dir``:
    for commands that read a run, which must not read half of one."""
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


#: A reader's shared lock lasts a moment: a sweep finding the lock taken
#: tries again for this long before it says who holds it.
RETRY_S = 0.2


class RunLock:
    """Holds ``out`` for this process: ``with RunLock(out) as stale:``.

    ``stale`` is the holder named by a lock file whose sweep no longer runs,
    taken over (None when there was none).

    Raises:
      InUse: a live sweep holds ``out``.
    """

    def __init__(self, out: Path):
        self.path = Path(out) / LOCK_FILE
        self.holder = me()
        self._file: IO | None = None

    def acquire(self) -> Holder | None:
        f = self._locked()
        stale = _parse(f.read())
        f.seek(0)
        f.truncate()
        f.write(json.dumps(self.holder._asdict()) + "\n")
        f.flush()
        self._file = f
        return stale

    def _locked(self) -> IO:
        """The lock file, open and locked by this process."""
        deadline = time.monotonic() + RETRY_S
        while True:
            f = open(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644),
                     "r+")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _parse(f.read()) or UNKNOWN
                f.close()
                if time.monotonic() > deadline:
                    raise InUse(self.path.parent, holder) from None
                time.sleep(0.02)
                continue
            except OSError as e:
                f.close()
                if e.errno in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise _no_locks(self.path, e) from None
                raise
            if _same_file(f, self.path):
                return f
            f.close()  # removed by its releasing holder meanwhile: again

    def release(self) -> None:
        """Remove the lock file, then free the lock. Never raises: on a
        disk that turned read-only the file stays, and the next sweep takes
        it over (the error that stopped this one is what counts)."""
        f, self._file = self._file, None
        if f is None:
            return
        try:
            if _same_file(f, self.path):
                self.path.unlink()
        except OSError:
            pass
        f.close()

    def __enter__(self) -> Holder | None:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

@contextlib.contextmanager
def held(out: Path) -> Iterator[None]:
    """Hold ``out`` (:class:`RunLock`) for the ``with`` block: a stale
    holder taken over is noted on stderr, and the temporary files of its
    interrupted writes are removed.

    Raises:
      InUse: a live sweep holds ``out``.
    """
    with RunLock(out) as stale:
        if stale is not None:
            print(f"note: {out} was held by {stale.describe()}, which is no "
                  f"longer running; taking it over", file=sys.stderr)
        remove_temporaries(out)
        yield


# --------------------------------------------------------------------------
# The run dir
# --------------------------------------------------------------------------

#: Written last: the run dir holds every file of a finished sweep.
FINISHED = "finished.json"


def remove_temporaries(out: Path) -> int:
    """Delete the temporary files of interrupted atomic writes under
    ``out`` (only while holding its lock); how many there were."""
    stale = [p for p in Path(out).rglob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def run_finished(out: Path) -> str | None:
    """When the sweep in ``out`` finished, or None if it has not."""
    try:
        return str(json.loads((Path(out) / FINISHED).read_text())["finished"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def finish(out: Path, keep_checkpoints: bool) -> None:
    """Mark ``out`` finished, then remove its checkpoints unless kept."""
    files.write_json(Path(out) / FINISHED, {
        "finished": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "checkpoints": "kept" if keep_checkpoints else "removed"})
    tidy(out, keep_checkpoints)


def tidy(out: Path, keep_checkpoints: bool) -> None:
    """Remove a finished run's checkpoints (again, if a kill interrupted
    the removal) unless kept."""
    if not keep_checkpoints:
        remove(out)


# --------------------------------------------------------------------------
# Group checkpoints
# --------------------------------------------------------------------------

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


def _group_done(path: Path) -> bool:
    """Whether the group checkpointed under ``path`` saved its result."""
    return (path / "done.json").is_file()


def load_result(path: Path, damaged: Callable[[str], None] = _ignore
                ) -> tuple[dict, dict] | None:
    """(arrays, metadata) of the finished group under ``path``, or None
    when it has not finished, or when its result cannot be read: then
    ``damaged`` is called with one line naming the file, and the group is
    resumed from its epoch checkpoint."""
    if not _group_done(path):
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

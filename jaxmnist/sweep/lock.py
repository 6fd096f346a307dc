"""One sweep per run dir: an ``flock`` held for the process's life.

The sweep writing into ``RUN`` holds an exclusive ``fcntl.flock`` on
``RUN/sweep.lock`` and writes its holder there (host, pid, start time), so
that a second sweep is refused with one line naming it. The kernel frees
the lock when the process ends, however it ends (exit, ``kill -9``, the OOM
killer): a lock file whose lock is free names a sweep that no longer runs,
and the next sweep takes it over. A sweep that exits removes the file.
``evaluate``, ``plot``, ``predict`` and ``compare`` refuse a run dir whose
lock is held.

Between processes of one host the lock is the kernel's. Between hosts it
needs a file system that shares locks: NFS does (Linux emulates ``flock``
there with byte-range locks, which the server sees), Lustre when mounted
with ``-o flock``. On one that keeps locks local (NFS mounted ``nolock`` or
``local_lock=all``, Lustre's ``localflock``) sweeps on two hosts are not
kept apart. Because NFS's emulated lock is dropped when its process closes
any descriptor of the file, the holder never opens the file a second time.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import IO, NamedTuple

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

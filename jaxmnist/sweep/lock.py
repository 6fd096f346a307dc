"""One sweep per run dir: a lock file naming its holder.

``RUN/sweep.lock`` holds the host, pid and start time of the sweep writing
into ``RUN``. It is created atomically (written in full to a temporary
file, then hard-linked into place, which fails if a lock exists; where the
filesystem has no hard links, ``O_CREAT | O_EXCL``) and removed when the
sweep exits. A lock whose process is gone (same host, and no process with
that pid, or one started at another time) is stale: the next sweep takes it
over. ``evaluate`` and ``plot`` refuse a run dir whose lock is held.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

LOCK_FILE = "sweep.lock"


class Holder(NamedTuple):
    """Who holds a run dir: ``ticks`` is the process's start time in clock
    ticks since boot (Linux), which tells a reused pid from the holder."""
    host: str
    pid: int
    started: str  # local time, to the second
    ticks: int | None = None

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} (started {self.started})"


class InUse(ValueError):
    """The run dir is being written by another sweep (one line)."""

    def __init__(self, out: Path, holder: Holder):
        super().__init__(f"{str(out)!r} is in use by {holder.describe()}; "
                         f"wait for it or use another --out")
        self.holder = holder


def _ticks(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks since boot), or None
    where /proc does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def me() -> Holder:
    """This process as a lock holder."""
    return Holder(socket.gethostname(), os.getpid(),
                  datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
                  _ticks(os.getpid()))


def read_holder(out: Path) -> Holder | None:
    """The holder named by ``out``'s lock, None when there is none."""
    try:
        return _parse((Path(out) / LOCK_FILE).read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None


def _parse(text: str) -> Holder:
    """A lock's holder. A lock that cannot be parsed (its writer died
    before writing it: only possible with O_EXCL) names pid 0 on this host,
    which is never alive."""
    try:
        d = json.loads(text)
        return Holder(str(d["host"]), int(d["pid"]), str(d["started"]),
                      d.get("ticks"))
    except (ValueError, KeyError, TypeError):
        return Holder(socket.gethostname(), 0, "?")


def alive(holder: Holder) -> bool:
    """Whether the holder may still be running: always True for another
    host (we cannot tell)."""
    if holder.host != socket.gethostname():
        return True
    if holder.pid <= 0:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    ticks = _ticks(holder.pid)
    return holder.ticks is None or ticks is None or ticks == holder.ticks


def check_free(out: Path) -> None:
    """InUse when another live sweep holds ``out``; creates nothing."""
    holder = read_holder(out)
    if holder is not None and holder.pid != os.getpid() and alive(holder):
        raise InUse(out, holder)


def check_not_in_progress(run_dir: Path) -> None:
    """ValueError (one line) when a live sweep is writing into ``run_dir``:
    for commands that read a run, which must not read half of one."""
    holder = read_holder(run_dir)
    if holder is not None and alive(holder):
        raise ValueError(f"{str(run_dir)!r} is a sweep in progress, by "
                         f"{holder.describe()}: its results are partial "
                         f"until it finishes; wait for it")


def _create(path: Path, holder: Holder) -> bool:
    """Create the lock at ``path`` holding ``holder``; False if one exists."""
    text = json.dumps(holder._asdict()) + "\n"
    tmp = path.with_name(f".{path.name}.{holder.pid}.tmp")
    tmp.write_text(text)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links here: O_EXCL
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _remove_stale(path: Path, stale: Holder) -> None:
    """Remove the lock at ``path`` if it still names ``stale``: it is
    renamed aside first (atomic), and put back if another sweep took it
    over in the meantime."""
    aside = path.with_name(f".{path.name}.stale.{os.getpid()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return  # another sweep removed it first
    if _parse(aside.read_text()) != stale:
        try:
            os.link(aside, path)  # a fresh lock, not ours to remove
        except FileExistsError:
            pass
    aside.unlink(missing_ok=True)


class RunLock:
    """Holds ``out`` for this process: ``with RunLock(out) as stale:``.

    ``stale`` is the holder of a stale lock that was taken over (None when
    the dir was free).

    Raises:
      InUse: another sweep that may still be running holds ``out``.
    """

    def __init__(self, out: Path):
        self.path = Path(out) / LOCK_FILE
        self.holder = me()

    def acquire(self) -> Holder | None:
        taken_over = None
        for _ in range(10):
            if _create(self.path, self.holder):
                return taken_over
            holder = read_holder(self.path.parent)
            if holder is None:
                continue  # released just now
            if alive(holder):
                raise InUse(self.path.parent, holder)
            _remove_stale(self.path, holder)
            taken_over = holder
        raise InUse(self.path.parent, read_holder(self.path.parent)
                    or self.holder)

    def release(self) -> None:
        """Remove the lock if it is still this process's. Never raises: on a
        disk that turned read-only the lock stays, and the next sweep takes
        it over as stale (the error that stopped this one is what counts)."""
        try:
            if read_holder(self.path.parent) == self.holder:
                self.path.unlink(missing_ok=True)
        except OSError:
            pass

    def __enter__(self) -> Holder | None:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

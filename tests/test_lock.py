"""One sweep per run dir: the lock, its stale cases and its readers."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxmnist.sweep.lock import (
    LOCK_FILE,
    InUse,
    RunLock,
    check_free,
    check_not_in_progress,
    read_holder,
)


def _exited_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


#: A start time for a hand-written lock file.
STARTED = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(0))


def write_lock(folder, **fields):
    holder = {"host": socket.gethostname(), "pid": os.getpid(),
              "started": STARTED, "ticks": None, **fields}
    (folder / LOCK_FILE).write_text(json.dumps(holder))


def test_a_lock_is_taken_released_and_names_its_holder(tmp_path):
    with RunLock(tmp_path) as stale:
        assert stale is None
        holder = read_holder(tmp_path)
        assert holder is not None and holder.pid == os.getpid()
        assert holder.host == socket.gethostname()
        assert not list(tmp_path.glob(".*"))  # no temporary left
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_live_holder_refuses_a_second_sweep(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c",
                                "import time; time.sleep(60)"])
    try:
        write_lock(tmp_path, pid=sleeper.pid)
        message = (rf"'{tmp_path}' is in use by pid {sleeper.pid} on "
                   rf"{socket.gethostname()} \(started {STARTED}\);"
                   rf" wait for it or use another --out")
        with pytest.raises(InUse, match=message):
            check_free(tmp_path)
        with pytest.raises(InUse, match=message):
            RunLock(tmp_path).acquire()
        with pytest.raises(ValueError, match="is a sweep in progress, by "
                           f"pid {sleeper.pid}"):
            check_not_in_progress(tmp_path)
        assert read_holder(tmp_path).pid == sleeper.pid  # left alone
    finally:
        sleeper.kill()
        sleeper.wait()


def test_another_hosts_lock_is_never_taken_over(tmp_path):
    write_lock(tmp_path, host="elsewhere.example", pid=1)
    with pytest.raises(InUse, match="by pid 1 on elsewhere.example"):
        RunLock(tmp_path).acquire()


@pytest.mark.parametrize("how", ["dead pid", "reused pid", "unreadable"])
def test_a_stale_lock_is_taken_over(tmp_path, how):
    if how == "dead pid":
        write_lock(tmp_path, pid=_exited_pid())
    elif how == "reused pid":  # a live pid, but started at another time
        if not Path("/proc/self/stat").is_file():
            pytest.skip("no /proc: process start times unknown")
        write_lock(tmp_path, pid=os.getppid(), ticks=1)
    else:  # its writer died before writing it
        (tmp_path / LOCK_FILE).write_text("")
    check_free(tmp_path)
    check_not_in_progress(tmp_path)
    lock = RunLock(tmp_path)
    stale = lock.acquire()
    assert stale is not None
    assert read_holder(tmp_path) == lock.holder
    lock.release()
    assert not list(tmp_path.iterdir())


def test_release_leaves_another_sweeps_lock(tmp_path):
    lock = RunLock(tmp_path)
    lock.acquire()
    write_lock(tmp_path, pid=_exited_pid())  # someone took it over
    lock.release()
    assert (tmp_path / LOCK_FILE).exists()

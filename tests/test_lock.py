"""One sweep per run dir: the lock, its stale cases and its readers."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from jaxmnist.sweep import checkpoint
from jaxmnist.sweep.checkpoint import (
    LOCK_FILE,
    InUse,
    check_free,
    check_not_in_progress,
    held,
    held_by,
    read_holder,
)

#: A start time for a hand-written lock file.
STARTED = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(0))

#: A process that takes ``argv[1]``'s lock, says so, and sleeps.
HOLD = """
import sys, time
from jaxmnist.sweep.checkpoint import held
with held(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def write_lock(folder, **fields):
    holder = {"host": socket.gethostname(), "pid": os.getpid(),
              "started": STARTED, **fields}
    (folder / LOCK_FILE).write_text(json.dumps(holder))


def hold(folder) -> subprocess.Popen:
    """Another process holding ``folder``'s lock (once this returns)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_a_lock_is_taken_released_and_names_its_holder(tmp_path):
    with held(tmp_path) as stale:
        assert stale is None
        holder = read_holder(tmp_path)
        assert holder is not None and holder.pid == os.getpid()
        assert holder.host == socket.gethostname()
    assert not list(tmp_path.iterdir())  # the file removed, nothing else


@pytest.mark.slow  # another process
def test_a_live_holder_refuses_a_second_sweep_and_its_death_frees_it(
        tmp_path):
    holder = hold(tmp_path)
    try:
        named = read_holder(tmp_path)
        assert named is not None and named.pid == holder.pid
        message = (rf"'{tmp_path}' is in use by pid {holder.pid} on "
                   rf"{socket.gethostname()} \(started {named.started}\);"
                   rf" wait for it or use another --out")
        with pytest.raises(InUse, match=message):
            check_free(tmp_path)
        with pytest.raises(InUse, match=message), held(tmp_path):
            pass
        with pytest.raises(ValueError, match="is a sweep in progress, by "
                           f"pid {holder.pid}"):
            check_not_in_progress(tmp_path)
        assert read_holder(tmp_path) == named  # left alone
    finally:
        holder.kill()  # SIGKILL: no chance to remove its file
        holder.wait()
    assert read_holder(tmp_path) == named
    check_free(tmp_path)  # the kernel freed the lock
    check_not_in_progress(tmp_path)
    with held(tmp_path) as stale:
        assert stale == named
    assert not (tmp_path / LOCK_FILE).exists()


@pytest.mark.parametrize("how", ["dead holder", "another host", "empty"])
def test_a_lock_file_nobody_holds_is_taken_over(tmp_path, how):
    if how == "empty":  # its writer died before writing its name
        (tmp_path / LOCK_FILE).write_text("")
    else:
        write_lock(tmp_path, pid=1, host=("elsewhere.example" if how ==
                                           "another host" else
                                           socket.gethostname()))
    before = read_holder(tmp_path)
    assert held_by(tmp_path) is None
    check_free(tmp_path)
    check_not_in_progress(tmp_path)
    with held(tmp_path) as stale:
        assert stale == before
        now = read_holder(tmp_path)
        assert now is not None and now.pid == os.getpid()
    assert not list(tmp_path.iterdir())


def test_a_lock_held_in_this_process_refuses_another_taker(tmp_path,
                                                           monkeypatch):
    monkeypatch.setattr(checkpoint, "RETRY_S", 0.0)
    with held(tmp_path) as stale:
        assert stale is None
        with pytest.raises(InUse, match=f"by pid {os.getpid()} on "), \
                held(tmp_path):
            pass
    with held(tmp_path) as stale:
        assert stale is None


def test_release_leaves_another_sweeps_lock(tmp_path):
    """A lock file removed by hand while held, and taken by a second sweep:
    the first's release leaves the second's file (and lock) alone."""
    with contextlib.ExitStack() as second:
        with held(tmp_path):
            (tmp_path / LOCK_FILE).unlink()
            assert second.enter_context(held(tmp_path)) is None
            named = read_holder(tmp_path)
        assert read_holder(tmp_path) == named is not None
        with pytest.raises(InUse):
            check_free(tmp_path)
    assert not (tmp_path / LOCK_FILE).exists()

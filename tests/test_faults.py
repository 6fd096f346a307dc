"""Faults a long sweep meets, tried on a tiny real-MNIST sweep through the
command line: SIGTERM, kills at random moments, a second sweep in the same
folder, a stale lock, a full or forbidden disk at each kind of write. Every
interrupted run is resumed to the uninterrupted run's results, bit for bit
(every column but the wall-clock ones).

The subprocesses share one persistent JAX compilation cache, so only the
first compiles (a cached executable computes what a fresh one does).
"""

import json
import os
import random
import re
import signal
import time
from pathlib import Path

import pytest

from helpers import ROOT, csv_rows, start_sweep, wait_for
from helpers import assert_same_run as same_run
from jaxmnist.sweep.checkpoint import read_holder

pytestmark = pytest.mark.integration

ARGS = ["--optimizers", "minibatch_sgd,adam", "--activations", "relu,tanh",
        "--epochs", "4", "--train-subset", "512", "--val-size", "256",
        "--batch-size", "64", "--hidden", "16", "--no-dynamics",
        "--no-progress"]
GROUPS = ("minibatch_sgd-h16", "adam-h16")
TIMEOUT = 120  # seconds, for any one run
KILL_SEED = 1234  # the random kill moments' seed (JAXMNIST_KILL_SEED replays)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("jax_cache")
    return {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


class Sweeper:
    """Starts the tiny sweep in a run dir: the CLI, or tests/inject.py."""

    def __init__(self, mnist_dirs, env):
        self.data = ["--manual-dir", mnist_dirs[0], "--data-dir", mnist_dirs[1]]
        self.env = env

    def argv(self, out, *extra):
        return [*ARGS, *self.data, "--out", str(out), *extra]

    def start(self, out, *extra, inject=()):
        if inject:
            return start_sweep(*inject, *self.argv(out, *extra),
                               env=self.env,
                               script=str(ROOT / "tests" / "inject.py"))
        return start_sweep(*self.argv(out, *extra), env=self.env)

    def run(self, out, *extra, inject=()):
        proc = self.start(out, *extra, inject=inject)
        _, err = proc.communicate(timeout=TIMEOUT)
        return proc.returncode, err


@pytest.fixture(scope="module")
def sweeper(mnist_dirs, env):
    return Sweeper(mnist_dirs, env)


@pytest.fixture(scope="module")
def reference(sweeper, tmp_path_factory):
    """The uninterrupted run; while it runs, a second sweep is started on
    its folder: (run dir, the second's (status, stderr))."""
    out = tmp_path_factory.mktemp("reference") / "run"
    first = sweeper.start(out)
    wait_for(lambda: (out / "sweep.lock").exists(), first, TIMEOUT)
    second = sweeper.run(out)
    _, err = first.communicate(timeout=TIMEOUT)
    assert first.returncode == 0, err[-2000:]
    return out, second


def assert_same_run(a, b):
    """``b`` holds what ``a`` does, bit for bit but the wall-clock seconds,
    with its figures and summary, and nothing a killed writer left behind."""
    same_run(a, b, models=4)
    assert sorted(p.name for p in (b / "figures").iterdir()) == \
        sorted(p.name for p in (a / "figures").iterdir())
    assert (b / "finished.json").is_file() and (b / "summary.md").is_file()
    assert not (b / "checkpoints").exists()
    assert not (b / "sweep.lock").exists()


def test_a_second_sweep_on_a_folder_in_use_is_refused(reference):
    out, (status, err) = reference
    assert status == 2
    assert re.fullmatch(
        rf"jaxmnist\.sweep: error: '{re.escape(str(out))}' is in use by pid "
        rf"\d+ on \S+ \(started [\d-]+ [\d:]+\); wait for it or use another "
        rf"--out\n", err), err
    assert (out / "finished.json").is_file()  # the first finished untouched


def test_sigterm_stops_after_the_epoch_and_resumes(reference, sweeper,
                                                   tmp_path):
    out = tmp_path / "run"
    proc = sweeper.start(out, inject=("sigterm",))  # stops after epoch 2
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 143, err[-2000:]
    assert "SIGTERM: stopping after the epoch in progress" in err
    stopped = re.search(r"interrupted: group adam-h16 stopped after epoch "
                        r"(2) of 4 \(SIGTERM\); finished epochs and groups"
                        r" are saved in (.*)\.\nresume with: (.*)\n", err)
    assert stopped, err
    assert "Traceback" not in err and not (out / "sweep.lock").exists()
    assert (out / "checkpoints" / GROUPS[1] / "epochs" / stopped[1]).is_dir()
    resume = stopped[3].split()
    assert resume[:3] == ["python", "-m", "jaxmnist.sweep"]
    assert resume[3:] == sweeper.argv(out)
    status, err = sweeper.run(out)
    assert status == 0, err[-2000:]
    assert f"resuming adam-h16 from epoch {stopped[1]}" in err
    assert_same_run(reference[0], out)


def test_damaged_checkpoints_fall_back_to_readable_epochs(reference, sweeper,
                                                         tmp_path):
    """Stopped in its second group, then the latest epoch checkpoint of
    that group truncated and the first group's saved result emptied: on
    resume one line names each file and says what the group does instead,
    and the run finishes with the uninterrupted results."""
    out = tmp_path / "run"
    proc = sweeper.start(out, inject=("sigterm",))  # stops after epoch 2
    ck = out / "checkpoints"
    epochs = ck / GROUPS[1] / "epochs"
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 143, err[-2000:]
    saved = sorted(int(d.name) for d in epochs.iterdir() if d.name.isdigit())
    assert saved == [1, 2], saved  # the latest and the one before
    latest = epochs / str(saved[1]) / "state.npz"
    latest.write_bytes(latest.read_bytes()[:100])
    result = ck / GROUPS[0] / "result.npz"
    result.write_bytes(b"")
    status, err = sweeper.run(out)
    assert status == 0 and "Traceback" not in err, err[-2000:]
    lines = err.splitlines()
    assert (f"warning: cannot read {str(result)!r} (EOFError: No data left "
            f"in file); the finished group {GROUPS[0]} resumes from its last "
            f"readable epoch checkpoint (from the start if none)") in lines
    assert [line for line in lines if str(latest) in line] == [
        f"warning: cannot read {str(latest)!r} (BadZipFile: File is not a "
        f"zip file); {GROUPS[1]} falls back to epoch {saved[0]}"], err
    assert f"resuming {GROUPS[1]} from epoch {saved[0]}" in lines
    assert_same_run(reference[0], out)


def test_random_kills_lose_at_most_an_epoch(reference, sweeper, tmp_path):
    """10 SIGKILLs, one after another in one run dir, each in the run that
    resumed the one killed before: half at a random moment (a random time
    after a random number of new files in the run dir, so kills land in
    every phase: checkpoints, models, results, figures), half as soon as a
    new file appears under checkpoints/ (mid-write); then the last resume
    finishes. A run that finds a killed run's lock file takes it over and
    names the killed run.

    The kill moments come from ``KILL_SEED``; a failure prints the seed, and
    ``JAXMNIST_KILL_SEED=<seed>`` replays that sequence of moments."""
    seed = int(os.environ.get("JAXMNIST_KILL_SEED", KILL_SEED))
    rng, out, stale = random.Random(seed), tmp_path / "run", None
    for i in range(11):
        watched = out / "checkpoints" if i % 2 else out
        before = paths_under(watched)
        proc = sweeper.start(out)
        if i < 10:  # the last one finishes
            wait_for_new_paths(watched, before, proc,
                               1 if i % 2 else rng.randint(1, 60))
            time.sleep(0 if i % 2 else rng.uniform(0, 0.3))
            proc.kill()
        stdout, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode in (0, -signal.SIGKILL), (seed, i, err[-2000:])
        if stale is not None and "mnist: " in stdout:  # it took the lock
            assert f"was held by pid {stale} on " in err, (seed, i, err)
        named = read_holder(out)  # None: no file, or killed before naming
        stale = named.pid if named is not None else None
    assert proc.returncode == 0, (seed, err[-2000:])
    assert_same_run(reference[0], out)


def paths_under(folder: Path) -> set[str]:
    """Every path under ``folder`` now (os.walk: folders that vanish while
    it looks, as orbax renames them, are skipped)."""
    return {os.path.join(d, n) for d, dirs, names in os.walk(folder)
            for n in dirs + names}


def wait_for_new_paths(folder, before, proc, count):
    """Until ``count`` paths not in ``before`` are under ``folder`` (or the
    run ends)."""
    t = time.time()
    while proc.poll() is None and time.time() - t < TIMEOUT:
        if len(paths_under(folder) - before) >= count:
            return
        time.sleep(0.002)


def test_a_full_or_forbidden_disk_at_each_kind_of_write(reference, sweeper,
                                                        tmp_path):
    """Each kind of write fails in turn in one run dir (tests/inject.py),
    each failing run resuming the one before: one line naming the file and
    the cause, exit 2, what was saved before intact. Then the last resume
    finishes with the uninterrupted results, keeping its checkpoints; run
    again without --keep-checkpoints it trains nothing and removes them."""
    ref, out = reference[0], tmp_path / "run"
    ck, sgd_only = out / "checkpoints", [
        r for r in csv_rows(ref / "results.csv") if r["optimizer"] != "adam"]
    status, err = sweeper.run(out, inject=("checkpoint", "ENOSPC"))
    assert_disk_error(status, err, sweeper.argv(out),
                      ck / "adam-h16" / "epochs" / "2",
                      "No space left on device")
    assert sorted(os.listdir(ck / "adam-h16" / "epochs")) == ["1", "2.tmp"]
    assert csv_rows(out / "results.csv") == sgd_only
    results = (out / "results.csv").read_bytes()

    status, err = sweeper.run(out, inject=("model", "EACCES"))
    assert "resuming adam-h16 from epoch 1" in err
    assert_disk_error(status, err, sweeper.argv(out), out / "models" /
                      "adam-h16" / "relu" / "lr0.001-seed0" / "params",
                      "Permission denied")
    assert (ck / "adam-h16" / "done.json").is_file()
    assert (out / "results.csv").read_bytes() == results

    status, err = sweeper.run(out, inject=("result", "ENOSPC"))
    assert_disk_error(status, err, sweeper.argv(out), out / "results.csv",
                      "No space left on device")
    assert (out / "results.csv").read_bytes() == results

    status, err = sweeper.run(out, inject=("figure", "EACCES"))
    assert_disk_error(status, err, sweeper.argv(out), out / "figures" /
                      "*.png", "Permission denied")
    assert csv_rows(out / "results.csv") == csv_rows(ref / "results.csv")
    assert not (out / "finished.json").exists()

    status, err = sweeper.run(out, "--keep-checkpoints")
    assert status == 0, err[-2000:]
    assert (ck / "adam-h16" / "done.json").is_file()
    assert json.loads((out / "finished.json").read_text())["checkpoints"] \
        == "kept"
    status, err = sweeper.run(out)
    assert status == 0 and "holds this sweep, finished" in err, err
    assert_same_run(ref, out)


def assert_disk_error(status, err, argv, path, cause):
    """Exit 2 and one line naming ``path`` (a glob) and ``cause``."""
    assert status == 2, err[-2000:]
    lines = [line for line in err.splitlines()
             if line.startswith("jaxmnist.sweep: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    named = re.escape(repr(str(path))).replace(r"\*", "[^/']+")
    assert re.fullmatch(
        rf"jaxmnist\.sweep: error: cannot write {named}: {cause}; everything "
        rf"saved before it is intact; make room \(or make it writable\), then"
        rf" resume with: python -m jaxmnist\.sweep "
        rf"{re.escape(' '.join(argv))}", lines[0]), lines[0]
    assert not (Path(argv[argv.index("--out") + 1]) / "sweep.lock").exists()

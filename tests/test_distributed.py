"""Two processes on 127.0.0.1 run one sweep: the same numbers as one process,
process 0 saving every model; a lost process, a different sweep and a
different process count end in one line, in bounded time.

Each process gets its own --out (as two hosts without a shared disk would):
process 0 writes the result files and the models, process 1 neither.

Tolerance: the member axis is split over the processes' devices, so each
device runs half the cells and the first-layer matmul ``[B, 784] @ [784,
M*128]`` has another ``M``; XLA may block it (and the evaluation's
reductions) differently per shape, so floats agree to ``RTOL`` (1e-5
relative, measured differences are at the 1e-7 level), everything else
exactly.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from helpers import ROOT, TIMING
from jaxmnist.results.members import member_path
from jaxmnist.results.records import HistoryRow, MemberResult, read_csv
from jaxmnist.sweep import store

pytestmark = pytest.mark.integration
RTOL = 1e-5
JAX_ABORT = "JAX distributed service detected fatal errors"
SWEEP = ["--optimizers", "adam", "--activations", "relu,tanh,sigmoid,elu",
         "--epochs", "3", "--train-subset", "512", "--val-size", "500",
         "--no-dynamics", "--no-progress", "--distributed-timeout", "20"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sweep(out: Path, mnist_dirs, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen(
        [sys.executable, "-m", "jaxmnist.sweep",
         str(ROOT / "sweeps/smoke.toml"), "--manual-dir", mnist_dirs[0],
         "--data-dir", mnist_dirs[1], "--out", str(out), *SWEEP, *extra],
        cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def pair(outs, mnist_dirs, extra=((), ()), counts=(2, 2)):
    port = free_port()
    return [sweep(out, mnist_dirs, "--distributed", "--coordinator",
                  f"127.0.0.1:{port}", "--num-processes", str(n),
                  "--process-id", str(i), *more)
            for i, (out, more, n) in enumerate(zip(outs, extra, counts))]


def finish(procs, timeout: float = 300) -> list[tuple[int, str]]:
    out = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
            pytest.fail(f"a sweep process hung: {err[-1500:]}")
        out.append((p.returncode, err))
    return out


def last_line(err: str) -> str:
    return [line for line in err.strip().splitlines() if line][-1]


@pytest.fixture(scope="module")
def single(mnist_dirs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single") / "run"
    ((code, err),) = finish([sweep(out, mnist_dirs)])
    assert code == 0, err[-2000:]
    return out


def assert_same_results(got: Path, want: Path) -> None:
    for name, kind in (("results.csv", MemberResult),
                       ("history.csv", HistoryRow)):
        g, w = read_csv(got / name, kind), read_csv(want / name, kind)
        assert len(g) == len(w)
        for a, b in zip(g, w):
            for k, wv in b._asdict().items():
                if k in TIMING:
                    continue
                if isinstance(wv, float):
                    np.testing.assert_allclose(getattr(a, k), wv, rtol=RTOL,
                                               atol=1e-7, err_msg=k)
                else:
                    assert getattr(a, k) == wv, (name, k)


def assert_models_in_process_0(outs, single: Path, load: bool = False
                               ) -> None:
    """Every member is saved by process 0 only; with ``load``, its
    parameters equal the single process's."""
    for m in read_csv(single / "results.csv", MemberResult):
        assert (member_path(outs[0], m) / "metadata.json").is_file()
        assert not member_path(outs[1], m).exists()
        if load:
            got, _ = store.load_model(member_path(outs[0], m))
            want, _ = store.load_model(member_path(single, m))
            for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
                np.testing.assert_allclose(x, y, rtol=RTOL, atol=1e-6)


@pytest.fixture(scope="module")
def two(mnist_dirs, tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("two")
    outs = [base / "p0", base / "p1"]
    for code, err in finish(pair(outs, mnist_dirs)):
        assert code == 0, err[-2000:]
    return outs


def test_two_processes_equal_one(two, single):
    assert_same_results(two[0], single)
    assert not (two[1] / "results.csv").exists()  # process 0 writes them
    assert_models_in_process_0(two, single)


def test_process_0_saves_loadable_models(two, single):
    assert_models_in_process_0(two, single, load=True)


def test_a_killed_process_ends_the_other_and_a_rerun_resumes(
        single, mnist_dirs, tmp_path):
    outs = [tmp_path / "p0", tmp_path / "p1"]
    procs = pair(outs, mnist_dirs)
    epochs = outs[0] / "checkpoints" / "adam" / "epochs"
    deadline = time.monotonic() + 240
    while not epochs.is_dir() and procs[0].poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    procs[1].send_signal(signal.SIGKILL)
    t = time.monotonic()
    ((code, err),) = finish(procs[:1], timeout=60)
    assert time.monotonic() - t < 60
    # one line when it meets the loss in a collective (gloo: connection
    # reset); busy elsewhere, JAX's heartbeat check aborts it with its log
    assert code != 0 and ("error:" in last_line(err) or JAX_ABORT in err), \
        err[-2000:]
    finish(procs[1:])
    for code, err in finish(pair(outs, mnist_dirs)):  # resumes
        assert code == 0, err[-2000:]
    assert_same_results(outs[0], single)
    assert_models_in_process_0(outs, single)


def test_a_different_sweep_is_refused(mnist_dirs, tmp_path):
    procs = pair([tmp_path / "p0", tmp_path / "p1"], mnist_dirs,
                 extra=((), ("--epochs", "2")))
    for code, err in finish(procs, timeout=120):
        assert code == 2
        assert "process 1 runs a different sweep" in last_line(err), err


def test_a_different_process_count_is_refused(mnist_dirs, tmp_path):
    procs = pair([tmp_path / "p0", tmp_path / "p1"], mnist_dirs,
                 counts=(2, 3))
    for code, err in finish(procs, timeout=120):
        assert code == 2
        assert "process 1 runs a different sweep" in last_line(err), err

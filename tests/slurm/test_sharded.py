"""The sweep on a real Slurm: an array of shards and its merge, a cancelled
and resubmitted task, and --distributed as one two-task srun step.

Each job runs examples/slurm/ as a user would (submit.sh, sweep-array.sbatch,
merge.sbatch, distributed.sbatch) with this interpreter and the real MNIST
(sweeps/smoke.toml, skipped without it), and the result is compared with
the same sweep run by one process (the ``smoke_run`` fixture).

Tolerance: the smoke sweep has two groups; three shards cut one of them
(minibatch_sgd) into two one-cell pieces, which changes the first layer's
matmul shapes, so that group's floats agree to float32 rounding (``RTOL``;
a piece equals the whole group in float64, tests/test_shards_run.py), the
other group (adam, a whole shard: the same program) exactly. The
distributed run splits the members over two processes' devices: it runs
tests/test_distributed.py's sweep, compared to its tolerance (1e-5).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cluster import NEVER, Slurm

from helpers import ROOT
from jaxmnist.results.records import (
    CellResult,
    HistoryRow,
    MemberResult,
    read_csv,
    setup_label,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]
EXAMPLES = ROOT / "examples" / "slurm"
SMOKE = str(ROOT / "sweeps" / "smoke.toml")
TIMEOUT = 900  # seconds for an array and its merge on a loaded two-core host
RTOL = 1e-6
TIMING = {"seconds", "target_seconds", "target_seconds_mean"}
#: tests/test_distributed.py's sweep (4 cells: 2 per process).
DISTRIBUTED_SWEEP = ["--optimizers", "adam", "--activations",
                     "relu,tanh,sigmoid,elu", "--epochs", "3",
                     "--train-subset", "512", "--val-size", "500",
                     "--no-dynamics"]
TABLES = (("results.csv", MemberResult), ("cells.csv", CellResult),
          ("history.csv", HistoryRow))


@pytest.fixture
def job_env(mnist_dirs) -> tuple[dict[str, str], list[str]]:
    """(the jobs' environment, the sweep's data options)."""
    env = {"JAXMNIST_PYTHON": sys.executable, "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join(
               filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return env, ["--manual-dir", mnist_dirs[0], "--data-dir", mnist_dirs[1]]


def assert_same_run(got: Path, want: Path, rtol: float,
                    exact: tuple[str, ...] = ()) -> None:
    """The result tables of two runs: every key column equal, floats to
    ``rtol`` (exactly for the groups named in ``exact``), timings aside."""
    for name, kind in TABLES:
        g, w = read_csv(got / name, kind), read_csv(want / name, kind)
        assert len(g) == len(w), name
        for a, b in zip(g, w):
            tol = 0.0 if setup_label(b) in exact else rtol
            for k, wv in b._asdict().items():
                if k in TIMING:
                    continue
                if isinstance(wv, float):
                    np.testing.assert_allclose(getattr(a, k), wv, rtol=tol,
                                               atol=0 if tol == 0 else 1e-7,
                                               err_msg=f"{name} {k}")
                else:
                    assert getattr(a, k) == wv, (name, k)


def log_of(tmp_path: Path, pattern: str) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:]
                     for p in sorted(tmp_path.glob(pattern)))


def submit_array(slurm: Slurm, tmp_path: Path, job_env, run: Path
                 ) -> tuple[str, str]:
    env, data = job_env
    out = slurm.command(str(EXAMPLES / "submit.sh"), SMOKE, str(run), "3",
                        *data, cwd=tmp_path, env=env)
    array, merge = out.split()[1::2]
    return array, merge


def test_an_array_of_shards_and_its_merge_equal_one_process(
        slurm: Slurm, tmp_path, job_env, smoke_run):
    run = tmp_path / "run"
    array, merge = submit_array(slurm, tmp_path, job_env, run)
    states = slurm.wait(merge, TIMEOUT)
    assert states == {merge: "COMPLETED"}, log_of(tmp_path, "*.out")
    assert slurm.wait(array, 60) == {
        f"{array}_{i}": "COMPLETED" for i in range(3)}
    assert sorted(p.name for p in (run / "shards").iterdir()) == [
        "0-of-3", "1-of-3", "2-of-3"]
    assert_same_run(run, smoke_run[0], RTOL, exact=("adam",))
    assert (run / "summary.md").is_file() and (run / "figures").is_dir()


def test_a_cancelled_task_resubmitted_then_merged_equals_one_process(
        slurm: Slurm, tmp_path, job_env, smoke_run):
    """Task 1 is cancelled once it trains; the merge then waits for good,
    says which shard is missing when run by hand, and completes once the
    resubmitted task has finished its shard."""
    env, data = job_env
    run = tmp_path / "run"
    array, merge = submit_array(slurm, tmp_path, job_env, run)
    task = f"{array}_1"
    slurm.wait_running(task, TIMEOUT)
    shard = run / "shards" / "1-of-3"
    wait_for(lambda: (shard / "shard.json").is_file(), TIMEOUT)
    slurm.cancel(task)
    states = slurm.wait(array, TIMEOUT)
    assert states[task] == "CANCELLED", states
    assert slurm.wait(merge, 60) == {merge: NEVER}
    assert not (shard / "finished.json").exists()

    by_hand = slurm.submit(["--wrap", f"{sys.executable} -m jaxmnist.merge "
                            f"{run}"], "--output=by-hand.out", cwd=tmp_path,
                           env=env)
    assert slurm.wait(by_hand, TIMEOUT) == {by_hand: "FAILED"}
    assert "shard(s) 1 of 3 unfinished: resubmit array task(s) 1 " in (
        tmp_path / "by-hand.out").read_text()
    assert not (run / "results.csv").exists()

    again = slurm.submit([str(EXAMPLES / "sweep-array.sbatch"), SMOKE,
                          str(run), "3", *data], "--array=1", cwd=tmp_path,
                         env=env)
    slurm.command("scontrol", "update", f"JobId={merge}",
                  f"Dependency=afterok:{again}")
    assert slurm.wait(merge, TIMEOUT) == {merge: "COMPLETED"}, log_of(
        tmp_path, "*.out")
    assert_same_run(run, smoke_run[0], RTOL, exact=("adam",))


def test_distributed_runs_as_one_two_task_srun_step(slurm: Slurm, tmp_path,
                                                   job_env):
    """distributed.sbatch on this one node as two tasks: srun starts two
    processes, JAX's Slurm detection joins them, and the run equals one
    process's (tests/test_distributed.py's sweep and tolerance)."""
    env, data = job_env
    run, single = tmp_path / "run", tmp_path / "single"
    reference = subprocess.Popen(
        [sys.executable, "-m", "jaxmnist.sweep", SMOKE, "--out", str(single),
         *data, *DISTRIBUTED_SWEEP], env={**os.environ, **env}, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    job = slurm.submit([str(EXAMPLES / "distributed.sbatch"), SMOKE,
                        str(run), *data, *DISTRIBUTED_SWEEP], "--nodes=1",
                       "--ntasks-per-node=2", cwd=tmp_path, env=env)
    assert slurm.wait(job, TIMEOUT) == {job: "COMPLETED"}, log_of(
        tmp_path, "*.out")
    _, err = reference.communicate(timeout=TIMEOUT)
    assert reference.returncode == 0, err[-2000:]
    text = log_of(tmp_path, f"jaxmnist-distributed-{job}.out")
    assert text.count(f"output {run}") == 2, text  # each process's line
    assert_same_run(run, single, 1e-5)


def wait_for(condition, timeout: float) -> None:
    """Poll ``condition`` until true; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.2)

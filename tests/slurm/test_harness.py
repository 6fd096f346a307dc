"""The test Slurm itself: arrays, dependencies, cancel and resubmit, srun.

These are the scheduler behaviours the sharded sweep relies on, checked on
the private cluster of cluster.py (skipped with the reason where it cannot
run: no root, no apt-get).
"""

import re
import sys
from pathlib import Path

import pytest
from cluster import NEVER, Slurm

pytestmark = pytest.mark.slow
TIMEOUT = 180  # seconds for one job, generous for a loaded two-core host
TASK_1_WAITS = (  # task 1 sleeps until cancelled, unless resubmitted
    'if [ "$SLURM_ARRAY_TASK_ID" = 1 ] && [ -z "$RESUBMITTED" ]; '
    "then sleep 300; fi; ")
ECHO_TASK = "echo $SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT"


def read(path: Path) -> list[str]:
    return path.read_text().splitlines()


def finished(slurm: Slurm, job: str, expected: dict[str, str]) -> None:
    states = slurm.wait(job, TIMEOUT)
    assert states == expected, slurm.logs()


def test_array_tasks_see_their_index_and_count(slurm, tmp_path):
    job = slurm.submit(["--wrap", ECHO_TASK], "--array=0-2",
                       f"--output={tmp_path}/%a.out", cwd=tmp_path)
    done = {f"{job}_{i}": "COMPLETED" for i in range(3)}
    finished(slurm, job, done)
    assert [read(tmp_path / f"{i}.out") for i in range(3)] == [
        ["0 3"], ["1 3"], ["2 3"]]
    assert slurm.completed(job) == done  # the record sacct -c reads


def test_dependent_job_starts_after_the_whole_array(slurm, tmp_path):
    array = slurm.submit(["--wrap", f"sleep 1; {ECHO_TASK}"], "--array=0-2",
                         f"--output={tmp_path}/%a.out", cwd=tmp_path)
    merge = slurm.submit(["--wrap", "cat 0.out 1.out 2.out"],
                         f"--dependency=afterok:{array}",
                         f"--output={tmp_path}/merge.out", cwd=tmp_path)
    finished(slurm, merge, {merge: "COMPLETED"})
    assert read(tmp_path / "merge.out") == ["0 3", "1 3", "2 3"]


def test_cancelled_task_is_resubmitted_and_the_merge_then_runs(
        slurm, tmp_path):
    task = ["--wrap", TASK_1_WAITS + ECHO_TASK]
    array = slurm.submit(task, "--array=0-2", f"--output={tmp_path}/%a.out",
                         cwd=tmp_path)
    merge = slurm.submit(["--wrap", "cat 0.out 1.out 2.out"],
                         f"--dependency=afterok:{array}",
                         f"--output={tmp_path}/merge.out", cwd=tmp_path)
    slurm.wait_running(f"{array}_1", TIMEOUT)
    slurm.cancel(f"{array}_1")
    finished(slurm, array, {f"{array}_0": "COMPLETED",
                            f"{array}_1": "CANCELLED",
                            f"{array}_2": "COMPLETED"})
    finished(slurm, merge, {merge: NEVER})

    again = slurm.submit(task, "--array=1", "--export=ALL,RESUBMITTED=1",
                         f"--output={tmp_path}/%a.out", cwd=tmp_path)
    slurm.command("scontrol", "update", f"JobId={merge}",
                  f"Dependency=afterok:{again}")
    finished(slurm, merge, {merge: "COMPLETED"})
    # A resubmitted task is an array of one: its count is 1, not 3.
    assert read(tmp_path / "merge.out") == ["0 3", "1 1", "2 3"]


def step_lines(slurm: Slurm, tmp_path: Path, program: str) -> list[str]:
    """The sorted output lines of a 2-task srun step running `program`."""
    job = slurm.submit(
        ["--wrap", f"srun {sys.executable} -c '{program}'"], "--ntasks=2",
        f"--output={tmp_path}/step.out", cwd=tmp_path)
    finished(slurm, job, {job: "COMPLETED"})
    text = (tmp_path / "step.out").read_text()
    return sorted(re.findall(r"^rank .*$", text, re.MULTILINE))


def test_srun_starts_two_ranked_tasks(slurm, tmp_path):
    program = 'import os; print("rank", os.environ["SLURM_PROCID"])'
    assert step_lines(slurm, tmp_path, program) == ["rank 0", "rank 1"]


def test_jax_distributed_detects_the_srun_step(slurm, tmp_path):
    program = (
        "import jax, jax.numpy as jnp\n"
        "from jax.experimental import multihost_utils\n"
        "jax.distributed.initialize()\n"
        "ranks = multihost_utils.process_allgather("
        "jnp.array([jax.process_index()]))\n"
        'print("rank", jax.process_index(), jax.process_count(), '
        "ranks.ravel().tolist())\n")
    assert step_lines(slurm, tmp_path, program) == [
        "rank 0 2 [0, 1]", "rank 1 2 [0, 1]"]

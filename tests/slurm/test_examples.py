"""examples/slurm/ submitted for real with a stand-in for Python.

JAXMNIST_PYTHON points at a script that prints its Slurm rank and its
arguments, so these tests check the scripts' wiring (array, shard argument,
dependent merge, srun over tasks) without running a sweep.
"""

import subprocess
from pathlib import Path

import pytest
from cluster import Slurm

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "slurm"
SCRIPTS = sorted(EXAMPLES.glob("*.sbatch")) + [EXAMPLES / "submit.sh"]
TIMEOUT = 180  # seconds for one job, generous for a loaded two-core host


@pytest.fixture
def python(tmp_path: Path) -> dict[str, str]:
    """The environment that makes the scripts call an echoing stand-in."""
    stand_in = tmp_path / "python"
    stand_in.write_text('#!/bin/sh\necho "rank=$SLURM_PROCID $*"\n')
    stand_in.chmod(0o755)
    return {"JAXMNIST_PYTHON": str(stand_in)}


def log(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines()
            if line.startswith(("rank=", "error:"))]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses(script):
    subprocess.run(["bash", "-n", script], check=True)


@pytest.mark.slow
def test_submit_runs_every_shard_then_the_merge(slurm: Slurm, tmp_path,
                                                python):
    out = slurm.command(str(EXAMPLES / "submit.sh"), "smoke.toml", "run",
                        "3", "--manual-dir", "data", cwd=tmp_path, env=python)
    array, merge = out.split()[1::2]
    assert slurm.wait(merge, TIMEOUT) == {merge: "COMPLETED"}, slurm.logs()
    assert slurm.wait(array, TIMEOUT) == {
        f"{array}_{i}": "COMPLETED" for i in range(3)}
    for i in range(3):
        assert log(tmp_path / f"jaxmnist-shard-{array}_{i}.out") == [
            f"rank=0 -m jaxmnist.sweep smoke.toml --out run --shard {i}/3 "
            "--no-progress --manual-dir data"]
    assert log(tmp_path / f"jaxmnist-merge-{merge}.out") == [
        "rank=0 -m jaxmnist.merge run"]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "expected", "state"), [
    (["3"], "rank=0 -m jaxmnist.sweep c --out r --shard 1/3 --no-progress",
     "COMPLETED"),
    ([], "error: array 1-1 is not a whole sweep 0..N-1: give N as the third "
     "argument", "FAILED"),
    (["1"], "error: shard 1/1: N must be an integer above the task index "
     "(0..N-1)", "FAILED"),
], ids=["given", "missing", "too-small"])
def test_resubmitted_task_needs_the_shard_count(slurm: Slurm, tmp_path, python,
                                                args, expected, state):
    job = slurm.submit([str(EXAMPLES / "sweep-array.sbatch"), "c", "r", *args],
                       "--array=1", cwd=tmp_path, env=python)
    assert slurm.wait(job, TIMEOUT) == {f"{job}_1": state}
    assert log(tmp_path / f"jaxmnist-shard-{job}_1.out") == [expected]


@pytest.mark.slow
def test_distributed_starts_one_process_per_task(slurm: Slurm, tmp_path,
                                                 python):
    # One node here: the script's two nodes become two tasks on one.
    job = slurm.submit([str(EXAMPLES / "distributed.sbatch"), "c", "r"],
                       "--nodes=1", "--ntasks-per-node=2", cwd=tmp_path,
                       env=python)
    assert slurm.wait(job, TIMEOUT) == {job: "COMPLETED"}, slurm.logs()
    assert sorted(log(tmp_path / f"jaxmnist-distributed-{job}.out")) == [
        f"rank={rank} -m jaxmnist.sweep c --out r --distributed --no-progress"
        for rank in (0, 1)]

"""A private one-node Slurm for tests: start, submit, wait, cancel, stop.

`start(state_dir)` runs start.sh beside this file (which installs Debian's
slurm-wlm and munge when missing) and returns a `Slurm` whose commands all
talk to that cluster through `SLURM_CONF`; where Slurm cannot run (no root,
no apt-get, no packages) it raises `Unavailable` with the reason, for
`pytest.skip`. Job states come from `squeue --states=all` (the cluster keeps
finished jobs for `MinJobAge` seconds) and, for jobs it no longer holds, from
the job-completion file that `sacct -c` reads.
"""

import os
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNAVAILABLE_STATUS = 3  # start.sh's exit status where Slurm cannot run

# squeue's %T for a job that will not change state on its own.
TERMINAL = frozenset({
    "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED",
    "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT",
})
# A pending job whose dependency failed (an afterok job was cancelled or
# failed) waits forever unless its dependency is updated; `wait` reports it
# with this state instead of waiting out its timeout.
NEVER = "DEPENDENCY_NEVER_SATISFIED"


class Unavailable(Exception):
    """Slurm cannot run on this machine; str() is the one-line reason."""


class Slurm:
    """Commands against the cluster that start.sh runs in `state_dir`."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.conf = state_dir / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def command(self, *args: str, timeout: float = 60,
                cwd: Path | None = None,
                env: dict[str, str] | None = None) -> str:
        """Run a Slurm client command (sinfo, scontrol, srun...), or a
        script calling them, with `env` added to the environment: stdout."""
        proc = subprocess.run(
            args, env={**self.env, **(env or {})}, cwd=cwd,
            capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} exited {proc.returncode}: "
                f"{proc.stderr.strip()}")
        return proc.stdout

    def submit(self, job: str | Path | Sequence[str], *options: str,
               cwd: Path | None = None,
               env: dict[str, str] | None = None) -> str:
        """sbatch a script file (str or Path) or sbatch arguments (a list:
        ["--wrap", "echo hi"], [script, its arguments...]) with `options`
        first; the job id.

        The job runs in `cwd` (sbatch's default working directory is the
        one it was called from) with this process's environment plus `env`.
        """
        args = [str(job)] if isinstance(job, str | Path) else list(job)
        out = self.command("sbatch", "--parsable", *options, *args, cwd=cwd,
                           env=env)
        return out.strip().split(";")[0]

    def states(self, job_id: str) -> dict[str, str]:
        """{job or array task id: state} for `job_id` ("12", "12_1")."""
        proc = subprocess.run(
            ["squeue", "-h", "--states=all", "-j", job_id, "-o", "%i %T %r"],
            env=self.env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0 and "Invalid job id" not in proc.stderr:
            raise RuntimeError(f"squeue -j {job_id}: {proc.stderr.strip()}")
        rows = [(line.split(None, 2) + ["", ""])[:3]
                for line in proc.stdout.splitlines()]
        if not rows:  # ended longer than MinJobAge ago
            return self.completed(job_id)
        return {
            task: NEVER if (state, reason) == (
                "PENDING", "DependencyNeverSatisfied") else state
            for task, state, reason in rows}

    def completed(self, job_id: str) -> dict[str, str]:
        """{job or array task id: state} from the job-completion file."""
        found = {}
        path = self.state_dir / "jobcomp.txt"
        text = path.read_text() if path.exists() else ""
        for line in text.splitlines():
            fields = dict(re.findall(r"(?:^| )(\w+)=(\S*)", line))
            array_job = fields.get("ArrayJobId")
            task = (f"{array_job}_{fields['ArrayTaskId']}" if array_job
                    else fields["JobId"])
            if job_id in (fields["JobId"], array_job, task):
                found[task] = fields["JobState"]
        if not found:
            raise ValueError(f"job {job_id!r} is unknown to {self.conf}")
        return found

    def wait(self, job_id: str, timeout: float) -> dict[str, str]:
        """Poll until every task of `job_id` has ended (or can never start,
        `NEVER`); their states. TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.states(job_id)
            if all(s in TERMINAL or s == NEVER for s in states.values()):
                return states
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"job {job_id} not finished after {timeout} s: {states}")
            time.sleep(0.5)

    def wait_running(self, job_id: str, timeout: float) -> None:
        """Poll until job or task `job_id` runs; TimeoutError if it ended
        or did not start within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (states := self.states(job_id)) != {job_id: "RUNNING"}:
            if time.monotonic() > deadline or TERMINAL & {*states.values()}:
                raise TimeoutError(f"job {job_id} not running: {states}")
            time.sleep(0.2)

    def cancel(self, job_id: str) -> None:
        """scancel a job, or one array task ("12_1"); returns at once."""
        self.command("scancel", job_id)

    def stop(self) -> None:
        """Cancel every job and stop the daemons (stop.sh); logs stay."""
        subprocess.run([HERE / "stop.sh", self.state_dir], check=True,
                       timeout=120)

    def logs(self, lines: int = 20) -> str:
        """The last `lines` of each daemon's log, for failure messages."""
        return "\n".join(
            f"== {log.name}\n" + "\n".join(
                log.read_text(errors="replace").splitlines()[-lines:])
            for log in sorted((self.state_dir / "log").glob("*.log")))


def start(state_dir: Path, timeout: float = 900) -> Slurm:
    """Start (or find running) the cluster in `state_dir`, installing the
    packages first when missing; `Unavailable` where Slurm cannot run.

    `timeout` covers a first install from the network.
    """
    proc = subprocess.run(
        [HERE / "start.sh", state_dir], capture_output=True, text=True,
        timeout=timeout)
    reason = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    if proc.returncode == UNAVAILABLE_STATUS:
        raise Unavailable(reason)
    slurm = Slurm(Path(state_dir).resolve())
    if proc.returncode != 0:
        raise RuntimeError(f"start.sh failed: {reason}\n{slurm.logs()}")
    return slurm

"""What every benchmark script shares: timing side by side, and the record
of where a figure comes from (command, commit, date, machine, load)."""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def alternating(fns: dict, rounds: int) -> dict:
    """Time callables side by side: each is called once (warm-up), then
    ``rounds`` rounds call each in turn, so that a busy machine slows them
    alike. ``{name: [seconds per round]}``, results awaited."""
    for fn in fns.values():
        jax.block_until_ready(fn())
    times: dict = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - start)
    return times


def median_ratio(numerators: list[float], denominators: list[float]
                 ) -> float:
    """The median over rounds of one time over another."""
    return statistics.median(a / b for a, b in zip(numerators, denominators))


def compiled(fn, *args):
    """``(compiled program, seconds to lower and compile it)``."""
    start = time.perf_counter()
    program = jax.jit(fn).lower(*args).compile()
    return program, time.perf_counter() - start


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """HEAD's commit, with ``-dirty`` when tracked files differ from it."""
    run = lambda *a: subprocess.run(["git", *a], cwd=ROOT, text=True,
                                    capture_output=True).stdout.strip()
    head = run("rev-parse", "HEAD") or "unknown"
    return head + ("-dirty" if run("status", "--porcelain",
                                   "--untracked-files=no") else "")


def provenance(module: str, argv: list[str]) -> dict:
    """Where the figures come from: the command, commit, date (UTC),
    machine and the load average as the measurement starts."""
    device = jax.devices()[0]
    return {"command": " ".join(["python -m", module, *argv]),
            "commit": git_commit(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(
                timespec="seconds"),
            "machine": {"cpu": cpu_name(), "cpu_count": os.cpu_count(),
                        "device": str(device), "platform": device.platform,
                        "device_count": jax.device_count(),
                        "jax": jax.__version__,
                        "python": sys.version.split()[0]},
            "load_average": list(os.getloadavg())}


def write_record(path: Path, record: dict) -> None:
    """The record as indented JSON (the folder made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")

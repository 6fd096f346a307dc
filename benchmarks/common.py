"""What every benchmark script shares: timing side by side, and the record
of where a figure comes from (command, commit, date, machine, load)."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import jax

from jaxmnist import bench

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def alternating(fns: dict, rounds: int) -> dict:
    """Time callables side by side: each is called once (warm-up), then
    ``rounds`` rounds call each in turn, so that a busy machine slows them
    alike. ``{name: [wall seconds per round]}``, results awaited; the CPU
    seconds of this process (every thread) per round, which other jobs on
    the machine slow far less, are under ``"cpu"``."""
    for fn in fns.values():
        jax.block_until_ready(fn())
    times: dict = {name: [] for name in fns}
    times["cpu"] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start, cpu = time.perf_counter(), time.process_time()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - start)
            times["cpu"][name].append(time.process_time() - cpu)
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


def provenance(module: str, argv: list[str]) -> dict:
    """Where the figures come from: the command, commit, date (UTC),
    machine and the load average as the measurement starts (as the
    library's bench records them)."""
    return {**bench.provenance(argv),
            "command": " ".join(["python -m", module, *argv])}


def write_record(path: Path, record: dict) -> None:
    """The record as indented JSON (the folder made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def parser(module: str, doc: str | None, record: str
           ) -> argparse.ArgumentParser:
    """The argument parser of ``python -m <module>`` with the options every
    real-data benchmark takes: ``--manual-dir`` and ``--out`` (default
    ``benchmarks/results/<record>``)."""
    p = argparse.ArgumentParser(prog=f"python -m {module}",
                                description=(doc or "").split("\n")[0])
    p.add_argument("--manual-dir", default=None)
    p.add_argument("--out", default=str(RESULTS / record))
    return p


def publish(out: str, record: dict, text: str) -> None:
    """Write ``record`` to ``out`` and print ``text`` with the load average
    the measurement started at."""
    write_record(Path(out), record)
    print(text)
    print(f"(load {record['load_average'][0]:.2f}) -> {out}")

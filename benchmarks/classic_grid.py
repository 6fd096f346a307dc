"""The classic grid end to end, as a user runs it: wall seconds.

Each run is a fresh ``python -m jaxmnist.sweep sweeps/classic.toml
--no-dynamics --no-progress`` into a temporary folder (so a run resumes
nothing); ``--runs N`` times it N times in a row.

    python -m benchmarks.classic_grid [--runs 1] [--manual-dir DIR]
        [--out FILE] [-- EXTRA SWEEP OPTIONS]

writes ``benchmarks/results/classic_grid.json`` (command, commit, date,
machine, seconds of each run).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import common


def sweep_seconds(command: list[str]) -> float:
    """Wall seconds of one sweep ``command`` into a fresh folder."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([*command, "--out", str(Path(tmp) / "classic")],
                       check=True, capture_output=True, text=True)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m benchmarks.classic_grid",
                                description=(__doc__ or "").split("\n")[0])
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--manual-dir", default=None)
    p.add_argument("--out", default=str(common.RESULTS / "classic_grid.json"))
    p.add_argument("extra", nargs="*", help="more sweep options")
    args = p.parse_args(argv)
    command = [sys.executable, "-m", "jaxmnist.sweep",
               str(common.ROOT / "sweeps" / "classic.toml"), "--no-dynamics",
               "--no-progress", *args.extra]
    if args.manual_dir is not None:
        command += ["--manual-dir", args.manual_dir]
    record = common.provenance("benchmarks.classic_grid", argv)
    record["sweep_command"] = " ".join(["python", *command[1:]])
    record["seconds"] = [sweep_seconds(command) for _ in range(args.runs)]
    common.write_record(Path(args.out), record)
    print("classic grid end to end: " + ", ".join(
        f"{s:.1f} s" for s in record["seconds"]) + f" -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

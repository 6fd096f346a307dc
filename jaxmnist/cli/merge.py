"""``python -m jaxmnist.merge RUN``: a sharded sweep's shards as one run.

Checks that every shard under ``RUN/shards/`` finished the same sweep, then
writes RUN's results, tables, models, figures, summary.md and TensorBoard
runs as one process running the whole sweep would. A missing or unfinished
shard is named in one line (the array task to resubmit), exit status 2, and
nothing is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from jaxmnist.cli import OneLineParser, run_main

PROG = "python -m jaxmnist.merge"


def build_parser() -> OneLineParser:
    p = OneLineParser(prog=PROG, description="Merge the shards of a sweep "
                      "trained with --shard I/N into their run dir.")
    p.add_argument("run", help="the run dir (the sweep's --out) holding "
                   "shards/I-of-N/")
    return p


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from jaxmnist.cli.sweep import check_writable  # noqa: PLC0415
    from jaxmnist.merge import merge_run  # noqa: PLC0415

    out = Path(args.run)
    check_writable(out)
    cfg = merge_run(out)
    groups = len(cfg.groups())
    print(f"merged {groups} group(s) of {out}; results, models, figures and "
          f"summary.md in {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("jaxmnist.merge", run, argv)


if __name__ == "__main__":
    sys.exit(main())

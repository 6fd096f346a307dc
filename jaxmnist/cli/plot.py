"""python -m jaxmnist.plot RUN_DIR

Redraws a finished run's figures and summary.md from its files, without
retraining.
"""

from __future__ import annotations

import sys
from pathlib import Path

from jaxmnist.cli import OneLineParser, run_main


def run(argv: list[str] | None) -> int:
    parser = OneLineParser(prog="python -m jaxmnist.plot",
                           description=(__doc__ or "").split("\n\n")[1])
    parser.add_argument("run_dir", help="a finished run directory")
    args = parser.parse_args(argv)
    from jaxmnist import files  # noqa: PLC0415
    from jaxmnist.report import figures, summary  # noqa: PLC0415
    from jaxmnist.report.predictions import BEST_PREDICTIONS  # noqa: PLC0415
    from jaxmnist.results.records import read_run  # noqa: PLC0415

    run_dir = Path(args.run_dir)
    records = read_run(run_dir)
    paths = figures.write_figures(run_dir, records)
    files.write_text(run_dir / summary.SUMMARY, summary.summary_markdown(
        records, (run_dir / BEST_PREDICTIONS).is_file()))
    for p in paths:
        print(p)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("jaxmnist.plot", run, argv)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m jaxmnist.plot RUN_DIR``: redraw a finished run's figures and
summary.md from its files, without retraining."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from jaxmnist.cli import OneLineParser, run_main


def main(argv: list[str] | None = None) -> int:
    return run_main("jaxmnist.plot", run, argv)


def run(argv: list[str] | None) -> int:
    parser = OneLineParser(prog="python -m jaxmnist.plot", description=__doc__)
    parser.add_argument("run_dir")
    args = parser.parse_args(argv)
    from jaxmnist import files, report  # noqa: PLC0415

    run_dir = Path(args.run_dir)
    paths = report.write_figures(run_dir)
    rows, _history, cfg = report.read_run(run_dir)
    meta = json.loads((run_dir / "results.json").read_text()) \
        if (run_dir / "results.json").is_file() else {}
    files.write_text(run_dir / "summary.md",
                     report.summary_markdown(rows, cfg, meta))
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())

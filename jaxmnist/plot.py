"""``python -m jaxmnist.plot RUN_DIR``: redraw a finished run's figures and
summary.md from its files, without retraining."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jaxmnist.errors import UsageError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxmnist.plot",
                                     description=__doc__)
    parser.add_argument("run_dir")
    args = parser.parse_args(argv)
    from jaxmnist import files, report  # noqa: PLC0415

    run = Path(args.run_dir)
    try:
        paths = report.write_figures(run)
        rows, _history, cfg = report.read_run(run)
        meta = json.loads((run / "results.json").read_text()) \
            if (run / "results.json").is_file() else {}
        files.write_text(run / "summary.md",
                         report.summary_markdown(rows, cfg, meta))
    except UsageError as e:
        print(f"jaxmnist.plot: error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())

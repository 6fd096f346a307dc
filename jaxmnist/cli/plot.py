"""python -m jaxmnist.plot RUN_DIR [--tensorboard]

Redraw a finished run's figures (RUN_DIR/figures/*.png) and its report
(RUN_DIR/summary.md, RUN_DIR/comparisons.csv) from its files, without
retraining; with --tensorboard, also write its per-epoch metrics as
TensorBoard event files under RUN_DIR/tensorboard/ (no TensorFlow needed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaxmnist.cli import OneLineParser, run_main


def run(argv: list[str] | None) -> int:
    parser = OneLineParser(prog="python -m jaxmnist.plot",
                           description=(__doc__ or "").split("\n\n")[1])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run "
                        "directory (config.toml, results.csv, cells.csv and "
                        "history.csv, as python -m jaxmnist.sweep leaves it)")
    parser.add_argument("--tensorboard", action="store_true",
                        default=argparse.SUPPRESS, help="also write "
                        "RUN_DIR/tensorboard/OPT/ACT/lrRATE-seedSEED/ event "
                        "files from history.csv (and dynamics.csv when the "
                        "run probed); view them with tensorboard --logdir "
                        "RUN_DIR/tensorboard")
    args = parser.parse_args(argv)
    from jaxmnist.report import figures, summary  # noqa: PLC0415
    from jaxmnist.report.predictions import BEST_PREDICTIONS  # noqa: PLC0415
    from jaxmnist.sweep.checkpoint import check_not_in_progress  # noqa: PLC0415
    from jaxmnist.sweep.config import read_run  # noqa: PLC0415

    run_dir = Path(args.run_dir)
    check_not_in_progress(run_dir)
    records = read_run(run_dir)
    paths = figures.write_figures(run_dir, records)
    paths += summary.write_report(run_dir, records,
                                  (run_dir / BEST_PREDICTIONS).is_file())
    if getattr(args, "tensorboard", False):
        from jaxmnist.report import tensorboard  # noqa: PLC0415

        events = tensorboard.write_run_events(
            run_dir, records.history,
            tensorboard.dynamics_scalars(records.dynamics))
        paths.append(run_dir / tensorboard.TENSORBOARD_DIR)
        print(f"{len(events)} event files under {paths[-1]}",
              file=sys.stderr)
    for p in paths:
        print(p)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("jaxmnist.plot", run, argv)


if __name__ == "__main__":
    sys.exit(main())

"""python -m jaxmnist.compare RUN [RUN ...] --out DIR

Pool finished runs that share their optimizers (the MNIST and
Fashion-MNIST runs of one sweep file, say) into one verdict: DIR/verdict.md
(ranking with intervals, significant gaps, tuning budget, what cannot be
concluded), DIR/comparisons.csv and DIR/figures/*.png.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from jaxmnist.cli import OneLineParser, run_main


def parse_target(text: str) -> tuple[str, float]:
    """``fashion_mnist=0.85`` -> (dataset, target), or a ValueError."""
    name, sep, value = text.partition("=")
    try:
        target = float(value)
    except ValueError:
        target = float("nan")
    if not sep or not name or not 0.0 < target <= 1.0:
        raise ValueError(f"--target {text!r}: expected DATASET=ACCURACY "
                         "with an accuracy in (0, 1], such as "
                         "fashion_mnist=0.85")
    return name, target


def run(argv: list[str] | None) -> int:
    parser = OneLineParser(prog="python -m jaxmnist.compare",
                           description=(__doc__ or "").split("\n\n")[1])
    parser.add_argument("runs", metavar="RUN", nargs="+", help="a finished "
                        "run directory (as python -m jaxmnist.sweep leaves "
                        "it)")
    parser.add_argument("--out", metavar="DIR", required=True,
                        help="the folder to write verdict.md, "
                        "comparisons.csv and figures/ into")
    parser.add_argument("--target", metavar="DATASET=ACCURACY",
                        action="append", help="the validation "
                        "accuracy time to target is measured at on "
                        "DATASET (repeatable; default: each run's own "
                        "target)")
    args = parser.parse_args(argv)
    from jaxmnist.report.across import write_compare  # noqa: PLC0415
    from jaxmnist.sweep.checkpoint import check_not_in_progress  # noqa: PLC0415
    from jaxmnist.sweep.config import read_run  # noqa: PLC0415

    targets = dict(map(parse_target, args.target or []))
    paths = [Path(p) for p in args.runs]
    for p in paths:
        check_not_in_progress(p)
    runs = [read_run(p) for p in paths]
    command = "python -m jaxmnist.compare " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    for path in write_compare(args.out, paths, runs, targets, command):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("jaxmnist.compare", run, argv)


if __name__ == "__main__":
    sys.exit(main())

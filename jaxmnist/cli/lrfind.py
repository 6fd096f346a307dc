"""python -m jaxmnist.lrfind [--optimizers A,B] [--activations A,B]
[--compare-with RUN] [--out DIR]

The learning-rate range test (Smith 2017; fastai's lr_find) of every
optimizer x activation, in one compiled program: the rate grows
exponentially over a few hundred steps from each optimizer's default
times --low to times --high; the smoothed loss gives two suggestions
(steepest descent; minimum / 10). Writes lr_find.csv,
lr_find_suggestions.csv and lr_find.png into --out; with --compare-with
RUN (a tuned run), also lr_find_grading.csv: each cell's suggestion next
to the rate chosen on validation and the validation accuracy of each.
"""

from __future__ import annotations

import sys
from pathlib import Path

from jaxmnist.cli import OneLineParser, run_main


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _parser() -> OneLineParser:
    p = OneLineParser(prog="python -m jaxmnist.lrfind",
                      description=(__doc__ or "").split("\n\n")[1])
    p.add_argument("--optimizers", type=_names, metavar="A,B",
                   help="optimizers (default: the classic six, or those of "
                   "--compare-with's run)")
    p.add_argument("--activations", type=_names, metavar="A,B",
                   help="activations (default: the classic four, or those "
                   "of --compare-with's run)")
    p.add_argument("--compare-with", metavar="RUN", help="a finished tuned "
                   "run dir (a learning-rate grid per cell) to grade the "
                   "suggestions against")
    p.add_argument("--steps", type=int, default=300, help="steps of each "
                   "range test")
    p.add_argument("--low", type=float, default=1e-4, help="first rate, as "
                   "a factor of the optimizer's default rate")
    p.add_argument("--high", type=float, default=1e3, help="last rate, as "
                   "a factor of the optimizer's default rate")
    p.add_argument("--seed", type=int, default=0, help="root seed (the "
                   "initial params are a sweep's seed 0's)")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--manual-dir", metavar="DIR", help="folder with the IDX "
                   "gz files, or a parent of mnist/ (default "
                   "$JAXMNIST_MANUAL_DIR)")
    p.add_argument("--data-dir", metavar="DIR", help="download and cache dir")
    p.add_argument("--out", default="runs/lr_find", metavar="DIR",
                   help="output dir")
    return p


def run(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    from jaxmnist.lrfind import main_work  # noqa: PLC0415

    grades, verdict, table = main_work(args)
    if table:
        print(table)
        print()
        print(verdict)
    print(f"wrote {Path(args.out).resolve()}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("jaxmnist.lrfind", run, argv)


if __name__ == "__main__":
    sys.exit(main())

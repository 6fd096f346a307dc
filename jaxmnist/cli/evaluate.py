"""python -m jaxmnist.evaluate RUN_DIR [--member OPT/ACT/SEED | --best]

Reload a saved model of a finished run (by default its best by validation
accuracy), recompute its test accuracy on the run's dataset, print
per-class precision and recall (with the dataset's class names), and write
its confusion matrix to RUN_DIR/evaluation/OPT-ACT-SEED-confusion.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from jaxmnist.cli import OneLineParser, run_main


def pick_member(members, member: str | None):
    """The member named ``OPT/ACT/SEED`` (its best learning rate by
    validation), or the best of the run by validation when None."""
    from jaxmnist.results.stats import best_member  # noqa: PLC0415

    if member is None:
        best = best_member(members)
        if best is None:
            raise ValueError("every member diverged: there is no best model")
        return best
    matches = [m for m in members if m.name == member]
    if not matches:
        names = sorted({m.name for m in members})
        raise ValueError(f"no member {member!r} in this run; choose from: "
                         f"{', '.join(names)}")
    return max(matches, key=lambda m: m.val_accuracy)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m jaxmnist.evaluate",
                           description=(__doc__ or "").split("\n\n")[1])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run "
                        "directory (config.toml, results.csv and models/, "
                        "as python -m jaxmnist.sweep leaves it)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--member", metavar="OPT/ACT/SEED",
                       default=argparse.SUPPRESS, help="the member to load, "
                       "e.g. adam/relu/0 (its learning rate with the best "
                       "validation accuracy); without it, the best member")
    which.add_argument("--best", action="store_true",
                       default=argparse.SUPPRESS, help="the member with the "
                       "best final validation accuracy (what happens without "
                       "--member too)")
    parser.add_argument("--manual-dir", metavar="DIR",
                        default=argparse.SUPPRESS, help="where the dataset's "
                        "files are, if not where the run found them")
    return parser


def run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)

    from jaxmnist import compile_cache  # noqa: PLC0415
    from jaxmnist.core.net import class_probabilities  # noqa: PLC0415
    from jaxmnist.data import class_names, load_dataset  # noqa: PLC0415
    from jaxmnist.report.figures import EVALUATION_DIR  # noqa: PLC0415
    from jaxmnist.report.predictions import plot_confusion  # noqa: PLC0415
    from jaxmnist.results.members import member_path  # noqa: PLC0415
    from jaxmnist.results.tables import per_class_table  # noqa: PLC0415
    from jaxmnist.sweep import store  # noqa: PLC0415
    from jaxmnist.sweep.checkpoint import check_not_in_progress  # noqa: PLC0415
    from jaxmnist.sweep.config import read_run  # noqa: PLC0415

    compile_cache.enable()
    run_dir = Path(args.run_dir)
    check_not_in_progress(run_dir)
    records = read_run(run_dir)
    member = getattr(args, "member", None)
    m = pick_member(records.members, member)
    params, meta = store.load_model(member_path(run_dir, m))
    cfg = records.config
    data = load_dataset(meta["dataset"],
                        manual_dir=getattr(args, "manual_dir", None)
                        or cfg.manual_dir, data_dir=cfg.data_dir,
                        val_size=meta.get("val_size", 5000))
    y_pred = np.asarray(class_probabilities(params, meta["activation"],
                                            data.test_images)).argmax(1)
    acc = float(np.mean(y_pred == data.test_labels))
    why = "" if member else "; the best by validation accuracy"
    print(f"{m.name} (lr {m.learning_rate:.3g}{why}): test accuracy "
          f"{acc:.4f} (results.csv: {m.test_accuracy:.4f})")
    labels, names = np.asarray(data.test_labels), class_names(meta["dataset"])
    print(per_class_table(labels, y_pred, names))
    out = run_dir / EVALUATION_DIR / f"{m.name.replace('/', '-')}-confusion.png"
    plot_confusion(labels, y_pred, out, f"{m.name} (lr {m.learning_rate:.3g}"
                   f"{why}): test accuracy {acc:.4f}", names)
    print(f"confusion matrix: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("jaxmnist.evaluate", run, argv)


if __name__ == "__main__":
    sys.exit(main())

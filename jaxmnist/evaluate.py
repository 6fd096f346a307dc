"""``python -m jaxmnist.evaluate RUN_DIR [--member OPT/ACT/SEED | --best]``.

Reloads a saved model, recomputes its test accuracy on the run's dataset,
prints a per-class precision/recall table and writes its confusion matrix
to ``RUN_DIR/evaluation/<member>-confusion.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from jaxmnist.cli import OneLineParser, run_main
from jaxmnist.errors import UsageError


def per_class_table(y_true: np.ndarray, y_pred: np.ndarray,
                    classes: int = 10) -> str:
    lines = ["class  precision  recall  support", "-----  ---------  ------"
             "  -------"]
    for c in range(classes):
        tp = int(np.sum((y_pred == c) & (y_true == c)))
        predicted, support = int(np.sum(y_pred == c)), int(np.sum(y_true == c))
        prec = tp / predicted if predicted else float("nan")
        rec = tp / support if support else float("nan")
        lines.append(f"{c:>5}  {prec:>9.4f}  {rec:>6.4f}  {support:>7}")
    return "\n".join(lines)


def pick_member(rows: list[dict], member: str | None) -> dict:
    from jaxmnist.report import best_member, member_name  # noqa: PLC0415

    if member is None:
        return best_member(rows)
    matches = [r for r in rows if member_name(r) == member]
    if not matches:
        names = sorted({member_name(r) for r in rows})
        raise UsageError(f"no member {member!r} in this run; choose from: "
                         f"{', '.join(names[:12])}"
                         f"{', ...' if len(names) > 12 else ''}")
    return max(matches, key=lambda r: r["val_accuracy"])


def run(argv: list[str] | None) -> int:
    parser = OneLineParser(prog="python -m jaxmnist.evaluate",
                                     description=__doc__)
    parser.add_argument("run_dir")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--member", help="OPTIMIZER/ACTIVATION/SEED")
    which.add_argument("--best", action="store_true",
                       help="the best member by validation accuracy (default)")
    parser.add_argument("--manual-dir", help="tfds manual dir, if needed")
    args = parser.parse_args(argv)

    from jaxmnist import models, plots, report  # noqa: PLC0415
    from jaxmnist.data import load_dataset  # noqa: PLC0415
    from jaxmnist.model import predict  # noqa: PLC0415

    run_dir = Path(args.run_dir)
    rows, _history, cfg = report.read_run(run_dir)
    row = pick_member(rows, args.member)
    path = models.member_path(run_dir, row["optimizer"], row["activation"],
                              row["learning_rate"], row["seed"])
    params, meta = models.load_model(path)
    data = load_dataset(meta["dataset"], manual_dir=args.manual_dir or
                        cfg.get("manual_dir"), data_dir=cfg.get("data_dir"),
                        val_size=meta.get("val_size", 5000))
    probs = np.asarray(predict(params, meta["activation_index"],
                               data.test_images))
    y_pred = probs.argmax(1)
    acc = float(np.mean(y_pred == data.test_labels))
    name = report.member_name(row)
    print(f"{name} (lr {row['learning_rate']:g}): test accuracy {acc:.4f} "
          f"(results.csv: {row['test_accuracy']:.4f})")
    print(per_class_table(data.test_labels, y_pred))
    out = run_dir / "evaluation" / f"{name.replace('/', '-')}-confusion.png"
    plots.plot_confusion(data.test_labels, y_pred, out,
                         f"{name}: test accuracy {acc:.4f}")
    print(f"confusion matrix: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("jaxmnist.evaluate", run, argv)


if __name__ == "__main__":
    sys.exit(main())

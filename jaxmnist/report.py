"""What a finished run leaves behind besides the CSVs: figures, the best
model's test predictions and ``summary.md``. Everything here reads the run
directory's files, so ``python -m jaxmnist.plot RUN_DIR`` redraws it all
without retraining."""

from __future__ import annotations

import csv
import io
import math
import tomllib
from pathlib import Path

import numpy as np

from jaxmnist import files
from jaxmnist.cells import chosen_cells, has_lr_grid, is_diverged
from jaxmnist.errors import UsageError

FIGURES = ("curves_by_activation.png", "curves_by_optimizer.png",
           "loss_curves.png", "test_accuracy_bar.png", "heatmap.png",
           "confusion_matrix.png", "misclassified.png",
           "time_to_target.png", "lr_sensitivity.png")
_INT = ("seed", "epoch", "epochs_to_best_val", "target_epoch", "target_steps")
_STR = ("optimizer", "activation", "diverged_epoch", "diverged")


def _typed(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if k in _STR:
            out[k] = v if k != "diverged" else v == "True"
        elif k in _INT:
            out[k] = int(v) if v != "" else ""
        elif k == "target_seconds":
            out[k] = float(v) if v != "" else ""
        else:
            out[k] = float(v) if v not in ("", None) else math.nan
    if out.get("diverged_epoch", "") != "":
        out["diverged_epoch"] = int(out["diverged_epoch"])
    return out


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [_typed(r) for r in csv.DictReader(f)]


def read_run(run_dir: str | Path) -> tuple[list[dict], list[dict], dict]:
    """(results rows, history rows, config dict) of a run directory."""
    run = Path(run_dir)
    need = [run / n for n in ("results.csv", "history.csv", "config.toml")]
    missing = [p.name for p in need if not p.is_file()]
    if missing:
        raise UsageError(f"{str(run)!r} is not a finished run dir (missing "
                         f"{', '.join(missing)})")
    try:
        return (read_csv(need[0]), read_csv(need[1]),
                tomllib.loads(need[2].read_text()))
    except (ValueError, KeyError, tomllib.TOMLDecodeError) as e:
        raise UsageError(f"run dir {str(run)!r} has a corrupt file "
                         f"({type(e).__name__}: {e})") from None


def best_member(rows: list[dict]) -> dict:
    """The non-diverged member with the best final validation accuracy."""
    ok = [r for r in rows if not is_diverged(r)
          and math.isfinite(r["val_accuracy"])]
    if not ok:
        raise UsageError("every member diverged: there is no best model")
    return max(ok, key=lambda r: r["val_accuracy"])


def member_name(r: dict) -> str:
    return f"{r['optimizer']}/{r['activation']}/{r['seed']}"


def save_best_predictions(run_dir: Path, member: dict, probs: np.ndarray,
                          test_images: np.ndarray, test_labels: np.ndarray,
                          keep: int = 40) -> None:
    """best_predictions.npz: the best model's test predictions and a few of
    its misclassified images (enough to redraw the two figures)."""
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != test_labels)[:keep]
    buf = io.BytesIO()
    np.savez_compressed(
        buf, y_true=test_labels, y_pred=pred, prob=probs.max(1),
        wrong_images=test_images[wrong], wrong_true=test_labels[wrong],
        wrong_pred=pred[wrong], wrong_prob=probs[wrong, pred[wrong]],
        member=np.asarray(member_name(member)))
    files.write_bytes(run_dir / "best_predictions.npz", buf.getvalue())


def write_figures(run_dir: str | Path) -> list[Path]:
    """Draw every figure of the run into ``<run>/figures/``."""
    from jaxmnist import plots, plots_tuning  # noqa: PLC0415  (slow import)

    run = Path(run_dir)
    rows, history, cfg = read_run(run)
    order = dict(optimizers=cfg.get("optimizers", ()),
                 activations=cfg.get("activations", ()))
    out = run / "figures"
    plots.plot_curves(history, rows, out / FIGURES[0], "activation", **order)
    plots.plot_curves(history, rows, out / FIGURES[1], "optimizer", **order)
    plots.plot_loss_curves(history, rows, out / FIGURES[2], **order)
    plots.plot_test_bar(rows, out / FIGURES[3])
    plots.plot_heatmap(rows, out / FIGURES[4], **order)
    written = [out / f for f in FIGURES[:5]]
    pred_file = run / "best_predictions.npz"
    if pred_file.is_file():
        with np.load(pred_file) as p:
            who = str(p["member"])
            acc = float((p["y_true"] == p["y_pred"]).mean())
            plots.plot_confusion(p["y_true"], p["y_pred"], out / FIGURES[5],
                                 f"Best model by validation accuracy: {who} "
                                 f"(test accuracy {acc:.4f})")
            plots.plot_misclassified(
                p["wrong_images"], p["wrong_true"], p["wrong_pred"],
                p["wrong_prob"], out / FIGURES[6],
                f"{who}: misclassified test images, true→predicted "
                f"(probability)")
        written += [out / FIGURES[5], out / FIGURES[6]]
    plots_tuning.plot_time_to_target(rows, out / FIGURES[7],
                                     float(cfg.get("target", 0.97)))
    written.append(out / FIGURES[7])
    if has_lr_grid(rows):
        plots_tuning.plot_lr_sensitivity(rows, out / FIGURES[8], **order)
        written.append(out / FIGURES[8])
    return written


def summary_markdown(rows: list[dict], cfg: dict, meta: dict) -> str:
    """The run as one page: the sorted table and the figures."""
    from jaxmnist.results import markdown_table  # noqa: PLC0415

    lines = [f"# Sweep {cfg.get('name') or ''}".rstrip(), "",
             f"- dataset: {cfg.get('dataset', 'mnist')}, epochs: "
             f"{cfg.get('epochs')}, seeds: {cfg.get('seeds', 1)}, "
             f"implementation: {cfg.get('implementation', 'ours')}",
             f"- device: {meta.get('device', '?')}; training wall time "
             f"{meta.get('train_seconds', float('nan')):.1f} s", ""]
    cs = chosen_cells(rows)
    multi_lr = has_lr_grid(rows)
    if any(c.seeds > 1 for c in cs) or multi_lr:
        lines += ["## Cells (chosen learning rate, mean over seeds)", "",
                  "| optimizer | activation | lr | seeds | diverged | val acc "
                  "| test acc | 95% CI |", "|---|---|---|---|---|---|---|---|"]
        for c in sorted(cs, key=lambda c: -(c.test.mean if c.test.n else -1)):
            lines.append(
                f"| {c.optimizer} | {c.activation} | {c.learning_rate:.3g} | "
                f"{c.seeds} | {c.diverged} | {c.val.mean:.4f} | "
                f"{c.test.mean:.4f} | ±{c.test.ci95:.4f} |")
        lines.append("")
    lines += ["## Members, sorted by test accuracy", "", markdown_table(rows),
              "", "## Figures", ""]
    lines += [f"![{f[:-4]}](figures/{f})" for f in FIGURES
              if f != "lr_sensitivity.png" or multi_lr]
    return "\n".join(lines) + "\n"

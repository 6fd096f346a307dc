"""Turn trained groups into rows, CSV/JSON files and a summary table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import numpy as np

from jaxmnist import files
from jaxmnist.runner import GroupResult
from jaxmnist.train import Metrics

KEY_COLUMNS = ("optimizer", "activation", "learning_rate", "seed")
METRIC_COLUMNS = tuple(f for f in Metrics._fields if f != "diverged")
RESULT_COLUMNS = (*KEY_COLUMNS, "train_accuracy", "val_accuracy",
                  "test_accuracy", "train_loss", "val_loss", "test_loss",
                  "epochs_to_best_val", "diverged_epoch", "target_epoch",
                  "target_steps", "target_seconds", "seconds")
HISTORY_COLUMNS = (*KEY_COLUMNS, "epoch", *METRIC_COLUMNS, "diverged")


def _f(x) -> float:
    return float(x)


def time_to_target(val_accuracy: np.ndarray, diverged: np.ndarray,
                   target: float, steps_per_epoch: int,
                   epoch_seconds: list[float]) -> tuple:
    """(epoch, steps, seconds) at which validation accuracy first reached
    ``target`` (1-based epoch; seconds of the group's training, compilation
    excluded), or ("", "", "") when it never did before diverging."""
    hit = np.flatnonzero((np.asarray(val_accuracy) >= target)
                         & ~np.asarray(diverged, bool))
    if not hit.size:
        return "", "", ""
    e = int(hit[0]) + 1
    return e, e * steps_per_epoch, round(float(sum(epoch_seconds[:e])), 3)


def result_rows(group: GroupResult, target: float = 0.97) -> list[dict]:
    """One row per member: final-epoch metrics and the group's wall time.

    ``seconds`` is the wall time of the member's whole vmapped group
    (compilation included): members of a group train simultaneously.
    ``epochs_to_best_val`` is the (1-based) epoch of the best validation
    accuracy; ``diverged_epoch`` the (1-based) epoch in which the training
    loss first became non-finite, empty when it never did; ``target_*``
    when validation accuracy first reached ``target`` (see
    :func:`time_to_target`).
    """
    rows = []
    h = group.history
    for i, m in enumerate(group.members):
        val = np.asarray(h.val_accuracy[i])
        best = int(np.nanargmax(val)) + 1 if np.isfinite(val).any() else 0
        div = np.flatnonzero(h.diverged[i])
        rows.append({**m._asdict(),
                     **{f: _f(getattr(h, f)[i, -1]) for f in METRIC_COLUMNS},
                     "epochs_to_best_val": best,
                     "diverged_epoch": int(div[0]) + 1 if div.size else "",
                     **dict(zip(("target_epoch", "target_steps",
                                 "target_seconds"), time_to_target(
                         val, h.diverged[i], target, group.steps_per_epoch,
                         group.epoch_seconds))),
                     "seconds": round(group.seconds, 3)})
    return rows


def history_rows(group: GroupResult) -> list[dict]:
    rows = []
    for i, m in enumerate(group.members):
        for e in range(group.history.train_loss.shape[1]):
            rows.append({**m._asdict(), "epoch": e + 1,
                         **{f: _f(getattr(group.history, f)[i, e])
                            for f in METRIC_COLUMNS},
                         "diverged": bool(group.history.diverged[i, e])})
    return rows


def sort_rows(rows: Iterable[dict]) -> list[dict]:
    """Best test accuracy first; diverged members and NaN last."""
    def key(r):
        acc = r["test_accuracy"]
        bad = math.isnan(acc) or r.get("diverged_epoch") not in (None, "")
        return (bad, -acc if not math.isnan(acc) else 0.0)
    return sorted(rows, key=key)


CELL_COLUMNS = ("optimizer", "activation", "learning_rate", "chosen", "seeds",
                "diverged", "val_mean", "val_std", "val_ci95", "test_mean",
                "test_std", "test_ci95", "reached_target", "target_epoch_mean",
                "target_seconds_mean")


def cell_rows(rows: list[dict]) -> list[dict]:
    """cells.csv: one row per (optimizer, activation, learning rate)."""
    from jaxmnist.cells import cells, is_diverged  # noqa: PLC0415

    out = []
    for c in cells(rows):
        mine = [r for r in rows if (r["optimizer"], r["activation"],
                                    float(r["learning_rate"])) ==
                (c.optimizer, c.activation, c.learning_rate)
                and not is_diverged(r)]
        hit = [r for r in mine if r["target_epoch"] not in ("", None)]
        out.append({
            "optimizer": c.optimizer, "activation": c.activation,
            "learning_rate": c.learning_rate, "chosen": c.chosen,
            "seeds": c.seeds, "diverged": c.diverged,
            "val_mean": c.val.mean, "val_std": c.val.std,
            "val_ci95": c.val.ci95, "test_mean": c.test.mean,
            "test_std": c.test.std, "test_ci95": c.test.ci95,
            "reached_target": len(hit),
            "target_epoch_mean": (float(np.mean([r["target_epoch"] for r in hit]))
                                  if hit else ""),
            "target_seconds_mean": (float(np.mean([r["target_seconds"]
                                                   for r in hit]))
                                    if hit else "")})
    return out


def cells_table(cells: list[dict], target: float) -> str:
    """The chosen learning rate of every (optimizer, activation), sorted by
    mean test accuracy, with 95% CIs over seeds."""
    chosen = [c for c in cells if c["chosen"]]
    chosen.sort(key=lambda c: (math.isnan(c["test_mean"]), -c["test_mean"]
                               if not math.isnan(c["test_mean"]) else 0))
    header = ("#", "optimizer", "activation", "lr", "seeds", "diverged",
              "val acc", "test acc", "95% CI", f"epoch to {target:g}")
    lines = []
    for i, c in enumerate(chosen, 1):
        reach = (f"{c['target_epoch_mean']:.1f} ({c['reached_target']}/"
                 f"{c['seeds'] - c['diverged']})" if c["reached_target"]
                 else "not reached")
        lines.append((str(i), c["optimizer"], c["activation"],
                      f"{c['learning_rate']:.3g}", str(c["seeds"]),
                      str(c["diverged"]),
                      f"{c['val_mean']:.4f}", f"{c['test_mean']:.4f}",
                      "" if math.isnan(c["test_ci95"])
                      else f"±{c['test_ci95']:.4f}", reach))
    return _fixed_width(header, lines)


def _fixed_width(header, lines) -> str:
    widths = [max(len(h), *(len(l[j]) for l in lines)) if lines else len(h)
              for j, h in enumerate(header)]
    fmt = lambda cells: "  ".join(c.rjust(w) if j not in (1, 2) else c.ljust(w)
                                  for j, (c, w) in enumerate(zip(cells, widths)))
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *map(fmt, lines)])


def summary_table(rows: Iterable[dict]) -> str:
    """A fixed-width table sorted by test accuracy."""
    header = ("#", "optimizer", "activation", "lr", "seed", "train acc",
              "val acc", "test acc", "test loss", "seconds", "diverged")
    lines = []
    for i, r in enumerate(sort_rows(rows), 1):
        div = r.get("diverged_epoch")
        lines.append((str(i), r["optimizer"], r["activation"],
                      f"{r['learning_rate']:.3g}", str(r["seed"]),
                      f"{r['train_accuracy']:.4f}", f"{r['val_accuracy']:.4f}",
                      f"{r['test_accuracy']:.4f}", f"{r['test_loss']:.4f}",
                      f"{r['seconds']:.1f}",
                      f"epoch {div}" if div not in (None, "") else ""))
    return _fixed_width(header, lines)


def markdown_table(rows: Iterable[dict]) -> str:
    """The summary as a Markdown table (for README and summary.md)."""
    out = ["| # | optimizer | activation | lr | seed | val acc | test acc | "
           "diverged |", "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(sort_rows(rows), 1):
        div = r.get("diverged_epoch")
        out.append(f"| {i} | {r['optimizer']} | {r['activation']} | "
                   f"{r['learning_rate']:.3g} | {r['seed']} | "
                   f"{r['val_accuracy']:.4f} | {r['test_accuracy']:.4f} | "
                   f"{'epoch ' + str(div) if div not in (None, '') else ''} |")
    return "\n".join(out)


def write_results(out: Path, rows: list[dict], history: list[dict],
                  meta: dict) -> None:
    """results.csv, cells.csv, history.csv and results.json, each written
    atomically."""
    files.write_csv(out / "results.csv", RESULT_COLUMNS, rows)
    files.write_csv(out / "cells.csv", CELL_COLUMNS, cell_rows(rows))
    files.write_csv(out / "history.csv", HISTORY_COLUMNS, history)
    files.write_json(out / "results.json", {**meta, "results": rows})

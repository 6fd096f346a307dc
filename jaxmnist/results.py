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
                  "epochs_to_best_val", "diverged_epoch", "seconds")
HISTORY_COLUMNS = (*KEY_COLUMNS, "epoch", *METRIC_COLUMNS, "diverged")


def _f(x) -> float:
    return float(x)


def result_rows(group: GroupResult) -> list[dict]:
    """One row per member: final-epoch metrics and the group's wall time.

    ``seconds`` is the wall time of the member's whole vmapped group
    (compilation included): members of a group train simultaneously.
    ``epochs_to_best_val`` is the (1-based) epoch of the best validation
    accuracy; ``diverged_epoch`` the (1-based) epoch in which the training
    loss first became non-finite, empty when it never did.
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
    """Best test accuracy first; NaN (diverged) last."""
    def key(r):
        acc = r["test_accuracy"]
        return (math.isnan(acc), -acc if not math.isnan(acc) else 0.0)
    return sorted(rows, key=key)


def summary_table(rows: Iterable[dict]) -> str:
    """A fixed-width table sorted by test accuracy."""
    header = ("#", "optimizer", "activation", "lr", "seed", "train acc",
              "val acc", "test acc", "test loss", "seconds")
    lines = []
    for i, r in enumerate(sort_rows(rows), 1):
        lines.append((str(i), r["optimizer"], r["activation"],
                      f"{r['learning_rate']:.3g}", str(r["seed"]),
                      f"{r['train_accuracy']:.4f}", f"{r['val_accuracy']:.4f}",
                      f"{r['test_accuracy']:.4f}", f"{r['test_loss']:.4f}",
                      f"{r['seconds']:.1f}"))
    widths = [max(len(h), *(len(l[j]) for l in lines)) if lines else len(h)
              for j, h in enumerate(header)]
    fmt = lambda cells: "  ".join(c.rjust(w) if j not in (1, 2) else c.ljust(w)
                                  for j, (c, w) in enumerate(zip(cells, widths)))
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *map(fmt, lines)])


def markdown_table(rows: Iterable[dict]) -> str:
    """The summary as a Markdown table (for README and summary.md)."""
    out = ["| # | optimizer | activation | lr | seed | val acc | test acc |",
           "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(sort_rows(rows), 1):
        out.append(f"| {i} | {r['optimizer']} | {r['activation']} | "
                   f"{r['learning_rate']:.3g} | {r['seed']} | "
                   f"{r['val_accuracy']:.4f} | {r['test_accuracy']:.4f} |")
    return "\n".join(out)


def write_results(out: Path, rows: list[dict], history: list[dict],
                  meta: dict) -> None:
    """results.csv, history.csv and results.json, each written atomically."""
    files.write_csv(out / "results.csv", RESULT_COLUMNS, rows)
    files.write_csv(out / "history.csv", HISTORY_COLUMNS, history)
    files.write_json(out / "results.json", {**meta, "results": rows})

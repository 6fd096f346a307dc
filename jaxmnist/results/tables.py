"""The results as text: fixed-width tables for the terminal, Markdown for
summary.md and the README."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from jaxmnist.results.records import CellResult, MemberResult


def sort_members(members: Iterable[MemberResult]) -> list[MemberResult]:
    """Best test accuracy first; diverged members and NaN last."""
    def key(m: MemberResult):
        bad = math.isnan(m.test_accuracy) or m.diverged
        return (bad, 0.0 if math.isnan(m.test_accuracy) else -m.test_accuracy)
    return sorted(members, key=key)


def fixed_width(header: Sequence[str], lines: Sequence[Sequence[str]],
                left: tuple[int, ...] = (1, 2)) -> str:
    """Columns padded to their widest cell; columns in ``left`` flush left."""
    widths = [max(len(h), *(len(line[j]) for line in lines)) if lines
              else len(h) for j, h in enumerate(header)]

    def fmt(cells):
        return "  ".join(c.ljust(w) if j in left else c.rjust(w)
                         for j, (c, w) in enumerate(zip(cells, widths)))
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *map(fmt, lines)])


def cells_table(cells: list[CellResult], target: float) -> str:
    """The chosen learning rate of every (optimizer, activation), sorted by
    mean test accuracy, with 95% CIs over seeds."""
    chosen = sorted((c for c in cells if c.chosen),
                    key=lambda c: (math.isnan(c.test_mean),
                                   0 if math.isnan(c.test_mean)
                                   else -c.test_mean))
    header = ("#", "optimizer", "activation", "lr", "seeds", "diverged",
              "val acc", "test acc", "95% CI", f"epoch to {target:g}")
    lines = []
    for i, c in enumerate(chosen, 1):
        reach = (f"{c.target_epoch_mean:.1f} ({c.reached_target}/"
                 f"{c.finite})" if c.reached_target else "not reached")
        lines.append((str(i), c.optimizer, c.activation,
                      f"{c.learning_rate:.3g}", str(c.seeds), str(c.diverged),
                      f"{c.val_mean:.4f}", f"{c.test_mean:.4f}",
                      "" if math.isnan(c.test_ci95)
                      else f"±{c.test_ci95:.4f}", reach))
    return fixed_width(header, lines)


def summary_table(members: Iterable[MemberResult]) -> str:
    """Every member, sorted by test accuracy."""
    header = ("#", "optimizer", "activation", "lr", "seed", "train acc",
              "val acc", "test acc", "test loss", "seconds", "diverged")
    lines = [(str(i), m.optimizer, m.activation, f"{m.learning_rate:.3g}",
              str(m.seed), f"{m.train_accuracy:.4f}", f"{m.val_accuracy:.4f}",
              f"{m.test_accuracy:.4f}", f"{m.test_loss:.4f}",
              f"{m.seconds:.1f}",
              f"epoch {m.diverged_epoch}" if m.diverged else "")
             for i, m in enumerate(sort_members(members), 1)]
    return fixed_width(header, lines)


def markdown_table(members: Iterable[MemberResult]) -> str:
    """Every member as a Markdown table, sorted by test accuracy."""
    out = ["| # | optimizer | activation | lr | seed | val acc | test acc | "
           "diverged |", "|---|---|---|---|---|---|---|---|"]
    for i, m in enumerate(sort_members(members), 1):
        div = f"epoch {m.diverged_epoch}" if m.diverged else ""
        out.append(f"| {i} | {m.optimizer} | {m.activation} | "
                   f"{m.learning_rate:.3g} | {m.seed} | {m.val_accuracy:.4f} "
                   f"| {m.test_accuracy:.4f} | {div} |")
    return "\n".join(out)


def per_class_table(y_true: np.ndarray, y_pred: np.ndarray,
                    classes: Sequence[str]) -> str:
    """Precision, recall and support of every class."""
    width = max(5, *(len(c) for c in classes))
    lines = [f"{'class':<{width}}  precision  recall  support",
             f"{'-' * width}  ---------  ------  -------"]
    for k, name in enumerate(classes):
        tp = int(np.sum((y_pred == k) & (y_true == k)))
        predicted, support = int(np.sum(y_pred == k)), int(np.sum(y_true == k))
        prec = tp / predicted if predicted else float("nan")
        rec = tp / support if support else float("nan")
        lines.append(f"{name:<{width}}  {prec:>9.4f}  {rec:>6.4f}  "
                     f"{support:>7}")
    return "\n".join(lines)

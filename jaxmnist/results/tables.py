"""The results as text: fixed-width tables for the terminal, Markdown for
summary.md and the README."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from jaxmnist.results.records import CellResult, MemberResult
from jaxmnist.results.stats import best_member


def sort_members(members: Iterable[MemberResult]) -> list[MemberResult]:
    """Best test accuracy first; diverged members and NaN last."""
    def key(m: MemberResult):
        bad = math.isnan(m.test_accuracy) or m.diverged
        return (bad, 0.0 if math.isnan(m.test_accuracy) else -m.test_accuracy)
    return sorted(members, key=key)


def best_cell(cells: Iterable[CellResult]) -> CellResult | None:
    """The chosen cell with the best mean validation accuracy (the first of
    equals), or None when every cell diverged. The test split is never
    looked at."""
    ok = [c for c in cells if c.chosen and not math.isnan(c.val_mean)]
    return max(ok, key=lambda c: c.val_mean) if ok else None


def fixed_width(header: Sequence[str], lines: Sequence[Sequence[str]],
                left: tuple[int, ...] = (1, 2)) -> str:
    """Columns padded to their widest cell; columns in ``left`` flush left."""
    widths = [max(len(h), *(len(line[j]) for line in lines)) if lines
              else len(h) for j, h in enumerate(header)]

    def fmt(cells):
        return "  ".join(c.ljust(w) if j in left else c.rjust(w)
                         for j, (c, w) in enumerate(zip(cells, widths))
                         ).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *map(fmt, lines)])


BEST_MARK = "*"


def _reach(c: CellResult) -> str:
    """'epoch[, seconds] (seeds that reached it / seeds)' or not reached."""
    if not c.reached_target or c.target_epoch_mean is None:
        return "not reached"
    e = c.target_epoch_mean
    epoch = f"{e:.0f}" if e == round(e) else f"{e:.1f}"
    seconds = (f", {c.target_seconds_mean:.1f} s"
               if c.target_seconds_mean is not None else "")
    return f"{epoch}{seconds} ({c.reached_target}/{c.finite})"


def sort_cells(cells: Iterable[CellResult]) -> list[CellResult]:
    """The chosen cells, best mean test accuracy first, NaN last."""
    return sorted((c for c in cells if c.chosen), key=lambda c: (
        math.isnan(c.test_mean), 0 if math.isnan(c.test_mean)
        else -c.test_mean))


def best_lines(cells: Sequence[CellResult],
               members: Sequence[MemberResult] = ()) -> list[str]:
    """What the tables' best mark means, and which model is "the best"."""
    out = [f"{BEST_MARK} best cell: the highest mean validation accuracy "
           f"(sorted by test accuracy, which never chooses anything)"]
    best = best_member(members)
    if best is not None:
        out.append(f"best model (evaluate --best, predict RUN): {best.name}, "
                   f"lr {best.learning_rate:.3g}: validation "
                   f"{best.val_accuracy:.4f}, test {best.test_accuracy:.4f}")
    return out


def cells_table(cells: list[CellResult], target: float,
                members: Sequence[MemberResult] = ()) -> str:
    """The chosen learning rate of every (optimizer, activation), sorted by
    mean test accuracy, with 95% CIs over seeds; the best cell by mean
    validation accuracy marked, and the rule stated under the table."""
    best = best_cell(cells)
    header = ("#", "optimizer", "activation", "lr", "seeds", "diverged",
              "val acc", "test acc", "95% CI", f"epoch to {target:g}", "best")
    lines = []
    for i, c in enumerate(sort_cells(cells), 1):
        lines.append((str(i), c.setup, c.activation,
                      f"{c.learning_rate:.3g}{tuning_note(c, ' ')}",
                      str(c.seeds), str(c.diverged),
                      f"{c.val_mean:.4f}", f"{c.test_mean:.4f}",
                      "" if math.isnan(c.test_ci95)
                      else f"±{c.test_ci95:.4f}", _reach(c),
                      BEST_MARK if c == best else ""))
    return "\n".join([fixed_width(header, lines), "",
                      *best_lines(cells, members)])


def summary_table(members: Iterable[MemberResult]) -> str:
    """Every member, sorted by test accuracy; the best by validation
    accuracy marked, and the rule stated under the table. "group s" is the
    wall time of the member's whole vmapped group."""
    members = list(members)
    best = best_member(members)
    header = ("#", "optimizer", "activation", "lr", "seed", "train acc",
              "val acc", "test acc", "test loss", "group s", "diverged",
              "best")
    lines = [(str(i), m.setup, m.activation,
              f"{m.learning_rate:.3g}{tuning_note(m, ' ')}",
              str(m.seed), f"{m.train_accuracy:.4f}", f"{m.val_accuracy:.4f}",
              f"{m.test_accuracy:.4f}", f"{m.test_loss:.4f}",
              f"{m.seconds:.1f}",
              f"epoch {m.diverged_epoch}" if m.diverged else "",
              BEST_MARK if m == best else "")
             for i, m in enumerate(sort_members(members), 1)]
    return "\n".join([
        fixed_width(header, lines), "",
        f"{BEST_MARK} best model: the highest validation accuracy (what "
        f"evaluate --best and predict RUN load); sorted by test accuracy, "
        f"which never chooses anything"])


def markdown_table(members: Iterable[MemberResult]) -> str:
    """Every member as a Markdown table, sorted by test accuracy."""
    members = list(members)
    best = best_member(members)
    out = ["| # | optimizer | activation | lr | seed | val acc | test acc | "
           "diverged |", "|---|---|---|---|---|---|---|---|"]
    for i, m in enumerate(sort_members(members), 1):
        div = f"epoch {m.diverged_epoch}" if m.diverged else ""
        mark = f" {BEST_MARK}" if m == best else ""
        out.append(f"| {i}{mark} | {m.setup} | {m.activation} | "
                   f"{m.learning_rate:.3g}{tuning_note(m)} | {m.seed} | "
                   f"{m.val_accuracy:.4f} | {m.test_accuracy:.4f} | {div} |")
    return "\n".join(out)


def cells_markdown(cells: list[CellResult], target: float) -> str:
    """The chosen cells as a Markdown table, sorted by mean test accuracy,
    the best cell by mean validation accuracy marked."""
    best = best_cell(cells)
    spread = ("mean ± 95% CI" if any(math.isfinite(c.test_ci95)
                                     for c in cells if c.chosen)
              else "one run: no CI")
    out = [f"| # | optimizer | activation | lr | test acc ({spread}) | val acc "
           f"| seeds | diverged | epoch, s to {target:g} (seeds) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for i, c in enumerate(sort_cells(cells), 1):
        ci = "" if math.isnan(c.test_ci95) else f" ± {c.test_ci95:.4f}"
        mark = f" {BEST_MARK}" if c == best else ""
        out.append(f"| {i}{mark} | {c.setup} | {c.activation} | "
                   f"{c.learning_rate:.3g}{tuning_note(c)} | "
                   f"{c.test_mean:.4f}{ci} | {c.val_mean:.4f} | {c.seeds} | "
                   f"{c.diverged} | "
                   f"{_reach(c)} |")
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


def tuning_note(row, sep: str = ", ") -> str:
    """``", dropout 0.2, wd 0.0001, b2=0.99"``: a row's tuning besides the
    learning rate, where it is not the default (empty for the classic)."""
    parts = []
    if row.dropout:
        parts.append(f"dropout {row.dropout:g}")
    if row.weight_decay:
        parts.append(f"wd {row.weight_decay:g}")
    if row.optimizer_options:
        parts.append(row.optimizer_options.replace(";", " "))
    return "".join(sep + p for p in parts)

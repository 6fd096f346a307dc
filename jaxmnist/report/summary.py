"""summary.md: the whole run as one page."""

from __future__ import annotations

from jaxmnist.report.figures import FIGURES_DIR, figures_for
from jaxmnist.report.why import why_section
from jaxmnist.results.records import RunRecords
from jaxmnist.results.stats import chosen_cells, has_lr_grid
from jaxmnist.results.tables import markdown_table

#: What a run dir holds from this module.
SUMMARY = "summary.md"


def summary_markdown(run: RunRecords, has_predictions: bool = True) -> str:
    """The run as one page: the setup, the tables and the figures."""
    cfg, meta = run.config, run.meta
    lines = [f"# Sweep {cfg.name or ''}".rstrip(), "",
             f"- dataset: {cfg.dataset}, epochs: {cfg.epochs}, seeds: "
             f"{cfg.seeds}, implementation: {cfg.implementation}",
             f"- device: {meta.get('device', '?')}; training wall time "
             f"{meta.get('train_seconds', float('nan')):.1f} s", ""]
    cs = chosen_cells(run.cells)
    if any(c.seeds > 1 for c in cs) or has_lr_grid(run.cells):
        lines += ["## Cells (chosen learning rate, mean over seeds)", "",
                  "| optimizer | activation | lr | seeds | diverged | val acc "
                  "| test acc | 95% CI |", "|---|---|---|---|---|---|---|---|"]
        for c in sorted(cs, key=lambda c: -(c.test_mean if c.finite else -1)):
            lines.append(
                f"| {c.optimizer} | {c.activation} | {c.learning_rate:.3g} | "
                f"{c.seeds} | {c.diverged} | {c.val_mean:.4f} | "
                f"{c.test_mean:.4f} | ±{c.test_ci95:.4f} |")
        lines.append("")
    lines += why_section(run)
    lines += ["## Members, sorted by test accuracy", "",
              markdown_table(run.members), "", "## Figures", ""]
    lines += [f"![{f[:-4]}]({FIGURES_DIR}/{f})"
              for f in figures_for(run, has_predictions)]
    return "\n".join(lines) + "\n"

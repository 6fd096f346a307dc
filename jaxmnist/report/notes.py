"""The words figures and summary.md share: what a run is, in one line, and
by which rule its learning rates and its best model were chosen."""

from __future__ import annotations

from collections import defaultdict

from jaxmnist.report.style import dataset_title
from jaxmnist.results.records import CellResult, RunRecords
from jaxmnist.results.stats import cell_of, has_lr_grid

#: The rule behind "best", everywhere (``evaluate --best``, predict, tables).
BEST_RULE = ("best = highest final validation accuracy; the test split is "
             "never used for a choice")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def rates_per_cell(cells: list[CellResult]) -> int:
    """The most learning rates any (optimizer, activation) trained."""
    seen: dict[tuple, int] = defaultdict(int)
    for c in cells:
        seen[cell_of(c)] += 1
    return max(seen.values(), default=1)


def lr_rule(run: RunRecords) -> str:
    """How each cell's learning rate was set."""
    if has_lr_grid(run.cells):
        return (f"learning rate chosen per cell from "
                f"{rates_per_cell(run.cells)} by mean validation accuracy")
    if run.config.learning_rates:
        return "learning rates as configured"
    return "default learning rate per optimizer"


def setup_line(run: RunRecords) -> str:
    """'MNIST, 10 epochs, 3 seeds (mean), learning rate chosen ...'."""
    cfg = run.config
    seeds = plural(cfg.seeds, "seed") + (" (mean, 95% CI)" if cfg.seeds > 1
                                         else "")
    subset = (f", {cfg.train_subset:,} training images" if cfg.train_subset
              else "")
    return (f"{dataset_title(cfg.dataset)}{subset}, "
            f"{plural(cfg.epochs, 'epoch')}, {seeds}, {lr_rule(run)}")

"""What a sweep shows while it runs: a progress bar per group."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from jaxmnist.core.train import Metrics


def best_val(history: list[Metrics]) -> float:
    """The best validation accuracy of any non-diverged member so far."""
    vals = [np.where(h.diverged, np.nan, h.val_accuracy) for h in history]
    vals = [v for v in vals if np.isfinite(v).any()]
    return float(max(np.nanmax(v) for v in vals)) if vals else float("nan")


class GroupBar:
    """One bar per group: epochs done, the best validation accuracy."""

    def __init__(self, name: str, members: int, epochs: int, first: int,
                 history: list[Metrics], enabled: bool = True):
        self.best = best_val(history)
        self.bar = tqdm(total=epochs, initial=first, unit="epoch", leave=True,
                        desc=f"{name} ({members} members)",
                        disable=not enabled)

    def epoch_done(self, metrics: Metrics) -> None:
        self.best = max(self.best, best_val([metrics]), key=lambda v: (
            not np.isnan(v), v))
        self.bar.set_postfix(best_val=f"{self.best:.4f}")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()

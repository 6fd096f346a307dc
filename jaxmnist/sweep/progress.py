"""What a sweep shows while it runs.

One bar for the whole run (member-epochs done of members x epochs, with an
ETA) and, below it, one for the group training now (its epochs and best
validation accuracy). While a group compiles the run bar says so; a group
resumed from a checkpoint or finished before says so in a line above the
bars, as does each group when it finishes. Work done before this process
started counts in the run bar but not in its rate, so the ETA holds.
"""

from __future__ import annotations

import sys

import numpy as np
from tqdm.auto import tqdm

from jaxmnist.core.train import Metrics


def best_val(history: list[Metrics]) -> float:
    """The best validation accuracy of any non-diverged member so far."""
    vals = [np.where(h.diverged, np.nan, h.val_accuracy) for h in history]
    vals = [v for v in vals if np.isfinite(v).any()]
    return float(max(np.nanmax(v) for v in vals)) if vals else float("nan")


class RunBar:
    """The whole run's bar: ``total`` member-epochs."""

    def __init__(self, total: int, enabled: bool = True):
        self.enabled = enabled
        self.bar = tqdm(total=total, unit="member-epoch", desc="run",
                        position=0, leave=True, disable=not enabled,
                        dynamic_ncols=True)

    def note(self, text: str) -> None:
        """A line above the bars (on stderr even without them)."""
        if self.enabled:
            tqdm.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def status(self, text: str) -> None:
        """What the run does now, before the bar (``compiling adam...``)."""
        if self.enabled:
            self.bar.set_description_str(f"run: {text}")

    def done_before(self, work: int) -> None:
        """``work`` member-epochs done by an earlier process: counted, not
        timed (the rate and ETA stay this process's)."""
        if self.enabled:
            self.bar.n += work
            self.bar.last_print_n = self.bar.n
            self.bar.refresh()

    def advance(self, work: int) -> None:
        if self.enabled:
            self.bar.update(work)

    def group(self, name: str, members: int, epochs: int, first: int,
              history: list[Metrics]) -> GroupBar:
        """The bar of group ``name``, resumed after ``first`` epochs."""
        if first:
            self.note(f"resuming {name} from epoch {first}")
        self.done_before(members * first)
        self.status(name)
        return GroupBar(name, members, epochs, first, history, self)

    def close(self) -> None:
        self.bar.close()


class GroupBar:
    """One group's bar under the run's: epochs done, the best validation
    accuracy."""

    def __init__(self, name: str, members: int, epochs: int, first: int,
                 history: list[Metrics], run: RunBar):
        self.run, self.name, self.members = run, name, members
        self.best = best_val(history)
        self.bar = tqdm(total=epochs, initial=first, unit="epoch",
                        leave=False, position=1, disable=not run.enabled,
                        desc=f"{name} ({members} members)",
                        dynamic_ncols=True)

    def epoch_done(self, metrics: Metrics) -> None:
        self.best = max(self.best, best_val([metrics]), key=lambda v: (
            not np.isnan(v), v))
        self.bar.set_postfix(best_val=f"{self.best:.4f}")
        self.bar.update(1)
        self.run.advance(self.members)

    def close(self) -> None:
        """Remove the bar, leaving a line when the group finished."""
        finished = self.bar.n == self.bar.total
        self.bar.close()
        if finished and self.run.enabled:
            self.run.note(f"{self.name} ({self.members} members): "
                          f"{self.bar.total} epochs, best val "
                          f"{self.best:.4f}")

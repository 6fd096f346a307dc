"""The later groups compile while a group trains.

XLA compiles on one CPU thread with the GIL released, so a group's
compilation can run beside the training of the groups before it: one
worker thread places and compiles the sweep's groups
(:func:`~.group.plan_group`) in order, from the start, up to
``run.PLANNED_AHEAD`` groups ahead of the one training. The classic grid's
per-sample SGD group comes first and leaves part of the second core idle,
which its later groups' compilation fills. One worker thread, not two:
with two, the first group waits for two compilations at once
(docs/performance.md, "Measurements behind design choices"). With several
processes the groups plan where they train: planning meets the other
processes at collectives, which must come in the same order in every
process.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["CompileAhead"]


class CompileAhead:
    """Runs submitted plans on one worker thread, in submission order
    (none when not ``enabled``: :meth:`take` then gives None)."""

    def __init__(self, enabled: bool):
        self._pool = (ThreadPoolExecutor(1, thread_name_prefix="compile")
                      if enabled else None)
        self._futures: dict[Any, Future] = {}

    def submit(self, key, fn: Callable, *args) -> None:
        """Start ``fn(*args)`` after the plans submitted before it."""
        if self._pool is not None:
            self._futures[key] = self._pool.submit(fn, *args)

    def take(self, key) -> Future | None:
        """The plan submitted as ``key`` (None: none was)."""
        return self._futures.pop(key, None)

    def close(self) -> None:
        """Drop the plans not started; wait for the one under way (an XLA
        compilation cannot be cut short: a stopped sweep exits once it is
        done, seconds for the classic grid's programs)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> CompileAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

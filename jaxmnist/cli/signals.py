"""Signals stop a sweep cleanly: SIGINT (Ctrl-C), SIGTERM (a scheduler's
preemption, ``kill``) and SIGHUP (a closed terminal).

The first signal asks the sweep to stop at its next safe point (the epoch in
progress finishes and is checkpointed); a second one stops it at once (the
epoch in progress is abandoned; the last checkpoint stays). Before there is
anything to finish (while the data loads or downloads) the first signal
stops it at once. Either way the sweep raises
:class:`~jaxmnist.errors.Interrupted` (or ``KeyboardInterrupt``) and the
command exits with 128 + the signal's number (130, 143, 129).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from jaxmnist.errors import StopRequest

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM",
                                                     "SIGHUP")
                if hasattr(signal, name))


def exit_status(signal_name: str) -> int:
    """128 + the signal's number, as a shell reports a process it killed."""
    return 128 + int(getattr(signal, signal_name, signal.SIGINT))


@contextmanager
def stop_on_signals(stop: StopRequest, prog: str,
                    at_once: Callable[[], bool] = lambda: False
                    ) -> Iterator[StopRequest]:
    """Route SIGINT, SIGTERM and SIGHUP to ``stop`` while inside; the
    previous handlers come back on leaving. While ``at_once()`` holds
    (nothing to finish yet), the first signal stops at once too."""
    def handler(signum, _frame):
        name = signal.Signals(signum).name
        if stop.requested:  # the second signal: now
            raise KeyboardInterrupt
        stop.request(name)
        if at_once():
            raise KeyboardInterrupt
        try:
            print(f"\n{prog}: {name}: stopping after the epoch in progress "
                  f"(send it again to stop at once)", file=sys.stderr,
                  flush=True)
        except OSError:  # the terminal is gone (SIGHUP)
            pass

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)

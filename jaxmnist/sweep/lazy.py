"""Programs compiled when first needed, not before.

A group's guarded epoch is needed only when a loss stops being finite
(compiled then), and its probe-batch program not before its first epoch
has trained: that one compiles on a thread of its own while the first
epoch trains (:meth:`OnFirstCall.compile_beside`), so neither holds up the
group's start.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

__all__ = ["OnFirstCall"]


class OnFirstCall:
    """A jitted program compiled on its first call (for that call's
    shapes, which every later call shares), its compile seconds kept (0
    until then)."""

    def __init__(self, jitted):
        self.jitted, self.compiled, self.seconds = jitted, None, 0.0
        self._lock, self._started = threading.Lock(), False

    def compile(self, *args_like) -> Any:
        """The compiled program, compiled now for ``args_like`` (arrays or
        ShapeDtypeStructs) unless it was before."""
        with self._lock:
            if self.compiled is None:
                t = time.perf_counter()
                self.compiled = self.jitted.lower(*args_like).compile()
                self.seconds = time.perf_counter() - t
        return self.compiled

    def compile_beside(self, *args_like) -> None:
        """Start compiling on a thread of its own, unless compiled or
        started before; a call meanwhile waits for it. (A failure there is
        left to that call, which compiles again and raises. Not a daemon:
        an interpreter exiting mid-compile waits for it rather than stop a
        thread inside XLA.)"""
        if self.compiled is not None or self._started:
            return
        self._started = True

        def compile_quietly():
            with contextlib.suppress(Exception):
                self.compile(*args_like)

        threading.Thread(target=compile_quietly, daemon=False,
                         name="jaxmnist-compile").start()

    def __call__(self, *args):
        return self.compile(*args)(*args)

"""Programs compiled when first needed, not before.

A group's guarded epoch is needed only when a loss stops being finite, and
its probe-batch program not before its first epoch is under way: compiled
then, on the host thread that would otherwise wait for that epoch, neither
holds up the group's start (the classic grid's probe program: 1.8 s).
"""

from __future__ import annotations

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
        self._lock = threading.Lock()

    def compile(self, *args_like) -> Any:
        """The compiled program, compiled now for ``args_like`` (arrays or
        ShapeDtypeStructs) unless it was before."""
        with self._lock:
            if self.compiled is None:
                t = time.perf_counter()
                self.compiled = self.jitted.lower(*args_like).compile()
                self.seconds = time.perf_counter() - t
        return self.compiled

    def __call__(self, *args):
        return self.compile(*args)(*args)

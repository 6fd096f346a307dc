"""JAX's persistent compilation cache, on by default for the commands.

A rerun, a resume or another run of the same groups loads each compiled
program from disk instead of compiling it again. The folder is, in order:
the sweep's ``--compile-cache DIR``, ``$JAXMNIST_COMPILE_CACHE``, else
``$XDG_CACHE_HOME/jaxmnist/jax`` (``~/.cache/jaxmnist/jax``); ``off`` in
either place turns the cache off. JAX keys every program by its HLO, its
compile options, the devices and the jax and jaxlib versions, so a program
read back is the one that would have been compiled, and gives the same bits.
The folder grows with the programs compiled; delete it to start afresh.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The environment variable naming the folder (or ``off``).
ENV = "JAXMNIST_COMPILE_CACHE"
OFF = "off"
#: Programs that compile faster than this are not written (JAX's default is
#: 1 s, which leaves out the sweep's init and evaluation programs on a CPU;
#: below this, reading an entry back saves less than it costs to write).
MIN_COMPILE_S = 0.2


def cache_dir(setting: str | None = None) -> Path | None:
    """The folder the cache uses: ``setting`` when given, else
    ``$JAXMNIST_COMPILE_CACHE``, else the per-user default; None for
    ``off``."""
    value = setting if setting is not None else os.environ.get(ENV) or None
    if value is not None:
        return None if value.strip().lower() == OFF else Path(
            value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxmnist" / "jax"


def enable(setting: str | None = None) -> Path | None:
    """Turn JAX's persistent compilation cache on in :func:`cache_dir`
    (before the first compilation: JAX decides once per process); the
    folder, or None when off or when it cannot be created (then a note on
    stderr, and every program compiles as without a cache)."""
    folder = cache_dir(setting)
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied", str(folder))
    except OSError as e:
        print(f"note: no compilation cache: cannot write {str(folder)!r} "
              f"({e.strerror}); --compile-cache DIR or "
              f"{ENV}=off", file=sys.stderr, flush=True)
        return None
    import jax  # noqa: PLC0415  (the commands import it anyway)

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs",
                      MIN_COMPILE_S)
    return folder

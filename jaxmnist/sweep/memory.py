"""How much memory a compiled group takes, and how much it may take.

A group's epoch program is compiled before it runs; XLA's memory analysis
of that compiled program (arguments + outputs - donated aliases + temporary
buffers, per device) is what the group needs. The budget is ``--max-memory``
when given, else a share of what is free: half the available RAM on a CPU
(the host also holds the checkpoint copies and finished results there),
80% of an accelerator's free memory. A group over budget runs in chunks
(see :mod:`.chunks`).
"""

from __future__ import annotations

import jax
import numpy as np

CPU_SHARE = 0.5
ACCELERATOR_SHARE = 0.8


def format_size(n: float) -> str:
    """``1.5 GiB``, ``320.0 MiB``, ``12 B``."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def compiled_bytes(compiled) -> int:
    """Per-device bytes a compiled program needs while it runs, from XLA's
    memory analysis (0 when the backend gives none)."""
    m = compiled.memory_analysis()
    if m is None:
        return 0
    return int(m.argument_size_in_bytes + m.output_size_in_bytes
               - m.alias_size_in_bytes + m.temp_size_in_bytes)


def tree_bytes(tree) -> int:
    """Bytes of every array leaf of ``tree`` (one copy)."""
    return int(sum(np.prod(np.shape(x)) * np.dtype(x.dtype).itemsize
                   for x in jax.tree.leaves(tree)))


def _available_ram() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os  # noqa: PLC0415  (fallback only)

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def default_budget() -> int:
    """Per-device bytes a group may take when no ``--max-memory`` is set."""
    device = jax.local_devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and stats.get("bytes_limit"):
        free = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
        return int(ACCELERATOR_SHARE * free)
    return int(CPU_SHARE * _available_ram() / jax.local_device_count())


def budget(max_memory: int | None) -> int:
    return default_budget() if max_memory is None else max_memory

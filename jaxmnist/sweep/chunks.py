"""A group too large for memory, as chunks run one after another.

A group's program is shaped ``[seeds, cells]`` (seeds outer, cells inner).
When it needs more memory than the budget, its members are split into
chunks of one fixed shape ``[s, c]``: whole seed rows while one row of every
cell fits, else one seed and ``c`` cells. The last chunk along each axis is
padded (the last seed or cell repeated, its results dropped), so every chunk
runs the same compiled program: one compile per group.

A member's numbers do not depend on its chunk: its data order, dropout and
initial key come from its seed number, its hyperparameters from its cell,
and vmapped members never mix. What can differ is the floating-point
reduction order of the first-layer matmuls, ``[B, 784] @ [784, M*128]`` and
its gradient, whose blocking XLA picks per shape ``M``: chunked results
equal one-program results to float tolerance, and tests/test_chunks.py
checks whether they are bitwise on this backend.

How much memory a group needs is read from its compiled epoch program
(XLA's memory analysis: arguments + outputs - donated aliases + temporary
buffers, per device). The budget is ``--max-memory`` when given, else a
share of what is free: half the available RAM on a CPU (the host also holds
the checkpoint copies and finished results there), 80% of an accelerator's
free memory. :func:`jaxmnist.sweep.placed.plan_chunks` chooses the layout.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from jaxmnist import files

LAYOUT_FILE = "chunks.json"
CPU_SHARE = 0.5
ACCELERATOR_SHARE = 0.8


class Layout(NamedTuple):
    """Every chunk's (padded) shape: ``seeds`` x ``cells`` members."""
    seeds: int
    cells: int

    @property
    def members(self) -> int:
        return self.seeds * self.cells


def whole(n_seeds: int, n_cells: int, unit: int) -> Layout:
    """The one-chunk layout: every seed, cells padded to ``unit``."""
    return Layout(n_seeds, math.ceil(n_cells / unit) * unit)


def fitting(n_seeds: int, n_cells: int, unit: int, members: int) -> Layout:
    """The largest layout of at most ``members`` per chunk (never less than
    one seed of ``unit`` cells), balanced so the last chunk pads little.

    ``unit`` is the device count: the cell axis is split over the devices.
    """
    full = whole(n_seeds, n_cells, unit)
    if members >= full.members:
        return full
    if members >= full.cells:  # whole seed rows
        rows = members // full.cells
        return Layout(math.ceil(n_seeds / math.ceil(n_seeds / rows)),
                      full.cells)
    c = max(unit, members // unit * unit)
    per = math.ceil(n_cells / math.ceil(n_cells / c))
    return Layout(1, math.ceil(per / unit) * unit)


def count(n_seeds: int, n_cells: int, layout: Layout) -> int:
    return (math.ceil(n_seeds / layout.seeds)
            * math.ceil(n_cells / layout.cells))


class Chunk(NamedTuple):
    """Which seeds and cells (positions in the group) one chunk trains."""
    seeds: tuple[int, ...]
    cells: tuple[int, ...]

    def members(self, n_cells: int) -> list[int]:
        """The group's member indices of this chunk (seed-major)."""
        return [s * n_cells + c for s in self.seeds for c in self.cells]


def split(n_seeds: int, n_cells: int, layout: Layout) -> list[Chunk]:
    """The chunks, seed blocks outer, cell blocks inner (unpadded)."""
    return [Chunk(tuple(range(s, min(s + layout.seeds, n_seeds))),
                  tuple(range(c, min(c + layout.cells, n_cells))))
            for s in range(0, n_seeds, layout.seeds)
            for c in range(0, n_cells, layout.cells)]


def members_within(budget: int, fixed: float, per_member: float,
                   unit: int) -> int:
    """How many members fit ``budget`` bytes at ``fixed + per_member * m``
    (at least ``unit``)."""
    return max(unit, int((budget - fixed) // max(per_member, 1.0)))


def scatter(parts: list[tuple[list[int], object]], total: int):
    """Pytrees with a leading member axis, one per chunk (``(member indices,
    tree)``), as one tree of ``total`` members in group order."""
    def merge(*leaves):
        first = np.asarray(leaves[0])
        out = np.empty((total, *first.shape[1:]), first.dtype)
        for (idx, _), leaf in zip(parts, leaves):
            out[np.asarray(idx)] = np.asarray(leaf)
        return out
    return jax.tree.map(merge, *(tree for _, tree in parts))


def record(path: Path | None, layout: Layout) -> None:
    """Remember the layout a chunked group's checkpoints were made with."""
    if path is not None:
        files.write_json(path / LAYOUT_FILE, layout._asdict())


def recorded(path: Path | None) -> Layout | None:
    """The layout an interrupted group was checkpointed with, if any."""
    if path is None or not (path / LAYOUT_FILE).is_file():
        return None
    return Layout(**json.loads((path / LAYOUT_FILE).read_text()))


def chunk_dir(path: Path | None, i: int) -> Path | None:
    return None if path is None else path / f"chunk{i:04d}"


# --------------------------------------------------------------------------
# Memory: what a compiled program needs, what a group may take
# --------------------------------------------------------------------------

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

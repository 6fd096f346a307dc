"""What every figure shares: the Agg backend, atomic PNG writes, the order
and colours of optimizers and activations, panel grids and epoch axes."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed, before pyplot is imported
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from jaxmnist import files

DPI = 110

__all__ = ["DPI", "cell_label", "colors", "epoch_axis", "grid_shape",
           "ordered", "plt", "save_figure"]


def save_figure(fig, path: str | Path) -> None:
    """Write ``fig`` as a PNG, atomically, and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    files.write_bytes(path, buf.getvalue())


def ordered(values: Iterable[str], preferred: Sequence[str] = ()) -> list[str]:
    """The distinct ``values``, in ``preferred`` order first, then as seen."""
    seen = list(dict.fromkeys(values))
    rank = {v: i for i, v in enumerate(preferred)}
    return sorted(seen, key=lambda v: (rank.get(v, len(rank)), seen.index(v)))


def colors(names: list[str]) -> dict[str, tuple]:
    """A distinct colour per name (tab10, or tab20 beyond ten)."""
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def grid_shape(n: int, max_cols: int = 4) -> tuple[int, int]:
    """(rows, columns) of a panel grid for ``n`` panels."""
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def epoch_axis(ax, epochs: int) -> None:
    """Integer epoch ticks 1..epochs, also for a one-epoch run."""
    n = max(epochs, 1)
    ax.set_xlim(0.7, n + 0.3)
    if n <= 12:
        ax.set_xticks(range(1, n + 1, 1 if n <= 6 else 2))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))


def cell_label(optimizer: str, activation: str) -> str:
    return f"{optimizer} / {activation}"

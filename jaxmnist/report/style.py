"""What every figure shares: the Agg backend, atomic PNG writes, the order
and colours of optimizers and activations, panel grids and epoch axes."""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed, before pyplot is imported
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from jaxmnist import files

DPI = 110

__all__ = ["DPI", "MARKERS", "bottom_legend", "cell_label", "colors",
           "dataset_title", "epoch_axis", "fixed_layout", "grid_shape",
           "markers", "ordered", "plt", "save_figure", "spread", "wrap"]

#: Marker shapes, one per series, so lines that coincide stay apart.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
_DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


def save_figure(fig, path: str | Path, crop: bool = True) -> None:
    """Write ``fig`` as a PNG, atomically, and close it. ``crop``: to what
    it draws (``bbox_inches="tight"``, a second full draw); a figure whose
    constrained layout keeps everything inside (titles wrapped to its
    width, legends ``"outside"``) can skip it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI,
                bbox_inches="tight" if crop else None)
    plt.close(fig)
    files.write_bytes(path, buf.getvalue())


def fixed_layout(fig, title: str, *, legend_rows: int = 1,
                 left: float = 0.95, wspace: float = 0.08,
                 hspace: float = 0.12, title_size: float = 11) -> None:
    """Margins in inches for a panel grid with column titles, a wrapped
    ``title`` on top and ``legend_rows`` of legend at the bottom (put
    there by :func:`bottom_legend`), set once: no layout engine, so saving
    draws the figure once, where a constrained layout draws it twice and
    measures every tick label (half the drawing time of a 24-panel grid).
    ``wspace``/``hspace``: gaps as fractions of a panel."""
    w, h = fig.get_size_inches()
    lines = title.count("\n") + 1
    top = 0.1 + lines * title_size * 1.25 / 72 + 0.3  # title + column titles
    bottom = 0.5 + 0.28 * legend_rows  # x labels + legend
    fig.subplots_adjust(left=left / w, right=1 - 0.15 / w, top=1 - top / h,
                        bottom=bottom / h, wspace=wspace, hspace=hspace)
    fig.suptitle(title, fontsize=title_size, y=1 - 0.08 / h, va="top")


def bottom_legend(fig, handles, labels, ncol: int, fontsize: float = 9
                  ) -> None:
    """A frameless legend along the bottom edge (see :func:`fixed_layout`)."""
    fig.legend(handles, labels, loc="lower center",
               bbox_to_anchor=(0.5, 0.0), frameon=False, ncol=ncol,
               fontsize=fontsize)


def ordered(values: Iterable[str], preferred: Sequence[str] = ()) -> list[str]:
    """The distinct ``values``, in ``preferred`` order first, then as seen;
    a setup (``adam-bn``) ranks with its optimizer (``adam``)."""
    seen = list(dict.fromkeys(values))
    rank = {v: i for i, v in enumerate(preferred)}

    def key(v: str):
        return (rank.get(v, rank.get(v.split("-")[0], len(rank))),
                seen.index(v))
    return sorted(seen, key=key)


def colors(names: list[str]) -> dict[str, tuple]:
    """A distinct colour per name (tab10, or tab20 beyond ten)."""
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def markers(names: list[str]) -> dict[str, str]:
    """A distinct marker shape per name."""
    return {n: MARKERS[i % len(MARKERS)] for i, n in enumerate(names)}


def grid_shape(n: int, max_cols: int = 4) -> tuple[int, int]:
    """(rows, columns) of a panel grid for ``n`` panels, as square as
    ``max_cols`` allows (4 panels: 2 x 2 with max_cols 3)."""
    rows = math.ceil(max(n, 1) / max_cols)
    return rows, math.ceil(max(n, 1) / rows)


def spread(ys: Sequence[float], gap: float, lo: float, hi: float
           ) -> list[float]:
    """Label positions near ``ys``, at least ``gap`` apart, kept inside
    [lo, hi] where they fit (labels at the ends of lines)."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    pos = [min(max(ys[i], lo), hi) for i in order]
    for _ in range(50):
        moved = False
        for k in range(1, len(pos)):
            overlap = pos[k - 1] + gap - pos[k]
            if overlap > 1e-12:
                pos[k - 1] -= overlap / 2
                pos[k] += overlap / 2
                moved = True
        shift = max(0.0, lo - pos[0]) if pos else 0.0
        shift -= max(0.0, pos[-1] + shift - hi) if pos else 0.0
        pos = [p + shift for p in pos]
        if not moved:
            break
    out = [0.0] * len(ys)
    for k, i in enumerate(order):
        out[i] = pos[k]
    return out


def wrap(text: str, width_in: float, fontsize: float = 10) -> str:
    """``text`` wrapped line by line to about ``width_in`` inches."""
    chars = max(20, int(width_in * 144 / fontsize))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def dataset_title(name: str) -> str:
    """"MNIST", "Fashion-MNIST"."""
    return _DATASET_TITLES.get(name, name)


def epoch_axis(ax, epochs: int) -> None:
    """Integer epoch ticks 1..epochs, also for a one-epoch run."""
    n = max(epochs, 1)
    ax.set_xlim(0.7, n + 0.3)
    if n <= 12:
        ax.set_xticks(range(1, n + 1, 1 if n <= 6 else 2))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))


def cell_label(optimizer: str, activation: str,
               learning_rate: float | None = None) -> str:
    """'adam / relu', with '  lr 0.001' when a learning rate is given."""
    lr = "" if learning_rate is None else f"  lr {learning_rate:.3g}"
    return f"{optimizer} / {activation}{lr}"


"""landscape.csv and landscape.npz: a run's loss-landscape records.

Each straight path a sweep's ``--landscape`` evaluated is one
:class:`PathRow` of landscape.csv (its barrier and endpoints) and one row
of the path arrays of landscape.npz (its curves, in the same order); the
2-D slices are :class:`Surface` records, kept in landscape.npz only.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxmnist import files
from jaxmnist.results.records import read_csv, write_csv

#: What a run dir holds from this module.
LANDSCAPE_FILES = ("landscape.csv", "landscape.npz")
#: The kinds of path: a member from its initial params to its final ones;
#: two seeds of one cell; the best members of two optimizers.
PATH_KINDS = ("init_to_final", "seeds", "optimizers")
CURVES = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


def member_label(m) -> str:
    """``setup/activation/lr<rate>[/do<p>][/wd<l>][/<options>]/seed<s>``:
    a member (of any result record) unambiguous within its run."""
    parts = [m.setup, m.activation, f"lr{m.learning_rate:g}"]
    parts += [f"do{m.dropout:g}"] if m.dropout else []
    parts += [f"wd{m.weight_decay:g}"] if m.weight_decay else []
    parts += [m.optimizer_options] if m.optimizer_options else []
    return "/".join([*parts, f"seed{m.seed}"])


class PathRow(NamedTuple):
    """landscape.csv: one straight path from ``start`` to ``end`` (member
    labels, or ``init`` for a member's own initial params).

    ``*_barrier`` is the path's largest rise above the line between its
    endpoints' losses (about 0: linearly connected); ``val_accuracy_min``
    the lowest validation accuracy along it. ``optimizer`` and
    ``activation`` are the end member's."""
    kind: str
    start: str
    end: str
    optimizer: str
    activation: str
    train_barrier: float
    val_barrier: float
    train_loss_start: float
    train_loss_end: float
    val_accuracy_start: float
    val_accuracy_end: float
    val_accuracy_min: float


class Surface(NamedTuple):
    """A 2-D slice around ``member``'s final params: the training-subset
    loss and accuracy ``[len(coords), len(coords)]`` at ``params + x d1 +
    y d2`` for x, y in ``coords`` (``role``: best or worst cell)."""
    role: str
    member: str
    coords: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray


class Landscape(NamedTuple):
    """Everything ``--landscape`` computed: the paths (rows and their
    curves ``[paths, alphas]``), the slices, and the stage's facts
    (``seconds``, the images each split used)."""
    rows: list[PathRow]
    alphas: np.ndarray
    curves: dict[str, np.ndarray]
    surfaces: list[Surface]
    meta: dict[str, Any]


def path_rows(kind: str, pairs: list[tuple[str, Any]], alphas: np.ndarray,
              curves: dict[str, np.ndarray]) -> list[PathRow]:
    """The rows of paths ``pairs`` ((start label, end member) each) whose
    ``curves`` are ``[paths, alphas]`` each."""
    from jaxmnist.core.landscape import barrier  # noqa: PLC0415  (jax)

    barriers = {k: np.asarray(barrier(alphas, np.asarray(curves[k])))
                for k in ("train_loss", "val_loss")}
    return [PathRow(kind, start, member_label(end), end.optimizer,
                    end.activation, float(barriers["train_loss"][i]),
                    float(barriers["val_loss"][i]),
                    float(curves["train_loss"][i, 0]),
                    float(curves["train_loss"][i, -1]),
                    float(curves["val_accuracy"][i, 0]),
                    float(curves["val_accuracy"][i, -1]),
                    float(np.min(curves["val_accuracy"][i])))
            for i, (start, end) in enumerate(pairs)]


def write_landscape(out: Path, land: Landscape) -> None:
    """landscape.csv and landscape.npz, each written atomically."""
    write_csv(out / "landscape.csv", land.rows, PathRow)
    arrays: dict[str, Any] = {
        "alphas": land.alphas, "meta": np.asarray(json.dumps(land.meta)),
        **{f"path_{k}": land.curves[k] for k in CURVES},
        "surface_roles": np.asarray([s.role for s in land.surfaces]),
        "surface_members": np.asarray([s.member for s in land.surfaces])}
    for i, s in enumerate(land.surfaces):
        arrays |= {f"surface{i}_coords": s.coords, f"surface{i}_loss": s.loss,
                   f"surface{i}_accuracy": s.accuracy}
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    files.write_bytes(out / "landscape.npz", buf.getvalue())


def has_landscape(run_dir: str | Path) -> bool:
    return all((Path(run_dir) / f).is_file() for f in LANDSCAPE_FILES)


def read_landscape(run_dir: str | Path) -> Landscape:
    """The landscape records of a run dir.

    Raises:
      ValueError: (one line) a file is missing or damaged.
    """
    run = Path(run_dir)
    try:
        rows = read_csv(run / "landscape.csv", PathRow)
        with np.load(run / "landscape.npz") as f:
            surfaces = [Surface(str(role), str(member),
                                f[f"surface{i}_coords"], f[f"surface{i}_loss"],
                                f[f"surface{i}_accuracy"])
                        for i, (role, member) in enumerate(zip(
                            f["surface_roles"], f["surface_members"]))]
            land = Landscape(rows, f["alphas"],
                             {k: f[f"path_{k}"] for k in CURVES}, surfaces,
                             json.loads(str(f["meta"])))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"the landscape files of {str(run)!r} are missing "
                         f"or damaged ({type(e).__name__}: {e})") from e
    if len(land.rows) != len(land.curves["train_loss"]):
        raise ValueError(f"{str(run / 'landscape.csv')!r} and landscape.npz "
                         f"disagree ({len(land.rows)} against "
                         f"{len(land.curves['train_loss'])} paths)")
    return land

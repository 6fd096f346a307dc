"""What several test modules share: paths, synthetic data and runs, one
pytree comparison."""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import jax
import numpy as np
import optax

import jaxmnist as jm
from jaxmnist.data import IDX_FILES
from jaxmnist.results.records import HistoryRow, MemberResult, RunRecords
from jaxmnist.results.stats import cell_results
from jaxmnist.sweep.config import SweepConfig

ROOT = Path(__file__).resolve().parents[1]


def tree_allclose(a, b, rtol: float = 0.0, atol: float = 0.0) -> None:
    """Assert two pytrees have the same structure and close leaves (exactly
    equal with the default tolerances)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol,
                                   atol=atol)


def scan_run(tx, params, grads):
    """Params after each of ``grads``' steps of the optimizer ``tx``
    (stacked on a leading axis), and its final state."""
    def body(carry, g):
        p, s = carry
        u, s = tx.update(g, s, p)
        return (optax.apply_updates(p, u), s), optax.apply_updates(p, u)
    stacked = jax.tree.map(lambda *xs: jax.numpy.stack(xs), *grads)
    (_, state), ps = jax.lax.scan(body, (params, tx.init(params)), stacked)
    return ps, state


def take(tree, i: int):
    """Member ``i`` of a pytree with a leading member axis."""
    return jax.tree.map(lambda x: x[i], tree)


def synthetic_dataset(n_train=256, n_val=64, n_test=64, dim=784, classes=10,
                      seed=0) -> jm.Dataset:
    """A learnable toy problem: noisy copies of one random image per class."""
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(classes, dim), dtype=np.uint8)

    def split(n):
        y = rng.integers(0, classes, size=n).astype(np.int32)
        noise = rng.integers(0, 256, size=(n, dim), dtype=np.uint8)
        x = np.where(rng.random((n, dim)) < 0.5, prototypes[y], noise)
        return x.astype(np.uint8), y

    return jm.Dataset(*split(n_train), *split(n_val), *split(n_test))


def shared_data_dir(name: str) -> Path | None:
    """../shared/data/<name> (or $JAXMNIST_SHARED_DATA/<name>) if complete."""
    base = Path(os.environ.get("JAXMNIST_SHARED_DATA",
                               ROOT.parent / "shared" / "data"))
    path = base / name
    return path if all((path / f).is_file() for f in IDX_FILES) else None


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG file, checking its signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def synthetic_run(optimizers, activations, seeds=1, epochs=4, nan_cell=None,
                  lrs=(0.01,)) -> RunRecords:
    """Plausible records of a run (no training), with one cell's members
    diverging from epoch 2 when ``nan_cell`` names it."""
    rng = np.random.default_rng(0)
    members, history = [], []
    for o in optimizers:
        for a in activations:
            for lr in lrs:
                for s in range(seeds):
                    base = 0.9 + 0.08 * rng.random()
                    div = (o, a) == nan_cell
                    curve = [base - 0.1 / (e + 1) for e in range(epochs)]
                    for e in range(epochs):
                        bad = div and e >= 1
                        history.append(HistoryRow(
                            o, a, lr, s, e + 1,
                            math.nan if bad else 1 / (e + 1), curve[e] - 0.01,
                            1.2 / (e + 1), curve[e], 1.2 / (e + 1), curve[e],
                            bad))
                    members.append(MemberResult(
                        o, a, lr, s, curve[-1], curve[-1], curve[-1], 0.1,
                        0.1, 0.1, epochs, 2 if div else None,
                        2 if curve[1] >= 0.9 else None,
                        200 if curve[1] >= 0.9 else None,
                        2.0 if curve[1] >= 0.9 else None, 1.0))
    config = SweepConfig(optimizers=tuple(optimizers),
                         activations=tuple(activations), seeds=seeds,
                         epochs=epochs)
    return RunRecords(config, members, cell_results(members), history,
                      {"device": "cpu:0", "train_seconds": 1.0})

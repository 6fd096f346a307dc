"""Loss landscapes of your own params: straight paths, barriers and 2-D
slices, compiled; see :mod:`jaxmnist.core.landscape` for the definitions.

``interpolate(params_a, params_b, alphas, activation, train, val)`` gives
the loss and accuracy along the straight path on a training subset and on
validation; ``barrier(alphas, losses)`` how far that path rises above the
line between its endpoints; ``slice_2d(params, directions, grid,
activation, images, labels)`` the loss on a grid around ``params`` along
two :func:`filter_normalized_direction` directions. ``activation`` is a
name or an index; every function is pure and vmaps over params (and over
an index activation), as the sweep's ``--landscape`` does over members.

The sweep's ``--landscape`` stage (:func:`run_landscape`) uses them: once
every group has trained and saved its models, it evaluates, each as one
vmapped program per group or per set of pairs:

* every member's straight path from its initial params (drawn again from
  its key, the same draws its training started from) to its final ones;
* the barrier between every two seeds of each cell (same optimizer,
  activation and tuning): do different seeds find linearly connected
  solutions?
* the barrier between the best members of every two optimizers, for the
  activation of the run's best member;
* a 2-D slice along two filter-normalised random directions around a
  member of the best and of the worst cell.

The paths use the first :data:`TRAIN_IMAGES` training images and the whole
validation split; the slices the first :data:`SLICE_IMAGES` training
images, as Li et al. slice the training loss.
"""

from __future__ import annotations

import functools
import itertools
import math
import pathlib
import time
from collections import defaultdict
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmnist.core import landscape as _core
from jaxmnist.core.activations import activation_index, as_index
from jaxmnist.core.landscape import barrier as barrier
from jaxmnist.core.landscape import (
    filter_normalized_direction as filter_normalized_direction,
)
from jaxmnist.core.landscape import lerp as lerp
from jaxmnist.core.landscape import model_evaluate as model_evaluate
from jaxmnist.core.landscape import path as path
from jaxmnist.core.landscape import surface as surface
from jaxmnist.core.train import member_key
from jaxmnist.data import Dataset
from jaxmnist.results import stats
from jaxmnist.results.landscape import (
    CURVES,
    Landscape,
    member_label,
    path_rows,
)
from jaxmnist.results.landscape import Surface as SurfaceRecord
from jaxmnist.results.members import member_path
from jaxmnist.results.records import CellResult, MemberResult
from jaxmnist.sweep import store
from jaxmnist.sweep.config import GroupSpec, SweepConfig
from jaxmnist.types import Array


class Path(NamedTuple):
    """Loss and accuracy at each ``alphas`` point (last axis) of a straight
    path, on the training subset and on validation."""
    alphas: jax.Array
    train_loss: jax.Array
    train_accuracy: jax.Array
    val_loss: jax.Array
    val_accuracy: jax.Array


class Surface(NamedTuple):
    """Loss and accuracy ``[len(xs), len(ys)]`` of a 2-D slice."""
    xs: jax.Array
    ys: jax.Array
    loss: jax.Array
    accuracy: jax.Array


def interpolate(params_a, params_b, alphas: Array,
                activation: str | jax.typing.ArrayLike,
                train: tuple[Array, Array], val: tuple[Array, Array],
                choices: tuple[int, ...] | None = None,
                batch_size: int | None = None) -> Path:
    """The straight path from ``params_a`` (alpha 0) to ``params_b``
    (alpha 1), evaluated on ``train`` and ``val`` (each (images, labels))
    at every ``alphas`` point, ``batch_size`` points at a time."""
    return _interpolate(params_a, params_b, jnp.asarray(alphas),
                        as_index(activation), train, val, choices,
                        batch_size)


@partial(jax.jit, static_argnames=("choices", "batch_size"))
def _interpolate(params_a, params_b, alphas, activation, train, val,
                 choices, batch_size) -> Path:
    on = lambda split: _core.path(
        _core.model_evaluate(activation, split[0], split[1], choices),
        params_a, params_b, alphas, batch_size)
    return Path(alphas, *on(train), *on(val))


def random_directions(key: jax.Array, params) -> tuple:
    """Two independent :func:`filter_normalized_direction` directions."""
    k1, k2 = jax.random.split(key)
    return (filter_normalized_direction(k1, params),
            filter_normalized_direction(k2, params))


def slice_2d(params, directions: tuple, grid: Array | tuple[Array, Array],
             activation: str | jax.typing.ArrayLike, images: Array,
             labels: Array, choices: tuple[int, ...] | None = None,
             batch_size: int | None = None) -> Surface:
    """The loss surface ``params + x * d1 + y * d2`` on (images, labels);
    ``grid`` is the coordinates of both axes, or a pair (xs, ys)."""
    xs, ys = grid if isinstance(grid, tuple) else (grid, grid)
    return _slice_2d(params, directions, jnp.asarray(xs), jnp.asarray(ys),
                     as_index(activation), images, labels, choices,
                     batch_size)


@partial(jax.jit, static_argnames=("choices", "batch_size"))
def _slice_2d(params, directions, xs, ys, activation, images, labels,
              choices, batch_size) -> Surface:
    loss, acc = _core.surface(
        _core.model_evaluate(activation, images, labels, choices), params,
        directions, xs, ys, batch_size)
    return Surface(xs, ys, loss, acc)

# --------------------------------------------------------------------------
# The sweep's --landscape stage
# --------------------------------------------------------------------------

ALPHAS = np.linspace(0.0, 1.0, 21)
GRID = np.linspace(-1.0, 1.0, 25)
TRAIN_IMAGES, SLICE_IMAGES = 5000, 2000
#: Points evaluated at once (vmapped) inside a path's or a slice's loop,
#: and paths at once (vmapped): a bound on the memory, whatever the grid.
POINTS_AT_ONCE, PATHS_AT_ONCE = 7, 8
#: Folded into the root seed for the slices' random directions.
DIRECTIONS_SEED = 0x5C1


def run_landscape(cfg: SweepConfig, out: pathlib.Path, data: Dataset,
                  members: list[MemberResult],
                  cells: list[CellResult]) -> Landscape:
    """The landscape of a trained sweep whose models are saved in ``out``
    (``members`` in the order of ``cfg.groups()``' members)."""
    start = time.perf_counter()
    splits = ((data.train_images[:TRAIN_IMAGES],
               data.train_labels[:TRAIN_IMAGES]),
              (data.val_images, data.val_labels))
    finals = {member_label(m): store.load_model(member_path(out, m))[0]
              for m in members}
    rows, parts = [], []
    offset = 0
    for spec in cfg.groups():
        mine = members[offset:offset + len(spec.members)]
        offset += len(spec.members)
        inits = initial_params(cfg, spec)
        pairs = [("init", m) for m in mine]
        curves = _paths(inits, [finals[member_label(m)] for m in mine],
                        [m.activation for m in mine], splits, spec)
        rows += path_rows("init_to_final", pairs, ALPHAS, curves)
        parts.append(curves)
        seed_pairs = [(a, b) for cell in _by_cell(mine).values()
                      for a, b in itertools.combinations(cell, 2)]
        if seed_pairs:
            curves = _pair_paths(seed_pairs, finals, splits, spec)
            rows += path_rows("seeds", _labelled(seed_pairs), ALPHAS, curves)
            parts.append(curves)
    opt_pairs = list(itertools.combinations(_best_per_optimizer(members), 2))
    if opt_pairs:
        curves = _pair_paths(opt_pairs, finals, splits, None)
        rows += path_rows("optimizers", _labelled(opt_pairs), ALPHAS, curves)
        parts.append(curves)
    surfaces = _surfaces(cfg, members, cells, finals, data)
    seconds = round(time.perf_counter() - start, 3)
    return Landscape(rows, ALPHAS, {k: np.concatenate([p[k] for p in parts])
                                    for k in CURVES}, surfaces,
                     {"seconds": seconds, "train_images": TRAIN_IMAGES,
                      "slice_images": SLICE_IMAGES,
                      "val_images": int(len(data.val_labels))})


def initial_params(cfg: SweepConfig, spec: GroupSpec) -> list:
    """Each member's initial params (running statistics included), drawn
    from its key as its group's ``init`` draws them."""
    net = spec.config.net
    out = []
    for m in spec.members:
        key = jax.random.split(member_key(cfg.seed, m.seed))[0]
        params, running = net.init(key, activation_index(m.activation))
        out.append(store.with_running_stats(params, running))
    return out


def _stack(trees: list):
    return jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v) for v in x]),
                        *trees)


def _paths(starts: list, ends: list, activations: list[str], splits,
           spec: GroupSpec | None) -> dict[str, np.ndarray]:
    """The curves ``[paths, alphas]`` of the straight paths start -> end,
    :data:`PATHS_AT_ONCE` at a time in one vmapped program (the last
    chunk padded with repeats of its first path)."""
    choices = spec.config.activation_choices if spec is not None else tuple(
        sorted({activation_index(a) for a in activations}))
    acts = [activation_index(a) for a in activations]
    n, parts = len(starts), []
    for i in range(0, n, PATHS_AT_ONCE):
        take = list(range(i, min(i + PATHS_AT_ONCE, n)))
        take += [i] * (min(PATHS_AT_ONCE, n) - len(take))
        p = _program(choices)(_stack([starts[j] for j in take]),
                              _stack([ends[j] for j in take]),
                              jnp.asarray([acts[j] for j in take]), splits)
        parts.append({k: np.asarray(getattr(p, k))[:n - i] for k in CURVES})
    return {k: np.concatenate([p[k] for p in parts]) for k in CURVES}


@functools.cache
def _program(choices: tuple[int, ...] | None):
    """Straight paths vmapped over (start, end, activation), compiled
    once per activation choice and shape."""
    return jax.jit(jax.vmap(lambda a, b, act, splits: interpolate(
        a, b, jnp.asarray(ALPHAS, jnp.float32), act, splits[0], splits[1],
        choices, POINTS_AT_ONCE), in_axes=(0, 0, 0, None)))


def _pair_paths(pairs: list[tuple[MemberResult, MemberResult]],
                finals: dict, splits, spec: GroupSpec | None
                ) -> dict[str, np.ndarray]:
    return _paths([finals[member_label(a)] for a, _ in pairs],
                  [finals[member_label(b)] for _, b in pairs],
                  [a.activation for a, _ in pairs], splits, spec)


def _labelled(pairs: list[tuple[MemberResult, MemberResult]]) -> list:
    return [(member_label(a), b) for a, b in pairs]


def _by_cell(members: list[MemberResult]) -> dict[tuple, list]:
    """The finite members of each cell and tuning, seeds in order."""
    cells: dict[tuple, list] = defaultdict(list)
    for m in members:
        if not m.diverged and math.isfinite(m.val_accuracy):
            cells[stats.combo_of(m)].append(m)
    return cells


def _best_per_optimizer(members: list[MemberResult]) -> list[MemberResult]:
    """The best member of each setup for the activation of the run's best
    member, among the setups whose params have the best member's shape."""
    best = stats.best_member(members)
    if best is None:
        return []
    shape = (best.model, best.hidden, best.batch_norm)
    by_setup: dict[str, list] = defaultdict(list)
    for m in members:
        if m.activation == best.activation and \
                (m.model, m.hidden, m.batch_norm) == shape:
            by_setup[m.setup].append(m)
    found = [stats.best_member(ms) for ms in by_setup.values()]
    return [m for m in found if m is not None]


def _surfaces(cfg: SweepConfig, members: list[MemberResult],
              cells: list[CellResult], finals: dict,
              data: Dataset) -> list[SurfaceRecord]:
    """The slices around the first seed of the best and the worst chosen
    cell (by mean validation accuracy, diverged cells left out)."""
    chosen = [c for c in cells if c.chosen and math.isfinite(c.val_mean)]
    if not chosen:
        return []
    ends = {"best": max(chosen, key=lambda c: c.val_mean),
            "worst": min(chosen, key=lambda c: c.val_mean)}
    images = (data.train_images[:SLICE_IMAGES],
              data.train_labels[:SLICE_IMAGES])
    key = jax.random.fold_in(jax.random.key(cfg.seed), DIRECTIONS_SEED)
    out = []
    for role, cell in ends.items():
        m = min((m for m in members if stats.combo_of(m) ==
                 stats.combo_of(cell) and not m.diverged),
                key=lambda m: m.seed)
        params = finals[member_label(m)]
        dirs = random_directions(key, params)
        s = slice_2d(params, dirs, jnp.asarray(GRID, jnp.float32),
                     m.activation, *images, batch_size=POINTS_AT_ONCE)
        out.append(SurfaceRecord(role, member_label(m), GRID,
                                 np.asarray(s.loss), np.asarray(s.accuracy)))
    return out

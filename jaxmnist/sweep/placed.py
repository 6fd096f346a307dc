"""A group's programs and its members placed on the devices, in chunks.

:func:`group_programs` makes a group's jitted ``init`` and ``epoch`` (the
probes inside the epoch) from its :class:`TrainConfig`; :func:`place` puts
a :class:`GroupSpec`'s members beside them; :func:`placed_chunks` plans
the chunks a group over its memory budget runs in. A group's program is shaped
``[seeds, cells]``; a chunk is a fixed ``[s, c]`` (whole seed rows while a
row of every cell fits, else one seed and ``c`` cells), the last chunk along
each axis padded (its last seed or cell repeated, the results dropped), so
every chunk runs the same program: one compile per group. A member's numbers
do not depend on its chunk (data order, dropout and init come from its seed,
its hyperparameters from its cell); only XLA's blocking of the first-layer
matmul ``[B, 784] @ [784, M*128]`` may change the float rounding.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmnist import files
from jaxmnist.core.config import TrainConfig, make_hparams, stack_hparams
from jaxmnist.core.train import (
    epoch_key,
    make_epoch,
    make_init,
    member_key,
    probes_epoch,
)
from jaxmnist.data.dataset import Dataset
from jaxmnist.results.members import GroupResult
from jaxmnist.sweep.cluster import (
    along,
    budget,
    cluster,
    compiled_bytes,
    format_size,
    pad_members,
    replicated,
    tree_bytes,
)
from jaxmnist.sweep.config import GroupSpec

LAYOUT_FILE = "chunks.json"


def member_axes(state, tcfg: TrainConfig):
    """Where each state leaf keeps its member (cell) axis: in the middle
    for first-layer weights (``[784, M, 128]``: the batch's ``x @ W1`` for
    all members is one wide matmul, no transpose; docs/performance.md),
    first for every other leaf."""
    w1 = tuple(tcfg.sizes[:2])
    return jax.tree.map(lambda x: 1 if tuple(np.shape(x)) == w1 else 0, state)


class Programs(NamedTuple):
    """A group's jitted programs (see :func:`group_programs`)."""
    init: Any
    epoch: Any
    axes: Any  # where each state leaf keeps its member axes


def by_cell(mesh, per_member):
    """Shardings of ``[seed, cell, ...]`` outputs: cells split."""
    return jax.tree.map(
        lambda leaf: along(mesh, np.ndim(leaf) + 2, 1), per_member)


def group_programs(tcfg: TrainConfig, data: Dataset, mesh) -> Programs:
    """The group's jitted ``init`` and ``epoch`` (its fifth argument: run
    the probes?), vmapped over seeds (outer: keys batched) and cells
    (inner: hparams batched, so one seed's members share each batch), the
    cell axis split over the mesh."""
    init1, epoch1 = make_init(tcfg), make_epoch(tcfg)
    hp1 = make_hparams("relu", 1e-3, optimizer={  # shapes only
        k: 0.5 for k in tcfg.vmapped_options})
    state1 = jax.eval_shape(init1, jax.random.key(0), hp1, data)
    axes = member_axes(state1, tcfg)
    outer = jax.tree.map(lambda a: a + 1, axes)  # after the seed axis
    state_sharding = jax.tree.map(
        lambda leaf, a: along(mesh, np.ndim(leaf) + 2, a), state1,
        outer)
    out1 = jax.eval_shape(epoch1, state1, hp1, data, jax.random.key(0),
                          jnp.ones([], bool))[1]
    init = jax.vmap(jax.vmap(init1, in_axes=(None, 0, None), out_axes=axes),
                    in_axes=(0, None, None))
    epoch = jax.vmap(jax.vmap(epoch1, in_axes=(axes, 0, None, None, None),
                              out_axes=(axes, 0)),
                     in_axes=(0, None, None, 0, None))
    return Programs(jax.jit(init, out_shardings=state_sharding),
                    jax.jit(epoch, donate_argnums=(0,), out_shardings=(
                        state_sharding, by_cell(mesh, out1))),
                    outer)


class PlacedGroup(NamedTuple):
    """A group (or one chunk of it) placed on the devices, ready to run."""
    spec: GroupSpec
    hparams: Any  # HParams, [padded cells], split over the mesh
    keys: jax.Array  # [padded seeds]: each seed's key
    data: Dataset  # replicated on every device
    init: Any  # jitted, or compiled by compile_group
    epoch: Any  # jitted, or compiled by compile_group
    axes: Any  # where each state leaf keeps its cell axis
    state_like: Any  # ShapeDtypeStructs of the state

    def epoch_keys(self, epoch: int) -> jax.Array:
        return jax.vmap(epoch_key, in_axes=(0, None))(self.keys, epoch)

    def probes(self, epoch: int) -> jax.Array:
        """The epoch program's probe flag for epoch number ``epoch``."""
        return jnp.asarray(probes_epoch(self.spec.config, epoch))

    def initial_state(self):
        """The members' freshly initialised state."""
        return self.init(init_keys(self.keys), self.hparams, self.data)


def _members(spec: GroupSpec, layout: Layout):
    """``spec``'s hparams and seed keys, padded to ``layout``, placed."""
    hp = stack_hparams([c.hparams(spec.config.vmapped_options)
                        for c in spec.cells])
    hp = jax.device_put(pad_members(hp, layout.cells),
                        along(cluster.mesh(), 1, 0))
    keys = jax.vmap(member_key, in_axes=(None, 0))(
        spec.root_seed, pad_members(np.asarray(spec.seeds), layout.seeds))
    return hp, keys


def place(spec: GroupSpec, data: Dataset, layout: Layout | None = None,
          programs: Programs | None = None) -> PlacedGroup:
    """``spec`` on the devices, padded to ``layout`` (default: every seed,
    the cells padded to a multiple of the device count), with ``programs``
    (default: made anew for ``spec.config``)."""
    mesh = cluster.mesh()
    layout = layout or whole(len(spec.seeds), len(spec.cells), mesh.size)
    hp, keys = _members(spec, layout)
    data = jax.device_put(data, replicated(mesh))
    init, epoch, axes = programs or group_programs(spec.config, data, mesh)
    state_like = jax.eval_shape(init, init_keys(keys), hp, data)
    return PlacedGroup(spec, hp, keys, data, init, epoch, axes, state_like)


def epoch_like(g: PlacedGroup):
    """One epoch's EpochResult as ``[members, ...]`` shapes, read from the
    compiled program's outputs (no tracing)."""
    members = len(g.spec.members)
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(
        (members, *x.shape[2:]), x.dtype), g.epoch.out_info[1])


def init_keys(keys: jax.Array) -> jax.Array:
    return jax.vmap(lambda k: jax.random.split(k)[0])(keys)


def compile_group(g: PlacedGroup) -> tuple[PlacedGroup, float]:
    """The group with its programs compiled, and the seconds spent."""
    t = time.perf_counter()
    epoch = g.epoch.lower(g.state_like, g.hparams, g.data, g.epoch_keys(0),
                          g.probes(0)).compile()
    init = g.init.lower(init_keys(g.keys), g.hparams, g.data).compile()
    return g._replace(init=init, epoch=epoch), time.perf_counter() - t


def chunk_specs(spec: GroupSpec, layout: Layout) -> list[GroupSpec]:
    """The group's chunks under ``layout`` (unpadded): blocks of
    ``layout.seeds`` seeds outer, of ``layout.cells`` cells inner."""
    return [spec._replace(seeds=spec.seeds[s:s + layout.seeds],
                          cells=spec.cells[c:c + layout.cells])
            for s in range(0, len(spec.seeds), layout.seeds)
            for c in range(0, len(spec.cells), layout.cells)]


def placed_chunks(spec: GroupSpec, data: Dataset,
                  max_memory: int | None = None, members: int | None = None,
                  resumed: Layout | None = None
                  ) -> tuple[list[PlacedGroup], Layout, float]:
    """(every chunk of ``spec`` placed, all running one compiled program;
    their layout; compile seconds). The layout is, first that applies:
    ``resumed`` (when every process resumes the same one); at most
    ``members`` per chunk; else measured (:func:`_measured`) against the
    budget (``max_memory``, the smallest over the processes).

    Raises:
      ValueError: even the smallest chunk is over the budget.
    """
    unit = cluster.mesh().size
    if resumed is not None and resumed.cells % unit:
        resumed = None  # checkpointed on another device count
    if len(set(cluster.gathered(-1 if resumed is None else resumed.members))
           ) > 1:  # processes resuming different layouts: plan afresh
        resumed = None
    data = jax.device_put(data, replicated(cluster.mesh()))
    programs = group_programs(spec.config, data, cluster.mesh())
    layout = resumed or (None if members is None else fitting(
        len(spec.seeds), len(spec.cells), unit, members))
    if layout is None:
        first, layout, seconds = _measured(
            spec, data, programs, cluster.agreed_min(budget(max_memory)))
    else:
        first, seconds = compile_group(place(
            chunk_specs(spec, layout)[0], data, layout, programs))
    chunks = []
    for sub in chunk_specs(spec, layout):
        hp, keys = _members(sub, layout)
        chunks.append(first._replace(spec=sub, hparams=hp, keys=keys))
    return chunks, layout, seconds


def _measured(spec: GroupSpec, data: Dataset, programs: Programs,
              budget: int) -> tuple[PlacedGroup, Layout, float]:
    """(the compiled first chunk of the largest layout whose epoch program
    XLA says is within ``budget``, that layout, compile seconds). The whole
    group first; when over, the members per chunk are fitted to the budget
    (the data fixed, the rest linear in the members) and checked by
    compiling that chunk, refitted up to 3 times."""
    unit, n_seeds, n_cells = cluster.mesh().size, len(spec.seeds), len(
        spec.cells)
    layout = whole(n_seeds, n_cells, unit)
    g, seconds = compile_group(place(spec, data, layout, programs))
    points = [(tree_bytes(data), 0), (compiled_bytes(g.epoch), layout.members)]
    for _ in range(3):
        if points[-1][0] <= budget:
            return g, layout, seconds
        (b0, m0), (b1, m1) = points[-2:]
        per = (b1 - b0) / (m1 - m0)
        fit = int((budget - (b1 - per * m1)) // max(per, 1.0))
        layout = fitting(n_seeds, n_cells, unit, max(unit, fit))
        if layout.members == m1:
            break
        g, s = compile_group(place(chunk_specs(spec, layout)[0], data,
                                   layout, programs))
        points.append((compiled_bytes(g.epoch), layout.members))
        seconds += s
    if points[-1][0] <= budget:
        return g, layout, seconds
    raise ValueError(
        f"{spec.name}: {points[-1][1]} members need "
        f"{format_size(points[-1][0])} per device, over the budget "
        f"of {format_size(budget)}; raise --max-memory or lower "
        f"--members-per-program")


# --------------------------------------------------------------------------
# Chunk layouts
# --------------------------------------------------------------------------

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


def joined(members: list, results: list[GroupResult]) -> GroupResult:
    """One group's result from its chunks' or pieces': members in group
    order, seconds and epoch times summed."""
    if len(results) == 1:
        return results[0]
    index = {m: i for i, m in enumerate(members)}

    def merge(*leaves):  # a leaf of each result -> the group's leaf
        out = np.empty((len(members), *np.shape(leaves[0])[1:]),
                       np.asarray(leaves[0]).dtype)
        for r, leaf in zip(results, leaves):
            out[np.asarray([index[m] for m in r.members])] = leaf
        return out
    history, params, stats, dynamics = jax.tree.map(merge, *(
        (r.history, r.params, r.stats, r.dynamics) for r in results))
    times = np.sum([r.epoch_seconds for r in results], axis=0)
    return GroupResult(
        members, history, params, sum(r.seconds for r in results),
        sum(r.compile_seconds for r in results), [float(t) for t in times],
        results[0].steps_per_epoch, dynamics, stats)


def record(path: Path | None, layout: Layout) -> None:
    """Remember the layout a group's checkpoints are made with."""
    if path is not None:
        files.write_json(path / LAYOUT_FILE, layout._asdict())


def recorded(path: Path | None) -> Layout | None:
    """The layout a group was checkpointed with, if any."""
    if path is None or not (path / LAYOUT_FILE).is_file():
        return None
    return Layout(**json.loads((path / LAYOUT_FILE).read_text()))


def chunk_dir(path: Path | None, i: int) -> Path | None:
    return None if path is None else path / f"chunk{i:04d}"

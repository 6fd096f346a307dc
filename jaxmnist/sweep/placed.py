"""A group's programs and its members placed on the devices, in chunks.

:func:`group_programs` makes a group's jitted ``init`` and ``epoch`` (the
probes inside the epoch) from its :class:`TrainConfig`; :func:`place` puts
a :class:`GroupSpec`'s members beside them; :func:`plan_chunks` chooses the
chunks a group over its memory budget runs in. A group's program is shaped
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
    init: Any  # jitted (compiled by compile_init)
    epoch: Any  # jitted (compiled by compile_epoch)
    axes: Any  # where each state leaf keeps its cell axis
    state_like: Any  # ShapeDtypeStructs of the state
    programs: Programs  # as group_programs made them

    def epoch_keys(self, epoch: int) -> jax.Array:
        return jax.vmap(epoch_key, in_axes=(0, None))(self.keys, epoch)

    def probes(self, epoch: int) -> jax.Array:
        """The epoch program's probe flag for epoch number ``epoch``."""
        return jnp.asarray(probes_epoch(self.spec.config, epoch))

    def initial_state(self):
        """The members' freshly initialised state."""
        return self.init(init_keys(self.keys), self.hparams, self.data)


def place(spec: GroupSpec, data: Dataset, programs=None,
          layout: Layout | None = None) -> PlacedGroup:
    """``spec`` on the devices, padded to ``layout`` (default: every seed,
    the cells padded to a multiple of the device count), with ``programs``
    (default: made anew for ``spec.config``)."""
    mesh = cluster.mesh()
    layout = layout or whole(len(spec.seeds), len(spec.cells), mesh.size)
    hp = stack_hparams([c.hparams(spec.config.vmapped_options)
                        for c in spec.cells])
    hp = jax.device_put(pad_members(hp, layout.cells), along(mesh, 1, 0))
    keys = jax.vmap(member_key, in_axes=(None, 0))(
        spec.root_seed, pad_members(np.asarray(spec.seeds), layout.seeds))
    data = jax.device_put(data, replicated(mesh))
    programs = programs or group_programs(spec.config, data, mesh)
    init, epoch, axes = programs
    state_like = jax.eval_shape(init, init_keys(keys), hp, data)
    return PlacedGroup(spec, hp, keys, data, init, epoch, axes, state_like,
                       programs)


def epoch_like(g: PlacedGroup):
    """One epoch's EpochResult as ``[members, ...]`` shapes, read from the
    compiled program's outputs (no tracing)."""
    members = len(g.spec.members)
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(
        (members, *x.shape[2:]), x.dtype), g.epoch.out_info[1])


def init_keys(keys: jax.Array) -> jax.Array:
    return jax.vmap(lambda k: jax.random.split(k)[0])(keys)


def compile_init(g: PlacedGroup) -> tuple[PlacedGroup, float]:
    """The group with its init program compiled, and the seconds spent."""
    t = time.perf_counter()
    init = g.init.lower(init_keys(g.keys), g.hparams, g.data).compile()
    return g._replace(init=init), time.perf_counter() - t


def compiled_like(g: PlacedGroup, compiled: PlacedGroup) -> PlacedGroup:
    """``g`` (a chunk of a group, or the group) with ``compiled``'s
    compiled programs (for the same shapes)."""
    return g._replace(init=compiled.init, epoch=compiled.epoch)


def compile_epoch(g: PlacedGroup) -> tuple[PlacedGroup, float]:
    """The group with its epoch program compiled, and the seconds spent."""
    t = time.perf_counter()
    epoch = g.epoch.lower(g.state_like, g.hparams, g.data, g.epoch_keys(0),
                          g.probes(0)).compile()
    return g._replace(epoch=epoch), time.perf_counter() - t


def place_chunk(g: PlacedGroup, layout: Layout, i: int) -> PlacedGroup:
    """Chunk ``i`` of ``g``'s group placed with ``g``'s programs."""
    spec = g.spec
    chunk = split(len(spec.seeds), len(spec.cells), layout)[i]
    sub = spec._replace(cells=tuple(spec.cells[c] for c in chunk.cells),
                        seeds=tuple(spec.seeds[s] for s in chunk.seeds))
    return place(sub, g.data, g.programs, layout)


def plan_chunks(g: PlacedGroup, max_memory: int | None = None,
                members: int | None = None,
                resumed: Layout | None = None
                ) -> tuple[PlacedGroup, Layout, float]:
    """(``g`` with its programs compiled for its chunk layout, the layout,
    compile seconds). The layout is, first that applies: ``resumed`` (when
    every process resumes the same one); at most ``members`` per program;
    else measured: if XLA says the whole group needs more than the budget
    (``max_memory``, the smallest over the processes), the members per
    chunk are fitted to it (the data fixed, the rest linear in the members)
    and checked by compiling that chunk, refitted up to 3 times.

    Raises:
      ValueError: even the smallest chunk is over the budget.
    """
    spec, unit = g.spec, cluster.mesh().size
    n_seeds, n_cells = len(spec.seeds), len(spec.cells)
    full = whole(n_seeds, n_cells, unit)
    fits = cluster.agreed_min(budget(max_memory))  # all processes
    if len(set(cluster.gathered(-1 if resumed is None else resumed.members))
           ) > 1:  # processes resuming different layouts: plan afresh
        resumed = None
    layout = resumed or (None if members is None else
                         fitting(n_seeds, n_cells, unit, members))
    if layout is None:
        c, layout, seconds = _measured(g, full, fits)
    else:
        c, seconds = compile_epoch(g if layout == full
                                   else place_chunk(g, layout, 0))
    c, init_s = compile_init(c)
    return compiled_like(g, c), layout, seconds + init_s


def _measured(g: PlacedGroup, full: Layout, budget: int
              ) -> tuple[PlacedGroup, Layout, float]:
    """(the compiled first chunk of the largest layout whose epoch program
    is within ``budget``, that layout, seconds spent compiling)."""
    spec, unit = g.spec, cluster.mesh().size
    c, seconds = compile_epoch(g)
    points = [(tree_bytes(g.data), 0),
              (compiled_bytes(c.epoch), full.members)]
    if points[-1][0] <= budget:
        return c, full, seconds
    for _ in range(3):
        (b0, m0), (b1, m1) = points[-2:]
        per = (b1 - b0) / (m1 - m0)
        fit = int((budget - (b1 - per * m1)) // max(per, 1.0))
        layout = fitting(len(spec.seeds), len(spec.cells), unit,
                         max(unit, fit))
        if layout.members == m1:
            break
        c, s = compile_epoch(place_chunk(g, layout, 0))
        points.append((compiled_bytes(c.epoch), layout.members))
        seconds += s
        if points[-1][0] <= budget:
            return c, layout, seconds
    raise ValueError(
        f"{spec.name}: {points[-1][1]} members need "
        f"{format_size(points[-1][0])} per device, over the budget "
        f"of {format_size(budget)}; raise --max-memory or lower "
        f"--members-per-program")


def placed_chunks(spec: GroupSpec, data: Dataset,
                  max_memory: int | None = None,
                  members: int | None = None
                  ) -> tuple[list[PlacedGroup], Layout, float]:
    """What :func:`~jaxmnist.sweep.group.train_group` runs, ready: every
    chunk of ``spec`` placed with the one compiled epoch program, the
    layout, compile seconds."""
    g, layout, seconds = plan_chunks(place(spec, data), max_memory, members)
    n = count(len(spec.seeds), len(spec.cells), layout)
    if n == 1:
        return [g], layout, seconds
    return ([compiled_like(place_chunk(g, layout, i), g)
             for i in range(n)], layout, seconds)


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


def joined(members: list, parts: list[tuple[list[int], GroupResult]]
           ) -> GroupResult:
    """One group's result from its chunks' or pieces' (``(member indices,
    result)``): members in group order, seconds and epoch times summed."""
    results = [r for _, r in parts]
    if len(results) == 1:
        return results[0]
    history, params, stats, dynamics = scatter(
        [(idx, (r.history, r.params, r.stats, r.dynamics))
         for idx, r in parts], len(members))
    times = np.sum([r.epoch_seconds for r in results], axis=0)
    return GroupResult(
        members, history, params, sum(r.seconds for r in results),
        sum(r.compile_seconds for r in results), [float(t) for t in times],
        results[0].steps_per_epoch, dynamics, stats)


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

"""A group's programs and its members placed on the devices.

:func:`group_programs` makes a group's jitted ``init`` and ``epoch``
programs (the probes, with dynamics, inside the epoch) from its static
:class:`TrainConfig`; :func:`place` puts a :class:`GroupSpec`'s members
(padded to a chunk layout) on the devices beside them;
:func:`compile_epoch` and :func:`compile_init` compile them, and
:func:`plan_chunks` chooses the chunks a group too large for its memory
budget runs in (:mod:`.chunks`). What runs the epochs is
:mod:`jaxmnist.sweep.group`.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmnist.core.config import TrainConfig, make_hparams, stack_hparams
from jaxmnist.core.train import (
    epoch_key,
    make_epoch,
    make_init,
    member_key,
    probes_epoch,
)
from jaxmnist.data.dataset import Dataset
from jaxmnist.sweep import chunks
from jaxmnist.sweep.cluster import along, cluster, pad_members, replicated
from jaxmnist.sweep.config import GroupSpec

__all__ = ["PlacedGroup", "Programs", "compile_epoch", "compile_init",
           "compiled_like", "epoch_like", "group_programs", "member_axes",
           "place", "place_chunk", "placed_chunks", "plan_chunks"]


def member_axes(state, tcfg: TrainConfig):
    """Where each state leaf keeps its member (cell) axis.

    First-layer weight leaves (params and their optimizer moments,
    ``[sizes[0], sizes[1]]``) keep it in the middle: ``[784, M, 128]``, so
    the shared batch's matmul ``x @ W1`` for all members is one wide matmul
    ``[B, 784] @ [784, M*128]`` with no per-step transpose of W1 (faster:
    docs/performance.md). Every other leaf keeps it
    first.
    """
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
    """The group's ``init`` and ``epoch`` (jitted; the epoch's fifth
    argument says whether it runs the probe batch's probes) and where the
    state keeps the member axes: vmapped over seeds (outer: key batched)
    and over cells (inner: hparams batched, key shared, so one seed's
    members share each batch gather and first-layer matmul), with the cell
    axis split over the mesh's devices.
    """
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
          layout: chunks.Layout | None = None) -> PlacedGroup:
    """``spec`` on the devices, padded to ``layout`` (default: every seed,
    the cells padded to a multiple of the device count), with ``programs``
    (default: made anew for ``spec.config``)."""
    mesh = cluster.mesh()
    layout = layout or chunks.whole(len(spec.seeds), len(spec.cells),
                                    mesh.size)
    hp = stack_hparams([c.hparams(spec.config.vmapped_options)
                        for c in spec.cells])
    hp = jax.device_put(pad_members(hp, layout.cells),
                        along(mesh, 1, 0))
    keys = jax.vmap(member_key, in_axes=(None, 0))(
        spec.root_seed, pad_members(np.asarray(spec.seeds),
                                             layout.seeds))
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


def place_chunk(g: PlacedGroup, layout: chunks.Layout, i: int
                ) -> PlacedGroup:
    """Chunk ``i`` of ``g``'s group placed with ``g``'s programs."""
    spec = g.spec
    chunk = chunks.split(len(spec.seeds), len(spec.cells), layout)[i]
    sub = spec._replace(cells=tuple(spec.cells[c] for c in chunk.cells),
                        seeds=tuple(spec.seeds[s] for s in chunk.seeds))
    return place(sub, g.data, g.programs, layout)


def plan_chunks(g: PlacedGroup, max_memory: int | None = None,
                members: int | None = None,
                resumed: chunks.Layout | None = None
                ) -> tuple[PlacedGroup, chunks.Layout, float]:
    """(``g`` with its programs compiled for its chunk layout, the layout,
    compile seconds): the one place a group's chunks are chosen.

    The layout is, first that applies: ``resumed`` (a resumed group's
    checkpoints', when every process resumes the same one); at most
    ``members`` per program (``--members-per-program``); else measured:
    the whole group compiles, and if XLA's memory analysis says it needs
    more than the budget (``max_memory``, default
    :func:`.chunks.default_budget`; the smallest over the processes), the
    members per chunk are fitted to it (linear in the members: the data
    fixed, the rest per member) and checked by compiling that chunk,
    refitted from the last two measurements (3 tries).

    Raises:
      ValueError: even the smallest chunk is over the budget.
    """
    spec, unit = g.spec, cluster.mesh().size
    n_seeds, n_cells = len(spec.seeds), len(spec.cells)
    full = chunks.whole(n_seeds, n_cells, unit)
    budget = cluster.agreed_min(chunks.budget(max_memory))  # all processes
    if len(set(cluster.gathered(-1 if resumed is None else resumed.members))
           ) > 1:  # processes resuming different layouts: plan afresh
        resumed = None
    layout = resumed or (None if members is None else
                         chunks.fitting(n_seeds, n_cells, unit, members))
    if layout is None:
        c, layout, seconds = _measured(g, full, budget)
    else:
        c, seconds = compile_epoch(g if layout == full
                                   else place_chunk(g, layout, 0))
    c, init_s = compile_init(c)
    return compiled_like(g, c), layout, seconds + init_s


def _measured(g: PlacedGroup, full: chunks.Layout, budget: int
              ) -> tuple[PlacedGroup, chunks.Layout, float]:
    """(the compiled first chunk of the largest layout whose epoch program
    is within ``budget``, that layout, seconds spent compiling)."""
    spec, unit = g.spec, cluster.mesh().size
    c, seconds = compile_epoch(g)
    points = [(chunks.tree_bytes(g.data), 0),
              (chunks.compiled_bytes(c.epoch), full.members)]
    if points[-1][0] <= budget:
        return c, full, seconds
    for _ in range(3):
        (b0, m0), (b1, m1) = points[-2:]
        per = (b1 - b0) / (m1 - m0)
        layout = chunks.fitting(len(spec.seeds), len(spec.cells), unit,
                                chunks.members_within(budget, b1 - per * m1,
                                                      per, unit))
        if layout.members == m1:
            break
        c, s = compile_epoch(place_chunk(g, layout, 0))
        points.append((chunks.compiled_bytes(c.epoch), layout.members))
        seconds += s
        if points[-1][0] <= budget:
            return c, layout, seconds
    raise ValueError(
        f"{spec.name}: {points[-1][1]} members need "
        f"{chunks.format_size(points[-1][0])} per device, over the budget "
        f"of {chunks.format_size(budget)}; raise --max-memory or lower "
        f"--members-per-program")


def placed_chunks(spec: GroupSpec, data: Dataset,
                  max_memory: int | None = None,
                  members: int | None = None
                  ) -> tuple[list[PlacedGroup], chunks.Layout, float]:
    """What :func:`~jaxmnist.sweep.group.train_group` runs, ready: every
    chunk of ``spec`` placed with the one compiled epoch program, the
    layout, compile seconds."""
    g, layout, seconds = plan_chunks(place(spec, data), max_memory, members)
    n = chunks.count(len(spec.seeds), len(spec.cells), layout)
    if n == 1:
        return [g], layout, seconds
    return ([compiled_like(place_chunk(g, layout, i), g)
             for i in range(n)], layout, seconds)

"""A group's programs and its members placed on the devices.

:func:`group_programs` makes a group's jitted ``init`` and ``epoch``
programs (the probes, with dynamics, inside the epoch) from its static
:class:`TrainConfig`; :func:`place` puts a :class:`GroupSpec`'s members
(padded to a chunk layout) on the devices beside them;
:func:`compile_epoch` and :func:`compile_init` compile them. What runs the
epochs is :mod:`jaxmnist.sweep.group`.
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
from jaxmnist.sweep.members import GroupSpec

__all__ = ["PlacedGroup", "Programs", "compile_epoch", "compile_init",
           "compiled_like", "epoch_like", "group_programs", "member_axes",
           "place"]


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

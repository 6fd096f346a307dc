"""A group's programs and its members placed on the devices.

:func:`group_programs` makes a group's jitted ``init``, ``epoch`` and
probe-batch programs from its static :class:`TrainConfig`; :func:`place`
puts a :class:`GroupSpec`'s members (padded to a chunk layout) on the
devices beside them; :func:`compile_group` compiles the epoch program,
:func:`compile_init` the init program, and the probe program compiles when
first needed (:mod:`.lazy`). What runs the epochs is
:mod:`jaxmnist.sweep.group` and :mod:`jaxmnist.sweep.pipeline`.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxmnist.core.config import TrainConfig, make_hparams, stack_hparams
from jaxmnist.core.dynamics import combine
from jaxmnist.core.train import epoch_key, make_epoch, make_init, member_key
from jaxmnist.data.dataset import Dataset
from jaxmnist.sweep import chunks, sharding
from jaxmnist.sweep.lazy import OnFirstCall
from jaxmnist.sweep.members import GroupSpec
from jaxmnist.sweep.pipeline import epoch_view
from jaxmnist.sweep.probes import ProbePrograms, by_cell, probe_program

__all__ = ["AXIS_NAMES", "OnFirstCall", "PlacedGroup", "Programs",
           "compile_epoch", "compile_group", "compile_init", "compiled_like",
           "epoch_like", "group_programs", "member_axes", "place",
           "with_probe"]

AXIS_NAMES = ("seeds", "cells")  # the group's vmap axes, outer first


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
    epoch: Any  # unguarded; retried True when some loss was not finite
    guarded: Any  # the same epoch, every step guarded
    probe: Any  # None without dynamics
    axes: Any  # where each state leaf keeps its member axes


def group_programs(tcfg: TrainConfig, data: Dataset, mesh) -> Programs:
    """The group's ``init``, ``epoch`` and ``guarded`` epoch (jitted), its
    probe-batch program (None without dynamics; see :func:`probe_program`)
    and where the state keeps the member axes: vmapped over seeds (outer: key
    batched) and over cells (inner: hparams batched, key shared, so one
    seed's members share each batch gather and first-layer matmul), with
    the cell axis split over the mesh's devices. The axes are named
    (``AXIS_NAMES``) so that each step's divergence guard can ask whether
    every member is fine and skip its selects when so; ``epoch`` is made
    with ``retry`` (:func:`~jaxmnist.core.train.make_epoch`), so its
    program holds no guarded loop, and ``guarded`` (compiled when first
    needed, :class:`OnFirstCall`) runs an epoch that met a non-finite loss
    again, and every epoch after it.
    """
    init1 = make_init(tcfg, batch_probes=False)
    epoch1 = make_epoch(tcfg, AXIS_NAMES, batch_probes=False, retry=True)
    guarded1 = make_epoch(tcfg, batch_probes=False)
    hp1 = make_hparams("relu", 1e-3, optimizer={  # shapes only
        k: 0.5 for k in tcfg.vmapped_options})
    probe = jax.eval_shape(init1, jax.random.key(0), hp1, data)
    axes = member_axes(probe, tcfg)
    outer = jax.tree.map(lambda a: a + 1, axes)  # after the seed axis
    state_sharding = jax.tree.map(
        lambda leaf, a: sharding.along(mesh, np.ndim(leaf) + 2, a), probe,
        outer)
    out1 = jax.eval_shape(make_epoch(tcfg, batch_probes=False, retry=True),
                          probe, hp1, data, jax.random.key(0))[1]  # unnamed
    init = jax.vmap(jax.vmap(init1, in_axes=(None, 0, None), out_axes=axes),
                    in_axes=(0, None, None))
    view = epoch_view(axes)  # the probe carry is the probe program's

    def group(epoch1, out1):
        epoch = jax.vmap(jax.vmap(epoch1, in_axes=(view, 0, None, None),
                                  out_axes=(view, 0), axis_name=AXIS_NAMES[1]),
                         in_axes=(0, None, None, 0), axis_name=AXIS_NAMES[0])
        return jax.jit(epoch, donate_argnums=(0,),
                       out_shardings=(epoch_view(state_sharding),
                                      by_cell(mesh, out1)))

    return Programs(jax.jit(init, out_shardings=state_sharding),
                    group(epoch1, out1),
                    OnFirstCall(group(guarded1, out1._replace(retried=None))),
                    probe_program(tcfg, data, probe, axes, state_sharding,
                                  mesh) if tcfg.dynamics else None,
                    outer)


class PlacedGroup(NamedTuple):
    """A group (or one chunk of it) placed on the devices, ready to run."""
    spec: GroupSpec
    hparams: Any  # HParams, [padded cells], split over the mesh
    keys: jax.Array  # [padded seeds]: each seed's key
    data: Dataset  # replicated on every device
    init: Any  # jitted (compiled by compile_init)
    epoch: Any  # jitted (compiled by compile_group)
    probe: Any  # a GroupProbe (compiled on first call), None without dynamics
    axes: Any  # where each state leaf keeps its cell axis
    state_like: Any  # ShapeDtypeStructs of the state
    programs: Programs  # as group_programs made them

    @property
    def guarded(self) -> OnFirstCall:
        """The guarded epoch (compiled on its first call; chunks share it)."""
        return self.programs.guarded

    def epoch_keys(self, epoch: int) -> jax.Array:
        return jax.vmap(epoch_key, in_axes=(0, None))(self.keys, epoch)

    @property
    def lazy_compile_seconds(self) -> float:
        """Seconds spent so far compiling the programs compiled on first
        need: the guarded epoch, and the probe program (shared: counted by
        the group whose call compiled it)."""
        return self.guarded.seconds + (0.0 if self.probe is None
                                       else self.probe.seconds)

    def initial_state(self, probed: bool = True):
        """The members' freshly initialised state, with the probe batch's
        numbers at initialisation when the group has probes (``probed``;
        else left to the caller: see :func:`.pipeline.run_epochs`)."""
        state = self.init(init_keys(self.keys), self.hparams, self.data)
        if self.probe is None or not probed:
            return state
        probe = self.probe(state.params, state.stats, state.probe,
                           self.hparams.activation, self.data)[0]
        return state._replace(probe=probe)


def place(spec: GroupSpec, data: Dataset, programs=None,
          layout: chunks.Layout | None = None) -> PlacedGroup:
    """``spec`` on the devices, padded to ``layout`` (default: every seed,
    the cells padded to a multiple of the device count), with ``programs``
    (default: made anew for ``spec.config``)."""
    mesh = sharding.member_mesh()
    layout = layout or chunks.whole(len(spec.seeds), len(spec.cells),
                                    mesh.size)
    hp = stack_hparams([c.hparams(spec.config.vmapped_options)
                        for c in spec.cells])
    hp = jax.device_put(sharding.pad_members(hp, layout.cells),
                        sharding.along(mesh, 1, 0))
    keys = jax.vmap(member_key, in_axes=(None, 0))(
        spec.root_seed, sharding.pad_members(np.asarray(spec.seeds),
                                             layout.seeds))
    data = jax.device_put(data, sharding.replicated(mesh))
    programs = programs or group_programs(spec.config, data, mesh)
    init, epoch, _, probe, axes = programs
    state_like = jax.eval_shape(init, init_keys(keys), hp, data)
    return PlacedGroup(spec, hp, keys, data, init, epoch, probe, axes,
                       state_like, programs)


def epoch_like(g: PlacedGroup):
    """One epoch's EpochResult as ``[members, ...]`` shapes, read from the
    compiled programs' outputs (no tracing)."""
    out = g.epoch.out_info[1]._replace(retried=None)
    if g.probe is not None:
        out = out._replace(dynamics=combine(out.dynamics, g.probe.out_info[1]))
    members = len(g.spec.members)
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(
        (members, *x.shape[2:]), x.dtype), out)


def init_keys(keys: jax.Array) -> jax.Array:
    return jax.vmap(lambda k: jax.random.split(k)[0])(keys)


def compile_group(g: PlacedGroup, probes: ProbePrograms | None = None
                  ) -> tuple[PlacedGroup, float]:
    """The group with its epoch program compiled and its probe-batch
    program from ``probes`` (compiled on its first call), and the seconds
    spent."""
    g, seconds = compile_epoch(g)
    return with_probe(g, probes), seconds


def compile_init(g: PlacedGroup) -> tuple[PlacedGroup, float]:
    """The group with its init program compiled, and the seconds spent."""
    t = time.perf_counter()
    init = g.init.lower(init_keys(g.keys), g.hparams, g.data).compile()
    return g._replace(init=init), time.perf_counter() - t


def compiled_like(g: PlacedGroup, compiled: PlacedGroup) -> PlacedGroup:
    """``g`` (a chunk of a group, or the group) with ``compiled``'s
    compiled programs (for the same shapes)."""
    return g._replace(init=compiled.init, epoch=compiled.epoch,
                      probe=compiled.probe)


def compile_epoch(g: PlacedGroup) -> tuple[PlacedGroup, float]:
    """The group with its epoch program compiled, and the seconds spent."""
    t = time.perf_counter()
    epoch = g.epoch.lower(epoch_view(g.state_like), g.hparams, g.data,
                          g.epoch_keys(0)).compile()
    return g._replace(epoch=epoch), time.perf_counter() - t


def with_probe(g: PlacedGroup, probes: ProbePrograms | None = None
               ) -> PlacedGroup:
    """The group with its probe-batch program from ``probes`` (the run's,
    shared by groups of one structure and size; compiled on first call);
    as it was without dynamics."""
    if g.probe is None:
        return g
    return g._replace(probe=(probes or ProbePrograms()).get(
        g.spec.config, g.probe, g.state_like, g.hparams.activation, g.data))

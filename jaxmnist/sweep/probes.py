"""The probe batch's program of a group, shared by a run's groups.

The Hessian, unit and histogram probes read only a member's params,
batch-norm statistics, a Lanczos start and a diagonal preconditioner
(:func:`~jaxmnist.core.dynamics.probe_pass`), so one compiled program
serves every group of one structure and size, whatever its optimizer: an
epoch runs it once for the plain sharpness (preconditioner all ones) and,
for an adaptive optimizer, once more with its preconditioner. One program
run twice costs what one program batched over both passes would, and
saves the second program's compilation (docs/performance.md).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmnist.core.config import TrainConfig
from jaxmnist.core.dynamics import BatchProbes, ProbeState, probe_pass
from jaxmnist.data.dataset import Dataset
from jaxmnist.sweep import sharding
from jaxmnist.sweep.lazy import OnFirstCall

__all__ = ["GroupProbe", "ProbePrograms", "by_cell", "merge_seeds",
           "probe_program", "split_seeds"]


def by_cell(mesh, per_member):
    """Shardings of ``[seed, cell, ...]`` outputs: cells split."""
    return jax.tree.map(
        lambda leaf: sharding.along(mesh, np.ndim(leaf) + 2, 1), per_member)


def probe_program(tcfg: TrainConfig, data: Dataset, state1, axes,
                  state_sharding, mesh):
    """``pass(params, stats, v0, preconditioner, activations, data) ->
    ProbePass`` of :func:`~jaxmnist.core.dynamics.probe_pass` for the whole
    group (jitted, ``v0`` donated; ``state1`` one member's state, for
    shapes).

    The group's ``[seed, cell]`` members are merged into one member axis
    (:func:`merge_seeds`) and vmapped once: vmapped twice, over a seed axis
    (of 1 in the classic grid) and the cells, the same pass is slower
    (docs/performance.md).
    """
    n, its = tcfg.probe_size, tcfg.sharpness_iterations

    def one(params, stats, v0, preconditioner, activation, data):
        return probe_pass(params, stats, v0, preconditioner, activation,
                          data.val_images[:n], data.val_labels[:n], its,
                          tcfg.activation_choices)

    ax = (axes.params, axes.stats, axes.probe.hessian_vector, axes.params)
    out1 = jax.eval_shape(one, state1.params, state1.stats, state1.params,
                          state1.params, jnp.zeros([], jnp.int32), data)
    out_axes = out1._replace(vector=axes.params, **{
        f: jax.tree.map(lambda _: 0, getattr(out1, f))
        for f in ("sharpness", "units", "histograms")})
    members = jax.vmap(one, in_axes=(*ax, 0, None), out_axes=out_axes)

    def fn(params, stats, v0, preconditioner, activation, data):
        seeds = jax.tree.leaves(params)[0].shape[0]
        p, s, v, pre = (merge_seeds(t, a) for t, a in
                        zip((params, stats, v0, preconditioner), ax))
        out = members(p, s, v, pre, jnp.repeat(activation, seeds), data)
        return split_seeds(out, out_axes, seeds)

    vector_sharding = state_sharding.probe.hessian_vector
    return jax.jit(fn, donate_argnums=(2,), out_shardings=by_cell(
        mesh, out1)._replace(vector=vector_sharding))


def merge_seeds(tree, axes):
    """Each leaf ``[seeds, ...]`` with its cell axis at ``a + 1`` (``a``
    in ``axes``) as ``[...]`` with one member axis at ``a``, cell-major
    (member ``c * seeds + s``): a device's block of cells stays its own."""
    def merge(x, a):
        x = jnp.moveaxis(x, 0, a + 1)  # [..., cells, seeds, ...]
        return x.reshape(*x.shape[:a], -1, *x.shape[a + 2:])
    return jax.tree.map(merge, tree, axes)


def split_seeds(tree, axes, seeds: int):
    """The inverse of :func:`merge_seeds`."""
    def split(x, a):
        x = x.reshape(*x.shape[:a], -1, seeds, *x.shape[a + 1:])
        return jnp.moveaxis(x, a + 1, 0)
    return jax.tree.map(split, tree, axes)


class GroupProbe(NamedTuple):
    """``probe(params, stats, probe_state, activations, data) ->
    (probe_state, BatchProbes)`` of a group, by its pass: the program of
    :func:`probe_program`, compiled for ``args_like`` on the first call, or
    beside the first epoch (:meth:`compile_beside`), of whichever group of
    the run needs it first."""
    program: OnFirstCall
    args_like: tuple  # (params, stats, v0, preconditioner, activation, data)

    def compile_beside(self) -> None:
        """Start compiling the program on a thread of its own."""
        self.program.compile_beside(*self.args_like)

    @property
    def seconds(self) -> float:
        """Seconds spent compiling the program (0 until it is)."""
        return self.program.seconds

    def __call__(self, params, stats, state: ProbeState, activation,
                 data: Dataset) -> tuple[ProbeState, BatchProbes]:
        compiled = self.program.compile(*self.args_like)
        ones = jax.tree.map(lambda x: jnp.ones_like(x, device=x.sharding),
                            params)
        plain = compiled(params, stats, state.hessian_vector, ones,
                         activation, data)
        u = state.preconditioned_vector
        if state.preconditioner is None:
            pre_sharp = jnp.full_like(plain.sharpness, jnp.nan)
        else:
            pre = compiled(params, stats, u, state.preconditioner,
                           activation, data)
            pre_sharp, u = pre.sharpness, pre.vector
        units = plain.units
        assert state.histograms is not None, "an epoch program's view"
        return state._replace(
            hessian_vector=plain.vector, preconditioned_vector=u,
            histograms=plain.histograms), BatchProbes(
                **units._asdict(), sharpness=plain.sharpness,
                preconditioned_sharpness=pre_sharp,
                hist_start=state.histograms, hist_end=plain.histograms)

    @property
    def out_info(self):
        """(None, BatchProbes of ShapeDtypeStructs): what a call returns
        (the probe state aside)."""
        out = jax.eval_shape(self.program.jitted, *self.args_like)
        units = out.units
        return None, BatchProbes(
            **units._asdict(), sharpness=out.sharpness,
            preconditioned_sharpness=out.sharpness,
            hist_start=out.histograms, hist_end=out.histograms)


class ProbePrograms:
    """Probe-batch programs, shared by a run's groups: one per structure
    (model, sizes, batch norm, activations, probe settings), member count
    and placement, whatever the optimizer, compiled when first called. The
    key lists the config fields ``probe_program`` reads: a new one it reads
    goes there too.
    """

    def __init__(self):
        self._programs: dict = {}

    def get(self, tcfg: TrainConfig, jitted, state_like, activation,
            data: Dataset) -> GroupProbe:
        """The group's probe (compiled on its first call unless an earlier
        group's call compiled it); ``state_like`` the group's state (shapes
        and shardings)."""
        s = state_like
        args_like = (s.params, s.stats, s.probe.hessian_vector, s.params,
                     activation, data)
        leaves, tree = jax.tree.flatten(args_like)
        key = (tcfg.model, tcfg.sizes, tcfg.batch_norm,
               tcfg.activation_choices, tcfg.sharpness_iterations,
               tcfg.probe_size, str(tree),
               tuple((x.shape, str(x.dtype), getattr(x, "sharding", None))
                     for x in leaves))
        program = self._programs.setdefault(key, OnFirstCall(jitted))
        return GroupProbe(program, args_like)

"""The probe batch's program of a group, shared by a run's groups.

The Hessian, unit and histogram probes
(:func:`~jaxmnist.core.train.make_probe`) read only a member's params,
batch-norm statistics and probe state (which carries the optimizer's
preconditioner), so one compiled program serves every group of one
structure and size, whatever its optimizer: the classic grid compiles two
(with and without a preconditioner) instead of six.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxmnist.core.config import TrainConfig
from jaxmnist.core.train import make_probe
from jaxmnist.data.dataset import Dataset
from jaxmnist.sweep import sharding

__all__ = ["ProbePrograms", "by_cell", "probe_program"]


def by_cell(mesh, per_member):
    """Shardings of ``[seed, cell, ...]`` outputs: cells split."""
    return jax.tree.map(
        lambda leaf: sharding.along(mesh, np.ndim(leaf) + 2, 1), per_member)


def probe_program(tcfg: TrainConfig, data: Dataset, state1, axes,
                  state_sharding, mesh):
    """``probe(params, stats, probe_state, activations, data) ->
    (probe_state, BatchProbes)`` of :func:`~jaxmnist.core.train.make_probe`
    for the whole group (jitted, the probe state donated). It does not
    depend on the optimizer, so the groups of one structure and size share
    its compiled program (:class:`ProbePrograms`)."""
    probe1 = make_probe(tcfg)
    inner = (axes.params, axes.stats, axes.probe)
    out1 = jax.eval_shape(probe1, state1.params, state1.stats, state1.probe,
                          jnp.zeros([], jnp.int32), data)[1]
    probe = jax.vmap(jax.vmap(probe1, in_axes=(*inner, 0, None),
                              out_axes=(axes.probe, 0)),
                     in_axes=(0, 0, 0, None, None))
    return jax.jit(probe, donate_argnums=(2,), out_shardings=(
        state_sharding.probe, by_cell(mesh, out1)))


class ProbePrograms:
    """Compiled probe-batch programs, shared by a run's groups: one per
    structure (model, sizes, batch norm, activations, probe settings),
    member count and placement, whatever the optimizer. The key lists the
    config fields ``make_probe`` reads: a new one it reads goes there too.
    """

    def __init__(self):
        self._compiled: dict = {}

    def get(self, tcfg: TrainConfig, jitted, *args_like):
        """(compiled program, seconds spent compiling it now: 0 if it was
        compiled for an earlier group)."""
        leaves, tree = jax.tree.flatten(args_like)
        key = (tcfg.model, tcfg.sizes, tcfg.batch_norm,
               tcfg.activation_choices, tcfg.sharpness_iterations,
               tcfg.probe_size, str(tree),
               tuple((x.shape, str(x.dtype), getattr(x, "sharding", None))
                     for x in leaves))
        if key in self._compiled:
            return self._compiled[key], 0.0
        t = time.perf_counter()
        self._compiled[key] = jitted.lower(*args_like).compile()
        return self._compiled[key], time.perf_counter() - t

"""Spread a group's members over every device JAX sees.

A 1-D mesh named ``"members"`` over ``jax.devices()`` (all hosts' devices
after ``jax.distributed.initialize()``): the member axis of hparams, state
and metrics is split across it, the dataset is replicated (one uint8 copy
per device). A group whose member count is not a multiple of the device
count is padded with copies of its last member, whose results are dropped.
With one device nothing changes.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "members"


def member_mesh() -> Mesh:
    return Mesh(np.asarray(jax.devices()), (AXIS,))


def padded_count(n: int, mesh: Mesh) -> int:
    """``n`` rounded up to a multiple of the mesh size."""
    d = mesh.size
    return math.ceil(n / d) * d


def pad_members(tree, n: int):
    """Repeat the last row of every leaf until the leading axis has ``n``."""
    def pad(x):
        x = np.asarray(x)
        extra = n - x.shape[0]
        return x if extra == 0 else np.concatenate(
            [x, np.repeat(x[-1:], extra, axis=0)])
    return jax.tree.map(pad, tree)


def along(mesh: Mesh, ndim: int, axis: int) -> NamedSharding:
    """Split dimension ``axis`` of an ``ndim``-dimensional array."""
    spec: list[str | None] = [None] * ndim
    spec[axis] = AXIS
    return NamedSharding(mesh, P(*spec))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def shard_members(tree, mesh: Mesh | None = None, axis: int = 0):
    """``device_put`` every leaf split along ``axis`` over the mesh, e.g.
    stacked HParams before ``jax.jit(jax.vmap(train, (None, 0, None)))``."""
    mesh = mesh or member_mesh()
    return jax.tree.map(lambda x: jax.device_put(
        x, along(mesh, np.ndim(x), axis)), tree)


def to_host(tree):
    """Fetch a (possibly multi-host, sharded) pytree as numpy arrays."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils  # noqa: PLC0415

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)


def gathered(value: int) -> list[int]:
    """``value`` (an int32) of every process, in process order."""
    if jax.process_count() == 1:
        return [value]
    from jax.experimental import multihost_utils  # noqa: PLC0415

    return [int(v) for v in np.ravel(multihost_utils.process_allgather(
        np.int32(value)))]


def everyone(flag: bool) -> bool:
    """Whether ``flag`` holds on every process (resume only what all
    processes can: a host may have checkpointed one epoch more)."""
    return min(gathered(int(flag))) == 1


def agreed_min(value: int) -> int:
    """The smallest ``value`` (bytes) over every process, so all choose
    alike (to whole MiB when there are several)."""
    if jax.process_count() == 1:
        return value
    return min(gathered(min(value // 2**20, 2**31 - 1))) * 2**20

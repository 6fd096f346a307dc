"""The processes and devices one sweep runs on, behind one object.

:data:`cluster` answers everything multi-process: whether this process
writes the run dir (:attr:`~Cluster.main`), every process's value of an int
(:meth:`~Cluster.gathered`), a sharded result fetched whole
(:meth:`~Cluster.to_host`), the mesh the members are split over
(:meth:`~Cluster.mesh`: every device of every process, the dataset
replicated, members padded to a multiple of the device count). With one
process each is a local answer. Joining, a different sweep on another
process and a lost peer are each one line; rerunning every process resumes.

Processes that never talk split a sweep into shards instead
(:class:`Shard`; :mod:`.shards`). A group's memory
is read from its compiled program (:func:`compiled_bytes`); the budget is
``--max-memory``, else half the available RAM on a CPU or 80% of an
accelerator's free memory (:func:`budget`).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from typing import NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "members"
#: Seconds to join, and after which a silent process counts as dead.
DEFAULT_TIMEOUT_S = 60
#: How long a finished process waits for the others at exit (process 0
#: writes the figures and summary after the last group).
SHUTDOWN_TIMEOUT_S = 900
CPU_SHARE = 0.5
ACCELERATOR_SHARE = 0.8


class Cluster:
    """This sweep's processes: their index, devices, what they agree on."""

    @property
    def index(self) -> int:
        return jax.process_index()

    @property
    def size(self) -> int:
        return jax.process_count()

    @property
    def main(self) -> bool:
        """Whether this process writes the run dir's shared files."""
        return self.index == 0

    def mesh(self) -> Mesh:
        """Every device of every process, as the members' 1-D mesh."""
        return Mesh(np.asarray(jax.devices()), (AXIS,))

    def gathered(self, value: int) -> list[int]:
        """``value`` (an int32) of every process, in process order."""
        if self.size == 1:
            return [value]
        from jax.experimental import multihost_utils  # noqa: PLC0415

        return [int(v) for v in np.ravel(multihost_utils.process_allgather(
            np.int32(value)))]

    def everyone(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every process."""
        return min(self.gathered(int(flag))) == 1

    def agreed_min(self, value: int) -> int:
        """The smallest ``value`` (bytes) over every process, so all choose
        alike (to whole MiB when there are several)."""
        if self.size == 1:
            return value
        return min(self.gathered(min(value // 2**20, 2**31 - 1))) * 2**20

    def to_host(self, tree):
        """Fetch a (possibly multi-host, sharded) pytree as numpy arrays."""
        if self.size == 1:
            return jax.device_get(tree)
        from jax.experimental import multihost_utils  # noqa: PLC0415

        return multihost_utils.process_allgather(tree, tiled=True)

    def check_same_sweep(self, sweep: str,
                         num_processes: int | None = None) -> None:
        """ValueError naming the first process whose ``sweep`` (the digest
        of its number-changing options) or ``--num-processes`` differs from
        process 0's (JAX takes the count from process 0)."""
        text = f"{sweep}|processes={num_processes or self.size}"
        every = self.gathered(int(hashlib.sha256(text.encode()).hexdigest()
                                  [:7], 16))  # 28 bits: an int32
        odd = [i for i, h in enumerate(every) if h != every[0]]
        if odd:
            raise ValueError(
                f"process {odd[0]} runs a different sweep than process 0 "
                f"(its config, options that change the numbers or "
                f"--num-processes differ); start every process with the "
                f"same ones")

    @staticmethod
    def join(coordinator: str | None, num_processes: int | None,
             process_id: int | None, timeout_s: int = DEFAULT_TIMEOUT_S
             ) -> None:
        """``jax.distributed.initialize`` with bounded joining and
        heartbeats (None: from the environment, e.g. SLURM); a peer silent
        for ``timeout_s`` counts as dead. Call it before any other JAX
        call."""
        kwargs: dict = {k: v for k, v in (
            ("coordinator_address", coordinator),
            ("num_processes", num_processes), ("process_id", process_id))
            if v is not None}
        start = time.monotonic()
        try:
            jax.distributed.initialize(
                **kwargs, initialization_timeout=timeout_s,
                heartbeat_timeout_seconds=timeout_s,
                shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_S)
        except Exception as e:  # XlaRuntimeError, RuntimeError, ValueError
            raise ValueError(join_failure(
                e, coordinator, time.monotonic() - start, timeout_s)
                ) from None

    @staticmethod
    def leave(code: int) -> None:
        """A failed distributed process leaves at once (``os._exit``): JAX's
        exit handler would wait at a shutdown barrier for a lost peer."""
        if code == 0 or "jax" not in sys.modules:
            return
        from jax._src import distributed  # noqa: PLC0415

        if distributed.global_state.client is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


#: The one cluster object of this process.
cluster = Cluster()


def join_failure(error: Exception, coordinator: str | None, seconds: float,
                 timeout_s: int) -> str:
    """Why joining failed, one line: how long it took (the whole timeout
    only when it waited that long), JAX's reason, what to check."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    took = (f"no answer within {timeout_s} s" if seconds >= timeout_s
            else f"failed after {seconds:.1f} s")
    hint = ("give --coordinator HOST:PORT, --num-processes and --process-id,"
            " or start it under a cluster scheduler that sets them"
            if coordinator is None else
            "is every process started with the same --coordinator and "
            "--num-processes, and a distinct --process-id?")
    return (f"could not join the sweep's processes at "
            f"{coordinator or 'the cluster coordinator'} ({took}: "
            f"{first[:200] or type(error).__name__}); {hint}")


def pad_members(tree, n: int):
    """Repeat the last row of every leaf until the leading axis has ``n``."""
    def pad(x):
        x = np.asarray(x)
        extra = n - x.shape[0]
        return x if extra == 0 else np.concatenate(
            [x, np.repeat(x[-1:], extra, axis=0)])
    return jax.tree.map(pad, tree)


def along(mesh: Mesh, ndim: int, axis: int) -> NamedSharding:
    """Split dimension ``axis`` of an ``ndim``-dimensional array over the
    mesh."""
    spec: list[str | None] = [None] * ndim
    spec[axis] = AXIS
    return NamedSharding(mesh, P(*spec))


def shard_members(tree, mesh: Mesh | None = None, axis: int = 0):
    """``device_put`` every leaf split along ``axis`` over the mesh, e.g.
    stacked HParams before ``jax.jit(jax.vmap(train, (None, 0, None)))``
    (docs/clusters.md)."""
    mesh = mesh or cluster.mesh()
    return jax.tree.map(lambda x: jax.device_put(
        x, along(mesh, np.ndim(x), axis)), tree)


def replicated(mesh: Mesh) -> NamedSharding:
    """A whole copy on every device of the mesh."""
    return NamedSharding(mesh, P())


# --------------------------------------------------------------------------
# Shards: processes that split the work without talking
# --------------------------------------------------------------------------

#: ``--shard off``: one process, whatever the environment says.
OFF = "off"


class Shard(NamedTuple):
    """Shard ``index`` (0-based) of ``count``."""
    index: int
    count: int

    @property
    def name(self) -> str:
        """``I-of-N``: the shard's folder under ``RUN/shards/``."""
        return f"{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse(text: str) -> Shard:
    """``"I/N"`` as a Shard (ValueError, one line, unless 0 <= I < N)."""
    index, _, count = str(text).strip().partition("/")  # no "/": count ""
    try:
        shard = Shard(int(index), int(count))
    except ValueError:
        raise ValueError(f"shard {text!r} must be I/N, two integers: task "
                         f"I (0..N-1) of N, e.g. 0/4") from None
    if shard.count < 1:
        raise ValueError(f"shard {text!r}: the shard count N must be >= 1, "
                         f"got {shard.count}")
    if not 0 <= shard.index < shard.count:
        raise ValueError(f"shard {text!r}: I must be in 0..{shard.count - 1}"
                         f", got {shard.index}")
    return shard


def of(value: str | None) -> Shard | None:
    """The shard a config's ``shard`` value names (None: unsharded)."""
    return None if value in (None, OFF) else parse(value)


# --------------------------------------------------------------------------
# Memory: what a compiled program needs, what a group may take
# --------------------------------------------------------------------------

def format_size(n: float) -> str:
    """``1.5 GiB``, ``320.0 MiB``, ``12 B``."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def compiled_bytes(compiled) -> int:
    """Per-device bytes a compiled program needs while it runs, from XLA's
    memory analysis (0 when the backend gives none)."""
    m = compiled.memory_analysis()
    if m is None:
        return 0
    return int(m.argument_size_in_bytes + m.output_size_in_bytes
               - m.alias_size_in_bytes + m.temp_size_in_bytes)


def tree_bytes(tree) -> int:
    """Bytes of every array leaf of ``tree``."""
    return int(sum(np.prod(np.shape(x)) * np.dtype(x.dtype).itemsize
                   for x in jax.tree.leaves(tree)))


def _available_ram() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def budget(max_memory: int | None = None) -> int:
    """Per-device bytes a group may take: ``max_memory``, else a share of
    what is free (the host also holds checkpoint copies on a CPU)."""
    if max_memory is not None:
        return max_memory
    device = jax.local_devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and stats.get("bytes_limit"):
        free = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
        return int(ACCELERATOR_SHARE * free)
    return int(CPU_SHARE * _available_ram() / jax.local_device_count())

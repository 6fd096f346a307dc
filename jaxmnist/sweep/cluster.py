"""The processes and devices one sweep runs on, behind one object.

:data:`cluster` is what the driver asks about everything multi-process:
whether this is the process that writes the run dir (:attr:`Cluster.main`),
every process's value of an int (:meth:`Cluster.gathered`) and what follows
from them (:meth:`~Cluster.everyone`, :meth:`~Cluster.agreed_min`), a
sharded result fetched whole (:meth:`~Cluster.to_host`) and the mesh the
members are split over (:meth:`~Cluster.mesh`). With one process every one
of them is a plain local answer: no collective runs.

Several processes (hosts) each run the same command with their own
``--process-id``; the member axis of each group is split over all their
devices (a 1-D mesh named ``"members"``; the dataset replicated, one uint8
copy per device; a member count that is not a multiple of the device count
padded with copies of the last member, whose results are dropped). Process
0 writes the combined files and each process saves its share of the models.
What can go wrong is turned into one line:

- joining: a process that cannot reach the coordinator, or is started with
  another process count, gives up after ``timeout_s`` seconds;
- agreeing: every process hashes the options that change the numbers and
  the process count; a process whose sweep differs is refused;
- failing: when a process dies (killed, host lost), the others fail at
  their next collective (gloo: "connection reset by peer") and exit at once
  with that one line (:meth:`Cluster.leave`: no wait at JAX's shutdown
  barrier); one busy longer than ``timeout_s`` is ended by JAX's heartbeat
  check. Rerunning every process resumes from the checkpoints.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

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


class Cluster:
    """This sweep's processes: their index, their devices, what they agree
    on. Every method is local (no collective) in a one-process run."""

    @property
    def index(self) -> int:
        """This process's index (0 in a one-process run)."""
        return jax.process_index()

    @property
    def size(self) -> int:
        """How many processes run the sweep."""
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
        """Whether ``flag`` holds on every process (resume only what all
        processes can: a host may have checkpointed one epoch more)."""
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

    def check_same_sweep(self, fields: dict,
                         num_processes: int | None = None) -> None:
        """Refuse to run unless every process runs the same sweep, started
        with the same process count (``num_processes``: as given on its
        command line; JAX itself takes the count from process 0).

        Raises:
          ValueError: naming the first process whose sweep differs.
        """
        if self.size == 1:
            return
        from jax.experimental import multihost_utils  # noqa: PLC0415

        mine = sweep_digest(fields, num_processes or self.size)
        every = np.asarray(multihost_utils.process_allgather(mine))
        odd = [i for i in range(len(every))
               if not np.array_equal(every[i], every[0])]
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
        heartbeats (arguments left None come from the cluster environment,
        e.g. SLURM); call it before any other JAX call."""
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
        """A distributed process that failed leaves at once (``os._exit``):
        JAX's exit handler would wait for the other processes at a shutdown
        barrier, and a lost peer never comes."""
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


def sweep_digest(fields: dict, process_count: int) -> np.ndarray:
    """32 bytes naming a sweep: its number-changing options and the count of
    processes running it."""
    text = repr(sorted(fields.items())) + f"|processes={process_count}"
    return np.frombuffer(hashlib.sha256(text.encode()).digest(), np.uint8)


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
    stacked HParams before ``jax.jit(jax.vmap(train, (None, 0, None)))``."""
    mesh = mesh or cluster.mesh()
    return jax.tree.map(lambda x: jax.device_put(
        x, along(mesh, np.ndim(x), axis)), tree)


def replicated(mesh: Mesh) -> NamedSharding:
    """A whole copy on every device of the mesh."""
    return NamedSharding(mesh, P())

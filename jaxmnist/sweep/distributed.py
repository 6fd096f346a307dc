"""One sweep over several processes (hosts): joining, agreeing, failing.

Every process runs the same command with its own ``--process-id``; the
member axis of each group is split over all their devices (see
:mod:`.sharding`), process 0 writes the combined files and each process
saves its share of the models. What can go wrong is turned into one line:

- joining: a process that cannot reach the coordinator, or is started with
  another process count, gives up after ``timeout_s`` seconds;
- agreeing: every process hashes the options that change the numbers and
  the process count; a process whose sweep differs is refused;
- failing: when a process dies (killed, host lost), the others fail at
  their next collective (gloo: "connection reset by peer") and exit at once
  with that one line (:func:`leave`: no wait at JAX's shutdown barrier);
  one busy longer than ``timeout_s`` is ended by JAX's heartbeat check
  (its "Terminating process ... another task died" log). Rerunning every
  process resumes from the checkpoints.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

import numpy as np

#: Seconds to join, and after which a silent process counts as dead.
DEFAULT_TIMEOUT_S = 60
#: How long a finished process waits for the others at exit (process 0
#: writes the figures and summary after the last group).
SHUTDOWN_TIMEOUT_S = 900


def initialize(coordinator: str | None, num_processes: int | None,
               process_id: int | None, timeout_s: int = DEFAULT_TIMEOUT_S
               ) -> None:
    """``jax.distributed.initialize`` with bounded joining and heartbeats
    (arguments left None come from the cluster environment, e.g. SLURM)."""
    import jax  # noqa: PLC0415  (must run before any other JAX call)

    kwargs: dict = {k: v for k, v in (("coordinator_address", coordinator),
                                      ("num_processes", num_processes),
                                      ("process_id", process_id))
                    if v is not None}
    start = time.monotonic()
    try:
        jax.distributed.initialize(
            **kwargs, initialization_timeout=timeout_s,
            heartbeat_timeout_seconds=timeout_s,
            shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_S)
    except Exception as e:  # XlaRuntimeError, RuntimeError, ValueError
        raise ValueError(join_failure(
            e, coordinator, time.monotonic() - start, timeout_s)) from None


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


def check_same_sweep(fields: dict, num_processes: int | None = None
                     ) -> None:
    """Refuse to run unless every process runs the same sweep, started with
    the same process count (``num_processes``: as given on its command
    line; JAX itself takes the count from process 0).

    Raises:
      ValueError: naming the first process whose sweep differs.
    """
    import jax  # noqa: PLC0415
    from jax.experimental import multihost_utils  # noqa: PLC0415

    if jax.process_count() == 1:
        return
    mine = sweep_digest(fields, num_processes or jax.process_count())
    every = np.asarray(multihost_utils.process_allgather(mine))
    odd = [i for i in range(len(every)) if not np.array_equal(every[i],
                                                                every[0])]
    if odd:
        raise ValueError(
            f"process {odd[0]} runs a different sweep than process 0 (its "
            f"config, options that change the numbers or --num-processes "
            f"differ); start every process with the same ones")


def leave(code: int) -> None:
    """A distributed process that failed leaves at once (``os._exit``):
    JAX's exit handler would wait for the other processes at a shutdown
    barrier, and a lost peer never comes (an abort with a long log follows
    after the heartbeat timeout)."""
    if code == 0 or "jax" not in sys.modules:
        return
    from jax._src import distributed  # noqa: PLC0415

    if distributed.global_state.client is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

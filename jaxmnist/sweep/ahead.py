"""A sweep's groups compiled ahead of their turn.

While one group trains, one background thread places and compiles the
groups after it, in the order they will run, so that a group whose turn
comes finds its programs ready. XLA compiles outside Python's lock and the
training thread mostly waits on the device, so compiling costs a group's
turn nothing where its training leaves a core free (per-sample SGD) and
about what it would have cost anyway where it does not. Each group is
still compiled exactly once, to the same programs: the numbers do not
change.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from jaxmnist.data.dataset import Dataset
from jaxmnist.sweep.group import GroupSpec, compile_group
from jaxmnist.sweep.probes import ProbePrograms

__all__ = ["CompileAhead"]


class CompileAhead:
    """Compiles ``specs`` one after another in a background thread, from
    construction on; :meth:`take` waits for one group's programs.
    ``probes`` is used by that thread only. Use as a context manager: on
    leaving, the groups not started yet are dropped (a compile under way
    finishes in the background)."""

    def __init__(self, specs: list[GroupSpec], data: Dataset,
                 probes: ProbePrograms):
        self._data, self._probes = data, probes
        self._pool = ThreadPoolExecutor(1, "jaxmnist-compile")
        self._jobs: dict[str, Future] = {
            spec.name: self._pool.submit(compile_group, spec, data, probes)
            for spec in specs}

    def take(self, spec: GroupSpec):
        """(the placed group with its programs compiled, the seconds its
        compilation took), once ready (compiled here if ``spec`` was not
        given). Re-raises what compiling it raised."""
        job = self._jobs.pop(spec.name, None)
        if job is None:
            return compile_group(spec, self._data, self._probes)
        return job.result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> CompileAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""``python -m jaxmnist.sweep`` with one kind of write failing, or stopped
at a chosen moment.

    python tests/inject.py KIND ERRNO [sweep arguments...]
    python tests/inject.py sigterm [sweep arguments...]

``sigterm`` sends the process SIGTERM as soon as the adam group's epoch-1
checkpoint is written (while epoch 2 trains), so the stop lands after
epoch 2 on any machine: an epoch of the tests' tiny sweep takes about as
long as a poll from outside. Otherwise KIND names the write that fails,
ERRNO (``ENOSPC``, ``EACCES``, ``EROFS``) the error:

- ``checkpoint``: the adam group's epoch-2 checkpoint (its npz, in the
  temporary ``epochs/2.tmp`` folder, which stays behind).
- ``model``: the first saved model of the adam group (orbax), the same way.
- ``result``: the second write of results.csv (the one adding adam's rows).
- ``figure``: the first figure (a PNG).

For ``checkpoint``, ``result`` and ``figure`` the temporary file is real;
ENOSPC writes it through /dev/full, so the kernel itself refuses the bytes;
EACCES and EROFS are raised where the OS raises them, on creating the
temporary file.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import tempfile
from pathlib import Path

from helpers import failing_mkstemp


def orbax_error(code: int, path: Path) -> ValueError:
    """What orbax raises for an OS error inside tensorstore."""
    return ValueError(f"RESOURCE_EXHAUSTED: Error writing in OCDBT database "
                      f"at local file {str(path)!r}: Failed writing: "
                      f"{os.strerror(code)} [os_error_code='{code}']")


def leave_partial(tmp: Path) -> None:
    (tmp / "default").mkdir(parents=True, exist_ok=True)
    (tmp / "default" / "d").write_bytes(b"\0" * 100)


def fail_model(code: int) -> None:
    import orbax.checkpoint as ocp  # noqa: PLC0415

    save = ocp.StandardCheckpointer.save

    def failing(self, directory, *args, **kwargs):
        if "adam" in str(directory):
            tmp = Path(f"{directory}.orbax-checkpoint-tmp")
            leave_partial(tmp)
            raise orbax_error(code, tmp)
        return save(self, directory, *args, **kwargs)
    ocp.StandardCheckpointer.save = failing


def fail_file(code: int, matches, nth: int) -> None:
    """The ``nth`` temporary file whose (prefix, folder) ``matches`` fails."""
    tempfile.mkstemp = failing_mkstemp(code, tempfile.mkstemp, matches, nth)


def term_after_checkpoint(group: str, epoch: int) -> None:
    """SIGTERM to this process once ``group``'s epoch-``epoch`` checkpoint
    is written."""
    from jaxmnist.sweep import checkpoint  # noqa: PLC0415

    save = checkpoint.save_epoch

    def saving(path, finished, *args):
        save(path, finished, *args)
        if finished == epoch and path.name.startswith(group):
            os.kill(os.getpid(), signal.SIGTERM)
    checkpoint.save_epoch = saving


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this
    from jaxmnist.cli.sweep import main as sweep  # noqa: PLC0415  checkout

    kind, *argv = sys.argv[1:]
    if kind == "sigterm":
        term_after_checkpoint("adam", 1)
        return sweep(argv)
    name, *argv = argv
    code = getattr(errno, name)
    if kind == "checkpoint":
        fail_file(code, lambda p, d: p == ".state.npz." and d.name == "2.tmp"
                  and d.parent.parent.name.startswith("adam"), 1)
    elif kind == "model":
        fail_model(code)
    elif kind == "result":
        fail_file(code, lambda p, d: p.startswith(".results.csv."), 2)
    elif kind == "figure":
        fail_file(code, lambda p, d: p.endswith(".png."), 1)
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    return sweep(argv)


if __name__ == "__main__":
    sys.exit(main())

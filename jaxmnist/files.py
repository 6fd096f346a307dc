"""Atomic file writes: a reader never sees a half-written file.

A write that fails (a full disk, a read-only or forbidden folder) raises an
``OSError`` naming the file it was writing, never its temporary file; the
file keeps its previous content. :func:`orbax_write` does the same for orbax's
checkpoint writes, which report an OS error as a ValueError.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it.

    Raises:
      OSError: naming ``path`` (its errno and reason kept) when it cannot
        be written; ``path`` is left as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                   suffix=".tmp")
    except OSError as e:
        raise named(e, path) from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise named(e, path) from e
        raise


def named(error: OSError, path: str | os.PathLike) -> OSError:
    """``error`` as an OSError of the same errno (and subclass) naming
    ``path``."""
    return OSError(error.errno, error.strerror or str(error), str(path))


_OS_ERROR_CODE = re.compile(r"os_error_code='?(\d+)")


def os_error(error: Exception, path: str | os.PathLike) -> OSError | None:
    """The OSError behind a checkpoint library's error (tensorstore writes
    ``[os_error_code='28']`` into its message), naming ``path``; None when
    ``error`` does not come from the OS."""
    if isinstance(error, OSError):
        return named(error, path)
    match = _OS_ERROR_CODE.search(str(error))
    if match is None:
        return None
    code = int(match.group(1))
    return OSError(code, os.strerror(code), str(path))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def orbax_write(path: str | os.PathLike) -> Iterator[None]:
    """Around an orbax save: an OS error (ENOSPC, EACCES, ...) comes out as
    an OSError naming ``path``; orbax's own logging of it (a traceback per
    writer thread) is silenced, the error being raised here."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    except (ValueError, OSError) as e:
        error = os_error(e, path)
        if error is None:
            raise
        raise error from e
    finally:
        logger.setLevel(level)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_csv(path: str | os.PathLike, columns: Sequence[str],
              rows: Iterable[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    write_text(path, buf.getvalue())


def json_safe(obj):
    """``obj`` with every non-finite float replaced by None (valid JSON)."""
    import math  # noqa: PLC0415

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike, obj) -> None:
    import json  # noqa: PLC0415

    write_text(path, json.dumps(json_safe(obj), indent=1, allow_nan=False)
               + "\n")

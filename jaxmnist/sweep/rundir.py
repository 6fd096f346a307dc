"""A run dir's life: held by one sweep at a time, marked when finished.

A sweep holds its run dir with :class:`~jaxmnist.sweep.lock.RunLock` while
it writes; on taking it, it removes the temporary files a killed writer
left (``.NAME.XXXX.tmp``: :mod:`jaxmnist.files` writes through them). When
every file of a run is written, ``finished.json`` marks it done and its
checkpoints are removed (unless kept); a finished run is not trained again.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from jaxmnist import files
from jaxmnist.sweep import checkpoints

#: Written last: the run dir holds every file of a finished sweep.
FINISHED = "finished.json"


def remove_temporaries(out: Path) -> int:
    """Delete the temporary files of interrupted atomic writes under
    ``out`` (only while holding its lock); how many there were."""
    stale = [p for p in Path(out).rglob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def finished(out: Path) -> str | None:
    """When the sweep in ``out`` finished, or None if it has not."""
    try:
        return str(json.loads((Path(out) / FINISHED).read_text())["finished"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def finish(out: Path, keep_checkpoints: bool) -> None:
    """Mark ``out`` finished, then remove its checkpoints unless kept."""
    files.write_json(Path(out) / FINISHED, {
        "finished": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "checkpoints": "kept" if keep_checkpoints else "removed"})
    tidy(out, keep_checkpoints)


def tidy(out: Path, keep_checkpoints: bool) -> None:
    """Remove a finished run's checkpoints (again, if a kill interrupted
    the removal) unless kept."""
    if not keep_checkpoints:
        checkpoints.remove(out)

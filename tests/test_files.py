"""Atomic writes: a reader never sees a half-written file."""

import json
import os

from jaxmnist import files


def test_atomic_writes_leave_readable_files_and_no_temporaries(tmp_path):
    files.write_text(tmp_path / "a" / "x.txt", "hello")
    assert (tmp_path / "a" / "x.txt").read_text() == "hello"
    mask = os.umask(0)
    os.umask(mask)
    # as open() would make it, not mkstemp's 0600
    assert os.stat(tmp_path / "a" / "x.txt").st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.txt"]


def test_json_has_no_nan(tmp_path):
    files.write_json(tmp_path / "x.json", {"a": float("nan"), "b": [1.0]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": None,
                                                            "b": [1.0]}

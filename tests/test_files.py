"""Atomic writes: a reader never sees a half-written file."""

import errno
import json
import os
import tempfile

import pytest

from helpers import failing_mkstemp
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


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_a_failed_write_names_the_file_and_keeps_its_content(tmp_path,
                                                              monkeypatch,
                                                              code):
    """ENOSPC as the kernel gives it (writing to /dev/full); EACCES and EROFS
    where the OS raises them, on creating the temporary file."""
    path = tmp_path / "results.csv"
    files.write_text(path, "before")
    monkeypatch.setattr(files.tempfile, "mkstemp",
                        failing_mkstemp(code, tempfile.mkstemp))
    with pytest.raises(OSError) as e:
        files.write_bytes(path, b"x" * 100_000)
    assert (e.value.errno, e.value.filename) == (code, str(path))
    assert e.value.strerror == os.strerror(code)
    assert path.read_text() == "before"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]

"""JAX's persistent compilation cache: where it goes, and that a program
read back from it gives the bits a fresh compilation gives."""

import os
import re
import subprocess
import sys

import pytest

from helpers import ROOT, assert_same_run
from jaxmnist import compile_cache
from jaxmnist.compile_cache import ENV, cache_dir

HIT = "Persistent compilation cache hit for "


def test_the_folder_is_the_option_else_the_environment_else_per_user(
        tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "jaxmnist" / "jax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "jaxmnist" / "jax"
    monkeypatch.setenv(ENV, str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(str(tmp_path / "flag")) == tmp_path / "flag"
    assert cache_dir("off") is None and cache_dir(" OFF ") is None
    monkeypatch.setenv(ENV, "off")
    assert cache_dir() is None
    assert cache_dir(str(tmp_path / "flag")) == tmp_path / "flag"


def test_a_folder_that_cannot_be_made_leaves_the_cache_off(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert compile_cache.enable(str(tmp_path / "file" / "jax")) is None
    assert compile_cache.enable("off") is None
    err = capsys.readouterr().err
    assert err.startswith("note: no compilation cache: cannot write ")
    assert err.count("\n") == 1


def smoke(out, cache, mnist_dirs) -> subprocess.CompletedProcess:
    """sweeps/smoke.toml into ``out`` with the cache in ``cache``, each
    program read from the cache logged."""
    env = {**os.environ, ENV: str(cache), "JAX_LOG_COMPILES": "1"}
    return subprocess.run(
        [sys.executable, "-m", "jaxmnist.sweep",
         str(ROOT / "sweeps/smoke.toml"), "--manual-dir", mnist_dirs[0],
         "--data-dir", mnist_dirs[1], "--out", str(out), "--no-progress"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def hits(stderr: str) -> set[str]:
    """The cache entries a run read, as JAX logs them."""
    return set(re.findall(HIT + r"'[^']*' with key '([^']+)'", stderr))


@pytest.mark.slow
def test_a_warm_cache_gives_the_same_bits(mnist_dirs, tmp_path):
    """The smoke sweep with an empty cache, then again with the programs
    it wrote: the second reads every one of them back and writes the same
    files, bit for bit but the wall-clock seconds."""
    cache = tmp_path / "cache"
    cold = smoke(tmp_path / "cold", cache, mnist_dirs)
    assert cold.returncode == 0, cold.stderr[-2000:]
    written = {p.name.removesuffix("-cache") for p in cache.iterdir()}
    assert written, "no program was written to the cache"
    assert not hits(cold.stderr)
    warm = smoke(tmp_path / "warm", cache, mnist_dirs)
    assert warm.returncode == 0, warm.stderr[-2000:]
    assert hits(warm.stderr) == written
    assert_same_run(tmp_path / "cold", tmp_path / "warm", models=4)

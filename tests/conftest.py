"""Strict dtype promotion catches silent float64/int mixes; shared fixtures;
the slow layer: every test that reads the real data is marked ``slow``; one
compilation cache for the session; XLA's slow optimisations off in this
process."""

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile

import jax
import pytest

from helpers import ROOT, shared_data_dir, synthetic_dataset
from jaxmnist import compile_cache

jax.config.update("jax_numpy_dtype_promotion", "strict")
# Most of the fast layer's time is XLA compiling small programs; the tests
# check the math, not XLA's optimiser, and its expensive passes are skipped.
# Only in this process: the commands the slow layer starts compile as
# users' runs do.
# JAX_DISABLE_MOST_OPTIMIZATIONS=0 in the environment keeps them on.
if os.environ.get("JAX_DISABLE_MOST_OPTIMIZATIONS", "1") != "0":
    jax.config.update("jax_disable_most_optimizations", True)

#: Fixtures that read ../shared/data: a test using one is in the slow layer.
REAL_DATA = {"shared_data", "mnist_dirs", "smoke_run"}
#: Folders wholly in the slow layer: optax's own suite, the real Slurm.
SLOW_FOLDERS = {"optax_suite", "slurm"}


def pytest_configure(config):
    """The session's processes (this one, the xdist workers, the commands
    they start) share one temporary compilation cache, removed at the end,
    so a program compiled once is read back everywhere else; an
    ``$JAXMNIST_COMPILE_CACHE`` set beforehand (a folder kept between
    sessions, or ``off``) is used as it is."""
    if not os.environ.get(compile_cache.ENV):
        folder = tempfile.mkdtemp(prefix="jaxmnist-compile-cache-")
        os.environ[compile_cache.ENV] = folder
        config.stash[_OWN_CACHE] = folder
    compile_cache.enable()


def pytest_unconfigure(config):
    folder = config.stash.get(_OWN_CACHE, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


_OWN_CACHE = pytest.StashKey[str]()


def pytest_collection_modifyitems(items):
    for item in items:
        real = REAL_DATA & set(getattr(item, "fixturenames", ()))
        folder = item.path.parent.name
        if (real or folder in SLOW_FOLDERS
                or item.get_closest_marker("integration")):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _fast_layer_runs_no_command(request, monkeypatch):
    """A fast-layer test that starts a ``python -m jaxmnist.<command>`` (or
    tests/inject.py) subprocess other than ``--help`` fails: such tests
    belong in the slow layer."""
    if request.node.get_closest_marker("slow"):
        return
    popen_init = subprocess.Popen.__init__

    def guarded(self, args, *rest, **kwargs):
        argv = [str(a) for a in (args if isinstance(args, (list, tuple))
                                 else [args])]
        command = any(a.startswith("jaxmnist.") or a.endswith("inject.py")
                      for a in argv)
        if command and "--help" not in argv:
            pytest.fail(f"the fast layer starts {' '.join(argv[1:4])}...: "
                        "mark the test slow")
        popen_init(self, args, *rest, **kwargs)
    monkeypatch.setattr(subprocess.Popen, "__init__", guarded)


@pytest.fixture(scope="session")
def tiny_data():
    """784-wide synthetic data, small enough for second-long tests."""
    return synthetic_dataset()


@pytest.fixture(scope="session")
def shared_data():
    """The folder holding mnist/ and fashion_mnist/, or skip with the reason."""
    mnist = shared_data_dir("mnist")
    if mnist is None or shared_data_dir("fashion_mnist") is None:
        pytest.skip("real MNIST / Fashion-MNIST not found in ../shared/data")
    return mnist.parent


@pytest.fixture(scope="session")
def mnist_dirs(shared_data, tmp_path_factory):
    """(manual_dir, data_dir) for real MNIST."""
    return str(shared_data / "mnist"), str(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def smoke_run(mnist_dirs, tmp_path_factory):
    """sweeps/smoke.toml run once through the CLI for the whole session (the
    xdist workers share it under a lock): (run dir, completed process)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above the workers'
    shared = base / "smoke"
    shared.mkdir(exist_ok=True)
    out = shared / "run"
    argv = [sys.executable, "-m", "jaxmnist.sweep",
            str(ROOT / "sweeps/smoke.toml"), "--manual-dir", mnist_dirs[0],
            "--data-dir", str(shared / "data"), "--out", str(out),
            "--no-progress"]
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (shared / "returncode").is_file():
            proc = subprocess.run(argv, capture_output=True, text=True,
                                  cwd=shared)
            (shared / "stdout").write_text(proc.stdout)
            (shared / "stderr").write_text(proc.stderr)
            (shared / "returncode").write_text(str(proc.returncode))
    proc = subprocess.CompletedProcess(
        argv, int((shared / "returncode").read_text()),
        (shared / "stdout").read_text(), (shared / "stderr").read_text())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, proc

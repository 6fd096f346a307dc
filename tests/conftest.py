"""Strict dtype promotion catches silent float64/int mixes; shared fixtures."""

import subprocess
import sys

import jax
import pytest

from helpers import ROOT, shared_data_dir, synthetic_dataset

jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture(scope="session")
def tiny_data():
    """784-wide synthetic data, small enough for second-long tests."""
    return synthetic_dataset()


@pytest.fixture(scope="session")
def shared_data():
    """The folder holding mnist/ and fashion_mnist/, or skip with the reason."""
    if not (shared_data_dir("mnist") and shared_data_dir("fashion_mnist")):
        pytest.skip("real MNIST / Fashion-MNIST not found in ../shared/data")
    return shared_data_dir("mnist").parent


@pytest.fixture(scope="session")
def mnist_dirs(shared_data, tmp_path_factory):
    """(manual_dir, data_dir) for real MNIST."""
    return str(shared_data / "mnist"), str(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def smoke_run(mnist_dirs, tmp_path_factory):
    """sweeps/smoke.toml run once through the CLI: (run dir, process)."""
    out = tmp_path_factory.mktemp("smoke") / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmnist.sweep",
         str(ROOT / "sweeps/smoke.toml"), "--manual-dir", mnist_dirs[0],
         "--data-dir", mnist_dirs[1], "--out", str(out), "--no-progress"],
        capture_output=True, text=True, cwd=out.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, proc

"""Integration tests on the real MNIST in ../shared/data/mnist (skipped
with the reason when it is not there)."""

import csv
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import jaxmnist as jm
from conftest import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mnist(mnist_dirs):
    manual, data_dir = mnist_dirs
    return jm.load_dataset("mnist", manual_dir=manual, data_dir=data_dir)


def test_loaded_splits(mnist, mnist_dirs):
    assert mnist.train_images.shape == (55000, 784)
    assert mnist.val_images.shape == (5000, 784)
    assert mnist.test_images.shape == (10000, 784)
    assert mnist.train_images.dtype == np.uint8
    assert mnist.train_labels.dtype == np.int32
    assert set(np.unique(mnist.test_labels)) == set(range(10))
    # a second load comes from the cache: fast and identical
    t = time.perf_counter()
    again = jm.load_dataset("mnist", manual_dir=mnist_dirs[0],
                            data_dir=mnist_dirs[1])
    assert time.perf_counter() - t < 5
    np.testing.assert_array_equal(again.val_labels, mnist.val_labels)


def test_one_epoch_relu_adam_reaches_95_percent(mnist):
    cfg = jm.TrainConfig(optimizer="adam", epochs=1, batch_size=128)
    res = jax.jit(jm.make_train(cfg))(jax.random.key(0),
                                      jm.make_hparams("relu", 1e-3), mnist)
    assert float(res.metrics.test_accuracy[-1]) >= 0.95


def test_cli_smoke_sweep_writes_results(mnist_dirs, tmp_path):
    manual, data_dir = mnist_dirs
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmnist.sweep", str(ROOT / "sweeps/smoke.toml"),
         "--manual-dir", manual, "--data-dir", data_dir, "--out", str(out),
         "--no-progress"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["optimizer", "activation", "learning_rate", "seed",
                             "train_accuracy", "val_accuracy", "test_accuracy",
                             "train_loss", "val_loss", "test_loss",
                             "epochs_to_best_val", "diverged_epoch",
                             "seconds"]
    assert len(rows) == 4  # 2 activations x 2 optimizers
    assert all(0.1 < float(r["test_accuracy"]) <= 1 for r in rows)
    assert (out / "history.csv").is_file() and (out / "config.toml").is_file()
    assert "test acc" in proc.stdout  # the summary table


def test_missing_files_in_manual_dir_is_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmnist.sweep", "--manual-dir", str(empty),
         "--data-dir", str(tmp_path / "tfds"), "--out", str(tmp_path / "run")],
        capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "lacks train-images-idx3-ubyte.gz" in proc.stderr

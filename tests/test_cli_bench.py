"""``python -m jaxmnist.bench``: the figures are checked for how they must
relate to each other (ratios of the throughputs they come from, FLOP
counts from the layer sizes, the table printing the JSON's values), never
against a timing."""

import json
import os
import subprocess
import sys

import pytest

from jaxmnist import bench
from jaxmnist.cli import bench as cli


def test_help_shows_no_empty_default(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: [])" not in text
    assert "as the sweep runs it, chunked when over the memory budget" in text


def test_flop_counts_follow_from_the_layer_sizes(tiny_data):
    sizes = (784, 128, 64, 10)
    macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    assert bench.EVAL_FLOP == 2 * macs
    # forward, weight gradients, and input gradients of all but the first
    assert bench.TRAIN_FLOP == 2 * (3 * macs - sizes[0] * sizes[1])
    n, m = tiny_data.num_train, len(tiny_data.val_labels) * 2
    assert bench.epoch_flop(tiny_data, batch=100) == (
        bench.TRAIN_FLOP * (n // 100 * 100) + bench.EVAL_FLOP * m)


def _report() -> dict:
    row = {"members": 24, "model_epochs_per_s": 7.25, "epoch_s": 3.31,
           "sequential": {"model_epochs_per_s": 5.5},
           "group_over_sequential": 1.318, "gflops": 187.6,
           "fraction_of_large_matmul": 0.456, "bytes_per_member": 3 * 2**20,
           "chunks": 1, "compile_s": 2.1}
    return {"machine": {"device": "TFRT_CPU_0", "device_count": 1,
                        "platform": "cpu", "cpu": "Some CPU", "jax": "x"},
            "train_images": 55000, "large_matmul_gflops": 411.4,
            "groups": [row],
            "cnn": {"members": 4, "model_epochs_per_s": 0.23,
                    "epoch_s": 17.4, "compile_s": 3.0}}


def test_table_prints_the_reports_figures():
    text = cli.table(_report())
    assert "Some CPU" in text and "411.4 GFLOP/s" in text
    row = next(line for line in text.splitlines()
               if line.lstrip().startswith("24 "))
    assert row.split() == ["24", "7.25", "5.50", "1.32", "3.31", "187.6",
                           "46%", "3.00", "1", "2.1"]
    assert "roofline" not in text
    assert "0.23 model-epochs/s" in text


@pytest.mark.integration
def test_bench_quick_writes_the_table_and_json(mnist_dirs, tmp_path):
    manual, data_dir = mnist_dirs
    out = tmp_path / "bench.json"
    argv = ["--quick", "--members", "1,2", "--scaling", "1,3",
            "--scaling-fraction", "0.5", "--manual-dir", manual, "--json",
            str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmnist.bench", *argv],
        capture_output=True, text=True,
        env={**os.environ, "TFDS_DATA_DIR": data_dir})
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["command"] == " ".join(["python -m jaxmnist.bench", *argv])
    assert r["machine"]["cpu_count"] == os.cpu_count()
    assert [g["members"] for g in r["groups"]] == [1, 2]
    assert r["train_images"] == 2048  # --quick
    approx = pytest.approx
    for g in r["groups"]:
        assert g["group_over_sequential"] == approx(
            g["model_epochs_per_s"] / g["sequential"]["model_epochs_per_s"])
        assert g["model_epochs_per_s"] == approx(g["members"] / g["epoch_s"])
        # GFLOP/s: the whole epoch's matmuls (2,048 train, 15,000 evaluated)
        flop = bench.TRAIN_FLOP * 2048 + bench.EVAL_FLOP * 15000
        assert g["gflops"] == approx(flop * g["members"] / g["epoch_s"] / 1e9)
        assert g["fraction_of_large_matmul"] == approx(
            g["gflops"] / r["large_matmul_gflops"])
        # the program holds at least the training images (uint8, 784 each)
        assert g["compiled_bytes"] > 2048 * 784
        assert f"{g['group_over_sequential']:.2f}" in proc.stdout
    assert r["cnn"]["members"] == 4 and "LeNet-5 CNN" in proc.stdout
    assert [row["members"] for row in r["scaling"]] == [1, 3]
    for row in r["scaling"]:
        assert row["chunks"] == 1 and row["fraction"] == 0.5
        assert f"{row['model_epochs_per_s']:.2f}" in proc.stdout
    assert "members/chunk" in proc.stdout

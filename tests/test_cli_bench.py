"""The benchmark runs and reports every figure; the figures are checked for
how they must relate to each other (ratios of the throughputs they come
from, the table printing the JSON's values), never against a timing."""

import json
import os
import subprocess
import sys

import pytest

from jaxmnist.cli import bench


def test_help_shows_no_empty_default(capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: [])" not in text
    assert "as the sweep runs it, chunked when over the memory budget" in text


@pytest.mark.integration
def test_bench_quick_writes_the_table_and_json(mnist_dirs, tmp_path):
    manual, data_dir = mnist_dirs
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmnist.bench", "--quick", "--members", "1,2",
         "--scaling", "1,3", "--scaling-fraction", "0.5", "--manual-dir",
         manual, "--json", str(out)],
        capture_output=True, text=True,
        env={**os.environ, "TFDS_DATA_DIR": data_dir})
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    assert [g["members"] for g in r["groups"]] == [1, 2]
    assert r["train_images"] == 2048  # --quick
    approx = pytest.approx
    loop = r["python_loop"]["model_epochs_per_s"]
    for g in r["groups"]:
        group = g["group"]["model_epochs_per_s"]
        assert g["group_over_sequential"] == approx(
            group / g["sequential"]["model_epochs_per_s"])
        assert g["group_over_python_loop"] == approx(group / loop)
        assert g["fraction_of_mlp_roofline"] == approx(
            g["gflops"] / r["roofline"]["mlp_matmul_gflops"])
        assert g["fraction_of_large_matmul"] == approx(
            g["gflops"] / r["roofline"]["large_matmul_gflops"])
        assert f"{g['group_over_sequential']:.2f}" in proc.stdout
    sgd = r["per_sample_sgd"]
    assert sgd["train_images"] == 256
    assert set(r["memory_mb"]) == {"2"}  # --quick measures one size
    # the program holds at least the training images (uint8, 784 each)
    assert r["memory_mb"]["2"] > r["train_images"] * 784 / 2**20
    assert r["cnn"]["members"] == 4
    assert f"{sgd['speedup_over_numpy']:.1f}x faster" in proc.stdout
    assert "(a)/(b)" in proc.stdout and "per-sample SGD" in proc.stdout
    assert "(a)/(d)" in proc.stdout and "NumPy loop" in proc.stdout
    assert "LeNet-5 CNN" in proc.stdout
    assert [row["members"] for row in r["scaling"]] == [1, 3]
    for row in r["scaling"]:
        assert row["chunks"] == 1 and row["fraction"] == 0.5
        assert f"{row['model_epochs_per_s']:.2f}" in proc.stdout
    assert "members/chunk" in proc.stdout

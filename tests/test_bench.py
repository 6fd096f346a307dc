"""The benchmark runs and reports every figure (never checks a timing)."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_bench_quick_writes_the_table_and_json(mnist_dirs, tmp_path):
    manual, data_dir = mnist_dirs
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmnist.bench", "--quick", "--members", "1,2",
         "--manual-dir", manual, "--json", str(out)],
        capture_output=True, text=True,
        env={**__import__("os").environ, "TFDS_DATA_DIR": data_dir})
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    assert [g["members"] for g in r["groups"]] == [1, 2]
    for g in r["groups"]:
        for key in ("group_over_sequential", "group_over_python_loop",
                    "gflops", "fraction_of_mlp_roofline"):
            assert g[key] > 0
        assert g["group"]["compile_s"] is not None
    assert r["roofline"]["large_matmul_gflops"] > 0
    assert r["per_sample_sgd"]["epoch_s"] > 0
    assert r["memory_mb"]
    assert "(a)/(b)" in proc.stdout and "per-sample SGD" in proc.stdout

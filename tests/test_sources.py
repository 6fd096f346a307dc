"""Data you can trust: each dataset is only ever its own verified files.

Unit tests use small synthetic IDX files; the rest use the official files in
../shared/data (skipped with the reason when absent) and a local HTTP server
on 127.0.0.1 for the download path.
"""

import http.server
import shutil
import subprocess
import sys
import threading

import jax
import numpy as np
import pytest

import jaxmnist as jm
from helpers import sweep_from_url
from jaxmnist.data import sources
from jaxmnist.errors import DataError

# Published figures of the official training splits (60,000 images).
KNOWN = {
    "mnist": {"train_labels": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                               5851, 5949],
              "test_labels": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974,
                              1009],
              "pixel_mean": 0.1307},  # the PyTorch examples' normalisation
    "fashion_mnist": {"train_labels": [6000] * 10, "test_labels": [1000] * 10,
                      "pixel_mean": 0.2860},
}


def test_unknown_dataset_names_the_choices():
    with pytest.raises(DataError, match="unknown dataset 'fashion' .*choose "
                       "from: mnist, fashion_mnist"):
        sources.load_arrays("fashion")


def test_class_names():
    assert sources.class_names("mnist")[3] == "3"
    assert sources.class_names("fashion_mnist")[0] == "T-shirt/top"
    assert len(sources.class_names("fashion_mnist")) == 10


# --------------------------------------------------------------------------
# Real files
# --------------------------------------------------------------------------

def check_known_figures(name, arrays):
    known = KNOWN[name]
    for split in ("train", "test"):
        counts = np.bincount(arrays[f"{split}_labels"], minlength=10)
        assert counts.tolist() == known[f"{split}_labels"], (name, split)
    mean = arrays["train_images"].mean() / 255
    assert abs(mean - known["pixel_mean"]) < 1e-3, (name, mean)


@pytest.mark.integration
@pytest.mark.parametrize("order", [("mnist", "fashion_mnist"),
                                   ("fashion_mnist", "mnist")])
def test_both_datasets_in_one_fresh_data_dir(order, shared_data, tmp_path):
    loaded = {}
    for name in order:  # the parent folder: each finds its own subfolder
        loaded[name] = sources.load_arrays(name, manual_dir=str(shared_data),
                                           data_dir=str(tmp_path))
    for name in order:
        check_known_figures(name, loaded[name])
        again = sources.load_arrays(name, manual_dir=str(shared_data),
                                    data_dir=str(tmp_path))  # from the cache
        for k in again:
            np.testing.assert_array_equal(again[k], loaded[name][k])
    assert not np.array_equal(loaded["mnist"]["train_images"],
                              loaded["fashion_mnist"]["train_images"])
    assert len(list((tmp_path / "jaxmnist_cache").glob("*.npz"))) == 2


@pytest.mark.integration
def test_official_file_order(shared_data, tmp_path):
    """The arrays come in the official files' order (as Keras and
    torchvision give them): MNIST's first test labels are 7, 2, 1, 0, 4."""
    a = sources.load_arrays("mnist", str(shared_data), str(tmp_path))
    assert a["test_labels"][:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]
    assert a["train_labels"][:5].tolist() == [5, 0, 4, 1, 9]


@pytest.mark.integration
@pytest.mark.parametrize("damage", ["swap", "truncate", "garbage"])
def test_a_bad_cache_is_detected_and_rebuilt(damage, shared_data, tmp_path):
    root = str(shared_data)
    mnist = sources.load_arrays("mnist", root, str(tmp_path))
    fashion = sources.load_arrays("fashion_mnist", root, str(tmp_path))
    cache = {p.name.split("-")[0]: p
             for p in (tmp_path / "jaxmnist_cache").glob("*.npz")}
    target = cache["mnist"]
    if damage == "swap":
        shutil.copy(cache["fashion_mnist"], target)
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:len(target.read_bytes()) // 2])
    else:
        target.write_bytes(b"not a cache")
    sha = sources.file_sha256([shared_data / "mnist" / f
                               for f in sources.IDX_FILES])
    assert sources.read_cache(target, "mnist", sha) is None  # detected
    again = sources.load_arrays("mnist", root, str(tmp_path))
    np.testing.assert_array_equal(again["train_images"], mnist["train_images"])
    assert not np.array_equal(again["train_images"], fashion["train_images"])
    assert sources.read_cache(target, "mnist", sha) is not None  # rebuilt


@pytest.mark.integration
def test_one_epoch_fashion_is_far_below_mnist(shared_data, tmp_path):
    cfg = jm.TrainConfig(optimizer="adam", epochs=1)
    train = jax.jit(jm.make_train(cfg))
    acc = {}
    for name in ("mnist", "fashion_mnist"):
        data = jm.load_dataset(name, manual_dir=str(shared_data),
                               data_dir=str(tmp_path))
        res = train(jax.random.key(0), jm.make_hparams("relu", 1e-3), data)
        acc[name] = float(res.metrics.test_accuracy[-1])
    assert acc["mnist"] > 0.93, acc
    assert acc["fashion_mnist"] < acc["mnist"] - 0.05, acc


# --------------------------------------------------------------------------
# The download path, served from 127.0.0.1
# --------------------------------------------------------------------------

@pytest.fixture
def server(shared_data, tmp_path):
    """Serves a copy of ../shared/data/mnist on 127.0.0.1: (base URL, the
    served folder, a set of file names whose transfer breaks off midway)."""
    served = tmp_path / "served"
    shutil.copytree(shared_data / "mnist", served)
    served.chmod(0o755)
    for f in served.iterdir():
        f.chmod(0o644)
    broken: set[str] = set()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def copyfile(self, source, outputfile):
            data = source.read()
            if self.path.lstrip("/") in broken:
                data = data[:len(data) // 2]  # Content-Length says more
            outputfile.write(data)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/", served, broken
    srv.shutdown()
    srv.server_close()


@pytest.mark.integration
def test_download_is_fetched_and_verified(server, tmp_path, monkeypatch):
    monkeypatch.delenv(sources.MANUAL_DIR_ENV, raising=False)
    url, _, _ = server
    paths = sources.fetch_files("mnist", tmp_path / "dl", base_url=url)
    assert set(paths) == set(sources.IDX_FILES)
    assert all(p.is_file() and p.parent == tmp_path / "dl"
               for p in paths.values())
    arrays = sources.load_arrays("mnist", data_dir=str(tmp_path),
                                 base_url=url)
    check_known_figures("mnist", arrays)


@pytest.mark.integration
def test_a_truncated_file_on_the_server_is_a_checksum_error(server, tmp_path):
    url, served, _ = server
    f = served / "t10k-labels-idx1-ubyte.gz"
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(DataError, match="do not match tfds's registered "
                       "checksums"):
        sources.fetch_files("mnist", tmp_path / "dl", base_url=url)


@pytest.mark.integration
def test_a_broken_transfer_is_one_clear_line(server, tmp_path):
    url, _, broken = server
    broken.add("t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match=r"could not download mnist \(") as e:
        sources.fetch_files("mnist", tmp_path / "dl", base_url=url)
    assert "\n" not in str(e.value)


@pytest.mark.slow
@pytest.mark.parametrize("url, why", [
    ("http://127.0.0.1:9/",
     "cannot connect to 127.0.0.1:9: Connection refused"),
    ("http://jaxmnist.invalid/", "cannot resolve 'jaxmnist.invalid': "),
], ids=["refused", "unresolvable"])
def test_offline_the_first_download_fails_at_once(url, why, tmp_path):
    """Offline without a manual dir: one line with the --manual-dir hint
    as soon as the server is found unreachable, no retry warnings, no run
    dir (tfds's own retries took minutes: the timeout catches that)."""
    out = tmp_path / "run"
    proc = sweep_from_url(url, "--data-dir", str(tmp_path / "data"),
                          "--out", str(out), "--no-progress")
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 2, err[-2000:]
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith(
        "jaxmnist: reading mnist from the download"), err[-2000:]
    assert lines[1].startswith(f"jaxmnist.sweep: error: could not download "
                               f"mnist ({why}")
    assert lines[1].endswith("); give --manual-dir (or $JAXMNIST_MANUAL_DIR)"
                             " a folder with the four official IDX gz files")
    assert not out.exists()


# --------------------------------------------------------------------------
# The command line: one line, exit 2, nothing left behind
# --------------------------------------------------------------------------

def run_sweep_cli(*args):
    return subprocess.run([sys.executable, "-m", "jaxmnist.sweep", *args],
                          capture_output=True, text=True)


def corrupted_copy(folder, tmp_path):
    copy = tmp_path / "corrupt"
    shutil.copytree(folder, copy)
    f = copy / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.chmod(0o644)
    f.write_bytes(bytes(data))
    return copy


@pytest.mark.integration
@pytest.mark.parametrize("case", ["other_dataset", "corrupt", "missing",
                                  "no_dir"])
def test_data_errors_are_one_line(case, shared_data, tmp_path):
    dataset, manual, message = {
        "other_dataset": ("fashion_mnist", shared_data / "mnist",
                          "holds the mnist files, not fashion_mnist's"),
        "corrupt": ("mnist", None,
                    "t10k-labels-idx1-ubyte.gz in '{}' does not match the "
                    "official mnist download"),
        "missing": ("mnist", tmp_path, "lacks train-images-idx3-ubyte.gz"),
        "no_dir": ("mnist", tmp_path / "nowhere", "does not exist"),
    }[case]
    if case == "corrupt":
        manual = corrupted_copy(shared_data / "mnist", tmp_path)
        message = message.format(manual)
    out = tmp_path / "runs" / "run"
    proc = run_sweep_cli("--dataset", dataset, "--manual-dir", str(manual),
                         "--data-dir", str(tmp_path / "data"), "--out",
                         str(out), "--epochs", "1")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "runs").exists()  # no empty run dir
    cache = tmp_path / "data" / "jaxmnist_cache"
    assert not cache.exists() or not list(cache.iterdir())

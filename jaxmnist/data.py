"""Load MNIST and Fashion-MNIST through tensorflow-datasets.

TensorFlow is imported lazily, inside :func:`load_dataset`, and hidden from
any GPU, so ``import jaxmnist`` and the training code never import it.

After tfds has prepared a dataset once, its arrays are cached as a ``.npz``
next to tfds's own files (``<data_dir>/jaxmnist_cache/``), so later loads take
well under a second and do not import TensorFlow at all.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from jaxmnist.activations import unknown_name_message
from jaxmnist.dataset import Dataset, make_dataset
from jaxmnist.errors import DataError

DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist")

#: The four official files tfds expects in a manual dir, for both datasets.
IDX_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

MANUAL_DIR_ENV = "JAXMNIST_MANUAL_DIR"


def default_data_dir() -> Path:
    """tfds's data dir: $TFDS_DATA_DIR or ~/tensorflow_datasets."""
    return Path(os.environ.get("TFDS_DATA_DIR",
                               Path.home() / "tensorflow_datasets"))


def check_manual_dir(manual_dir: str | os.PathLike) -> Path:
    """Raise DataError unless ``manual_dir`` holds the four IDX gz files."""
    path = Path(manual_dir).expanduser()
    if not path.is_dir():
        raise DataError(f"manual dir {str(path)!r} does not exist; give "
                        f"--manual-dir a folder holding {', '.join(IDX_FILES)}")
    missing = [f for f in IDX_FILES if not (path / f).is_file()]
    if missing:
        raise DataError(f"manual dir {str(path)!r} lacks {', '.join(missing)};"
                        f" put the four official IDX gz files there")
    return path


@contextlib.contextmanager
def _quiet_output():
    """Send what TensorFlow and tfds print (C++ logs, progress bars) to a
    temporary file: file descriptors 1 and 2 are redirected, so the C++
    messages are caught too."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _import_tfds():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # noqa: PLC0415  (lazy on purpose)
    tf.config.set_visible_devices([], "GPU")  # leave every GPU to JAX
    import tensorflow_datasets as tfds  # noqa: PLC0415
    return tfds


def _prepare_and_read(name: str, data_dir: Path,
                      manual_dir: Path | None) -> dict[str, np.ndarray]:
    """download_and_prepare with tfds, then read both splits as uint8."""
    print(f"jaxmnist: preparing {name} with tensorflow-datasets in "
          f"{data_dir} (first use only)", file=sys.stderr, flush=True)
    try:
        with _quiet_output():
            tfds = _import_tfds()
            builder = tfds.builder(name, data_dir=str(data_dir))
            config = (tfds.download.DownloadConfig(manual_dir=str(manual_dir))
                      if manual_dir is not None else None)
            builder.download_and_prepare(download_config=config)
            arrays = {}
            for split in ("train", "test"):
                d = tfds.as_numpy(builder.as_dataset(split=split,
                                                     batch_size=-1))
                arrays[f"{split}_images"] = d["image"].reshape(
                    -1, 784).astype(np.uint8)
                arrays[f"{split}_labels"] = d["label"].astype(np.int32)
            arrays["version"] = np.asarray(str(builder.version))
    except Exception as e:  # tfds raises many kinds; all mean the same to us
        kind = type(e).__name__
        if "Checksum" in kind:
            raise DataError(
                f"a file in {str(manual_dir)!r} does not match the official "
                f"{name} download ({kind}); replace it with an intact copy"
            ) from None
        where = (f"from manual dir {str(manual_dir)!r}" if manual_dir
                 else "by downloading")
        raise DataError(
            f"could not prepare {name} {where} ({kind}: "
            f"{str(e).splitlines()[0][:160]}); give --manual-dir (or "
            f"${MANUAL_DIR_ENV}) a folder with the four official IDX gz "
            f"files, or allow the download") from None
    return arrays


def _cache_path(name: str, data_dir: Path) -> Path:
    return data_dir / "jaxmnist_cache" / f"{name}.npz"


def load_arrays(name: str = "mnist", manual_dir: str | None = None,
                data_dir: str | None = None) -> dict[str, np.ndarray]:
    """The official train and test splits of ``name`` as numpy arrays."""
    if name not in DATASETS:
        raise DataError(unknown_name_message("dataset", name, DATASETS))
    manual_dir = manual_dir or os.environ.get(MANUAL_DIR_ENV) or None
    data_path = Path(data_dir).expanduser() if data_dir else default_data_dir()
    manual = check_manual_dir(manual_dir) if manual_dir else None
    cache = _cache_path(name, data_path)
    if cache.is_file():
        try:
            with np.load(cache) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache: rebuild it from tfds below
    arrays = _prepare_and_read(name, data_path, manual)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache.parent, suffix=".npz",
                                         delete=False) as tmp:
            np.savez(tmp, **arrays)
        os.replace(tmp.name, cache)
    except OSError:
        pass  # a read-only data dir: just don't cache
    return arrays


def load_dataset(name: str = "mnist", manual_dir: str | None = None,
                 data_dir: str | None = None, val_size: int = 5000,
                 seed: int = 0, train_subset: int | None = None) -> Dataset:
    """Load ``name`` ("mnist" or "fashion_mnist") as a :class:`Dataset`.

    Args:
      name: the tfds dataset name.
      manual_dir: a folder holding the four official IDX gz files, given to
        tfds as its ``manual_dir`` (default: ``$JAXMNIST_MANUAL_DIR``; when
        neither is set, tfds downloads them).
      data_dir: tfds's data dir (default ``$TFDS_DATA_DIR`` or
        ``~/tensorflow_datasets``).
      val_size: training images held out, by a fixed-seed random choice, as
        the validation split; the test split is never used for tuning.
      seed: the seed of that choice.
      train_subset: keep only the first N remaining training images.
    """
    a = load_arrays(name, manual_dir, data_dir)
    return make_dataset(a["train_images"], a["train_labels"],
                        a["test_images"], a["test_labels"],
                        val_size=val_size, seed=seed, train_subset=train_subset)

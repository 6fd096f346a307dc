"""Where the images come from: tfds's catalog, its verified download, IDX files.

tensorflow-datasets supplies what it is good at without TensorFlow: each
dataset's official URL and registered SHA-256 checksums
(``tfds.builder_cls(name).url_infos``) and a download manager that fetches
the four ``.gz`` files, or takes them from a manual dir, and verifies every
byte against those checksums. The files are then read here with ``gzip`` and
``numpy`` (what tfds's own MNIST builder does inside), in the official
files' order.

Each dataset is only ever its own files: the arrays are cached in
``<data_dir>/jaxmnist_cache/<name>-<digest>.npz``, keyed by the dataset's name
and the SHA-256 of its four source files, and checked (name, checksums,
shapes, dtypes, counts) every time they are read; a cache that fails any
check is rebuilt from the verified files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import sys
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from jaxmnist.data.idx import read_arrays
from jaxmnist.errors import DataError, unknown_name_message

#: The four official files of both datasets, in this order everywhere.
IDX_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

MANUAL_DIR_ENV = "JAXMNIST_MANUAL_DIR"
#: How long a download waits for its server's name and first connection.
CONNECT_TIMEOUT_S = 5.0
_CACHE_FORMAT = 2


class DatasetInfo(NamedTuple):
    """What jaxmnist knows about a dataset besides tfds's catalog entry."""
    name: str  # the tfds name
    classes: tuple[str, ...]  # class names, label order
    train_size: int
    test_size: int


CATALOG: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", tuple(str(d) for d in range(10)),
                         60000, 10000),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", ("T-shirt/top", "Trouser", "Pullover", "Dress",
                          "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                          "Ankle boot"), 60000, 10000),
}

#: The datasets jaxmnist can load, by tfds name.
DATASETS: tuple[str, ...] = tuple(CATALOG)


def dataset_info(name: str) -> DatasetInfo:
    """The catalog entry of ``name``; DataError naming the choices if
    unknown."""
    if name not in CATALOG:
        raise DataError(unknown_name_message("dataset", name, DATASETS))
    return CATALOG[name]


def class_names(name: str) -> tuple[str, ...]:
    """The class names of dataset ``name`` in label order."""
    return dataset_info(name).classes


def default_data_dir() -> Path:
    """Where downloads and the array cache go: $TFDS_DATA_DIR or
    ~/tensorflow_datasets."""
    return Path(os.environ.get("TFDS_DATA_DIR",
                               Path.home() / "tensorflow_datasets"))


# --------------------------------------------------------------------------
# tfds: catalog and verified download
# --------------------------------------------------------------------------

def _tfds():
    import tensorflow_datasets as tfds  # noqa: PLC0415  (0.8 s: only on a miss)

    tfds.disable_progress_bar()
    return tfds


def registered_urls(name: str, base_url: str | None = None) -> dict:
    """``{file name: (url, UrlInfo)}`` of ``name``'s four files from tfds's
    catalog. ``base_url`` serves the same files from a mirror; their
    registered sizes and checksums still apply."""
    dataset_info(name)
    cls = _tfds().builder_cls(name)
    infos = {info.filename: info for info in (cls.url_infos or {}).values()}
    # each dataset's builder class sets URL; the base class does not
    base = base_url or cls.URL  # pyright: ignore[reportAttributeAccessIssue]
    return {f: (urllib.parse.urljoin(base, f), infos[f]) for f in IDX_FILES}


def registered_sha256(name: str) -> tuple[str, ...]:
    """The registered SHA-256 of ``name``'s four files, in IDX_FILES order."""
    urls = registered_urls(name)
    return tuple(urls[f][1].checksum for f in IDX_FILES)


def fetch_files(name: str, download_dir: str | os.PathLike,
                manual_dir: str | os.PathLike | None = None,
                base_url: str | None = None) -> dict[str, Path]:
    """The four verified ``.gz`` files of ``name``: from ``manual_dir`` when
    they are there, downloaded into ``download_dir`` otherwise (from
    ``base_url``, default the official URL). tfds's download manager checks
    each against its registered size and SHA-256.

    Raises:
      DataError: a file does not match (one line, naming the dataset the
        files belong to when they are another one's), or the download failed.
    """
    urls = registered_urls(name, base_url)
    tfds = _tfds()
    dl = tfds.download.DownloadManager(
        download_dir=str(download_dir),
        manual_dir=str(manual_dir) if manual_dir else None,
        url_infos={url: info for url, info in urls.values()})
    offline = None if manual_dir else unreachable(next(iter(urls.values()))[0])
    if offline and not any(Path(download_dir).glob("*")):  # none from before
        raise _offline_error(name, offline)
    try:
        with _no_retries() if offline else contextlib.nullcontext():
            paths = dl.download({f: url for f, (url, _) in urls.items()})
    except Exception as e:  # tfds raises many kinds; all mean the same here
        raise (_offline_error(name, offline) if offline else
               _fetch_error(name, e, manual_dir)) from None
    return {f: Path(os.fspath(p)) for f, p in paths.items()}


def unreachable(url: str) -> str | None:
    """Why ``url``'s server cannot be reached now (its name does not
    resolve, or no connection within :data:`CONNECT_TIMEOUT_S`), or None.
    Checked once before a download, so that offline the download fails at
    once instead of after tfds's ten retries of each file. The name is
    resolved by the system's resolver, within its own timeout
    (``/etc/resolv.conf``'s ``timeout`` and ``attempts``)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), CONNECT_TIMEOUT_S).close()
    except socket.gaierror as e:
        return f"cannot resolve {host!r}: {e.strerror}"
    except TimeoutError:
        return (f"no answer from {host}:{port} within "
                f"{CONNECT_TIMEOUT_S:g} s")
    except OSError as e:
        return (f"cannot connect to {host}:{port}: "
                f"{e.strerror or type(e).__name__}")
    return None


@contextlib.contextmanager
def _no_retries() -> Iterator[None]:
    """tfds's downloader without its retries (files it has downloaded
    before are still found; a missing one fails at once, no warnings).
    After a failure they stay off: the downloads still queued on tfds's
    threads, which the interpreter waits for at exit, fail at once too."""
    from tensorflow_datasets.core.download import downloader  # noqa: PLC0415

    retries = downloader.MAX_RETRIES
    downloader.MAX_RETRIES = 0
    yield
    downloader.MAX_RETRIES = retries


def _offline_error(name: str, why: str) -> DataError:
    return DataError(f"could not download {name} ({why}); give --manual-dir "
                     f"(or ${MANUAL_DIR_ENV}) a folder with the four "
                     f"official IDX gz files")


def _fetch_error(name: str, error: Exception, manual_dir) -> DataError:
    kind = type(error).__name__
    if "Checksum" in kind and manual_dir:
        folder = Path(manual_dir)
        return DataError(wrong_files_message(
            name, folder, file_sha256([folder / f for f in IDX_FILES])))
    if "Checksum" in kind:
        return DataError(f"the downloaded {name} files do not match tfds's "
                         f"registered checksums ({kind}); the download was "
                         f"damaged or the server sent other files")
    return DataError(
        f"could not download {name} ({kind}: "
        f"{str(error).splitlines()[0][:160] if str(error) else ''}); give "
        f"--manual-dir (or ${MANUAL_DIR_ENV}) a folder with the four "
        f"official IDX gz files")


def wrong_files_message(name: str, folder: Path, got: tuple[str, ...]) -> str:
    """Why the files in ``folder`` (SHA-256 ``got``) are not ``name``'s:
    another dataset's, or which ones differ from the official download."""
    for other in DATASETS:
        if other != name and got == registered_sha256(other):
            return (f"{str(folder)!r} holds the {other} files, not {name}'s; "
                    f"give --manual-dir the {name} folder, or a folder "
                    f"holding {' and '.join(f'{d}/' for d in DATASETS)}")
    want = registered_sha256(name)
    bad = [f for f, g, w in zip(IDX_FILES, got, want) if g != w]
    return (f"{', '.join(bad)} in {str(folder)!r} does not match the official "
            f"{name} download (SHA-256 differs from tfds's registered "
            f"checksum); replace it with an intact copy")


# --------------------------------------------------------------------------
# The manual dir: the four files, or a parent of one folder per dataset
# --------------------------------------------------------------------------

def find_manual_files(name: str, manual_dir: str | os.PathLike) -> Path:
    """The folder holding ``name``'s four files: ``manual_dir/<name>/`` when
    it has them, else ``manual_dir`` itself.

    Raises:
      DataError: the folder does not exist or lacks files (one line).
    """
    root = Path(manual_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"manual dir {str(root)!r} does not exist; give "
                        f"--manual-dir a folder holding {', '.join(IDX_FILES)}"
                        f" (or {name}/ with them)")
    for folder in (root / name, root):
        if all((folder / f).is_file() for f in IDX_FILES):
            return folder
    missing = [f for f in IDX_FILES if not (root / f).is_file()]
    raise DataError(f"manual dir {str(root)!r} lacks {', '.join(missing)} "
                    f"(and has no complete {name}/ folder); put the four "
                    f"official IDX gz files there")


def file_sha256(paths) -> tuple[str, ...]:
    """The SHA-256 hex digest of each file."""
    return tuple(hashlib.sha256(Path(p).read_bytes()).hexdigest()
                 for p in paths)


# --------------------------------------------------------------------------
# The array cache
# --------------------------------------------------------------------------

def cache_path(data_dir: Path, name: str, sha256: tuple[str, ...]) -> Path:
    """``<data_dir>/jaxmnist_cache/<name>-<16 hex digits>.npz``, the digits
    a hash of the four source files' SHA-256."""
    key = hashlib.sha256("".join(sha256).encode()).hexdigest()[:16]
    return data_dir / "jaxmnist_cache" / f"{name}-{key}.npz"


def read_cache(path: Path, name: str, sha256: tuple[str, ...]
               ) -> dict[str, np.ndarray] | None:
    """The cached arrays if ``path`` is a complete cache of ``name`` built
    from files with checksums ``sha256``; None otherwise (missing, truncated,
    another dataset's, or a different format)."""
    info = dataset_info(name)
    sizes = {"train": info.train_size, "test": info.test_size}
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}  # reads all: zip CRCs checked
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    try:
        ok = (int(arrays.pop("format")) == _CACHE_FORMAT
              and str(arrays.pop("name")) == name
              and tuple(str(s) for s in arrays.pop("source_sha256")) == sha256)
        for split, n in sizes.items():
            x, y = arrays[f"{split}_images"], arrays[f"{split}_labels"]
            ok = ok and x.shape == (n, 784) and x.dtype == np.uint8 \
                and y.shape == (n,) and y.dtype == np.int32 \
                and 0 <= int(y.min()) and int(y.max()) < len(info.classes)
    except (KeyError, ValueError, TypeError):
        return None
    return arrays if ok and len(arrays) == 4 else None


def write_cache(path: Path, name: str, sha256: tuple[str, ...],
                arrays: dict[str, np.ndarray]) -> None:
    """Write the cache atomically; a read-only data dir just skips it."""
    from jaxmnist.files import write_bytes  # noqa: PLC0415

    buf = io.BytesIO()
    payload: dict[str, Any] = {"format": np.asarray(_CACHE_FORMAT),
                               "name": np.asarray(name),
                               "source_sha256": np.asarray(sha256), **arrays}
    np.savez(buf, **payload)
    try:
        write_bytes(path, buf.getvalue())
    except OSError:
        pass


# --------------------------------------------------------------------------
# The one entry point
# --------------------------------------------------------------------------

def load_arrays(name: str = "mnist", manual_dir: str | None = None,
                data_dir: str | None = None, base_url: str | None = None
                ) -> dict[str, np.ndarray]:
    """The official train and test splits of ``name`` as numpy arrays, in
    the official files' order.

    Args:
      name: ``"mnist"`` or ``"fashion_mnist"``.
      manual_dir: a folder holding the four official IDX gz files, or a
        parent holding one folder per dataset (``mnist/``,
        ``fashion_mnist/``); default ``$JAXMNIST_MANUAL_DIR``; when neither
        is set the files are downloaded.
      data_dir: where downloads and the array cache go (default
        ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
      base_url: download from this mirror instead of the official URL (the
        registered checksums still apply).

    Raises:
      DataError: one line, for an unknown name, a missing or wrong file or a
        failed download.
    """
    dataset_info(name)
    manual_dir = manual_dir or os.environ.get(MANUAL_DIR_ENV) or None
    data_path = Path(data_dir).expanduser() if data_dir else default_data_dir()
    folder = find_manual_files(name, manual_dir) if manual_dir else None
    sha256 = (file_sha256([folder / f for f in IDX_FILES]) if folder
              else registered_sha256(name))
    cache = cache_path(data_path, name, sha256)
    arrays = read_cache(cache, name, sha256)
    if arrays is not None:
        return arrays
    if folder and sha256 != registered_sha256(name):
        raise DataError(wrong_files_message(name, folder, sha256))
    print(f"jaxmnist: reading {name} from "
          f"{repr(str(folder)) if folder else 'the download'} "
          f"(first use; cached in {str(cache.parent)!r})", file=sys.stderr,
          flush=True)
    paths = fetch_files(name, data_path / "downloads", folder, base_url)
    info = dataset_info(name)
    arrays = read_arrays(paths, info.train_size, info.test_size)
    write_cache(cache, name, sha256, arrays)
    return arrays

"""Data: the in-memory :class:`Dataset` and where its arrays come from.

``load_dataset(name)`` gives MNIST or Fashion-MNIST from their official,
checksum-verified files (tfds's catalog and download manager, no
TensorFlow); ``make_dataset`` builds the same container from any arrays.
"""

from __future__ import annotations

from jaxmnist.data.dataset import (
    Dataset,
    check_dataset,
    make_dataset,
    split_validation,
)
from jaxmnist.data.sources import (
    CATALOG,
    DATASETS,
    IDX_FILES,
    MANUAL_DIR_ENV,
    DatasetInfo,
    class_names,
    dataset_info,
    fetch_files,
    load_arrays,
)


def load_dataset(name: str = "mnist", manual_dir: str | None = None,
                 data_dir: str | None = None, val_size: int = 5000,
                 seed: int = 0, train_subset: int | None = None,
                 base_url: str | None = None) -> Dataset:
    """Load ``name`` ("mnist" or "fashion_mnist") as a :class:`Dataset`.

    Args:
      name: the tfds dataset name.
      manual_dir: a folder holding the four official IDX gz files, or a
        parent holding ``mnist/`` and ``fashion_mnist/`` (default
        ``$JAXMNIST_MANUAL_DIR``; when neither is set, the files are
        downloaded).
      data_dir: where downloads and the array cache go (default
        ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
      val_size: training images held out, by a fixed-seed random choice, as
        the validation split; the test split is never used for tuning.
      seed: the seed of that choice.
      train_subset: keep only the first N remaining training images.
      base_url: download from this mirror (checksums still verified).

    Raises:
      DataError: the files are missing, damaged or another dataset's.
      ValueError: ``val_size`` or ``train_subset`` out of range.
    """
    a = load_arrays(name, manual_dir, data_dir, base_url)
    return make_dataset(a["train_images"], a["train_labels"],
                        a["test_images"], a["test_labels"],
                        val_size=val_size, seed=seed, train_subset=train_subset)


__all__ = [
    "Dataset", "check_dataset", "make_dataset", "split_validation", "CATALOG",
    "DATASETS", "IDX_FILES", "MANUAL_DIR_ENV", "DatasetInfo", "class_names",
    "dataset_info", "fetch_files", "load_arrays", "load_dataset",
]

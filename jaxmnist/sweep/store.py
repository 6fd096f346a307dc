"""Saved models: parameters through orbax-checkpoint, metadata as JSON.

A model directory holds ``params/`` (an orbax ``StandardCheckpointer``
checkpoint of the parameter pytree) and ``metadata.json`` (dataset, layer
sizes, activation, optimizer, implementation, learning rate, seed, metrics,
jaxmnist version): everything needed to run it again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxmnist import files

FORMAT = 1
#: What a run dir holds from this module.
MODELS_DIR = "models"


def member_path(run_dir: str | Path, optimizer: str, activation: str,
                learning_rate: float, seed: int) -> Path:
    """``<run>/models/<optimizer>/<activation>/lr<lr>-seed<seed>``."""
    lr = re.sub(r"[^0-9a-zA-Z.+-]", "_", f"{learning_rate:g}")
    return Path(run_dir) / MODELS_DIR / optimizer / activation / \
        f"lr{lr}-seed{seed}"


def save_model(path: str | Path, params, metadata: dict[str, Any]) -> None:
    """Save ``params`` (a pytree of arrays) and ``metadata`` under ``path``.

    An existing model at ``path`` is replaced; metadata.json is written last,
    so a directory with metadata.json always has complete params.
    """
    import orbax.checkpoint as ocp  # noqa: PLC0415  (slow import, lazy)

    path = Path(path).absolute()
    (path / "metadata.json").unlink(missing_ok=True)
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(path / "params", params, force=True)
    ckpt.wait_until_finished()
    files.write_json(path / "metadata.json", {"format": FORMAT, **metadata})


def load_model(path: str | Path) -> tuple[list, dict[str, Any]]:
    """``(params, metadata)`` of the model saved at ``path``.

    Raises:
      ValueError: (one line) when ``path`` holds no complete model or it
        cannot be read.
    """
    path = Path(path).absolute()
    meta_file = path / "metadata.json"
    if not meta_file.is_file():
        raise ValueError(f"no model at {str(path)!r} (metadata.json missing);"
                         f" give a directory under <run>/models/")
    try:
        metadata = json.loads(meta_file.read_text())
        if not isinstance(metadata, dict) or "activation" not in metadata:
            raise ValueError("no activation")
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise ValueError(f"model metadata {str(meta_file)!r} is corrupt "
                         f"({type(e).__name__})") from e
    import orbax.checkpoint as ocp  # noqa: PLC0415

    try:
        params = ocp.StandardCheckpointer().restore(path / "params")
        params = [{k: jax.device_put(np.asarray(v)) for k, v in layer.items()}
                  for layer in params]
    except Exception as e:  # orbax raises many kinds for a damaged checkpoint
        raise ValueError(f"model parameters in {str(path / 'params')!r} "
                         f"cannot be read ({type(e).__name__})") from e
    return params, metadata

"""Saved models: parameters through orbax-checkpoint, metadata as JSON.

A model directory holds ``params/`` (an orbax ``StandardCheckpointer``
checkpoint of the parameter pytree) and ``metadata.json`` (dataset, layer
sizes, activation, optimizer, implementation, learning rate, seed, metrics,
jaxmnist version): everything needed to run it again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxmnist import files

FORMAT = 1


def with_running_stats(params: list, stats: list | None) -> list:
    """The params with each batch-normalised layer's running ``mean`` and
    ``var`` stored in it: what evaluation needs, in one pytree."""
    if not stats:
        return params
    hidden = [layer for layer in params if "scale" in layer]
    return [{**layer, **s} for layer, s in zip(hidden, stats)] + \
        params[len(hidden):]


def save_model(path: str | Path, params, metadata: dict[str, Any]) -> None:
    """Save ``params`` and ``metadata`` under ``path``, replacing a model
    there; metadata.json last, so a folder with it has complete params
    (an OSError names what could not be written). With several JAX
    processes only process 0 may call it: orbax is told it saves alone,
    and its numpy handler writes from process 0 only."""
    import orbax.checkpoint as ocp  # noqa: PLC0415  (slow import, lazy)

    path = Path(path).absolute()
    (path / "metadata.json").unlink(missing_ok=True)
    ckpt = ocp.StandardCheckpointer(multiprocessing_options=(
        ocp.options.MultiprocessingOptions(primary_host=0,
                                           active_processes={0})))
    with files.orbax_write(path / "params"):
        ckpt.save(path / "params", params, force=True)
        ckpt.wait_until_finished()
    files.write_json(path / "metadata.json", {"format": FORMAT, **metadata})


def load_model(path: str | Path) -> tuple[list, dict[str, Any]]:
    """``(params, metadata)`` of the model saved at ``path`` (ValueError,
    one line, when there is none or it cannot be read)."""
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
    _import_plugins(path, metadata)
    import orbax.checkpoint as ocp  # noqa: PLC0415

    try:
        params = ocp.StandardCheckpointer().restore(path / "params")
        params = [{k: jax.device_put(np.asarray(v)) for k, v in layer.items()}
                  for layer in params]
    except Exception as e:  # orbax raises many kinds for a damaged checkpoint
        raise ValueError(f"model parameters in {str(path / 'params')!r} "
                         f"cannot be read ({type(e).__name__})") from e
    return params, metadata


def _import_plugins(path: Path, metadata: dict[str, Any]) -> None:
    """Import the plugin modules the model's activation and optimizer came
    from (its metadata's ``plugins``), then check its activation is known:
    ValueError, one line, naming the model and the module."""
    from jaxmnist import plugins  # noqa: PLC0415
    from jaxmnist.core.activations import ACTIVATIONS  # noqa: PLC0415

    try:
        plugins.import_plugins(metadata.get("plugins", ()))
    except plugins.PluginError as e:
        raise plugins.PluginError(f"model {str(path)!r}: {e}") from e
    name = metadata["activation"]
    if name not in ACTIVATIONS:
        raise ValueError(f"model {str(path)!r} uses activation {name!r}, "
                         f"which no module it names registers (plugins: "
                         f"{metadata.get('plugins') or 'none'}); import the "
                         f"module that registers it first")

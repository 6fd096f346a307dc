"""The checks of :class:`~jaxmnist.core.config.HParams` where they reach
the training (``init``, ``epoch``, hence ``train``).

Two halves, because a hyperparameter is either known on the host or traced:

- :func:`check_hparams` raises one ``TypeError``/``ValueError`` naming the
  field, the value and the valid range. Structure (which fields, dtypes,
  one scalar per member) is known even under tracing and always checked;
  values are checked wherever they are concrete.
- :func:`valid_member` is the same range check as a traced boolean: under
  an outer ``jax.jit`` or ``jax.vmap`` the values are unknown until the
  program runs, and ``init`` starts a member whose values are out of range
  as diverged (its parameters never move, ``Metrics.diverged`` is True from
  the first epoch) instead of letting ``lax.switch`` clamp an activation
  index or an optimizer run with a negative learning rate.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from jaxmnist.core.activations import ACTIVATIONS
from jaxmnist.core.config import HParams, TrainConfig
from jaxmnist.data.dataset import Dataset, check_dataset

__all__ = ["check_hparams", "checked_inputs", "valid_member"]

_RANGES = {  # field: (test of a NumPy or a traced value, range in words)
    "learning_rate": (lambda v: (v > 0) & (v < np.inf), "finite and > 0"),
    "dropout": (lambda v: (v >= 0) & (v < 1), "in [0, 1)"),
    "weight_decay": (lambda v: (v >= 0) & (v < np.inf), "finite and >= 0"),
}


def checked_inputs(config: TrainConfig, hparams: HParams, data: Dataset
                   ) -> Dataset:
    """``data`` as JAX arrays (NumPy arrays cannot be indexed by the traced
    batch indices), after :func:`~jaxmnist.data.check_dataset` and
    :func:`check_hparams` (ValueError/TypeError)."""
    check_dataset(data, config.input_size)
    check_hparams(hparams, config)
    return Dataset.unchecked(*(jnp.asarray(x) for x in data))


def check_hparams(hparams: HParams, config: TrainConfig) -> None:
    """TypeError/ValueError (one line) unless ``hparams`` is one member's
    valid hyperparameters for ``config``; traced values pass the range
    checks (see :func:`valid_member`)."""
    if not isinstance(hparams, HParams):
        raise TypeError(f"hparams must be a jaxmnist.HParams, got "
                        f"{type(hparams).__name__}")
    missing = [k for k in config.vmapped_options if k not in hparams.optimizer]
    if missing:
        raise ValueError(f"HParams.optimizer lacks {missing[0]!r}, which the "
                         f"config vmaps; it holds: "
                         f"{', '.join(hparams.optimizer) or '(none)'}")
    for name in ("activation", *_RANGES):
        value = getattr(hparams, name)
        if value is None:
            if name in ("activation", "learning_rate"):
                raise ValueError(f"HParams.{name} is required, got None")
            continue  # None: the default, 0
        if jnp.shape(value) != ():
            raise ValueError(f"HParams.{name} must be one scalar per member "
                             f"(jax.vmap over stacked HParams), got shape "
                             f"{jnp.shape(value)}")
    _check_activation(hparams.activation, config)
    for name, (ok, valid) in _RANGES.items():
        value = _concrete(getattr(hparams, name))
        if value is not None and not ok(np.float64(value)):
            raise ValueError(f"HParams.{name} must be {valid}, got "
                             f"{float(value)!r}")


def _check_activation(activation, config: TrainConfig) -> None:
    choices = config.activation_choices or tuple(range(len(ACTIVATIONS)))
    names = ", ".join(f"{i}={ACTIVATIONS[i]}" for i in choices)
    value = _concrete(activation)
    dtype = jnp.result_type(activation)
    if not jnp.issubdtype(dtype, jnp.integer):
        shown = "" if value is None else f" {value.item()!r}"
        raise TypeError(f"HParams.activation must be an integer index "
                        f"({names}), got {dtype}{shown}")
    if value is not None and int(value) not in choices:
        raise ValueError(f"HParams.activation must be one of the config's "
                         f"activation indices ({names}), got {int(value)}")


def _concrete(value) -> np.ndarray | None:
    """``value`` as a NumPy array, or None when it is traced (or None)."""
    if value is None or isinstance(value, Tracer):
        return None
    return np.asarray(value)


def valid_member(hparams: HParams, config: TrainConfig) -> jax.Array:
    """Whether the member's hyperparameters are in range (a traced bool,
    the value checks of :func:`check_hparams`)."""
    choices = config.activation_choices or tuple(range(len(ACTIVATIONS)))
    activation = jnp.asarray(hparams.activation)
    ok = jnp.isin(activation, jnp.asarray(choices, activation.dtype))
    for name, (in_range, _) in _RANGES.items():
        value = getattr(hparams, name)
        if value is not None:
            ok &= in_range(jnp.asarray(value))
    return ok

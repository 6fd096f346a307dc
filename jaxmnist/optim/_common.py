"""Shared arithmetic of our transforms: hyperparameters, moments, dtypes.

The rules every transform follows (see :mod:`jaxmnist.optim.transforms`):

* A hyperparameter (a Python number or a traced, vmapped scalar array) is
  cast to the dtype of the arithmetic it enters (:func:`hyper`), which
  strict dtype promotion requires.
* Arithmetic between an update and a state runs in the promoted dtype of the
  two (as optax under standard promotion), made explicit with ``astype`` so
  strict promotion accepts it. Updates leave a transform in the dtype of the
  incoming updates; states keep the dtype they were initialised with.
* Second moments use ``|g|^2 = conj(g) g`` (equal to ``g^2`` for real ``g``).
* Bias corrections ``1 - beta^t`` are computed in the leaf's real dtype, but
  never below float32 (``0.999^t`` rounds to 1 in bfloat16).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

#: A learning rate: Python float, (traced) scalar array, or schedule.
ScalarOrSchedule = float | jax.Array | Callable[..., Any]
#: A numeric hyperparameter: a Python number or a (traced) scalar array.
Hyper = float | jax.Array


def is_python_number(x) -> bool:
    """True for int and float (not bool): weakly typed in JAX arithmetic."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def hyper(x: Hyper, dtype) -> jax.Array:
    """``x`` (a Python number or a scalar array) as a scalar of ``dtype``."""
    return jnp.asarray(x, dtype)


def promote(*dtypes) -> jnp.dtype:
    """The dtype standard promotion gives ``dtypes`` (also under strict
    promotion, which refuses to say: our arithmetic then casts to it)."""
    with jax.numpy_dtype_promotion("standard"):
        return jnp.result_type(*dtypes)


def correction_dtype(dtype) -> jnp.dtype:
    """The dtype of bias corrections and schedules for leaves of ``dtype``:
    the leaf's real dtype (float32 for complex64), at least float32."""
    return promote(jnp.finfo(dtype).dtype, jnp.float32)


def abs_sq(g: jax.Array) -> jax.Array:
    """``|g|^2``: ``jnp.square(g)`` for real ``g``, ``(conj(g) g).real``."""
    if jnp.iscomplexobj(g):
        return (g.conj() * g).real
    return jnp.square(g)


def ema(new: jax.Array, old: jax.Array, decay: Hyper) -> jax.Array:
    """``(1 - decay) new + decay old`` in the promoted dtype of both."""
    dtype = promote(new.dtype, old.dtype)
    return (hyper(1 - decay, dtype) * new.astype(dtype)
            + hyper(decay, dtype) * old.astype(dtype))


def debias(moment: jax.Array, decay: Hyper, count: jax.Array) -> jax.Array:
    """``moment / (1 - decay^count)``: the correction in the moment's
    :func:`correction_dtype`, the division in the moment's dtype."""
    dt = correction_dtype(moment.dtype)
    correction = 1 - hyper(decay, dt) ** count.astype(dt)
    return moment / correction.astype(moment.dtype)


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1``, staying at the int32 maximum instead of wrapping."""
    top = jnp.asarray(jnp.iinfo(count.dtype).max, count.dtype)
    return jnp.where(count < top, count + jnp.asarray(1, count.dtype), top)


def zero_count() -> jax.Array:
    return jnp.zeros([], jnp.int32)


def canonical_dtype(dtype):
    """``jax.dtypes.canonicalize_dtype``, keeping ``None``."""
    return None if dtype is None else jax.dtypes.canonicalize_dtype(dtype)


def cast_like(tree, like):
    """``tree``'s leaves cast to the dtypes of ``like``'s."""
    return jax.tree.map(lambda x, o: x.astype(o.dtype), tree, like)


def tree_ema(new, old, decay: Hyper):
    """:func:`ema` leaf by leaf (in the promoted dtypes)."""
    return jax.tree.map(lambda n, o: ema(n, o, decay), new, old)

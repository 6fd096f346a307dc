"""Shared arithmetic of our transforms: hyperparameters, moments, dtypes.

The rules every transform follows (see :mod:`jaxmnist.optim.transforms`):

* A hyperparameter given as a Python number stays a Python number, so JAX
  rounds it into each leaf's dtype exactly as plain ``decay * x`` always did
  (float32 results are bitwise those of the original code). One given as an
  array (a traced, vmapped sweep value) is cast to the dtype of the arithmetic
  it enters, which strict dtype promotion requires.
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


def hyper(x: Hyper, dtype) -> Hyper:
    """``x`` ready for arithmetic with arrays of ``dtype``.

    Python numbers are returned unchanged (weak types: JAX converts them to
    ``dtype`` itself, bit for bit as before); arrays are cast to ``dtype``.
    """
    if is_python_number(x):
        return x
    return jnp.asarray(x).astype(dtype)


def real_dtype(dtype) -> jnp.dtype:
    """float32 for complex64, float64 for complex128, else ``dtype``."""
    return jnp.finfo(dtype).dtype


def promote(*dtypes) -> jnp.dtype:
    """The dtype standard promotion gives ``dtypes`` (also under strict
    promotion, which refuses to say: our arithmetic then casts to it)."""
    with jax.numpy_dtype_promotion("standard"):
        return jnp.result_type(*dtypes)


def correction_dtype(dtype) -> jnp.dtype:
    """The dtype of bias corrections and schedules for leaves of ``dtype``:
    the leaf's real dtype, at least float32."""
    return promote(real_dtype(dtype), jnp.float32)


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


def bias_correction(decay: Hyper, count: jax.Array, dtype) -> jax.Array:
    """``1 - decay^count`` as a scalar of :func:`correction_dtype`."""
    dt = correction_dtype(dtype)
    return 1 - hyper(decay, dt) ** count.astype(dt)


def bias_corrections(decay: Hyper, count: jax.Array, tree) -> dict:
    """``{dtype: 1 - decay^count}`` for the correction dtypes of ``tree``.

    Computed once per dtype, before any per-leaf work: the original code
    computed its one float32 correction that way, and XLA then compiles the
    leaves' divisions to the same bits (per-leaf corrections, fused into
    each leaf's loop, can round differently).
    """
    out: dict = {}
    for leaf in jax.tree.leaves(tree):
        dt = correction_dtype(leaf.dtype)
        if dt not in out:
            out[dt] = bias_correction(decay, count, leaf.dtype)
    return out


def debias(moment: jax.Array, corrections: dict) -> jax.Array:
    """``moment / (1 - decay^count)``, divided in the moment's dtype;
    ``corrections`` from :func:`bias_corrections`."""
    c = corrections[correction_dtype(moment.dtype)]
    return moment / c.astype(moment.dtype)


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1``, staying at the int32 maximum instead of wrapping."""
    top = jnp.asarray(jnp.iinfo(count.dtype).max, count.dtype)
    return jnp.where(count < top, count + jnp.asarray(1, count.dtype), top)


def zero_count() -> jax.Array:
    return jnp.zeros([], jnp.int32)


def canonical_dtype(dtype):
    """``jax.dtypes.canonicalize_dtype``, keeping ``None``."""
    return None if dtype is None else jax.dtypes.canonicalize_dtype(dtype)


def tree_map(fn, *trees):
    return jax.tree.map(fn, *trees)


def cast_like(tree, like):
    """``tree``'s leaves cast to the dtypes of ``like``'s."""
    return jax.tree.map(lambda x, o: x.astype(o.dtype), tree, like)


def tree_ema(new, old, decay: Hyper):
    """:func:`ema` leaf by leaf (in the promoted dtypes)."""
    return jax.tree.map(lambda n, o: ema(n, o, decay), new, old)

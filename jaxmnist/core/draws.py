"""Random draws of any shape, made as flat draws and reshaped.

``jax.random``'s threefry counters are each element's flat (row-major)
index, so a draw of shape ``(64, 10)`` holds exactly the numbers of a draw
of shape ``(640,)`` reshaped, bit for bit (tested, for every shape the
models use). The flat draw compiles much faster on XLA:CPU: measured on
2026-11-25 (2-core AMD EPYC, jax 0.10.2), ``jax.random.bits`` of shape
``(64, 10)`` compiled in 0.42 s against 0.11 s for ``(64, 16)``, and a
group's init program (three normal draws, the last ``(64, 10)``) in 1.3 to
1.7 s against 0.51 to 0.54 s drawn flat. The numbers are the same; only
the compilation is shorter.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["bernoulli", "normal"]


def normal(key: jax.Array, shape: tuple[int, ...],
           dtype=jnp.float32) -> jax.Array:
    """``jax.random.normal(key, shape, dtype)``, drawn flat."""
    return jax.random.normal(key, (math.prod(shape),), dtype).reshape(shape)


def bernoulli(key: jax.Array, p: jax.typing.ArrayLike,
              shape: tuple[int, ...]) -> jax.Array:
    """``jax.random.bernoulli(key, p, shape)`` (a scalar ``p``), drawn
    flat."""
    return jax.random.bernoulli(key, p, (math.prod(shape),)).reshape(shape)

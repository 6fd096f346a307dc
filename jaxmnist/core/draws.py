"""Random draws of any shape, made as flat draws and reshaped.

``jax.random``'s threefry counters are each element's flat (row-major)
index, so a draw of shape ``(64, 10)`` holds exactly the numbers of a draw
of shape ``(640,)`` reshaped, bit for bit (tested, for every shape the
models use). The flat draw compiles faster on XLA:CPU, where some 2-D
shapes compile several times slower (docs/performance.md has the
figures). The numbers are the same; only the compilation is shorter.
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

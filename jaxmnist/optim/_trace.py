"""Momentum: the heavy-ball and Nesterov trace."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import optax

from jaxmnist.optim._common import (
    Hyper,
    canonical_dtype,
    hyper,
    promote,
)


class TraceState(NamedTuple):
    trace: optax.Params  # v, the velocity


def trace(decay: Hyper, nesterov: bool = False,
          accumulator_dtype: Any | None = None
          ) -> optax.GradientTransformation:
    r"""Momentum trace.

    Heavy ball (Polyak 1964): ``v_t = g_t + beta v_{t-1}``, output ``v_t``.
    Nesterov (Sutskever et al. 2013, in the form of optax and PyTorch):
    ``v_t = g_t + beta v_{t-1}``, output ``g_t + beta v_t``.
    ``v_0 = 0``. The learning rate is applied afterwards, so this is the
    "PyTorch" convention ``p -= eta v``, not ``v = beta v - eta g``.

    Args:
      decay: ``beta``, the momentum coefficient (0.9 in the sweep): a Python
        float or a (traced) scalar array.
      nesterov: use the look-ahead (Nesterov) form.
      accumulator_dtype: dtype of ``v``; ``None``: the params' dtype.
    """
    accumulator_dtype = canonical_dtype(accumulator_dtype)

    def init_fn(params):
        return TraceState(trace=optax.tree.zeros_like(params,
                                                      dtype=accumulator_dtype))

    def step(g, v):
        """``g + beta v`` in the promoted dtype of ``g`` and ``v``."""
        dtype = promote(g.dtype, v.dtype)
        return g.astype(dtype) + hyper(decay, dtype) * v.astype(dtype)

    def update_fn(updates, state, params=None):
        del params
        new_trace = jax.tree.map(step, updates, state.trace)
        out = jax.tree.map(step, updates, new_trace) if nesterov else new_trace
        out = jax.tree.map(lambda o, g: o.astype(g.dtype), out, updates)
        new_trace = jax.tree.map(lambda v, old: v.astype(old.dtype), new_trace,
                             state.trace)
        return out, TraceState(trace=new_trace)

    return optax.GradientTransformation(init_fn, update_fn)

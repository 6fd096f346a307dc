"""An epoch's loop over its steps, with the divergence guard and, with
probes, the sampled gradient norms.

Unnamed (a single member, or vmapped by a caller): every step guarded.
Under the named vmap axes of a group, the guard's selects of every leaf
cost a quarter of the epoch, and a divergence is rare: the steps run
unguarded, and again guarded from the same start only if some member's
loss was not finite (``lax.pmax`` over the group, so a real branch, not a
select); a group with a member diverged before runs guarded. While every
loss is finite the guard selects the new state, so both give the same
numbers. With ``retry`` the guarded loop is left out of the program (it
doubles the compilation): such an epoch returns its start unchanged and
says so, and its caller runs the guarded program (the sweep:
:mod:`jaxmnist.sweep.pipeline`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from jaxmnist.core import dynamics
from jaxmnist.core.step import Carry

__all__ = ["epoch_steps"]


def epoch_steps(make_step_fn: Callable, grad_norms: Callable | None,
                carry: Carry, xs, axis_names: tuple[str, ...],
                retry: bool = False):
    """``(carry, (losses [steps], accuracies [steps], grad norms),
    retried)`` of an epoch: ``xs`` = (batch indices ``[steps, batch]``,
    step numbers ``[steps]``), ``make_step_fn(guard)`` the step.

    ``retry`` (with ``axis_names``): no guarded loop; if some member's loss
    was not finite, or one had diverged before, ``carry`` is returned as
    given and ``retried`` is True (else False, as always without it): the
    caller runs the epoch again with ``retry=False``.

    ``grad_norms(carry, (indices, number))`` (None: the steps report their
    own, or there are no probes) is called every
    :func:`~jaxmnist.core.dynamics.grad_norm_stride` steps, between steps,
    and its ``[samples, layers]`` are returned: the epoch runs in chunks of
    that many steps, each guarded on its own. The gradient is thus compiled
    once, outside the steps, rather than in a branch of every step of both
    loops (whose operands XLA copied each step).
    """
    retry = retry and bool(axis_names)
    if grad_norms is None:
        return _steps(make_step_fn, carry, xs, axis_names, retry)
    return _chunked_steps(make_step_fn, grad_norms, carry, xs, axis_names,
                          retry)


def _anywhere(flag: jax.Array, axis_names: tuple[str, ...]) -> jax.Array:
    """Whether ``flag`` holds for some member of the group."""
    return lax.pmax(flag.astype(jnp.int32), axis_names) > 0


def _steps(make_step_fn, carry: Carry, xs, axis_names: tuple[str, ...],
           retry: bool):
    """The epoch as one scan, unguarded when it can be (module doc)."""
    guarded = functools.partial(lax.scan, make_step_fn(True), carry, xs)
    if not axis_names:
        return *guarded(), jnp.zeros([], bool)
    fast = functools.partial(lax.scan, make_step_fn(False), carry, xs)
    skip = _anywhere(carry.diverged, axis_names)
    out = lax.cond(skip, lambda: jax.tree.map(
        jnp.zeros_like, jax.eval_shape(fast)), fast)
    again = skip | _anywhere(~jnp.all(jnp.isfinite(out[1][0])), axis_names)
    if retry:
        return *lax.cond(again, lambda: (carry, out[1]), lambda: out), again
    return *lax.cond(again, guarded, lambda: out), jnp.zeros([], bool)


def _chunked_steps(make_step_fn, grad_norms, carry: Carry, xs,
                   axis_names: tuple[str, ...], retry: bool):
    """The epoch as a scan over chunks of ``stride`` steps (the last one
    shorter), the gradient norms taken at each chunk's start. With
    ``retry`` a failed chunk is not run again: it and the chunks after it
    leave the carry as it was, and the epoch returns its start."""
    batches, numbers = xs
    steps = batches.shape[0]
    stride = dynamics.grad_norm_stride(steps)
    fast_step, safe_step = make_step_fn(False), make_step_fn(True)

    def run(step, carry, lo, hi, record):
        """Steps ``lo..hi-1`` from ``carry``: (carry, record, all finite)."""
        def body(i, loop):
            carry, (losses, accs), finite = loop
            carry, (loss, acc, _) = step(carry, (batches[i], numbers[i]))
            return carry, (losses.at[i].set(loss), accs.at[i].set(acc)), \
                finite & jnp.isfinite(loss)
        return lax.fori_loop(lo, hi, body,
                             (carry, record, jnp.ones_like(carry.diverged)))

    def chunk(loop, k):
        (carry, record), failed = loop
        lo = k * stride
        hi = jnp.minimum(lo + stride, steps)
        norms = grad_norms(carry, (batches[lo], numbers[lo]))
        safe = functools.partial(run, safe_step, carry, lo, hi, record)
        if not axis_names:
            return (safe()[:2], failed), norms
        skip = _anywhere(carry.diverged, axis_names)
        skip = skip | failed if retry else skip
        out = lax.cond(skip, lambda: (carry, record,
                                      jnp.zeros_like(carry.diverged)),
                       functools.partial(run, fast_step, carry, lo, hi,
                                         record))
        again = skip | _anywhere(~out[2], axis_names)
        if retry:
            return (lax.cond(again, lambda: (carry, record),
                             lambda: out[:2]), again), norms
        return (lax.cond(again, safe, lambda: out)[:2], failed), norms

    # shaped like a member's flag, so that vmap traces each loop once (an
    # unbatched start would be batched after a step: traced again)
    zeros = jnp.broadcast_to(jnp.zeros_like(carry.diverged, jnp.float32),
                             [steps])
    start = carry
    ((carry, (losses, accs)), failed), norms = lax.scan(
        chunk, ((carry, (zeros, zeros)), jnp.zeros([], bool)),
        jnp.arange(-(-steps // stride), dtype=jnp.int32))
    if retry:
        carry = lax.cond(failed, lambda: start, lambda: carry)
    return carry, (losses, accs, norms), failed

"""Learning-rate schedules, written from scratch in optax's arithmetic.

A :class:`Schedule` maps the step count to a value, ``schedule(count)`` as in
optax, and takes an optional ``dtype`` to evaluate in: our
:func:`~jaxmnist.optim.transforms.scale_by_learning_rate` passes the
parameters' dtype (at least float32), so float64 runs get float64 schedules.
Without ``dtype`` the value is JAX's default float (float32, or float64 under
``jax_enable_x64``). For a float32 dtype the operations are optax 0.2.8's, in
the same order, so the values are bitwise equal to optax's; in float64 they
are the formulas to float64 precision, where optax's linear (warm-up) and
exponential schedules stay float32 (int32 counts promote to float32; its
cosine is float64). ``tests/test_optim_schedules.py`` checks both.

The sweep's multiplier (:func:`schedule_multiplier`) starts or peaks at 1 and
a member's learning rate is ``lr * multiplier(count)``
(:func:`scaled_schedule`), so vmapped members keep their own peak rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxmnist.errors import unknown_name_message

SCHEDULES: tuple[str, ...] = ("constant", "cosine", "warmup_cosine",
                              "exponential")


class Schedule:
    """``count -> value`` evaluated in ``dtype`` (default: JAX's float)."""

    def __init__(self, fn: Callable[[jax.Array, jnp.dtype], jax.Array]):
        self._fn = fn

    def __call__(self, count, dtype=None) -> jax.Array:
        dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
        return self._fn(jnp.asarray(count), dtype)


def evaluate(schedule: Callable, count: jax.Array, dtype) -> jax.Array:
    """``schedule(count)`` in ``dtype`` (any optax-style schedule works)."""
    if isinstance(schedule, Schedule):
        return schedule(count, dtype)
    return jnp.asarray(schedule(count)).astype(dtype)


def constant_schedule(value: float) -> Schedule:
    """``value`` at every step (``optax.constant_schedule``)."""
    return Schedule(lambda count, dt: jnp.asarray(value, dt))


def linear_schedule(init_value: float, end_value: float,
                    transition_steps: int, transition_begin: int = 0
                    ) -> Schedule:
    """From ``init_value`` to ``end_value`` linearly over ``transition_steps``
    steps after ``transition_begin`` (``optax.linear_schedule``)::

        frac = 1 - clip(count - begin, 0, steps) / steps
        value = (init - end) * frac + end
    """
    if transition_steps <= 0:
        return constant_schedule(init_value)
    begin = max(transition_begin, 0)

    def fn(count, dt):
        c = jnp.clip(count - begin, 0, transition_steps)
        frac = 1 - c.astype(dt) / transition_steps
        return (init_value - end_value) * (frac ** 1) + end_value

    return Schedule(fn)


def cosine_decay_schedule(init_value: float, decay_steps: int,
                          alpha: float = 0.0, exponent: float = 1.0
                          ) -> Schedule:
    """Cosine decay (Loshchilov & Hutter, SGDR, 2017;
    ``optax.cosine_decay_schedule``)::

        c = min(count, decay_steps)
        value = init * ((1 - alpha) (0.5 (1 + cos(pi c / decay_steps)))^exponent
                        + alpha)
    """
    if not decay_steps > 0:
        raise ValueError(f"cosine_decay_schedule needs decay_steps > 0, got "
                         f"{decay_steps}")
    steps = float(decay_steps)

    def fn(count, dt):
        c = jnp.minimum(count.astype(dt), steps)
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * c / steps))
        return init_value * ((1 - alpha) * cosine ** exponent + alpha)

    return Schedule(fn)


def join_schedules(schedules: Sequence[Callable], boundaries: Sequence[int]
                   ) -> Schedule:
    """``schedules[i]`` from ``boundaries[i-1]`` on, counting from there
    (``optax.join_schedules``)."""
    def fn(count, dt):
        out = evaluate(schedules[0], count, dt)
        for boundary, schedule in zip(boundaries, schedules[1:]):
            out = jnp.where(count < boundary, out,
                            evaluate(schedule, count - boundary, dt))
        return out

    return Schedule(fn)


def warmup_cosine_decay_schedule(init_value: float, peak_value: float,
                                 warmup_steps: int, decay_steps: int,
                                 end_value: float = 0.0,
                                 exponent: float = 1.0) -> Schedule:
    """Linear warm-up from ``init_value`` to ``peak_value`` over
    ``warmup_steps``, then cosine decay to ``end_value`` at ``decay_steps``
    (Goyal et al. 2017; ``optax.warmup_cosine_decay_schedule``)."""
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    return join_schedules(
        [linear_schedule(init_value, peak_value, warmup_steps),
         cosine_decay_schedule(peak_value, decay_steps - warmup_steps,
                               alpha=alpha, exponent=exponent)],
        [warmup_steps])


def exponential_decay(init_value: float, transition_steps: int,
                      decay_rate: float, transition_begin: int = 0,
                      staircase: bool = False,
                      end_value: float | None = None) -> Schedule:
    """``init * decay_rate^((count - begin) / transition_steps)`` after
    ``transition_begin`` (``init`` before), optionally floored exponent
    (``staircase``) and clipped at ``end_value``
    (``optax.exponential_decay``)."""
    if transition_steps <= 0 or decay_rate == 0:
        return constant_schedule(init_value)
    begin = max(transition_begin, 0)
    clip = jnp.maximum if decay_rate < 1.0 else jnp.minimum

    def fn(count, dt):
        decreased = count - begin
        p = decreased.astype(dt) / transition_steps
        if staircase:
            p = jnp.floor(p)
        value = jnp.where(decreased <= 0, init_value,
                          init_value * jnp.power(decay_rate, p))
        return value if end_value is None else clip(value, end_value)

    return Schedule(fn)


def schedule_multiplier(kind: str, total_steps: int, steps_per_epoch: int,
                        warmup_steps: int = 0, decay_rate: float = 0.8
                        ) -> Schedule:
    """A schedule ``count -> multiplier`` that starts (or peaks) at 1.

    * ``constant``: 1.
    * ``cosine``: cosine decay from 1 to 0 over the run.
    * ``warmup_cosine``: linear warm-up from 0 to 1 over ``warmup_steps``
      (at least 1), then cosine decay to 0 at the end of the run.
    * ``exponential``: ``decay_rate ** (count / steps_per_epoch)``, smooth.
    """
    if kind == "constant":
        return constant_schedule(1.0)
    if kind == "cosine":
        return cosine_decay_schedule(1.0, max(total_steps, 1))
    if kind == "warmup_cosine":
        warmup = max(warmup_steps, 1)
        return warmup_cosine_decay_schedule(0.0, 1.0, warmup,
                                            max(total_steps, warmup + 1))
    if kind == "exponential":
        return exponential_decay(1.0, max(steps_per_epoch, 1), decay_rate)
    raise ValueError(unknown_name_message("schedule", kind, SCHEDULES))


def scaled_schedule(learning_rate, multiplier: Callable) -> Schedule:
    """``count -> learning_rate * multiplier(count)``.

    ``learning_rate`` is a Python float or a (traced) scalar; the product is
    evaluated in the dtype asked for (float32 unless the parameters are
    float64).
    """
    return Schedule(lambda count, dt: jnp.asarray(learning_rate, dt)
                    * evaluate(multiplier, count, dt))

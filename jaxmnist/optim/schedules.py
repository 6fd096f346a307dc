"""Learning-rate schedules: optax's, with peak 1, scaled by each member's rate.

The multiplier is a function of the step count; a member's learning rate is
``lr * multiplier(count)``, so vmapped members keep their own peak rate.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from jaxmnist.errors import unknown_name_message

SCHEDULES: tuple[str, ...] = ("constant", "cosine", "warmup_cosine",
                              "exponential")


def schedule_multiplier(kind: str, total_steps: int, steps_per_epoch: int,
                        warmup_steps: int = 0, decay_rate: float = 0.8
                        ) -> Callable[[jax.Array], jax.Array]:
    """A schedule ``count -> multiplier`` that starts (or peaks) at 1.

    * ``constant``: 1.
    * ``cosine``: cosine decay from 1 to 0 over the run.
    * ``warmup_cosine``: linear warm-up from 0 to 1 over ``warmup_steps``, then
      cosine decay to 0 at the end of the run.
    * ``exponential``: ``decay_rate ** (count / steps_per_epoch)``, smooth.
    """
    if kind == "constant":
        return optax.constant_schedule(1.0)
    if kind == "cosine":
        return optax.cosine_decay_schedule(1.0, max(total_steps, 1))
    if kind == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(
            0.0, 1.0, max(warmup_steps, 1), max(total_steps, warmup_steps + 1))
    if kind == "exponential":
        return optax.exponential_decay(1.0, max(steps_per_epoch, 1), decay_rate)
    raise ValueError(unknown_name_message("schedule", kind, SCHEDULES))


def scaled_schedule(learning_rate, multiplier):
    """``count -> learning_rate * multiplier(count)`` (float32).

    optax's schedules mix int32 counts with Python floats, which strict dtype
    promotion rejects, so the multiplier is evaluated under standard
    promotion.
    """
    def schedule(count):
        with jax.numpy_dtype_promotion("standard"):
            m = jnp.asarray(multiplier(count), jnp.float32)
        return learning_rate * m

    return schedule

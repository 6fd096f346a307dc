"""The valid range of every optimizer option, declared once.

Both the optimizer factories (for concrete values: Python numbers and
concrete arrays; traced values are not known when the factory runs) and
the sweep's ``--optimizer-options`` check against :data:`OPTION_RANGES`,
so ``adam(1e-3, b2=1.5)`` and ``--optimizer-options adam.b2=1.5`` fail
with the same line instead of training to a silently wrong result.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import numpy as np


class Range(NamedTuple):
    """``low < x < high``, each end open or closed; ``integer``: whole."""
    low: float
    high: float
    low_open: bool
    high_open: bool
    integer: bool = False

    def __contains__(self, value) -> bool:  # pyright: ignore[reportIncompatibleMethodOverride]
        v = float(value)
        above = v > self.low if self.low_open else v >= self.low
        below = v < self.high if self.high_open else v <= self.high
        whole = not self.integer or float(v).is_integer()
        return above and below and whole

    def __str__(self) -> str:
        if self.high == math.inf:
            bound = f"> {self.low:g}" if self.low_open else f">= {self.low:g}"
            return f"an integer {bound}" if self.integer else bound
        return (f"in {'(' if self.low_open else '['}{self.low:g}, "
                f"{self.high:g}{')' if self.high_open else ']'}")


#: decay rates: 1 would freeze the average, > 1 make it grow without bound
DECAY = Range(0.0, 1.0, False, True)
NON_NEGATIVE = Range(0.0, math.inf, False, True)
POSITIVE = Range(0.0, math.inf, True, True)

#: each option's valid range, by name (the same name means the same thing
#: in every optimizer that has it)
OPTION_RANGES: dict[str, Range] = {
    "learning_rate": POSITIVE, "adam_learning_rate": POSITIVE,
    "momentum": DECAY, "b1": DECAY, "b2": DECAY, "b3": DECAY, "beta": DECAY,
    "beta3": DECAY, "adam_b1": DECAY, "adam_b2": DECAY, "decay": DECAY,
    "rho": DECAY,
    "eps": NON_NEGATIVE, "eps_root": NON_NEGATIVE,
    "adam_eps_root": NON_NEGATIVE, "weight_decay": NON_NEGATIVE,
    "adam_weight_decay": NON_NEGATIVE,
    "initial_accumulator_value": NON_NEGATIVE,
    "initial_scale": NON_NEGATIVE, "alpha": NON_NEGATIVE,
    "weight_lr_power": NON_NEGATIVE, "smooth_beta": POSITIVE,
    "estim_lr0": POSITIVE, "estim_lr_coef": POSITIVE,
    "consistent_rms": POSITIVE,
    "ns_steps": Range(0.0, math.inf, True, True, integer=True),
    "warmup_steps": Range(0.0, math.inf, False, True, integer=True),
}
#: (optimizer, option) whose range differs from the name's
OVERRIDES: dict[tuple[str, str], Range] = {
    # the evaluation point (y - (1 - b1) z) / b1 divides by b1
    ("schedule_free_adamw", "b1"): Range(0.0, 1.0, True, True),
}


def option_range(optimizer: str, name: str) -> Range | None:
    """The valid range of ``optimizer``'s option ``name`` (None: no numeric
    range, e.g. a dtype, a mask or a flag)."""
    return OVERRIDES.get((optimizer, name), OPTION_RANGES.get(name))


def _concrete_values(value) -> np.ndarray | None:
    """The numbers in ``value`` when they are known now (None for traced
    arrays, schedules, None, bools and non-numbers)."""
    if value is None or isinstance(value, (bool, np.bool_)) or callable(value):
        return None
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, jax.errors.ConcretizationTypeError,
            jax.errors.TracerArrayConversionError):
        return None  # traced: known only inside the computation
    if arr.dtype.kind not in "iuf":
        return None
    return arr.reshape(-1)


def check_option(optimizer: str, name: str, value) -> None:
    """ValueError (one line: option, value, range) when a concrete
    ``value`` of ``optimizer``'s option ``name`` is outside its range."""
    valid = option_range(optimizer, name)
    values = _concrete_values(value)
    if valid is None or values is None:
        return
    for v in values:
        if v not in valid:
            raise ValueError(f"{optimizer} option {name}={float(v):g} is "
                             f"out of range: {name} must be {valid}")


def check_hypers(optimizer: str, **values) -> None:
    """:func:`check_option` for each ``name=value`` (a factory's options)."""
    for name, value in values.items():
        check_option(optimizer, name, value)

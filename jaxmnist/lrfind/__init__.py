"""``python -m jaxmnist.lrfind``'s work: the range test of every optimizer x
activation in one compiled program, its records, and their grades.

Each optimizer's members (one per activation) run vmapped, and all the
optimizers' vmapped tests are one ``jax.jit`` program. A member starts
from the params seed 0 of a sweep with the same root seed starts from;
its rates run from its optimizer's default learning rate times ``low`` to
times ``high``, with the optimizer's own batch size (per-sample sgd: 1).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmnist.core import lrfind
from jaxmnist.core.activations import activation_index
from jaxmnist.core.config import TrainConfig
from jaxmnist.core.train import member_key
from jaxmnist.data import Dataset, load_dataset
from jaxmnist.optim.registry import get_spec
from jaxmnist.results.lrfind import (
    LrFindRow,
    LrGrade,
    LrSuggestion,
    grade,
    grading_table,
    verdict,
)
from jaxmnist.results.records import write_csv
from jaxmnist.sweep.config import SweepConfig

STEPS, LOW, HIGH = 300, 1e-4, 1e3


class LrFind(NamedTuple):
    rows: list[LrFindRow]
    suggestions: list[LrSuggestion]
    seconds: float


def run_lr_find(optimizers: Sequence[str], activations: Sequence[str],
                data: Dataset, steps: int = STEPS, low: float = LOW,
                high: float = HIGH, seed: int = 0,
                implementation: str = "ours") -> LrFind:
    """The range tests of every optimizer x activation on ``data``."""
    check_range(steps, low, high)
    start = time.perf_counter()
    n = int(data.train_images.shape[0])
    configs = {o: TrainConfig(optimizer=o, activations=tuple(activations),
                              implementation=implementation)
               for o in optimizers}
    rates = {o: lrfind.exponential_rates(get_spec(o).learning_rate * low,
                                         get_spec(o).learning_rate * high,
                                         steps) for o in optimizers}
    tests = {o: jax.vmap(lrfind.make_range_test(c, steps, n),
                         in_axes=(0, 0, None, None))
             for o, c in configs.items()}
    acts = jnp.asarray([activation_index(a) for a in activations])
    key = jax.random.split(member_key(seed, 0))[0]
    keys = jnp.stack([key] * len(activations))
    program = jax.jit(lambda keys, acts, rates, data: {
        o: tests[o](keys, acts, rates[o], data) for o in optimizers})
    losses = jax.device_get(program(keys, acts, rates, data))
    rows, found = [], []
    for o in optimizers:
        r = np.asarray(rates[o], np.float64)
        smoothed = lrfind.smooth(np.asarray(losses[o]))
        for i, a in enumerate(activations):
            s = lrfind.suggestions(r, smoothed[i])
            found.append(LrSuggestion(o, a, *s))
            rows += [LrFindRow(o, a, k, float(r[k]),
                               float(losses[o][i, k]), float(smoothed[i, k]))
                     for k in range(steps)]
    return LrFind(rows, found, round(time.perf_counter() - start, 3))


def check_range(steps: int, low: float, high: float) -> None:
    """ValueError unless 0 < low < high and there are at least 20 steps."""
    if not 0 < low < high:
        raise ValueError(f"the range must satisfy 0 < low < high, got "
                         f"{low:g}, {high:g}")
    if steps < 20:
        raise ValueError(f"steps must be at least 20, got {steps}")


def write_lr_find(out: Path, found: LrFind) -> None:
    """lr_find.csv and lr_find_suggestions.csv, each atomically."""
    write_csv(out / "lr_find.csv", found.rows, LrFindRow)
    write_csv(out / "lr_find_suggestions.csv", found.suggestions,
              LrSuggestion)


def main_work(args) -> tuple[list[LrGrade], str, str]:
    """What ``python -m jaxmnist.lrfind`` does with its parsed ``args``:
    (grades, verdict, markdown table), the last two empty without
    ``--compare-with``."""
    from jaxmnist.report.lrfind import plot_lr_find  # noqa: PLC0415
    from jaxmnist.sweep.config import read_run  # noqa: PLC0415

    tuned = read_run(args.compare_with) if args.compare_with else None
    base = tuned.config if tuned is not None else SweepConfig()
    optimizers = args.optimizers or base.optimizers
    activations = args.activations or base.activations
    SweepConfig(optimizers=optimizers, activations=activations)  # checks
    check_range(args.steps, args.low, args.high)
    data = load_dataset(args.dataset, manual_dir=args.manual_dir,
                        data_dir=args.data_dir, val_size=base.val_size,
                        seed=0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    found = run_lr_find(optimizers, activations, data, args.steps, args.low,
                        args.high, args.seed)
    print(f"{len(found.suggestions)} range tests of {args.steps} steps in "
          f"{found.seconds:.1f} s", file=sys.stderr)
    write_lr_find(out, found)
    grades = grade(found.suggestions, tuned.cells) if tuned else []
    verdict_text, table = "", ""
    if tuned is not None:
        write_csv(out / "lr_find_grading.csv", grades, LrGrade)
        verdict_text, table = verdict(grades), grading_table(grades)
    plot_lr_find(found.rows, found.suggestions, out / "lr_find.png", grades,
                 optimizers, activations)
    return grades, verdict_text, table

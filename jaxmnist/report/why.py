"""The "Why" of summary.md: how the best and the worst cell differ inside.

For the best and the worst cell by mean validation accuracy (the rule every
choice in jaxmnist uses), compare every probe of their last epoch and state
the three that differ most, in words generated from the numbers. Scale
quantities (norms, ratios, gates, sharpness) are compared by the factor
between them, fractions (dead, saturated, inactive) by their difference; a
difference of 0.5 counts as much as a factor of 10. Saturation (a sigmoid
or tanh unit in a flat tail) and inactivity (a ReLU-like unit on its off
side) are recorded only for their own activations (NaN for the others, so
never compared across the two kinds); when the two cells' activations
differ, saturation is left out too (runs recorded before the split held
the off side of a ReLU-like unit under "saturated").
"""

from __future__ import annotations

import math

from jaxmnist.report.dynamics import cell_series
from jaxmnist.results.records import RunRecords
from jaxmnist.results.stats import cell_of

FRACTIONS = ("dead_fraction", "saturated_fraction", "inactive_fraction")
_NAMES = {"grad_norm": "gradient norm", "update_ratio": "effective step",
          "weight_norm": "weight norm", "dead_fraction": "dead units",
          "saturated_fraction": "saturated unit-image pairs",
          "inactive_fraction": "inactive unit-image pairs (z <= 0)",
          "mean_gate": "mean gate |f'(z)|", "sharpness": "sharpness",
          "preconditioned_sharpness": "preconditioned sharpness"}


def differences(best: dict, worst: dict, same_activation: bool = True
                ) -> list[tuple[float, str]]:
    """(score, sentence) for every probe both cells have, largest first
    (without saturation unless ``same_activation``)."""
    out = []
    for key in sorted(set(best) & set(worst), key=str):
        a, b = float(best[key][-1]), float(worst[key][-1])
        quantity, layer = key
        if quantity == "saturated_fraction" and not same_activation:
            continue
        if not (math.isfinite(a) and math.isfinite(b)):
            continue
        where = f"layer {layer} " if layer is not None else ""
        name = f"{where}{_NAMES.get(quantity, quantity)}"
        if quantity in FRACTIONS:
            score = 2 * abs(a - b)
            text = (f"{name}: {a:.1%} in the best cell against {b:.1%} in "
                    f"the worst")
        elif a > 0 and b > 0:
            score = abs(math.log10(a / b))
            factor = max(a, b) / min(a, b)
            side = "larger" if b > a else "smaller"
            text = (f"{name}: {a:.3g} in the best cell against {b:.3g} in "
                    f"the worst ({factor:.1f}x {side} in the worst)")
        else:
            continue
        out.append((score, text))
    return sorted(out, key=lambda t: -t[0])


def why_section(run: RunRecords, top: int = 3) -> list[str]:
    """Markdown lines of the "Why" section (empty without probes or with
    fewer than two cells)."""
    cells = [c for c in run.cells if c.chosen and math.isfinite(c.val_mean)]
    series = cell_series(run)
    cells = [c for c in cells if cell_of(c) in series]
    if len(cells) < 2 or not run.dynamics:
        return []
    cells.sort(key=lambda c: -c.val_mean)
    best, worst = cells[0], cells[-1]
    diffs = differences(series[cell_of(best)], series[cell_of(worst)],
                        best.activation == worst.activation)
    lines = ["## Why", "",
             f"The best cell by mean validation accuracy is "
             f"{best.setup} / {best.activation} (lr "
             f"{best.learning_rate:g}, {best.val_mean:.4f}); the worst is "
             f"{worst.setup} / {worst.activation} (lr "
             f"{worst.learning_rate:g}, {worst.val_mean:.4f}). After the last "
             f"epoch, the probes that differ most between them:", ""]
    lines += [f"- {text}" for _, text in diffs[:top]]
    return lines + [""]

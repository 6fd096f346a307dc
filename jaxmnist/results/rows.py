"""A trained group's records: what :mod:`.records` writes, made from the
arrays of a :class:`~.members.GroupResult`."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from jaxmnist.core.train import Metrics
from jaxmnist.results.members import GroupResult
from jaxmnist.results.records import DynamicsRow, HistoryRow, MemberResult

#: dynamics.csv's probes, in its order: per weight layer, per hidden
#: layer, then of the whole model (no layer).
QUANTITIES = ("grad_norm", "update_ratio", "weight_norm", "dead_fraction",
              "saturated_fraction", "inactive_fraction", "mean_gate",
              "sharpness", "preconditioned_sharpness")
#: The per-member arrays of dynamics.npz (besides ``members`` and edges).
DYNAMICS_ARRAYS = ("hist_start", "hist_end", "loss_window_mean",
                   "loss_window_max")



def time_to_target(val_accuracy: np.ndarray, diverged: np.ndarray,
                   target: float, steps_per_epoch: int,
                   epoch_seconds: list[float]
                   ) -> tuple[int | None, int | None, float | None]:
    """(epoch, steps, seconds) at which validation accuracy first reached
    ``target`` (1-based epoch; seconds of the group's training, compilation
    excluded), or Nones when it never did before diverging."""
    hit = np.flatnonzero((np.asarray(val_accuracy) >= target)
                         & ~np.asarray(diverged, bool))
    if not hit.size:
        return None, None, None
    e = int(hit[0]) + 1
    return e, e * steps_per_epoch, round(float(sum(epoch_seconds[:e])), 3)


def member_results(group: GroupResult, target: float) -> list[MemberResult]:
    """One record per member of ``group``: its final-epoch metrics."""
    h = group.history
    out = []
    for i, m in enumerate(group.members):
        val = np.asarray(h.val_accuracy[i])
        diverged = np.asarray(h.diverged[i], bool)
        div = np.flatnonzero(diverged)
        epoch, steps, seconds = time_to_target(
            val, diverged, target, group.steps_per_epoch, group.epoch_seconds)
        finals: dict[str, Any] = {f: float(getattr(h, f)[i, -1])
                                  for f in _FINAL_METRICS}
        out.append(MemberResult(
            **m._asdict(), **finals,
            epochs_to_best_val=(int(np.nanargmax(val)) + 1
                                if np.isfinite(val).any() else 0),
            diverged_epoch=int(div[0]) + 1 if div.size else None,
            target_epoch=epoch, target_steps=steps, target_seconds=seconds,
            seconds=round(group.seconds, 3)))
    return out


_FINAL_METRICS = ("train_accuracy", "val_accuracy", "test_accuracy",
                  "train_loss", "val_loss", "test_loss")


def history_rows(group: GroupResult) -> list[HistoryRow]:
    """One record per member and epoch of ``group``."""
    h = group.history
    metrics = [f for f in Metrics._fields if f != "diverged"]
    rows = []
    for i, m in enumerate(group.members):
        for e in range(np.shape(h.train_loss)[1]):
            values: dict[str, Any] = {f: float(getattr(h, f)[i, e])
                                      for f in metrics}
            rows.append(HistoryRow(**m._asdict(), epoch=e + 1, **values,
                                   diverged=bool(h.diverged[i, e])))
    return rows


def dynamics_rows(group: GroupResult) -> list[DynamicsRow]:
    """dynamics.csv's records of ``group`` (none without probes); a
    quantity that does not apply to a member, or an epoch without that
    probe (NaN in the arrays), has no row."""
    d = group.dynamics
    if d is None:
        return []
    rows = []
    for i, m in enumerate(group.members):
        for e in range(np.shape(d.sharpness)[1]):
            for q in QUANTITIES:
                values = np.asarray(getattr(d, q)[i, e])
                layers = [None] if values.ndim == 0 else range(1, values.size
                                                               + 1)
                rows += [DynamicsRow(**m._asdict(), epoch=e + 1, layer=layer,
                                     quantity=q, value=float(v))
                         for layer, v in zip(layers, values.ravel())
                         if not np.isnan(v)]
    return rows


def dynamics_arrays(groups: list[GroupResult]) -> dict[str, np.ndarray] | None:
    """dynamics.npz's arrays for these groups (None without probes); arrays
    of groups with fewer layers or windows are padded with NaN."""
    from jaxmnist.core.dynamics import HIST_EDGES  # noqa: PLC0415  (jax)

    probed = [g for g in groups if g.dynamics is not None]
    if not probed:
        return None
    names = [json.dumps(list(m)) for g in probed for m in g.members]
    out = {"members": np.asarray(names), "hist_edges": HIST_EDGES}
    for k in DYNAMICS_ARRAYS:
        out[k] = _pad_concat([np.asarray(getattr(g.dynamics, k))
                              for g in probed])
    return out


def _pad_concat(parts: list[np.ndarray]) -> np.ndarray:
    shape = np.max([p.shape[1:] for p in parts], axis=0)
    return np.concatenate([np.pad(p.astype(np.float32), [(0, 0)] + [
        (0, int(n - m)) for n, m in zip(shape, p.shape[1:])],
        constant_values=np.nan) for p in parts])

"""The best model's predictions: saved once, drawn as a confusion matrix and
a grid of misclassified images."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

from jaxmnist import files
from jaxmnist.report.style import plt, save_figure
from jaxmnist.results.records import MemberResult

#: What a run dir holds from this module.
BEST_PREDICTIONS = "best_predictions.npz"


def save_best_predictions(run_dir: Path, member: MemberResult,
                          probs: np.ndarray, test_images: np.ndarray,
                          test_labels: np.ndarray, keep: int = 40) -> None:
    """best_predictions.npz: the best model's test predictions and a few of
    its misclassified images (enough to redraw the two figures)."""
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != test_labels)[:keep]
    buf = io.BytesIO()
    np.savez_compressed(
        buf, y_true=test_labels, y_pred=pred, prob=probs.max(1),
        wrong_images=test_images[wrong], wrong_true=test_labels[wrong],
        wrong_pred=pred[wrong], wrong_prob=probs[wrong, pred[wrong]],
        member=np.asarray(member.name))
    files.write_bytes(run_dir / BEST_PREDICTIONS, buf.getvalue())


DIGITS = tuple(str(d) for d in range(10))


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: int
              ) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    cm = np.zeros((classes, classes), np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def _axes_labels(ax, names: Sequence[str]) -> None:
    long = max(len(n) for n in names) > 2
    ax.set_xticks(range(len(names)), names, rotation=45 if long else 0,
                  ha="right" if long else "center", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, path,
                   title: str = "", classes: Sequence[str] = DIGITS) -> None:
    """Counts beside the errors: each off-diagonal cell as a percentage of
    its true class (blank where there is none), coloured on its own scale
    so the confusions stand out; the diagonal gives the recall."""
    n = len(classes)
    cm = confusion(y_true, y_pred, n)
    pct = 100 * cm / np.maximum(cm.sum(1, keepdims=True), 1)
    errors = np.where(np.eye(n, dtype=bool) | (cm == 0), np.nan, pct)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 5.3), layout="constrained")
    axes[0].imshow(cm, cmap="Blues")
    top = errors[np.isfinite(errors)].max(initial=0) or 1.0
    axes[1].imshow(np.ma.masked_invalid(errors), cmap="Reds", vmin=0,
                   vmax=top)
    for i in range(n):
        axes[1].add_patch(Rectangle((i - 0.5, i - 0.5), 1, 1, color="0.9"))
    for i in range(n):
        for j in range(n):
            white = cm[i, j] > cm.max() / 2
            axes[0].text(j, i, str(cm[i, j]), ha="center", va="center",
                         fontsize=7, color="white" if white else "black")
            if i == j:
                axes[1].text(j, i, f"{pct[i, j]:.1f}", ha="center",
                             va="center", fontsize=7, color="0.45",
                             style="italic")
            elif cm[i, j]:
                axes[1].text(j, i, f"{pct[i, j]:.1f}", ha="center",
                             va="center", fontsize=7, color="white"
                             if pct[i, j] > top / 2 else "black")
    for ax in axes:
        _axes_labels(ax, classes)
    axes[0].set_title("counts")
    axes[1].set_title("errors, % of the true class (diagonal, grey: recall)")
    fig.suptitle(title or "Confusion matrix (test set)")
    save_figure(fig, path)


def _short(name: str) -> str:
    return name if len(name) <= 12 else name[:11] + "."


def plot_misclassified(images: np.ndarray, y_true: np.ndarray,
                       y_pred: np.ndarray, probs: np.ndarray, path,
                       title: str = "", max_images: int = 40,
                       classes: Sequence[str] = DIGITS) -> None:
    """A grid of misclassified images labelled 'true→predicted (p)'."""
    n = min(len(images), max_images)
    cols = min(max(n, 1), 8)
    rows = max(math.ceil(n / cols), 1)
    words = max(len(c) for c in classes) > 2
    fig, axes = plt.subplots(rows, cols,
                             figsize=(1.45 * cols, (2.0 if words else 1.75)
                                      * rows + 0.5), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(np.asarray(images[k]).reshape(28, 28),
                      cmap="gray" if words else "gray_r")
            t, p = classes[int(y_true[k])], classes[int(y_pred[k])]
            ax.set_title(f"{_short(t)}→\n{_short(p)} ({probs[k]:.2f})" if words
                         else f"{t}→{p} ({probs[k]:.2f})", fontsize=8)
    if n == 0:
        axes[0, 0].text(0.5, 0.5, "no misclassified images", ha="center")
    fig.suptitle(title or "Misclassified test images: true→predicted "
                 "(probability)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)

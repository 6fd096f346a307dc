"""The best model's predictions: saved once, drawn as a confusion matrix and
a grid of misclassified images."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

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


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, path,
                   title: str = "", classes: int = 10) -> None:
    """Counts and row-normalised confusion matrices side by side."""
    cm = np.zeros((classes, classes), np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.6))
    for ax, m, fmt, name in ((axes[0], cm, "d", "counts"),
                             (axes[1], norm, ".2f", "row-normalised")):
        ax.imshow(m, cmap="Blues")
        thresh = m.max() / 2
        for i in range(classes):
            for j in range(classes):
                ax.text(j, i, format(m[i, j], fmt), ha="center", va="center",
                        fontsize=7, color="white" if m[i, j] > thresh
                        else "black")
        ax.set_xticks(range(classes))
        ax.set_yticks(range(classes))
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
    fig.suptitle(title or "Confusion matrix (test set)")
    fig.tight_layout()
    save_figure(fig, path)


def plot_misclassified(images: np.ndarray, y_true: np.ndarray,
                       y_pred: np.ndarray, probs: np.ndarray, path,
                       title: str = "", max_images: int = 40) -> None:
    """A grid of misclassified images labelled 'true -> predicted (p)'."""
    n = min(len(images), max_images)
    cols = min(max(n, 1), 8)
    rows = max(math.ceil(n / cols), 1)
    fig, axes = plt.subplots(rows, cols,
                             figsize=(1.45 * cols, 1.75 * rows + 0.5),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(np.asarray(images[k]).reshape(28, 28), cmap="gray_r")
            ax.set_title(f"{y_true[k]}→{y_pred[k]} ({probs[k]:.2f})",
                         fontsize=8)
    if n == 0:
        axes[0, 0].text(0.5, 0.5, "no misclassified images", ha="center")
    fig.suptitle(title or "Misclassified test images: true→predicted "
                 "(probability)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)

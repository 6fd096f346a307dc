"""Turn a user's digit image into an MNIST-style 28x28 uint8 array.

MNIST digits are white on black, fitted into a 20x20 box that keeps their
aspect ratio, and centred by their centre of mass in a 28x28 image. Images
with a light background (black ink on white paper) are inverted first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_image(path: str | Path) -> np.ndarray:
    """A file as a 2-D float array in [0, 1]; ValueError if it is no image."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"), np.float64) / 255.0
    except FileNotFoundError:
        raise ValueError(f"image {str(path)!r} does not exist") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{str(path)!r} is not a readable image "
                         f"({type(e).__name__})") from None


def to_mnist(gray: np.ndarray) -> np.ndarray:
    """MNIST-style ``[784]`` uint8 from a grayscale image in [0, 1]."""
    from PIL import Image  # noqa: PLC0415

    g = np.asarray(gray, np.float64)
    border = lambda a: np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if np.median(border(g)) > 0.5:  # dark ink on a light background
        g = 1.0 - g
    g = np.clip(g - np.median(border(g)), 0, None)  # remove the background
    if g.max() <= 0:
        return np.zeros(784, np.uint8)
    g = g / g.max()
    ys, xs = np.nonzero(g > 0.1)
    g = g[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = g.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray((g * 255).astype(np.uint8)).resize(
        size, Image.Resampling.LANCZOS), np.float64)
    canvas = np.zeros((28, 28))
    top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    total = canvas.sum()
    if total > 0:  # shift the centre of mass to the centre
        yy, xx = np.indices(canvas.shape)
        dy = int(round(13.5 - (yy * canvas).sum() / total))
        dx = int(round(13.5 - (xx * canvas).sum() / total))
        canvas = np.roll(np.roll(canvas, dy, axis=0), dx, axis=1)
    return np.clip(canvas, 0, 255).astype(np.uint8).reshape(784)


def load_digit(path: str | Path) -> np.ndarray:
    """Read ``path`` and return it as an MNIST-style ``[784]`` uint8 row."""
    return to_mnist(read_image(path))

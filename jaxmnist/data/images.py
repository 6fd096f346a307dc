"""Turn a user's digit image (a scan, a phone photo) into an MNIST-style
28x28 uint8 array.

MNIST digits are white ink on black, fitted into a 20x20 box that keeps
their aspect ratio, and centred by their centre of mass in a 28x28 image.
A photo of a digit on paper is first made to look like that:

1. the background (paper under uneven light) is estimated by a quadratic
   surface fitted robustly to the pixels, leaving out the ink, and
   subtracted; the ink's side (dark on light or light on dark) is the
   residual's heavier tail;
2. the residual is smoothed a little and thresholded (Otsu, but at least
   well above the noise) to find the strokes and their contrast; the
   digit's bounding box spans every pixel with a quarter of that contrast
   (the strokes' soft edges, as MNIST's box did); an image whose
   "ink" is no stronger than its noise holds no digit (:func:`find_ink`
   returns None and :func:`to_mnist` an all-zero image);
3. the ink inside the box is scaled to [0, 1], fitted into 20x20 and centred
   by mass, as MNIST's digits were.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

#: The long side an image is reduced to first (the digit ends up 20 px).
MAX_SIDE = 512
#: The digit's box spans the pixels whose ink reaches this fraction of the
#: stroke's contrast (its anti-aliased edges included).
EXTENT = 0.25
#: Ink must stand out from the background by this many noise deviations,
#: and by this fraction of full scale, to count as a digit.
MIN_SNR, MIN_CONTRAST = 8.0, 0.08


class Ink(NamedTuple):
    """The digit found in an image: ink in [0, 1] (background 0) cropped to
    its bounding box, and how strongly it stood out from the noise."""
    ink: np.ndarray
    snr: float


def read_image(path: str | Path) -> np.ndarray:
    """A file as a 2-D float array in [0, 1]; ValueError (one line saying
    why) if it is missing, empty, a folder, unreadable or no image."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    name = repr(str(path))
    try:
        if Path(path).is_dir():
            raise ValueError(f"image {name} is a folder, not a file")
        if Path(path).stat().st_size == 0:
            raise ValueError(f"image {name} is an empty file (0 bytes)")
        with Image.open(path) as im:
            return np.asarray(im.convert("L"), np.float64) / 255.0
    except FileNotFoundError:
        raise ValueError(f"image {name} does not exist") from None
    except UnidentifiedImageError:
        raise ValueError(f"{name} is not a readable image (no image format "
                         f"recognised)") from None
    except OSError as e:  # a damaged image, a file it may not read
        why = e.strerror or " ".join(str(e).split()) or type(e).__name__
        raise ValueError(f"{name} is not a readable image ({why})") from None


def shrink(gray: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """``gray`` reduced (area average) so its long side is <= max_side."""
    from PIL import Image  # noqa: PLC0415

    g = np.asarray(gray, np.float64)
    scale = max_side / max(g.shape)
    if scale >= 1:
        return g
    size = (max(1, round(g.shape[1] * scale)),
            max(1, round(g.shape[0] * scale)))
    return np.asarray(Image.fromarray(g.astype(np.float32)).resize(
        size, Image.Resampling.BOX), np.float64)


def _robust_sigma(values: np.ndarray) -> float:
    """The standard deviation of the bulk of ``values`` (1.4826 MAD), from
    at most about 20,000 of them."""
    values = np.ravel(values)[::max(1, values.size // 20000)]
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def background(g: np.ndarray, iterations: int = 4) -> np.ndarray:
    """A quadratic surface fitted to the pixels that are not ink (on a grid
    of about 64 x 64 of them): each fit leaves out pixels more than 2.5
    robust deviations from the last."""
    h, w = g.shape
    y = np.linspace(-1, 1, h)[:, None]
    x = np.linspace(-1, 1, w)[None, :]
    step = max(1, max(h, w) // 64)
    ys, xs = np.broadcast_arrays(y[::step], x[:, ::step])
    a = np.stack([np.ones(ys.size), xs.ravel(), ys.ravel(), xs.ravel() ** 2,
                  (xs * ys).ravel(), ys.ravel() ** 2], -1)
    b = g[::step, ::step].ravel()
    keep = np.ones(b.shape, bool)
    coef = np.zeros(6)
    for _ in range(iterations):
        if keep.sum() < 6:
            break
        ak = a[keep]  # normal equations: 6 x 6, well conditioned on [-1, 1]
        coef = np.linalg.solve(ak.T @ ak + 1e-9 * np.eye(6), ak.T @ b[keep])
        r = b - a @ coef
        sigma = max(_robust_sigma(r[keep]), 1 / 255)
        keep = np.abs(r - np.median(r[keep])) <= 2.5 * sigma
    c0, cx, cy, cxx, cxy, cyy = coef
    return c0 + cx * x + cy * y + cxx * x * x + cxy * x * y + cyy * y * y


def _box_blur(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over a k x k window (k odd), edges padded by reflection."""
    if k <= 1:
        return a
    p = k // 2
    c = np.pad(a, p, mode="reflect").cumsum(0).cumsum(1)
    c = np.pad(c, ((1, 0), (1, 0)))
    h, w = a.shape
    return (c[k:k + h, k:k + w] - c[:h, k:k + w] - c[k:k + h, :w]
            + c[:h, :w]) / (k * k)


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the cut maximising the between-class variance."""
    hist, edges = np.histogram(values, bins=bins)
    mids = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * mids) / np.maximum(w0, 1)
    m1 = (np.sum(hist * mids) - np.cumsum(hist * mids)) / np.maximum(w1, 1)
    return float(mids[np.argmax(w0 * w1 * (m0 - m1) ** 2)])


def _clean(mask: np.ndarray) -> np.ndarray:
    """``mask`` without isolated specks: a pixel stays when at least 3 of
    the 9 in its 3x3 neighbourhood are set (a 1-pixel line keeps 3)."""
    return mask & (_box_blur(mask.astype(np.float64), 3) > 3 / 9 - 1e-9)


def find_ink(gray: np.ndarray) -> Ink | None:
    """The digit's ink, background removed, cropped to its bounding box;
    None when nothing stands out from the background's noise."""
    g = shrink(gray)
    if min(g.shape) < 4:
        return None
    r = g - background(g)
    k = max(1, round(min(g.shape) / 80)) | 1  # odd, ~1% of the image
    s = _box_blur(r, k)
    s, r = s - np.median(s), r - np.median(r)
    if -s.min() > s.max():  # dark ink on light paper
        s, r = -s, -r
    sigma = max(_robust_sigma(s), 0.5 / 255)
    mask = _clean(s > max(otsu(s), 4 * sigma))
    if mask.sum() < 4:
        return None
    level = float(np.quantile(s[mask], 0.9))
    if level < MIN_SNR * sigma or level < MIN_CONTRAST:
        return None
    # the box spans all the ink, faint edges included, as MNIST's did
    extent = _clean(s > max(EXTENT * level, 4 * sigma))
    rows, cols = np.flatnonzero(extent.any(1)), np.flatnonzero(extent.any(0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    floor = min(3 * max(_robust_sigma(r), 0.5 / 255), level / 2)
    ink = np.clip((r[box] - floor) / (level - floor), 0, 1)
    return Ink(ink, level / sigma)


def fit_and_centre(ink: np.ndarray) -> np.ndarray:
    """MNIST's framing: ``ink`` (in [0, 1]) fitted into 20x20 keeping its
    aspect ratio, in a 28x28 ``[784]`` uint8 image, centred by mass."""
    from PIL import Image  # noqa: PLC0415

    h, w = ink.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(ink.astype(np.float32)).resize(
        size, Image.Resampling.LANCZOS), np.float64).clip(0, None)
    if small.max() <= 0:
        return np.zeros(784, np.uint8)
    small *= 255 / small.max()
    canvas = np.zeros((28, 28))
    top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    yy, xx = np.indices(canvas.shape)
    total = canvas.sum()
    dy = int(round(13.5 - (yy * canvas).sum() / total))
    dx = int(round(13.5 - (xx * canvas).sum() / total))
    canvas = np.roll(np.roll(canvas, dy, axis=0), dx, axis=1)
    return np.rint(canvas).clip(0, 255).astype(np.uint8).reshape(784)


def to_mnist(gray: np.ndarray) -> np.ndarray:
    """MNIST-style ``[784]`` uint8 from a grayscale image in [0, 1]; all
    zero when the image holds no digit (see :func:`find_ink`)."""
    found = find_ink(gray)
    return np.zeros(784, np.uint8) if found is None else \
        fit_and_centre(found.ink)


def load_digit(path: str | Path) -> np.ndarray:
    """Read ``path`` and return it as an MNIST-style ``[784]`` uint8 row
    (all zero when it holds no digit)."""
    return to_mnist(read_image(path))

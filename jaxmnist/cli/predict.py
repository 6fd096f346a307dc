"""python -m jaxmnist.predict MODEL IMAGE...

Classify your own images (scans, photos) with a saved model: prints one
line per image, "IMAGE: CLASS (probability P)", marked uncertain when P is
low, or "IMAGE: no digit found" when nothing stands out from the
background; an image that cannot be read (missing, empty, not an image) is
one error line on stderr instead, the others are still classified, and
the exit status is then 2. Each image (PNG, JPEG, ...; any size; dark ink
on light paper or light on dark) has its background and lighting removed,
is cropped to the digit, fitted into 20x20 and centred by mass in 28x28,
like MNIST.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from jaxmnist.cli import OneLineParser, run_main


def resolve_model(path: str | Path) -> tuple[Path, str | None]:
    """(model dir, how it was chosen): a run dir gives its best model by
    validation accuracy; anything else is taken as a model dir."""
    path = Path(path)
    if not ((path / "config.toml").is_file()
            and (path / "results.csv").is_file()):
        return path, None
    from jaxmnist.results.members import member_path  # noqa: PLC0415
    from jaxmnist.results.stats import best_member  # noqa: PLC0415
    from jaxmnist.sweep.checkpoint import check_not_in_progress  # noqa: PLC0415
    from jaxmnist.sweep.config import read_run  # noqa: PLC0415

    check_not_in_progress(path)
    best = best_member(read_run(path).members)
    if best is None:
        raise ValueError(f"every member of run {str(path)!r} diverged: it "
                         f"has no best model")
    model = member_path(path, best)
    return model, (f"the run's best by validation accuracy: {best.name}, "
                   f"lr {best.learning_rate:.3g}, validation "
                   f"{best.val_accuracy:.4f}, test {best.test_accuracy:.4f}")


def describe(path: str, probs: np.ndarray | None, names, uncertain: float,
             noun: str = "digit") -> str:
    """One output line: the class and its probability (and the runner-up
    when uncertain), or that the image holds no ``noun``."""
    if probs is None:
        return f"{path}: no {noun} found (nothing stands out from the " \
               f"background)"
    k, second = (int(i) for i in np.argsort(probs)[::-1][:2])
    if probs[k] >= uncertain:
        return f"{path}: {names[k]} (probability {probs[k]:.3f})"
    return (f"{path}: {names[k]} (probability {probs[k]:.3f}; uncertain, "
            f"next {names[second]} at {probs[second]:.3f})")


def run(argv: list[str] | None) -> int:
    parser = OneLineParser(prog="python -m jaxmnist.predict",
                           description=(__doc__ or "").split("\n\n")[1])
    parser.add_argument("model", metavar="MODEL", help="a finished run "
                        "directory (its best model by validation accuracy "
                        "is used) or a saved model's directory, "
                        "RUN/models/OPT/ACT/lrRATE-seedSEED")
    parser.add_argument("images", nargs="+", metavar="IMAGE",
                        help="image files to classify")
    parser.add_argument("--uncertain-below", type=float, default=0.8,
                        metavar="P", help="call a prediction uncertain when "
                        "its probability is below P")
    args = parser.parse_args(argv)
    from jaxmnist import compile_cache  # noqa: PLC0415
    from jaxmnist.core.net import class_probabilities  # noqa: PLC0415
    from jaxmnist.data import class_names  # noqa: PLC0415
    from jaxmnist.sweep.store import load_model  # noqa: PLC0415

    compile_cache.enable()
    model, chosen = resolve_model(args.model)
    params, meta = load_model(model)
    if chosen:
        print(f"model: {model} ({chosen})", file=sys.stderr)
    dataset = meta.get("dataset", "mnist")
    names = class_names(dataset)
    noun = "digit" if dataset == "mnist" else "item"
    rows, failed = read_images(args.images)
    readable = [x for x in rows if x is not None]
    probs = iter(np.asarray(class_probabilities(
        params, meta["activation"], np.stack(readable))) if readable else [])
    for path, x in zip(args.images, rows):
        if x is None:
            print(f"jaxmnist.predict: error: {failed[path]}", file=sys.stderr,
                  flush=True)
            continue
        p = next(probs)
        print(describe(path, p if x.any() else None, names,
                       args.uncertain_below, noun), flush=True)
    return 2 if failed else 0


def read_images(paths: list[str]) -> tuple[list[np.ndarray | None],
                                           dict[str, str]]:
    """(each image as an MNIST-style row, None where it cannot be read;
    ``{path: why}`` of those, one line each)."""
    from jaxmnist.data.images import load_digit  # noqa: PLC0415

    rows: list[np.ndarray | None] = []
    failed: dict[str, str] = {}
    for path in paths:
        try:
            rows.append(load_digit(path))
        except ValueError as e:
            rows.append(None)
            failed[path] = str(e)
    return rows, failed


def main(argv: list[str] | None = None) -> int:
    return run_main("jaxmnist.predict", run, argv)


if __name__ == "__main__":
    sys.exit(main())

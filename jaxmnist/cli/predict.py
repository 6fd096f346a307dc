"""python -m jaxmnist.predict MODEL IMAGE...

Classifies your own images with a saved model. MODEL is a model directory
(<run>/models/<opt>/<act>/lr...-seed...). Each IMAGE (PNG, JPEG, ...; any
size, white-on-black or black-on-white) is converted to an MNIST-style 28x28
image first.
"""

from __future__ import annotations

import sys

import numpy as np

from jaxmnist.cli import OneLineParser, run_main


def run(argv: list[str] | None) -> int:
    parser = OneLineParser(prog="python -m jaxmnist.predict",
                           description=(__doc__ or "").split("\n\n")[1])
    parser.add_argument("model", help="a saved model directory")
    parser.add_argument("images", nargs="+", help="image files")
    args = parser.parse_args(argv)
    from jaxmnist.core.net import class_probabilities  # noqa: PLC0415
    from jaxmnist.data import class_names  # noqa: PLC0415
    from jaxmnist.data.images import load_digit  # noqa: PLC0415
    from jaxmnist.sweep.store import load_model  # noqa: PLC0415

    params, meta = load_model(args.model)
    names = class_names(meta.get("dataset", "mnist"))
    batch = np.stack([load_digit(p) for p in args.images])
    probs = np.asarray(class_probabilities(params, meta["activation"], batch))
    for path, p in zip(args.images, probs):
        k = int(p.argmax())
        print(f"{path}: {names[k]} (probability {p[k]:.3f})")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("jaxmnist.predict", run, argv)


if __name__ == "__main__":
    sys.exit(main())

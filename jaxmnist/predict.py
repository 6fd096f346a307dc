"""``python -m jaxmnist.predict MODEL IMAGE...``: classify digit images.

MODEL is a saved model directory (``<run>/models/<opt>/<act>/lr...-seed...``).
Each IMAGE (PNG, JPEG, ...; any size, white-on-black or black-on-white) is
converted to an MNIST-style 28x28 image first.
"""

from __future__ import annotations

import sys
import types

import numpy as np

from jaxmnist.cli import OneLineParser, run_main

FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
           "Shirt", "Sneaker", "Bag", "Ankle boot")


def run(argv: list[str] | None) -> int:
    parser = OneLineParser(prog="python -m jaxmnist.predict",
                                     description=__doc__)
    parser.add_argument("model")
    parser.add_argument("images", nargs="+")
    args = parser.parse_args(argv)
    from jaxmnist.images import load_digit  # noqa: PLC0415
    from jaxmnist.model import predict  # noqa: PLC0415
    from jaxmnist.models import load_model  # noqa: PLC0415

    params, meta = load_model(args.model)
    batch = np.stack([load_digit(p) for p in args.images])
    probs = np.asarray(predict(params, meta["activation_index"], batch))
    for path, p in zip(args.images, probs):
        k = int(p.argmax())
        label = FASHION[k] if meta.get("dataset") == "fashion_mnist" else k
        print(f"{path}: {label} (probability {p[k]:.3f})")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("jaxmnist.predict", run, argv)


class _CallableModule(types.ModuleType):
    """``jaxmnist.predict`` is both this CLI module and the library function
    ``jaxmnist.predict(params, activation, images)``: importing the module
    replaces the package attribute, so the module itself stays callable."""

    def __call__(self, params, activation, images):
        import jaxmnist  # noqa: PLC0415

        return jaxmnist.class_probabilities(params, activation, images)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(main())

"""``python -m jaxmnist.evaluate``: see :mod:`jaxmnist.cli.evaluate`."""

import sys

from jaxmnist.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())

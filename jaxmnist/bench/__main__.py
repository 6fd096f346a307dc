"""``python -m jaxmnist.bench``: see :mod:`jaxmnist.cli.bench`."""

import sys

from jaxmnist.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())

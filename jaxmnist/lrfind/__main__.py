"""``python -m jaxmnist.lrfind``: see :mod:`jaxmnist.cli.lrfind`."""

import sys

from jaxmnist.cli.lrfind import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m jaxmnist.plot``: see :mod:`jaxmnist.cli.plot`."""

import sys

from jaxmnist.cli.plot import main

if __name__ == "__main__":
    sys.exit(main())

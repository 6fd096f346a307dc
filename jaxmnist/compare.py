"""``python -m jaxmnist.compare``: see :mod:`jaxmnist.cli.compare`."""

import sys

from jaxmnist.cli.compare import main

if __name__ == "__main__":
    sys.exit(main())

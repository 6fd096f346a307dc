"""``python -m jaxmnist.merge``: see :mod:`jaxmnist.cli.merge`."""

import sys

from jaxmnist.cli.merge import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m jaxmnist.predict``: see :mod:`jaxmnist.cli.predict`."""

import sys

from jaxmnist.cli.predict import main

if __name__ == "__main__":
    sys.exit(main())

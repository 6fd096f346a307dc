import sys

from jaxmnist.cli.sweep import main

if __name__ == "__main__":
    sys.exit(main())

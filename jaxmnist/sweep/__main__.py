import sys

from jaxmnist.cli.sweep import main

sys.exit(main())

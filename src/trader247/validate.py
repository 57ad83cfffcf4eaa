"""``python -m trader247.validate``: same as ``trader247 validate``."""

import sys

from trader247.cli.validate import main

if __name__ == "__main__":
    sys.exit(main())

import sys

from trader247.cli import main

sys.exit(main())

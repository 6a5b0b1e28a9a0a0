import sys

from routing_core.cli import main

sys.exit(main())

import sys

from routing_core.cli.commands import main

sys.exit(main())

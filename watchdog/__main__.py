"""`python -m watchdog` is the `watchdog` command."""

import sys

from watchdog.daemon.cli import main

sys.exit(main())

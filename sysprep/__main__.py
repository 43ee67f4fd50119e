"""``python -m sysprep``."""

import sys

from sysprep.cli import main

sys.exit(main())

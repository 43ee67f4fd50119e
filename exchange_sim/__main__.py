"""``python -m exchange_sim``: same as the ``exchange-sim`` console script."""

import sys

from exchange_sim.cli import main

sys.exit(main())

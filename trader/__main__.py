"""``python -m trader run --config trader.toml``."""

from trader.cli import main

raise SystemExit(main())

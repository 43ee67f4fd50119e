"""The minimal reference trader: quotes through a venue under the watchdog's supervision.

Modules: ``config`` (strict TOML), ``feed`` (bookTicker websockets), ``strategy`` (pure
quoting), ``orders`` (order manager over the venue adapter), ``pretrade`` (in-process risk),
``host`` (affinity and sysprep verify), ``metrics``, ``app`` (the shell) and ``cli``. systemd
notifications and JSON logging come from ``watchdog.sdnotify`` and ``watchdog.logs``, shared
with the daemon.
"""

"""The minimal reference trader: quotes through a venue under the watchdog's supervision.

Modules: ``config`` (strict TOML), ``feed`` (bookTicker websockets), ``strategy`` (pure
quoting), ``orders`` (order manager over the venue adapter), ``pretrade`` (in-process risk),
``host`` (affinity and sysprep verify), ``metrics``, ``sdnotify``, ``app`` (the shell) and
``cli``.
"""

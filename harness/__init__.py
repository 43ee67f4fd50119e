"""Real processes on loopback for the tests and the benchmarks: exchange_sim, the watchdog and
the trader, with their configuration files. Shared so that ``bench`` never imports ``tests``;
never imports ``tests`` or pytest itself."""

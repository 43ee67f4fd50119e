"""Server side of the watchdog: never imported by trading code."""

"""The watchdog on the venue: kill actions, reconciliation, dead man's switch, self-check.

Everything here uses the watchdog's own credentials and checks effects at the venue itself.
"""

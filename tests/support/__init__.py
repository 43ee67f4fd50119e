"""Helpers shared by the suite's tests: real child processes, a real exchange simulator."""

"""The demo: one command that starts the whole suite as real processes, trips the kill switch
and proves the result from the venue's side (docs/demo.md)."""

"""Pure risk rules: limits, evaluators and the graded trading state. No I/O, no clock reads."""

"""One pure evaluator per rule. The engine composes them; each states its recovery kind."""

"""One pure evaluator per rule. The engine composes them; each states its recovery kind."""

from risk.rules._common import Recovery, Rule

__all__ = ["Recovery", "Rule"]

"""Pure risk rules: limits, evaluators and the graded trading state. No I/O, no clock reads.

Data in, decisions out, time passed in: see docs/design.md ("risk (pure)").
"""

from risk.decision import Assessment, Decision, Maintenance, MaintenanceResult, RearmResult
from risk.engine import TELEMETRY_ONLY_RULES, RiskEngine
from risk.errors import LimitsError, PersistedStateError, RiskError
from risk.events import (
    AccountSnapshot,
    EventSource,
    FeedStatus,
    Heartbeat,
    OpenOrdersSnapshot,
    OrderEvent,
    OrderEventKind,
    PositionSnapshot,
    RiskEvent,
    Side,
)
from risk.limits import PROFILES, Limits, parse_limits
from risk.persisted import PersistedRisk
from risk.state import TradingState, allows_cancel, allows_new_orders, allows_reduce_only

__all__ = [
    "PROFILES",
    "TELEMETRY_ONLY_RULES",
    "AccountSnapshot",
    "Assessment",
    "Decision",
    "EventSource",
    "FeedStatus",
    "Heartbeat",
    "Limits",
    "LimitsError",
    "Maintenance",
    "MaintenanceResult",
    "OpenOrdersSnapshot",
    "OrderEvent",
    "OrderEventKind",
    "PersistedRisk",
    "PersistedStateError",
    "PositionSnapshot",
    "RearmResult",
    "RiskEngine",
    "RiskError",
    "RiskEvent",
    "Side",
    "TradingState",
    "allows_cancel",
    "allows_new_orders",
    "allows_reduce_only",
    "parse_limits",
]

"""The risk engine: composes the rules into one graded, latching trading state.

Pure and single-threaded: facts and the time come in as arguments, an `Assessment` comes
out. The engine never reads a clock. `now` (wall seconds) should not go backwards; if it
does (a wall-clock step) the engine keeps its latest `now`, so windows stay ordered.
"""

from __future__ import annotations

from collections.abc import Callable

from risk.decision import Assessment, Decision, Maintenance, MaintenanceResult, RearmResult
from risk.errors import RiskError
from risk.events import (
    MAX_ORDER_ID,
    AccountSnapshot,
    EventSource,
    FeedStatus,
    Heartbeat,
    MarketEvent,
    OpenOrdersSnapshot,
    OrderEvent,
    OrderEventKind,
    PositionSnapshot,
    RiskEvent,
    Side,
)
from risk.limits import Limits
from risk.persisted import PersistedRisk
from risk.rules._common import INF, Rule
from risk.rules.bad_data import BIG, BadDataRule, diagnose, fact_key
from risk.rules.consecutive_losses import ConsecutiveLossesRule
from risk.rules.daily_loss import DailyLossRule, next_reset
from risk.rules.divergence import DivergenceRule
from risk.rules.drawdown import DrawdownRule
from risk.rules.heartbeat import HeartbeatRule
from risk.rules.key_misuse import KeyMisuseRule
from risk.rules.open_orders import OpenOrdersRule
from risk.rules.order_match import OrderMatch
from risk.rules.order_rate import OrderRateRule
from risk.rules.order_size import OrderSizeRule
from risk.rules.position import PositionRule
from risk.rules.price_collar import PriceCollarRule
from risk.rules.rejects import RejectsRule
from risk.rules.stale_data import StaleDataRule
from risk.rules.venue_blind import VenueBlindRule
from risk.state import TradingState

__all__ = [
    "TELEMETRY_ONLY_RULES",
    "Maintenance",
    "MaintenanceResult",
    "PersistedRisk",
    "RearmResult",
    "RiskEngine",
]

# The rules only the trader's own telemetry feeds, and why each cannot judge without it. An
# engine built with `telemetry=False` (a bot supervised by its process and the venue view
# alone) leaves them out; every other rule runs on the watchdog's own venue view.
TELEMETRY_ONLY_RULES: dict[str, str] = {
    "heartbeat": "no heartbeats arrive: a hung trader is invisible (its death is still seen)",
    "stale_data": "market-data ages come only from the trader's own feed reports",
    "divergence": (
        "nothing to compare the venue's view with: open orders and positions the trader "
        "never reported go unjudged"
    ),
    "key_misuse": (
        "no order is ever reported, so every order the venue acknowledges would look "
        "unauthorised: a leaked key goes unseen (the venue-side rules still judge its orders)"
    ),
}

_KILLED = TradingState.KILLED
_HALTED = TradingState.HALTED
_TELEMETRY = EventSource.TELEMETRY
_VENUE = EventSource.VENUE
_SUBMIT = OrderEventKind.SUBMIT
_ACK = OrderEventKind.ACK
_REJECT = OrderEventKind.REJECT
_FILL = OrderEventKind.FILL
_MAX_NOW = 1e11  # year 5138: a wall time beyond it is garbage


def _state_of(decision: Decision) -> TradingState:
    return decision.state


class RiskEngine:
    """Apply facts, get decisions. See docs/design.md ("risk (pure)") for the contract."""

    def __init__(
        self,
        limits: Limits,
        *,
        now: float,
        persisted: PersistedRisk | None = None,
        max_venue_blind_s: float | None = None,
        telemetry: bool = True,
    ) -> None:
        """`max_venue_blind_s`: how old the venue's own view (VENUE account snapshots) may
        grow before the trader is HALTED for it; None when the trader has no venue view.
        `telemetry=False`: the trader sends none; `TELEMETRY_ONLY_RULES` are left out."""
        if not 0.0 < now < _MAX_NOW:
            raise RiskError(f"RiskEngine: now must be wall seconds since the epoch, got {now!r}")
        self.limits = limits
        self._now = now
        warn = limits.warn_at_pct / 100.0
        p = persisted or PersistedRisk(False, "", None, None, None)
        self.daily_loss = DailyLossRule(limits.daily_loss, warn, p.day_start_equity)
        self.drawdown = DrawdownRule(limits.drawdown, warn, p.high_water_mark)
        self.order_rate = OrderRateRule(limits.order_rate, warn)
        self.rejects = RejectsRule(limits.rejects, warn)
        self.position = PositionRule(limits.position, warn, p.day_start_equity)
        self.consecutive_losses = ConsecutiveLossesRule(limits.consecutive_losses, warn)
        self.stale_data = StaleDataRule(limits.stale_data, warn)
        self.heartbeat = HeartbeatRule(limits.heartbeat, now)
        orders = OrderMatch(limits.divergence.reorder_s)  # one matching, two rules
        # Venue ACKs waiting for the trader to be heard (the same dict, never replaced): while
        # it is empty, which is almost always, a fact from the trader costs key misuse nothing.
        self._unheard = orders.unreported
        self.divergence = DivergenceRule(limits.divergence, orders)
        # Off only when the limits say so, or for a trader that sends no telemetry (nothing to
        # compare): then nothing feeds it and it is not composed.
        self.key_misuse: KeyMisuseRule | None = (
            KeyMisuseRule(limits.key_misuse, orders)
            if limits.key_misuse.enabled and telemetry
            else None
        )
        self.order_size = OrderSizeRule(limits.order_size, warn, p.day_start_equity)
        self.price_collar = PriceCollarRule(limits.price_collar, warn)
        self.open_orders = OpenOrdersRule(limits.open_orders, warn)
        self.bad_data = BadDataRule(limits.bad_data)
        self.venue_blind = VenueBlindRule(max_venue_blind_s, now)
        # Venue blindness first: among equal states the first rule is the reason shown, and
        # blindness is why the venue's measures (daily loss, drawdown) are unknown.
        rules: tuple[Rule, ...] = (
            *((self.venue_blind,) if max_venue_blind_s is not None else ()),
            self.daily_loss,
            self.drawdown,
            self.order_rate,
            self.rejects,
            self.position,
            self.consecutive_losses,
            self.stale_data,
            self.heartbeat,
            self.divergence,
            *((self.key_misuse,) if self.key_misuse is not None else ()),
            self.order_size,
            self.price_collar,
            self.open_orders,
            self.bad_data,
        )
        self.telemetry = telemetry
        self.rules = rules if telemetry else _without_telemetry(rules)
        # The rules that measure the trader's own liveness: a maintenance window suspends them.
        self._liveness: tuple[Rule, ...] = (self.stale_data, self.heartbeat)
        # The rules in force: all of them outside a maintenance window.
        self._watched: tuple[Rule, ...] = self.rules
        self.maintenance: Maintenance | None = None
        self._maintenance_decision: Decision | None = None
        self._handlers: dict[type, Callable[[object, float], bool]] = {
            OrderEvent: self._on_order,  # type: ignore[dict-item]  # dispatch is by type
            AccountSnapshot: self._on_account,  # type: ignore[dict-item]
            Heartbeat: self._on_heartbeat,  # type: ignore[dict-item]
            PositionSnapshot: self._on_position,  # type: ignore[dict-item]
            FeedStatus: self._on_feed,  # type: ignore[dict-item]
            OpenOrdersSnapshot: self._on_open_orders,  # type: ignore[dict-item]
            MarketEvent: self._on_market,  # type: ignore[dict-item]
        }
        bad = limits.bad_data
        self._max_past = bad.max_past_s
        self._max_future = bad.max_future_s
        self._latch_decision: Decision | None = None
        self._latch_reason = ""
        if p.latched:
            self._set_latch(
                p.latch_reason,
                f"latched before restart: {p.latch_reason}; only an accepted re-arm clears it",
            )
        self._day_start_ts = p.day_start_ts if p.day_start_ts is not None else now
        self._next_reset = next_reset(self._day_start_ts, limits.daily_loss)
        self._due = INF
        self._assessment = Assessment(TradingState.ACTIVE, (), None)
        if now >= self._next_reset:
            self._reset_day(now)
        until = p.maintenance_until
        if until is not None and not p.latched and now < until:
            self._enter_maintenance(Maintenance(until, p.maintenance_reason))
        self._rebuild()

    # --- public API -------------------------------------------------------------------------

    @property
    def state(self) -> TradingState:
        return self._assessment.state

    @property
    def assessment(self) -> Assessment:
        return self._assessment

    @property
    def next_due(self) -> float | None:
        """When to call `evaluate` next (same as `assessment.next_due`)."""
        return self._assessment.next_due

    @property
    def latched(self) -> bool:
        return self._latch_decision is not None

    @property
    def day_start_ts(self) -> float:
        """Wall time the current trading day started: moves only at a daily reset."""
        return self._day_start_ts

    def apply(self, event: RiskEvent, now: float) -> Assessment:
        """Apply one fact observed at `now`. Bad facts are not applied: they HALT."""
        try:
            in_order = self._now <= now < _MAX_NOW
        except TypeError:
            in_order = False
        if not in_order:
            if not self._accept_now(now):
                return self._assessment
            now = self._now
        self._now = now
        changed = False
        if now >= self._due:
            changed = self._tick(now)
        handler = self._handlers.get(event.__class__)
        if handler is None:
            changed = self._bad(event, now) or changed
        elif handler(event, now):
            changed = True
        if changed:
            self._rebuild()
        return self._assessment

    def question(self) -> int:
        """A key-misuse question to ask the trader now (0: none); see `KeyMisuseRule`."""
        misuse = self.key_misuse
        return 0 if misuse is None else misuse.question(self._now)

    def evaluate(self, now: float) -> Assessment:
        """Advance the time-driven rules to `now` (call at `Assessment.next_due`)."""
        if self._check_now(now):
            self._tick(self._now)
            self._rebuild()
        return self._assessment

    def trip(self, now: float, reason: str) -> Assessment:
        """A manual kill: latch KILLED at once."""
        self._check_now(now)  # a bad clock is recorded, but never stops a manual kill
        if self._latch_decision is None:
            self._set_latch(f"manual: {reason}", f"manual kill: {reason}")
        self._rebuild()
        return self._assessment

    def rearm(self, now: float, reason: str, *, reset_high_water_mark: bool = False) -> RearmResult:
        """Leave KILLED, unless a hard limit is still breached.

        `reset_high_water_mark` lets an operator accept the current equity as the new
        high-water mark, the only way out of a hard drawdown breach (audit it).
        """
        if not self._check_now(now):
            return self._refuse("the time given is invalid")
        refusal = self._rearm_refusal(reason, reset_high_water_mark)
        if refusal is not None:
            return self._refuse(refusal)
        if reset_high_water_mark:
            self.drawdown.reset_high_water_mark()
        self._latch_decision = None
        self._latch_reason = ""
        for rule in self.rules:
            rule.on_rearm(self._now)
        self._rebuild()
        if self.latched:  # a rule re-latched at once: the re-arm did not take
            return RearmResult(False, "a rule is still at the kill level", self._assessment)
        return RearmResult(True, f"re-armed: {reason}", self._assessment)

    def begin_maintenance(self, now: float, until: float, reason: str) -> MaintenanceResult:
        """Open (or move the end of) a planned-stop window lasting until `until`.

        Refused for a latched trader, and, unless a window is already open (extending it),
        for a trader that is not heartbeating: a silent trader may be hung, and a hung trader
        is killed, not stood down. The window ends by `end_maintenance` or at `until`.
        """
        if not self._check_now(now):
            return self._maintenance_answer(False, "the time given is invalid")
        refusal = self._begin_refusal(self._now, until, reason)
        if refusal is not None:
            return self._maintenance_answer(False, refusal)
        self._enter_maintenance(Maintenance(until, reason))
        self._rebuild()
        return self._maintenance_answer(True, f"maintenance until {until:.3f}: {reason}")

    def maintenance_refusal(self, now: float, until: float, reason: str) -> str | None:
        """Why `begin_maintenance(now, until, reason)` would be refused, or None if it would
        open the window. It changes nothing: the shell makes the window durable first, and
        only then opens it, so a failed write leaves nothing to undo."""
        if not _plausible_now(now):
            return "the time given is invalid"
        return self._begin_refusal(max(self._now, now), until, reason)

    def end_maintenance(
        self, now: float, reason: str, *, require_heartbeat: bool = True
    ) -> MaintenanceResult:
        """Close the window: the liveness rules resume, their clocks counting from now.

        Refused while the trader is silent (`require_heartbeat`): ending would only kill it
        a few seconds later; start it first, or let the window close on its own.
        """
        if not self._check_now(now):
            return self._maintenance_answer(False, "the time given is invalid")
        window = self.maintenance
        if window is None:
            return self._maintenance_answer(False, "no maintenance window is open")
        silent = self._silent_for(self._now)
        if require_heartbeat and silent is not None:
            return self._maintenance_answer(
                False,
                f"no heartbeat for {silent:.1f} s: start the trader first "
                f"(the window closes on its own at {window.until:.3f})",
            )
        self._leave_maintenance(self._now)
        self._rebuild()
        return self._maintenance_answer(True, f"maintenance ended: {reason}")

    def daily_reset(self, now: float) -> Assessment:
        """Start a new trading day now: day-start equity := current equity."""
        if self._check_now(now):
            self._reset_day(self._now)
            self._rebuild()
        return self._assessment

    def restart_order_count(self, now: float) -> Assessment:
        """Compare acknowledged-order counts afresh from now.

        The venue's own count comes from a stream that only sees orders while it is connected:
        orders acknowledged before it (re)connected exist on the trader's side only, and would
        read as a permanent divergence. The shell calls this each time that stream connects.
        The venue's book of open orders per symbol starts afresh too.
        """
        if self._check_now(now):
            self.divergence.reset_counts(self._now)
            self.open_orders.forget(_VENUE, self._now)
            self._rebuild()
        return self._assessment

    def next_daily_reset(self, now: float) -> float:
        """The next configured day boundary after `now`."""
        return next_reset(now, self.limits.daily_loss)

    def persisted(self) -> PersistedRisk:
        return PersistedRisk(
            latched=self._latch_decision is not None,
            latch_reason=self._latch_reason,
            high_water_mark=self.drawdown.high_water_mark,
            day_start_equity=self.daily_loss.day_start_equity,
            day_start_ts=self._day_start_ts,
            maintenance_until=self.maintenance.until if self.maintenance else None,
            maintenance_reason=self.maintenance.reason if self.maintenance else "",
        )

    def utilisation(self) -> dict[str, float]:
        """Each rule's measured value over its limit (1.0 = at the limit); 0.0 while the
        rule is suspended (a maintenance window)."""
        watched = self._watched
        return {rule.name: rule.utilisation() if rule in watched else 0.0 for rule in self.rules}

    # --- maintenance ---------------------------------------------------------------------------

    def _begin_refusal(self, now: float, until: float, reason: str) -> str | None:
        if not isinstance(reason, str) or not reason.strip():
            return "a reason is required"
        try:
            in_future = now < until < _MAX_NOW
        except TypeError:
            in_future = False
        if not in_future:
            return f"the window must end after now ({now:.3f}), got {until!r}"
        if self._latch_decision is not None:
            return "the trader is KILLED (latched): it is stopped already; re-arm it instead"
        silent = self._silent_for(now)
        if self.maintenance is None and silent is not None:
            return (
                f"no heartbeat for {silent:.1f} s: a silent trader may be hung, "
                "and a hung trader is killed, not stood down"
            )
        return None

    def _silent_for(self, now: float) -> float | None:
        """Seconds without a heartbeat, when that is long enough to warn about; else None
        (always None for a trader that sends no telemetry: its silence says nothing)."""
        if not self.telemetry:
            return None
        silent = now - self.heartbeat.last
        return silent if silent >= self.limits.heartbeat.warn_after_s else None

    def _maintenance_answer(self, accepted: bool, reason: str) -> MaintenanceResult:
        return MaintenanceResult(accepted, reason, self._assessment)

    def _enter_maintenance(self, window: Maintenance) -> None:
        self.maintenance = window
        self._maintenance_decision = Decision(
            _HALTED,
            "maintenance",
            window.until,
            window.until,
            f"planned stop until {window.until:.3f}: {window.reason} "
            "(heartbeat and stale-data rules suspended)",
        )
        liveness = self._liveness
        self._watched = tuple(rule for rule in self.rules if rule not in liveness)

    def _leave_maintenance(self, now: float) -> None:
        self.maintenance = None
        self._maintenance_decision = None
        self._watched = self.rules
        # The trader reports afresh after a planned stop (its symbols may have changed), and
        # its heartbeat clock counts from now: one that stays away is killed on schedule.
        self.stale_data.forget()
        self.heartbeat.on_rearm(now)

    # --- event handlers: fast validity check, then the rules that care ---------------------

    def _fresh(self, ts: float, now: float) -> bool:
        return now - self._max_past <= ts <= now + self._max_future

    def _on_order(self, e: OrderEvent, now: float) -> bool:
        try:
            pnl = e.realized_pnl
            ok = (
                now - self._max_past <= e.ts <= now + self._max_future
                and 0.0 <= e.qty <= BIG
                and 0.0 <= e.price <= BIG
                and e.source.__class__ is EventSource
                and e.kind.__class__ is OrderEventKind
                and e.side.__class__ is Side
                and e.symbol.__class__ is str
                and e.symbol != ""
                and (pnl is None or -BIG <= pnl <= BIG)
                and e.order_id.__class__ is str
                and len(e.order_id) <= MAX_ORDER_ID
            )
        except TypeError:
            ok = False
        if not ok:
            return self._bad(e, now)
        changed = self._good(e, now) if self._bad_pending() else False
        kind, source = e.kind, e.source
        misuse = self.key_misuse
        if source is _TELEMETRY and self._unheard:
            changed = self._heard(e.ts, now) or changed
        new_order = False  # the trader's SUBMIT or the venue's ACK: the per-order rules judge it
        if kind is _SUBMIT:
            if source is _TELEMETRY:
                new_order = True
                changed = self.order_rate.on_order(0, now) or changed
                if misuse is not None and e.order_id:
                    changed = misuse.on_report(e.order_id, now) or changed
        elif kind is _ACK:
            if source is _VENUE:
                new_order = True
                changed = self.order_rate.on_order(1, now) or changed
                if misuse is not None:
                    changed = misuse.on_venue_ack(e.order_id, now) or changed
            elif misuse is not None and e.order_id:
                changed = misuse.on_report(e.order_id, now) or changed
            changed = self.rejects.on_outcome(source, False, now) or changed
            changed = self.divergence.on_ack(source, e.order_id, now) or changed
        elif kind is _REJECT:
            changed = self.rejects.on_outcome(source, True, now) or changed
            if e.order_id:
                changed = self.open_orders.on_end(source, e.order_id, now) or changed
        elif kind is _FILL:
            if pnl is not None:
                changed = self.consecutive_losses.on_fill(source, pnl, now) or changed
            if e.order_id:
                changed = self.open_orders.on_fill(source, e.order_id, e.qty, now) or changed
        elif e.order_id:  # CANCEL
            changed = self.open_orders.on_end(source, e.order_id, now) or changed
        if new_order:
            collar = self.price_collar
            price = e.price or collar.mid(e.symbol, now)  # a market order: priced at the mid
            changed = self.order_size.on_order(e, price, now) or changed
            changed = collar.on_order(e, now) or changed
            if e.order_id:
                changed = (
                    self.open_orders.on_new(source, e.symbol, e.order_id, e.qty, now) or changed
                )
        return changed

    def _on_market(self, e: MarketEvent, now: float) -> bool:
        try:
            ok = (
                now - self._max_past <= e.ts <= now + self._max_future
                and 0.0 < e.bid <= e.ask <= BIG
                and e.source.__class__ is EventSource
                and e.symbol.__class__ is str
                and e.symbol != ""
            )
        except TypeError:
            ok = False
        if not ok:
            return self._bad(e, now)
        changed = self._good(e, now) if self._bad_pending() else False
        if e.source is _VENUE:  # the collar measures against the venue, never the trader
            self.price_collar.on_market(e.symbol, e.bid, e.ask, e.ts)
            return changed
        if self._unheard:
            changed = self._heard(e.ts, now) or changed
        return changed

    def _on_account(self, e: AccountSnapshot, now: float) -> bool:
        try:
            ok = (
                now - self._max_past <= e.ts <= now + self._max_future
                and 0.0 <= e.equity <= BIG
                and -BIG <= e.realized_pnl <= BIG
                and -BIG <= e.unrealized_pnl <= BIG
                and e.source.__class__ is EventSource
            )
        except TypeError:
            ok = False
        if not ok:
            return self._bad(e, now)
        changed = self._good(e, now) if self._bad_pending() else False
        if e.source is _VENUE:
            changed = self.venue_blind.on_view(e.ts, now) or changed
            if self.venue_blind.blind:
                return changed  # observed too long ago: not a measure either
        elif self._unheard:
            changed = self._heard(e.ts, now) or changed
        daily = self.daily_loss
        start = daily.day_start_equity
        changed = daily.on_equity(e.source, e.equity) or changed
        if daily.day_start_equity is not start:
            self._set_base(daily.day_start_equity)
        return self.drawdown.on_equity(e.source, e.equity, now) or changed

    def _on_heartbeat(self, e: Heartbeat, now: float) -> bool:
        try:
            ok = now - self._max_past <= e.ts <= now + self._max_future
        except TypeError:
            ok = False
        if not ok:
            return self._bad(e, now)
        changed = self._good(e, now) if self._bad_pending() else False
        if self._unheard:
            changed = self._heard(e.ts, now) or changed
        if e.answers and self.key_misuse is not None:
            changed = self.key_misuse.on_answer(e.answers, now) or changed
        return self.heartbeat.on_heartbeat(e.ts, now) or changed

    def _on_position(self, e: PositionSnapshot, now: float) -> bool:
        if diagnose(e, now, self.limits.bad_data) is not None:
            return self._bad(e, now)
        changed = self._good(e, now) if self._bad_pending() else False
        if e.source is _TELEMETRY and self._unheard:
            changed = self._heard(e.ts, now) or changed
        changed = self.position.on_position(e.source, e.symbol, e.qty, e.mark_price, now) or changed
        return self.divergence.on_position(e.source, e.symbol, e.qty, now) or changed

    def _on_feed(self, e: FeedStatus, now: float) -> bool:
        if diagnose(e, now, self.limits.bad_data) is not None:
            return self._bad(e, now)
        changed = self._good(e, now) if self._bad_pending() else False
        if self._unheard:  # only the trader reports its feed
            changed = self._heard(e.ts, now) or changed
        return self.stale_data.on_feed(e.symbol, e.last_event_ts, now) or changed

    def _on_open_orders(self, e: OpenOrdersSnapshot, now: float) -> bool:
        if diagnose(e, now, self.limits.bad_data) is not None:
            return self._bad(e, now)
        changed = self._good(e, now) if self._bad_pending() else False
        if e.source is _TELEMETRY and self._unheard:
            changed = self._heard(e.ts, now) or changed
        return self.divergence.on_open_orders(e.source, e.count, now) or changed

    def _heard(self, ts: float, now: float) -> bool:
        """A good fact from the trader, stamped `ts`, arrived: key misuse may judge what it
        left unreported before then (the stamp bounded by arrival, as heartbeats are)."""
        misuse = self.key_misuse
        return misuse is not None and misuse.on_heard(ts if ts < now else now, now)

    # --- bad data ----------------------------------------------------------------------------

    def _bad_pending(self) -> bool:
        bad = self.bad_data
        return bool(bad.bad) or bad.cooldown.held is not None

    def _bad(self, event: object, now: float) -> bool:
        reason = diagnose(event, now, self.limits.bad_data)
        if reason is None:  # the fast check refused what the full one accepts: stay safe
            reason = f"{type(event).__name__} failed validation"
        return self.bad_data.on_bad(fact_key(event), reason, now)

    def _good(self, event: object, now: float) -> bool:
        changed = self.bad_data.on_good("now", now)
        return self.bad_data.on_good(fact_key(event), now) or changed

    def _accept_now(self, now: float) -> bool:
        """`now` is not in [latest now, max): clamp a step back, HALT on garbage."""
        if _plausible_now(now):
            return True  # finite and plausible, only earlier than the latest: clamp
        if self.bad_data.on_bad("now", f"now is {now!r}", self._now):
            self._rebuild()
        return False

    def _check_now(self, now: float) -> bool:
        """Take `now` if it is plausible; a step back keeps the latest time."""
        try:
            if self._now <= now < _MAX_NOW:
                self._now = now
                return True
        except TypeError:
            pass  # not a number: _accept_now records it as bad data
        return self._accept_now(now)

    # --- time and composition ------------------------------------------------------------------

    def _tick(self, now: float) -> bool:
        if now >= self._next_reset:
            self._reset_day(now)
        window = self.maintenance
        if window is not None and now >= window.until:
            self._leave_maintenance(now)  # expired: watching resumes on its own
        for rule in self._watched:
            rule.evaluate(now)
        if self.venue_blind.blind:
            self._drop_venue_equity(now)
        return True  # always re-derive `next_due`: it has been reached

    def _drop_venue_equity(self, now: float) -> None:
        """Equity the venue showed more than `max_venue_blind_s` ago is not a measure."""
        blind = self.venue_blind
        why = f"the venue's equity is {blind.age:.2f} s old (max {blind.max_blind_s:g} s)"
        self.daily_loss.drop(_VENUE, why)
        self.drawdown.drop(_VENUE, now)

    def _reset_day(self, now: float) -> None:
        self._day_start_ts = now
        self._next_reset = next_reset(now, self.limits.daily_loss)
        self.daily_loss.reset_day()
        self._set_base(self.daily_loss.day_start_equity)
        self.divergence.reset_counts(now)
        self.open_orders.forget(_TELEMETRY, now)
        self.open_orders.forget(_VENUE, now)

    def _set_base(self, day_start_equity: float | None) -> None:
        """Percent limits are of the day-start equity."""
        self.position.set_base(day_start_equity)
        self.order_size.set_base(day_start_equity)

    def _set_latch(self, reason: str, text: str) -> None:
        self._latch_reason = reason
        self._latch_decision = Decision(_KILLED, "latch", 0.0, 0.0, text)

    def _rebuild(self) -> None:
        decisions = [rule.decision for rule in self._watched if rule.decision is not None]
        if self._latch_decision is None:
            for decision in decisions:
                if decision.state is _KILLED:
                    self._set_latch(
                        f"{decision.rule}: {decision.reason}",
                        f"latched by {decision.rule}: {decision.reason}; "
                        "only an accepted re-arm clears it",
                    )
                    break
        if self._maintenance_decision is not None:
            if self._latch_decision is not None:
                # A kill ends a planned stop: from here the trader is watched like any other.
                self._leave_maintenance(self._now)
                decisions = [rule.decision for rule in self.rules if rule.decision is not None]
            else:
                decisions.append(self._maintenance_decision)
        if self._latch_decision is not None:
            decisions.append(self._latch_decision)
        decisions.sort(key=_state_of, reverse=True)
        state = decisions[0].state if decisions else TradingState.ACTIVE
        due = self._next_reset
        for rule in self._watched:
            if rule.due < due:
                due = rule.due
        window = self.maintenance
        if window is not None and window.until < due:
            due = window.until
        self._due = due
        old = self._assessment
        result = tuple(decisions)
        if old.state is state and old.next_due == due and old.decisions == result:
            return
        self._assessment = Assessment(state, result, due)

    def _rearm_refusal(self, reason: str, reset_high_water_mark: bool) -> str | None:
        if not isinstance(reason, str) or not reason.strip():
            return "a re-arm needs a reason (it is audited)"
        if self._latch_decision is None:
            return "not latched: nothing to re-arm"
        if self.daily_loss.current is None:
            return "equity unknown: hard limits cannot be verified before an account snapshot"
        if self.bad_data.bad:
            reason_text = next(iter(self.bad_data.bad.values())).reason
            return f"cannot verify hard limits: {reason_text}"
        blind = self.venue_blind.decision
        if blind is not None:
            return f"cannot verify hard limits: {blind.reason}"
        for rule in self.rules:
            if rule is self.drawdown and reset_high_water_mark:
                continue
            breach = rule.hard_breach()
            if breach is not None:
                return f"hard limit still breached: {breach.rule}: {breach.reason}"
        return None

    def _refuse(self, reason: str) -> RearmResult:
        return RearmResult(False, reason, self._assessment)


def _without_telemetry(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    return tuple(rule for rule in rules if rule.name not in TELEMETRY_ONLY_RULES)


def _plausible_now(now: object) -> bool:
    """A finite wall time inside the engine's range (it may be earlier than the latest)."""
    return isinstance(now, int | float) and not isinstance(now, bool) and 0.0 < now < _MAX_NOW

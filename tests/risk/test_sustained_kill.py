"""The sustained-breach kill of the rejects and stale-data rules, against brute-force models.

The shell contract is followed exactly: the driver calls `evaluate` at every `next_due` that
falls before the next fact. Then the rule must be at the kill level exactly when its breach
has held continuously for `kill_after_s`: never before, always once it has (if still
breached). Times sit on a quarter-second grid and windows end between grid points, so two
changes never share an instant (a zero-length gap has no defined duration).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from risk import EventSource, FeedStatus, OrderEventKind, TradingState

from .helpers import T0, engine, limits, order, run_dues_before

KILL_AFTER = 3.0
REJECTS = {
    "max_consecutive": 4,
    "max_ratio_pct": 50,
    "window_s": 5.125,
    "min_sample": 4,
    "cooldown_s": 0.0,
    "kill_after_s": KILL_AFTER,
}
MAX_AGE = 2.0
STALE = {"max_age_s": MAX_AGE, "cooldown_s": 0.0, "kill_after_s": KILL_AFTER}
SOURCES = (EventSource.TELEMETRY, EventSource.VENUE)


# --- rejects ------------------------------------------------------------------------------


def _reject_breached(seen: list[tuple[float, bool, int]], t: float) -> bool:
    for source in range(len(SOURCES)):
        outs = [(ts, r) for ts, r, s in seen if s == source and ts <= t]
        run = 0
        for ts, rejected in reversed(outs):
            if not rejected or t >= ts + REJECTS["window_s"]:
                break  # an ACK ends a run, and so does the window
            run += 1
        inside = [r for ts, r in outs if t < ts + REJECTS["window_s"]]
        if run >= REJECTS["max_consecutive"]:
            return True
        if len(inside) >= REJECTS["min_sample"] and 100.0 * sum(inside) / len(inside) > 50:
            return True
    return False


def _reject_breach_start(seen: list[tuple[float, bool, int]], t: float) -> float | None:
    """Start of the breach holding at `t`: the earliest change point from which every
    piece up to `t` is breached. The state changes only at outcomes and window exits."""
    if not _reject_breached(seen, t):
        return None
    window = REJECTS["window_s"]
    points = sorted({ts for ts, _, _ in seen} | {ts + window for ts, _, _ in seen})
    start = None
    for point in reversed([p for p in points if p <= t]):
        if not _reject_breached(seen, point):
            break
        start = point
    return start


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(1, 12), st.booleans(), st.integers(0, 1)), min_size=1, max_size=60
    )
)
def test_rejects_kill_exactly_when_the_breach_has_held_kill_after_s(
    steps: list[tuple[int, bool, int]],
) -> None:
    eng = engine(limits(rejects=REJECTS))
    seen: list[tuple[float, bool, int]] = []

    def check(now: float) -> None:
        raw = eng.rejects.raw
        killed = raw is not None and raw.state is TradingState.KILLED
        start = _reject_breach_start(seen, now)
        assert killed == (start is not None and now >= start + KILL_AFTER), (now, start)

    now = T0
    for quarters, rejected, source in steps:
        now += quarters / 4
        run_dues_before(eng, now, check)
        kind = OrderEventKind.REJECT if rejected else OrderEventKind.ACK
        eng.apply(order(now, kind, source=SOURCES[source]), now)
        seen.append((now, rejected, source))
        check(now)
    run_dues_before(eng, now + 20.0, check)


# --- stale data ---------------------------------------------------------------------------


def _stale_breach_start(reports: list[tuple[float, str, float]], t: float) -> float | None:
    """Per interval between reports the watched set is fresh up to min(last) + max age,
    then stale; before the first report nothing is watched (fresh)."""
    last: dict[str, float] = {}
    fresh_ends: list[tuple[float, float]] = []  # (report time, fresh until), after each report
    for when, symbol, ts in reports:
        last[symbol] = max(last.get(symbol, ts), ts)
        fresh_ends.append((when, min(last.values()) + MAX_AGE))
    if not fresh_ends or t <= fresh_ends[-1][1]:
        return None
    start = reports[0][0]  # stale since the first report, unless fresh somewhere after it
    for index in range(len(fresh_ends) - 1, -1, -1):
        when, until = fresh_ends[index]
        if until >= when:  # fresh at this report: the breach starts at `until` or next report
            following = fresh_ends[index + 1][0] if index + 1 < len(fresh_ends) else t
            start = min(until, following)
            break
    return start


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(1, 16), st.sampled_from(["BTCUSDT", "ETHUSDT"]), st.integers(0, 16)),
        min_size=1,
        max_size=40,
    )
)
def test_stale_data_kills_exactly_when_staleness_has_held_kill_after_s(
    steps: list[tuple[int, str, int]],
) -> None:
    eng = engine(limits(stale_data=STALE))
    reports: list[tuple[float, str, float]] = []

    def check(now: float) -> None:
        decision = eng.stale_data.decision
        killed = decision is not None and decision.state is TradingState.KILLED
        start = _stale_breach_start(reports, now)
        assert killed == (start is not None and now >= start + KILL_AFTER), (now, start)

    now = T0
    for quarters, symbol, lag in steps:
        now += quarters / 4
        run_dues_before(eng, now, check)
        eng.apply(FeedStatus(now, symbol, now - lag / 4), now)
        reports.append((now, symbol, now - lag / 4))
        check(now)
    run_dues_before(eng, now + 20.0, check)

"""The rejects rule's wake-up, against brute-force models.

While the rule holds no decision it sleeps until the first expiry that could lift the reject
ratio to the warn level, updated only on a reject or at that wake-up. The models here
recompute everything from the outcomes: the bound, the exact crossing, and the grade at every
instant, so a wake-up that is late, or a grade change that happens between wake-ups, fails.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import EventSource, OrderEventKind, RiskEngine, TradingState

from .helpers import T0, engine, limits, order, run_dues_before

INF = float("inf")
WINDOW = 5.125  # ends between quarter-second grid points
MIN_SAMPLE = 6
REJECTS = {
    "max_consecutive": 4,
    "max_ratio_pct": 45,  # 36% warns: neither level a simple fraction, so no bound is exact by luck
    "window_s": WINDOW,
    "min_sample": MIN_SAMPLE,
    "cooldown_s": 0.0,
}
SOURCES = (EventSource.TELEMETRY, EventSource.VENUE)
Outcome = tuple[float, bool]  # (time, rejected)


def _levels(warn_at_pct: int) -> tuple[float, float, float]:
    """(warn run, warn ratio %, lowest ratio % that changes the grade), as configured."""
    if warn_at_pct >= 100:
        return INF, INF, REJECTS["max_ratio_pct"]
    ratio = warn_at_pct / 100.0
    warn_pct = REJECTS["max_ratio_pct"] * ratio
    return REJECTS["max_consecutive"] * ratio, warn_pct, warn_pct


def _inside(outs: list[Outcome], t: float) -> list[Outcome]:
    return [(ts, r) for ts, r in outs if ts <= t < ts + WINDOW]


def _grade(outs: list[Outcome], t: float, warn_at_pct: int) -> TradingState:
    warn_run, warn_pct, _ = _levels(warn_at_pct)
    inside = _inside(outs, t)
    run = 0
    for _, rejected in reversed(inside):
        if not rejected:
            break
        run += 1
    ratio = 0.0
    if len(inside) >= MIN_SAMPLE:
        ratio = 100.0 * sum(r for _, r in inside) / len(inside)
    if run >= REJECTS["max_consecutive"] or ratio > REJECTS["max_ratio_pct"]:
        return TradingState.HALTED
    if run >= warn_run or ratio >= warn_pct:
        return TradingState.WARN
    return TradingState.ACTIVE


def _bound(outs: list[Outcome], pct: float) -> float:
    """From scratch: the first expiry after which the ratio could reach `pct` if every outcome
    to leave were an ACK (the rejects all stay)."""
    rejected = sum(r for _, r in outs)
    for left in range(len(outs) - MIN_SAMPLE + 1):
        if 100.0 * rejected / (len(outs) - left) >= pct:
            return outs[max(left - 1, 0)][0] + WINDOW
    return INF


def _crossing(outs: list[Outcome], pct: float) -> float:
    """From scratch: the expiry after which the ratio really reaches `pct`."""
    for left in range(1, len(outs) - MIN_SAMPLE + 1):
        if outs[left][0] == outs[left - 1][0]:
            continue  # outcomes at one time leave together
        rest = outs[left:]
        if 100.0 * sum(r for _, r in rest) / len(rest) >= pct:
            return outs[left - 1][0] + WINDOW
    return INF


def _rule_outcomes(eng: RiskEngine, source: int) -> list[Outcome]:
    return list(eng.rejects.sources[source].outcomes)


steps_strategy = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 3), st.integers(0, 1)), min_size=1, max_size=80
)


@settings(max_examples=400, deadline=None)
@pytest.mark.parametrize("warn_at_pct", [80, 100])
@given(steps=steps_strategy, rejects_in_4=st.integers(1, 3))
def test_the_rejects_grade_is_exact_at_every_instant(
    warn_at_pct: int, steps: list[tuple[int, int, int]], rejects_in_4: int
) -> None:
    """Driven as the shell drives it (evaluate at every next_due), the rule's grade equals the
    model's at each event and wake-up, and the model's grade never changes in between."""
    eng = engine(limits(warn_at_pct=warn_at_pct, rejects=REJECTS))
    seen: list[list[Outcome]] = [[], []]
    woken = [T0]

    def model(t: float) -> TradingState:
        return max(_grade(outs, t, warn_at_pct) for outs in seen)

    def check(t: float) -> None:
        raw = eng.rejects.raw
        assert (raw.state if raw else TradingState.ACTIVE) is model(t), t
        # Every instant the model can change at (an outcome leaving) since the last look
        # must read as it did then: otherwise a change went unseen until now.
        before = woken[-1]
        for outs in seen:
            for ts, _ in outs:
                if before < ts + WINDOW < t:
                    assert model(ts + WINDOW) is model(before), (before, ts + WINDOW, t)
        woken.append(t)

    now = T0
    for quarters, roll, source in steps:
        now += quarters / 4
        run_dues_before(eng, now, check)
        # A share of rejects per example: around the ratio levels, and long runs too.
        rejected = roll < rejects_in_4
        kind = OrderEventKind.REJECT if rejected else OrderEventKind.ACK
        eng.apply(order(now, kind, source=SOURCES[source]), now)
        seen[source].append((now, rejected))
        check(now)
    run_dues_before(eng, now + 3 * WINDOW, check)


@settings(max_examples=200, deadline=None)
@pytest.mark.parametrize("warn_at_pct", [80, 100])
@given(steps=steps_strategy)
def test_the_incremental_wake_up_is_the_from_scratch_bound_never_later(
    warn_at_pct: int, steps: list[tuple[int, int, int]]
) -> None:
    """With no decision, `due` is never after the bound recomputed from scratch, which is
    never after the real crossing; and a wake-up re-derives exactly that bound."""
    eng = engine(limits(warn_at_pct=warn_at_pct, rejects=REJECTS))
    rule = eng.rejects
    pct = _levels(warn_at_pct)[2]
    due_before = [rule.due]  # the rule's due before the latest apply or evaluate

    def check(t: float, *, woken: bool) -> None:
        # The engine may wake for an earlier due the rule has since moved on from: only a
        # wake-up at or after the rule's own due re-derives the bound.
        rule_woke, due_before[0] = woken and due_before[0] <= t, rule.due
        if rule.raw is not None or rule.cooldown.held is not None:
            return
        outs = [_rule_outcomes(eng, s) for s in range(len(SOURCES))]
        bound = min(_bound(o, pct) for o in outs)
        assert rule.due <= bound <= min(_crossing(o, pct) for o in outs), t
        assert bound > t  # a bound at or before now would have been a wake-up
        if rule_woke:
            assert rule.due == bound, t

    now = T0
    for quarters, reject_in_4, source in steps:
        now += quarters / 4
        run_dues_before(eng, now, lambda t: check(t, woken=True))
        kind = OrderEventKind.REJECT if reject_in_4 == 0 else OrderEventKind.ACK
        eng.apply(order(now, kind, source=SOURCES[source]), now)
        check(now, woken=False)
    run_dues_before(eng, now + 3 * WINDOW, lambda t: check(t, woken=True))


def test_a_busy_trader_below_the_warn_level_costs_no_wake_up_per_ack() -> None:
    """Steady trading at a reject ratio far under the limit: the window turns over several
    times, yet the rule wakes a handful of times, not at each outcome that leaves."""
    eng = engine(limits(rejects={**REJECTS, "window_s": 10.0, "min_sample": 20}))
    wake_ups = 0
    due_before = eng.rejects.due
    now = T0
    for i in range(4000):  # 10 outcomes a second for 400 s: 40 windows
        now = T0 + i * 0.1
        kind = OrderEventKind.REJECT if i % 10 == 0 else OrderEventKind.ACK
        if now >= due_before:
            wake_ups += 1
        eng.apply(order(now, kind), now)
        due_before = eng.rejects.due
    assert eng.state is TradingState.ACTIVE
    assert wake_ups < 120, wake_ups  # ~50; every expiry would be ~4000

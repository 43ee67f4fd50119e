"""Rejects: N consecutive rejects, or the reject ratio in a window once it holds enough orders.

Either -> HALTED, transient: cool-down once back under. An ACK ends a run of rejects, and a
run counts only the rejects still inside the window: a halted trader places no orders, so
without that a run would never end and the halt never clear. The window edge is the
order-rate one: an outcome at `ts` counts while `now < ts + window_s`.
A breach (either kind, either source) that holds continuously for `kill_after_s` -> KILLED
(latched through the engine); absent, a reject storm never kills.

The breach is exact in time, not only at events: the ratio can also rise when accepted
orders leave the window. While it is below the warn level the rule wakes at the first expiry
that could lift it there (a lower bound: see `_rise_at`), recomputed only on a reject or at
that wake-up, since ACKs and expiries only move it later. At a level it wakes no later than
the first expiry that could end the level or lift it (see `_change_at`). A busy trader's
ACKs thus cost no wake-up, and the engine no tick of every rule.
"""

from __future__ import annotations

from collections import deque

from risk.decision import Decision
from risk.limits import RejectLimits
from risk.rules._common import INF, Cooldown, Recovery, Sustain
from risk.state import TradingState

_SOURCES = ("telemetry", "venue")


class _Outcomes:
    """Per-source outcomes: the run of consecutive rejects and the windowed ratio."""

    __slots__ = ("consecutive", "outcomes", "rejected")

    def __init__(self) -> None:
        self.consecutive = 0
        self.outcomes: deque[tuple[float, bool]] = deque()
        self.rejected = 0

    def expire(self, now: float, window_s: float) -> None:
        outcomes = self.outcomes
        while outcomes and outcomes[0][0] + window_s <= now:
            if outcomes.popleft()[1]:
                self.rejected -= 1
        # The run is the newest outcomes (an ACK ends it): whatever expired left it too.
        if self.consecutive > len(outcomes):
            self.consecutive = len(outcomes)


class RejectsRule:
    name = "rejects"
    recovery = Recovery.TRANSIENT

    def __init__(self, limits: RejectLimits, warn_ratio: float) -> None:
        self.limits = limits
        self.warn_ratio = warn_ratio
        self.sources = (_Outcomes(), _Outcomes())
        self.cooldown = Cooldown(limits.cooldown_s)
        self.sustain = Sustain(limits.kill_after_s)
        self.raw: Decision | None = None
        self.decision: Decision | None = None
        self.due = INF
        self.warn_consecutive = limits.max_consecutive * warn_ratio if warn_ratio < 1.0 else INF
        self.warn_ratio_pct = limits.max_ratio_pct * warn_ratio if warn_ratio < 1.0 else INF
        # The lowest ratio that changes the grade, and the fewest rejects that can reach it
        # in a minimum sample: below that many, expiry alone can never lift the grade.
        self.rise_pct = min(self.warn_ratio_pct, limits.max_ratio_pct)
        self.rise_rejects = _fewest_rejects(self.rise_pct, limits.min_sample)
        # The shortest run that changes the grade: the warn level, or the limit without one.
        self.rise_consecutive = min(self.warn_consecutive, limits.max_consecutive)
        # `_most_total` by reject count, filled as counts are first seen: at most one entry
        # per reject a window has held, and a lookup where computing it costs ~0.2 us.
        self.most_totals: list[int] = []

    def on_outcome(self, source: int, rejected: bool, now: float) -> bool:
        state = self.sources[source]
        state.expire(now, self.limits.window_s)
        state.outcomes.append((now, rejected))
        if rejected:
            state.rejected += 1
            state.consecutive += 1
        else:
            state.consecutive = 0
        if (
            self.raw is not None
            or self.cooldown.held is not None
            or state.consecutive >= self.rise_consecutive
            or self._ratio(state) >= self.rise_pct
        ):
            return self._regrade(now)
        # Still no decision, nothing held, no breach to sustain: only the wake-up can change.
        # An ACK only moves this source's rise later (a `due` set before stays early); a
        # reject can bring it nearer.
        if rejected:
            rise = self._rise_at(state)
            if rise < self.due:
                self.due = rise
                return True
        return False

    def _ratio(self, state: _Outcomes) -> float:
        total = len(state.outcomes)
        if total < self.limits.min_sample:
            return 0.0
        return 100.0 * state.rejected / total

    def _regrade(self, now: float) -> bool:
        raw: Decision | None = None
        for source, state in enumerate(self.sources):
            state.expire(now, self.limits.window_s)
            decision = self._grade(source, state)
            if decision is not None and (raw is None or decision.state > raw.state):
                raw = decision
        sustain = self.sustain
        sustain.track(raw is not None and raw.state >= TradingState.HALTED, now)
        if raw is not None and sustain.killed(now):
            raw = sustain.escalate(raw, now)
        self.raw = raw
        before, before_due = self.decision, self.due
        self.decision = self.cooldown.settle(raw, now)
        self.due = min(self.cooldown.release_at, self._next_expiry(), sustain.due(now))
        return self.decision is not before or self.due < before_due

    def _grade(self, source: int, state: _Outcomes) -> Decision | None:
        limits, who = self.limits, _SOURCES[source]
        if state.consecutive >= limits.max_consecutive:
            return Decision(
                TradingState.HALTED,
                self.name,
                state.consecutive,
                limits.max_consecutive,
                f"{state.consecutive} consecutive rejects ({who}), limit {limits.max_consecutive}",
            )
        ratio = self._ratio(state)
        if ratio > limits.max_ratio_pct:
            return Decision(
                TradingState.HALTED,
                self.name,
                ratio,
                limits.max_ratio_pct,
                f"reject ratio {ratio:.1f}% of {len(state.outcomes)} orders in "
                f"{limits.window_s:g} s ({who}) over {limits.max_ratio_pct:g}%",
            )
        if state.consecutive >= self.warn_consecutive:
            return Decision(
                TradingState.WARN,
                self.name,
                state.consecutive,
                limits.max_consecutive,
                f"{state.consecutive} consecutive rejects ({who}), limit {limits.max_consecutive}",
            )
        if ratio >= self.warn_ratio_pct:
            return Decision(
                TradingState.WARN,
                self.name,
                ratio,
                limits.max_ratio_pct,
                f"reject ratio {ratio:.1f}% ({who}) nears {limits.max_ratio_pct:g}%",
            )
        return None

    def _next_expiry(self) -> float:
        """The next time expiry alone can change the grade (early is fine, late never is)."""
        return min(self._change_at(self.sources[0]), self._change_at(self.sources[1]))

    def _change_at(self, state: _Outcomes) -> float:
        """The earliest expiry that could change this source's grade, found in O(1).

        Expiry moves a grade four ways, each needing some count of the oldest outcomes to
        leave first: a run at a level shrinks once its first reject leaves; a ratio at a level
        ends once the sample is short, or (at best every outcome to leave is a reject) once
        `_fewest_to_fall` have left; and a ratio rises to the next level no sooner than
        `_rise_at` says. The wake-up is the expiry of the fewest of those.
        """
        outcomes, min_sample = state.outcomes, self.limits.min_sample
        total, rejected, run = len(outcomes), state.rejected, state.consecutive
        leave = total + 1  # more than the window holds: never
        if run >= self.rise_consecutive:
            leave = total - run + 1
        ratio = self._ratio(state)
        max_pct = self.limits.max_ratio_pct
        if ratio < self.rise_pct:
            return min(self._wake(state, leave), self._rise_at(state))
        level = max_pct if ratio > max_pct else self.warn_ratio_pct
        if ratio >= level:
            fall = _fewest_to_fall(rejected, total, level)
            leave = min(leave, total - min_sample + 1, fall)
        if ratio <= max_pct:  # the breach is still above
            most = _most_total(rejected, max_pct)
            if most >= min_sample:
                leave = min(leave, max(total - most, 1))
        return self._wake(state, leave)

    def _wake(self, state: _Outcomes, leave: int) -> float:
        """The expiry after which `leave` of the oldest outcomes have left; INF if never."""
        if leave > len(state.outcomes):
            return INF
        return state.outcomes[leave - 1][0] + self.limits.window_s

    def _rise_at(self, state: _Outcomes) -> float:
        """The earliest expiry after which this source's ratio could reach `rise_pct`.

        At best every outcome that leaves is an ACK: the rejects stay, the total shrinks, and
        the ratio cannot reach `rise_pct` before the total is down to `_most_total` of them.
        The wake-up is the expiry of the outcome whose leaving gets it there. A lower bound,
        never late: at it the rule re-grades and takes the next bound. It is O(1) (one deque
        index) and moves only later as time passes or ACKs arrive, so only a reject needs it
        recomputed; an exact crossing would mean scanning the window on every reject.
        """
        outcomes, min_sample = state.outcomes, self.limits.min_sample
        total = len(outcomes)
        if total < min_sample or state.rejected < self.rise_rejects:
            return INF  # too few outcomes or rejects: expiry alone never lifts the grade
        rejected, most_totals = state.rejected, self.most_totals
        while len(most_totals) <= rejected:
            most_totals.append(_most_total(len(most_totals), self.rise_pct))
        leave = total - most_totals[rejected]
        return outcomes[leave - 1 if leave > 0 else 0][0] + self.limits.window_s

    def evaluate(self, now: float) -> bool:
        if now < self.due:  # every time-driven change is at or after `due`
            return False
        return self._regrade(now)

    def hard_breach(self) -> Decision | None:
        return None

    def utilisation(self) -> float:
        limits = self.limits
        return max(
            max(s.consecutive / limits.max_consecutive, self._ratio(s) / limits.max_ratio_pct)
            for s in self.sources
        )

    def on_rearm(self, now: float) -> None:
        self.sustain.restart(now)
        self.cooldown.clear()
        self._regrade(now)


def _fewest_rejects(pct: float, total: int) -> int:
    """The fewest rejects whose ratio in `total` outcomes reaches `pct`, as `_ratio` computes
    it (float division is monotonic, so counting up from an estimate is exact)."""
    rejects = max(0, int(pct * total / 100.0) - 2)  # from below: never too many
    while rejects <= total and 100.0 * rejects / total < pct:
        rejects += 1
    return rejects


def _most_total(rejects: int, pct: float) -> int:
    """The largest total in which `rejects` rejects are still a ratio of at least `pct` (0 for
    none), as `_ratio` computes it: a larger total is below `pct` by monotonic division."""
    if rejects <= 0:
        return 0
    total = int(100.0 * rejects / pct) + 2  # from above: never too few
    while total > 0 and 100.0 * rejects / total < pct:
        total -= 1
    return total


def _fewest_to_fall(rejects: int, total: int, pct: float) -> int:
    """The fewest outcomes that must leave before the ratio can fall to `pct` or below, at
    best all of them rejects, as `_ratio` computes it; more than `total` when it never can.
    (rejects - k) / (total - k) falls as k grows, so counting up from an estimate is exact."""
    if pct >= 100.0 or rejects >= total:
        return total + 1  # all rejects, or a limit only a ratio over 100% passes: never
    estimate = (100.0 * rejects - pct * total) / (100.0 - pct)
    leave = max(1, int(estimate) - 2)  # from below: never too many
    while leave < total and 100.0 * (rejects - leave) / (total - leave) > pct:
        leave += 1
    return leave

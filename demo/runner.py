"""One demo run, as a straight line: start -> trade -> inject -> timeline -> prove.

The shell around the pure parts (configs, timeline, scenarios' data). Output goes to ``out``:
short section headers, one live status line, an aligned timeline, the proofs. The parts log
to files in the run's directory; their tails are printed only when something fails.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from demo import configs, timeline
from demo.errors import DemoError, ProofFailed
from demo.procs import wait_for
from demo.scenarios import Scenario, Trigger
from demo.world import World, metric_sum

TRADE_S = 5.0  # quoting and filling before the failure
NON_TTY_STATUS_S = 1.0
OUTCOME_WITHIN_S = 45.0  # generous: a busy 2-core machine is slow, never this slow


@dataclass(frozen=True)
class Options:
    trade_s: float = TRADE_S
    keep: bool = False
    venue: str = "binance"  # the protocol the sim speaks, the trader trades and the watchdog kills


@dataclass
class Result:
    """What ``--json`` prints: one object, written once the run has ended either way."""

    scenario: str
    venue: str
    outcome: str = "fail"
    reason: str = ""
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def write(self, report: TextIO | None) -> None:
        if report is not None:
            report.write(json.dumps(asdict(self)) + "\n")
            report.flush()


class Console:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._live = out.isatty()
        self._section = 0
        self._last_status = -NON_TTY_STATUS_S
        self._last_text = ""

    def section(self, title: str) -> None:
        self._section += 1
        self.line(f"\n{self._section}. {title}")

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def status(self, text: str, *, final: bool = False) -> None:
        """A live line: rewritten in place on a terminal; elsewhere (a log, a pipe) one line
        a second, so a captured run stays short."""
        if self._live:
            self.out.write("\r\x1b[2K" + text + ("\n" if final else ""))
            self.out.flush()
            return
        now = time.monotonic()
        due = now - self._last_status >= NON_TTY_STATUS_S
        if (due or final) and text != self._last_text:
            self._last_status, self._last_text = now, text
            self.line(text)


def run(scenario: Scenario, options: Options, out: TextIO, report: TextIO | None = None) -> int:
    """Run `scenario`, narrating to `out`; with `report` (``--json``), end with one JSON
    object there: the scenario, the venue, its outcome ("pass" or "fail", with the reason) and
    the kill timeline's stages in ms after the trigger."""
    console = Console(out)
    result = Result(scenario.name, options.venue)
    began = time.monotonic()
    console.line(f"Kill-switch demo · {scenario.name}: {scenario.title} · on {options.venue}")
    with World(keep=options.keep, venue=options.venue) as world:
        try:
            _start(world, console, scenario.bot)
            if scenario.bot == "ccxt":
                _bot_trades(world, console)
            else:
                _trade(world, console, options.trade_s)
            trigger = _inject(world, console, scenario)
            rows = _show_kill(world, console, trigger)
            result.timeline = timeline.stages(rows, trigger.mono)
            _require_milestones(rows)
            _prove_kill(world, console)
        except DemoError as exc:
            console.line(f"\nFAIL: {exc}")
            _print_tails(world, console)
            _where(world, console, options)
            result.reason = str(exc)
            result.write(report)
            return 1
        _where(world, console, options)
    console.line(f"\nPASS: {scenario.name} in {time.monotonic() - began:.1f} s")
    result.outcome = "pass"
    result.write(report)
    return 0


def _where(world: World, console: Console, options: Options) -> None:
    if options.keep:
        console.line(f"\nKept for inspection: {world.root}")


# -- 1. start ------------------------------------------------------------------------------


def _start(world: World, console: Console, bot: str) -> None:
    console.section(f"Starting the suite as real processes  (files and logs: {world.root})")
    sim = world.start_sim()
    console.line(f"   exchange-sim  pid {world.proc('sim').pid:<7}  venue {sim.base_url}  "
                 f"admin {sim.admin_url}")  # fmt: skip
    world.write_credentials()
    world.start_watchdog()
    console.line(f"   watchdog      pid {world.proc('watchdog').pid:<7}  up; its own keys "
                 "(account + master), state in state/watchdog.sqlite3")  # fmt: skip
    if bot == "ccxt":
        world.start_ccxt_bot()
        console.line(f"   ccxt bot      pid {world.proc('trader').pid:<7}  examples/ccxt_bot.py: "
                     "plain ccxt, two lines of killswitch_client")  # fmt: skip
    else:
        world.start_trader()
        console.line(f"   trader        pid {world.proc('trader').pid:<7}  quotes "
                     f"{configs.TRADED} with its own key, heartbeats to the watchdog")  # fmt: skip
    world.wait_armed()
    console.line("   watchdog armed: trader process known, own keys checked, venue view fresh, "
                 "dead man's switch confirmed")  # fmt: skip


# -- 2. trade ------------------------------------------------------------------------------


def _trade(world: World, console: Console, trade_s: float) -> None:
    console.section(f"Trading for {trade_s:g} s  (watchdog state · equity · venue · heartbeat)")
    start_equity: float | None = None
    began = time.monotonic()
    fills = 0.0
    while True:
        elapsed = time.monotonic() - began
        snap = _snapshot(world)
        start_equity = snap.equity if start_equity is None else start_equity
        fills = snap.fills
        console.status(_status_line(elapsed, snap, start_equity))
        if snap.state in ("HALTED", "KILLED") and elapsed > 2.0:
            console.status(_status_line(elapsed, snap, start_equity), final=True)
            raise DemoError(f"the watchdog is {snap.state} before any failure: {snap.reason}")
        if elapsed >= trade_s and (fills > 0 or elapsed > trade_s + 20):
            break
        time.sleep(0.25)
    console.status(_status_line(elapsed, snap, start_equity), final=True)


def _bot_trades(world: World, console: Console) -> None:
    """The ccxt bot has no metrics endpoint: its orders resting at the venue, and its own
    client's state, show that it trades under supervision."""
    console.section("The ccxt bot trades  (its status file · the venue)")

    def resting() -> dict[str, Any] | None:
        status = world.bot_status()
        return status if status.get("state") == "ACTIVE" and world.open_orders() else None

    status = wait_for(resting, 30.0, "the ccxt bot's orders to rest at the venue, ACTIVE")
    resting_now = len(world.open_orders())
    console.line(f"   bot: {status.get('placed')} orders placed, client state "
                 f"{status.get('state')}; open orders at the venue {resting_now}")  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    state: str
    rules: str  # the rules behind a state other than ACTIVE
    reason: str
    heartbeat_age_s: float | None
    equity: float
    fills: float
    open_orders: int


def _snapshot(world: World) -> Snapshot:
    status = world.trader_status()
    metrics = world.trader_metrics()
    decisions = status.get("decisions") or []
    reason = str(decisions[0].get("reason", "")) if decisions else ""
    rules = ",".join(str(d.get("rule")) for d in decisions)
    age = status.get("heartbeat_age_s")
    return Snapshot(
        state=str(status.get("state")),
        rules=rules,
        reason=reason,
        heartbeat_age_s=None if age is None else float(age),
        equity=metrics.get("trader_equity", 0.0),
        fills=metric_sum(metrics, "trader_fills_total"),
        open_orders=len(world.open_orders()),
    )


def _status_line(elapsed: float, snap: Snapshot, start_equity: float) -> str:
    age = "—" if snap.heartbeat_age_s is None else f"{snap.heartbeat_age_s * 1000:4.0f} ms"
    state = snap.state if not snap.rules else f"{snap.state} ({snap.rules})"
    return (
        f"   t+{elapsed:4.1f}s  {state:<8} equity {snap.equity:,.2f} USDT "
        f"(PnL {snap.equity - start_equity:+.2f})  open orders at venue {snap.open_orders}  "
        f"heartbeat {age}  fills {snap.fills:.0f}"
    )


# -- 3. inject -----------------------------------------------------------------------------


def _inject(world: World, console: Console, scenario: Scenario) -> Trigger:
    console.section(f"Failure: {scenario.title}")
    world.journal_mark = world.admin.last_seq()
    trigger = scenario.inject(world)
    console.line(f"   {trigger.detail}")
    return trigger


# -- 4. what happened ----------------------------------------------------------------------


def _wait(condition: Callable[[], Any], what: str) -> Any:
    try:
        return wait_for(condition, OUTCOME_WITHIN_S, what)
    except DemoError as exc:
        raise ProofFailed(str(exc)) from None


def _kill_done(world: World) -> bool:
    status = _status_or_none(world)
    kill = (status or {}).get("kill") or {}
    return bool(status and status.get("state") == "KILLED" and kill.get("finished"))


def _status_or_none(world: World) -> dict[str, Any] | None:
    try:
        return world.trader_status()
    except (OSError, http.client.HTTPException, ValueError):
        return None


def _show_kill(world: World, console: Console, trigger: Trigger) -> list[timeline.Row]:
    console.line("   waiting for the watchdog to kill, verify and sweep (+0.1 s, +1 s, +5 s) ...")
    _wait(lambda: _kill_done(world), "the watchdog to finish the kill")
    evidence = timeline.Evidence(
        trigger_mono=trigger.mono,
        trigger_detail=trigger.detail,
        wall_minus_mono=time.time() - time.monotonic(),
        journal=world.admin.journal(since=world.journal_mark),
        audit=_audit(world),
        kill_timing=world.trader_status().get("kill_timing"),
        watchdog_key=world.keys.watchdog.api_key,
        trader_key=world.keys.trader.api_key,
        venue=world.venue,
    )
    rows = timeline.kill_rows(evidence)
    console.section("Kill timeline  (ms after the trigger, CLOCK_MONOTONIC across processes)")
    for line in timeline.render(rows, trigger.mono):
        console.line(line)
    return rows


def _require_milestones(rows: list[timeline.Row]) -> None:
    absent = timeline.missing(rows)
    if absent:
        raise ProofFailed("the timeline lacks: " + ", ".join(absent))


def _audit(world: World) -> list[dict[str, Any]]:
    entries = world.watchdog_cli("audit", "--limit", "1000")
    return [e for e in entries if e.get("trader") == configs.TRADER_ID]


def _check(console: Console, ok: bool, text: str) -> None:
    console.line(f"   {'ok  ' if ok else 'FAIL'} {text}")
    if not ok:
        raise ProofFailed(text)


def _prove_no_orders(world: World, console: Console) -> None:
    counts = {s: len(world.admin.open_orders(configs.TRADER_ACCOUNT, s)) for s in configs.SYMBOLS}
    listing = ", ".join(f"{s} {n}" for s, n in counts.items())
    _check(console, not any(counts.values()), f"open orders at the venue: {listing}")


def _prove_kill(world: World, console: Console) -> None:
    console.section("Proof from the venue's side")
    _prove_no_orders(world, console)
    client = world.trader_client()
    try:
        answer = client.balance()
    finally:
        client.close()
    _check(console, answer.key_refused,
           f"a signed request with the trader's key: HTTP {answer.status} {answer.code} "
           f"{answer.msg!r}")  # fmt: skip
    status = _cli_trader(world)
    _check(console, status.get("state") == "KILLED" and status.get("latched") is True,
           f"`watchdog status`: {status.get('state')}, latched={status.get('latched')}: "
           f"{(status.get('kill') or {}).get('reason', '')}")  # fmt: skip
    trader = world.proc("trader")
    credential = (world.root / "trader-venue.cred").read_text(errors="replace")
    revoked = world.keys.trader.secret not in credential
    _check(
        console,
        not trader.alive() and revoked,
        f"trader process gone (exit {trader.popen.returncode}); its local credential revoked",
    )


def _cli_trader(world: World) -> dict[str, Any]:
    answer = world.watchdog_cli("status")[0]
    for trader in answer.get("traders", []):
        if trader.get("id") == configs.TRADER_ID:
            return dict(trader)
    raise ProofFailed(f"`watchdog status` does not list {configs.TRADER_ID}")


def _print_tails(world: World, console: Console) -> None:
    for name, proc in world.procs.items():
        console.line(f"\n--- last lines of {name}.log ---")
        console.line(proc.log_tail())

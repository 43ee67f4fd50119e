"""The daemon's lifecycle, as a straight line: serve() -> startup() -> main_loop() -> shutdown().

startup   open the store (refuse to arm if it cannot be written), build one supervisor per
          trader, resume unfinished kills, apply missed daily resets, bind the ingress, the
          control socket and the metrics endpoint; READY=1.
main_loop one task group: alert delivery, loop-lag monitor, systemd keepalive, kill pipelines;
          it ends when a signal sets the exit flag.
shutdown  ordered and capped by `shutdown_timeout_s`: stop taking telemetry, give running kill
          pipelines the remaining time (they resume on the next start anyway), close sockets,
          flush risk state, close the store. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
from collections.abc import Coroutine, Sequence
from typing import Any

from aiohttp import web
from killswitch_client.protocol import GuardMark, TraderState

from risk import Maintenance, RiskError, TradingState
from watchdog.clock import Clock, SystemClock
from watchdog.daemon import armed
from watchdog.daemon.alerts import Alerter
from watchdog.daemon.config import Config
from watchdog.daemon.control import ControlApi, prepare_socket_path
from watchdog.daemon.durable import Durable
from watchdog.daemon.errors import StartupError, StoreError
from watchdog.daemon.ingress import Ingress, IngressConfig, InvalidBurst
from watchdog.daemon.kill import ActionFactory, KillPipeline
from watchdog.daemon.kill.actions import DEFAULT_FACTORIES
from watchdog.daemon.loopmon import LagMonitor
from watchdog.daemon.metrics import Metrics
from watchdog.daemon.socketgroup import check_control_socket, creation_group
from watchdog.daemon.store import Store
from watchdog.daemon.supervisor import Services, TraderSupervisor
from watchdog.daemon.venue.service import VenueService
from watchdog.errors import IngressError
from watchdog.logs import log_event
from watchdog.sdnotify import SdNotifier

_log = logging.getLogger("watchdog.server")


class WatchdogServer:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        factories: Sequence[ActionFactory] = DEFAULT_FACTORIES,
        notifier: SdNotifier | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.factories = tuple(factories)
        self.notifier = notifier or SdNotifier()
        self.metrics = Metrics()
        self.alerter = Alerter(config.alerts, self.clock, socket.gethostname())
        self.lag = LagMonitor(self.metrics)
        self.supervisors: dict[str, TraderSupervisor] = {}
        self.should_exit = asyncio.Event()
        self._store: Store | None = None
        self._durable: Durable | None = None
        self._ingress: Ingress | None = None
        self._killer: KillPipeline | None = None
        self._runners: list[web.AppRunner] = []
        self.venues = VenueService(
            {t.id: t.venue for t in config.traders if t.venue is not None},
            clock=self.clock, alerts=self.alerter, registry=self.metrics.registry,
        )  # fmt: skip
        self._group: asyncio.TaskGroup | None = None
        self._pending: list[Coroutine[Any, Any, None]] = []
        self._spawned: set[asyncio.Task[None]] = set()
        self._acks_due: set[str] = set()  # traders whose accepted telemetry awaits its ack
        self.metrics_port: int | None = None

    # -- the straight line ---------------------------------------------------------------

    async def serve(self) -> int:
        self._install_signal_handlers()
        try:
            await self.startup()
        except (StartupError, StoreError, IngressError, RiskError) as exc:
            log_event(_log, logging.CRITICAL, "refusing_to_arm", error=str(exc))
            await self.shutdown()  # close what did open, release the state dir's lock
            raise StartupError(f"refusing to arm: {exc}") from exc
        try:
            await self.main_loop()
        finally:
            await self.shutdown()
        return 0

    async def startup(self) -> None:
        store = Store(self.config.database)  # raises StoreError: refuse to arm
        self._store = store
        self._durable = Durable(store, self._store_failed)
        await self.alerter.start()
        # The venue side before the pipeline: a kill resumed below must reach the venue.
        await self.venues.open()
        self._killer = KillPipeline(
            clock=self.clock,
            durable=self._durable,
            alerter=self.alerter,
            metrics=self.metrics,
            config=self.config.kill,
            factories=(*self.factories, *self.venues.factories()),
            spawn=self._spawn,
        )
        services = Services(
            self.clock,
            self._durable,
            self.alerter,
            self.metrics,
            self._killer,
            self._push_state,
            self._ask,
            self._group_kill,
            self._spawn,
            self._control_gid(),
        )
        for trader in self.config.traders:
            self.supervisors[trader.id] = TraderSupervisor(
                trader, services, store.trader(trader.id)
            )
        for record in store.unfinished_kills():
            supervisor = self.supervisors.get(record.trader)
            if supervisor is None:
                self.alerter.notify("kill_orphaned", record.trader, kill_id=record.kill_id)
                continue
            self._killer.resume(record, supervisor.config, supervisor.process)
        self.venues.attach(self.supervisors)
        for supervisor in self.supervisors.values():
            await supervisor.start()
        await self._start_ingress()
        await self._start_control()
        await self._start_metrics()
        self.metrics.watch(
            lambda: [s.view() for s in self.supervisors.values()],
            self._datagram_counts,
            self._event_count,
            lambda: not self.not_armed(),
        )
        self.metrics.store_healthy.set(1)
        self.notifier.ready(self._status_line())
        log_event(_log, logging.INFO, "armed", traders=list(self.supervisors), pid=os.getpid())

    async def main_loop(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            for coroutine in self._pending:
                self._spawn(coroutine)
            self._pending.clear()
            services = [
                group.create_task(self.alerter.run()),
                group.create_task(self.lag.run()),
                group.create_task(self.notifier.keepalive(self.healthy)),
                group.create_task(self.venues.run()),
            ]
            await self.should_exit.wait()
            for task in services:
                task.cancel()
            await self._drain_kills()
        self._group = None

    async def shutdown(self) -> None:
        log_event(_log, logging.INFO, "shutting_down")
        self.notifier.stopping()
        # 1. No new telemetry or commands: the state is frozen from here on.
        await self._close_io()
        # 2. Flush what the supervisors hold in memory (risk state) and stop their timers.
        for supervisor in self.supervisors.values():
            supervisor.close()
        if self._durable is not None:
            self._durable.flush()
        for coroutine in self._pending:  # startup failed before main_loop could run them
            coroutine.close()
        self._pending.clear()
        # 3. The venue side: disarm the dead man's switch only if configured; close HTTP.
        await self.venues.close()
        # 4. The store last: everything above may still write to it.
        if self._store is not None:
            self._store.close()
        self.notifier.close()
        log_event(_log, logging.INFO, "stopped")

    # -- pieces --------------------------------------------------------------------------

    async def _drain_kills(self) -> None:
        """Give running kills the shutdown budget; they resume on the next start if cut."""
        if self._killer is not None and not await self._killer.wait_idle(
            self.config.shutdown_timeout_s
        ):
            log_event(_log, logging.WARNING, "kills_left_for_next_start")
        for task in list(self._spawned):
            task.cancel()

    async def _close_io(self) -> None:
        if self._ingress is not None:
            await self._ingress.close()
            # Nothing arrives any more: the exact marks let the live session in at once.
            for trader, mark in self._ingress.marks().items():
                self._save_mark(trader, mark)
            self._ingress = None
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        await self.alerter.close()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        if self._group is None:
            # During startup (a resumed kill, an overdue deadline): main_loop starts it first
            # thing, microseconds later; the latch is already durable.
            self._pending.append(coroutine)
            return
        task = self._group.create_task(coroutine)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    async def _start_ingress(self) -> None:
        settings = self.config.ingress
        udp = None
        if settings.udp_host is not None and settings.udp_port is not None:
            udp = (settings.udp_host, settings.udp_port)
        # The replay guard resumes where the last run left it: nothing it accepted (or
        # reserved) can be replayed, and an older session cannot displace the current one.
        restored = self._require_store().session_marks()
        for trader, mark in restored.items():
            if trader in self.supervisors:
                self.supervisors[trader].session_id = mark.session_id.hex()
        # A trader under telemetry = "none" has no key: its datagrams are refused, counted
        # as `telemetry_none`.
        heard = [t for t in self.config.traders if t.hmac_key is not None]
        ingress_config = IngressConfig(
            keys={t.id: t.hmac_key for t in heard if t.hmac_key is not None},
            unix_path=settings.unix_socket,
            udp=udp,
            max_send_age={t.id: t.max_send_age for t in heard},
            restored=restored,
            silent=frozenset(t.id for t in self.config.traders if not t.telemetry_expected),
        )
        self._ingress = Ingress(
            ingress_config,
            clock=self.clock,
            on_batch=self._on_batch,
            on_invalid_burst=self._on_invalid_burst,
            on_reserve=self._save_mark,
            on_sender=self._on_sender,
        )
        await self._ingress.start()

    async def _start_control(self) -> None:
        path = self.config.control_socket
        prepare_socket_path(path)
        api = ControlApi(
            self.supervisors, self._require_store(), self.status, self.config.max_maintenance_s
        )
        runner = web.AppRunner(api.app(), access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        # The umask closes the window between bind() and chmod() in which anyone could connect.
        previous = os.umask(0o777 & ~self.config.control_socket_mode)
        try:
            await web.UnixSite(runner, str(path)).start()
            os.chmod(path, self.config.control_socket_mode)
        except OSError as exc:
            raise StartupError(f"control socket {path}: cannot listen: {exc}") from exc
        finally:
            os.umask(previous)
        check_control_socket(
            path,
            self.config.control_socket_mode,
            telemetry_gids=self._telemetry_gids(),
            uid=os.geteuid(),
            group=self._control_gid(),
        )

    def _control_gid(self) -> int | None:
        """The group the control socket will get, when that group may connect (checked on
        disk once bound): a trader process in it is held HALTED."""
        if not self.config.control_socket_mode & 0o070:
            return None
        return creation_group(self.config.control_socket.parent)

    def _telemetry_gids(self) -> set[int]:
        """The group that may send telemetry: the bound ingress socket's, as it is on disk."""
        unix = self.config.ingress.unix_socket
        if unix is None:
            return set()
        try:
            return {os.lstat(unix).st_gid}
        except OSError as exc:
            raise StartupError(f"ingress socket {unix}: cannot check it: {exc.strerror}") from exc

    async def _start_metrics(self) -> None:
        if not self.config.metrics.enabled:
            return
        runner = web.AppRunner(self.metrics.app(), access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        host, port = self.config.metrics.host, self.config.metrics.port
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(f"metrics endpoint {host}:{port}: cannot listen: {exc}") from exc
        server = site._server  # aiohttp exposes the bound port nowhere else
        if isinstance(server, asyncio.base_events.Server) and server.sockets:
            self.metrics_port = int(server.sockets[0].getsockname()[1])

    # -- callbacks -----------------------------------------------------------------------

    def _on_batch(
        self, trader_id: str, session_id: bytes, events: Sequence[Any], session_changed: bool
    ) -> None:
        supervisor = self.supervisors.get(trader_id)
        if supervisor is None:
            return
        risk_events = [e for e in events if not isinstance(e, TraderState)]
        supervisor.on_batch(session_id.hex(), risk_events, session_changed)
        for event in events:
            if isinstance(event, TraderState):
                supervisor.on_trader_state(event)
        self._ack_soon(trader_id)

    def _ack_soon(self, trader_id: str) -> None:
        """Ack once the datagrams that are already here have been taken: one ack per trader
        per loop iteration, not one per datagram. The ack names the highest sequence taken,
        which acknowledges every datagram before it, and carries the state after all of them;
        it leaves within the same wakeup's work, microseconds later. A state change the
        supervisor decides on its own (a timer, a hold) is still pushed at once."""
        if not self._acks_due:
            asyncio.get_running_loop().call_soon(self._send_due_acks)
        self._acks_due.add(trader_id)

    def _send_due_acks(self) -> None:
        due, self._acks_due = self._acks_due, set()
        for trader_id in due:
            self._push_state(trader_id, self.supervisors[trader_id].state)

    def _on_sender(self, trader_id: str, pid: int | None) -> None:
        supervisor = self.supervisors.get(trader_id)
        if supervisor is not None:
            supervisor.on_sender(pid)

    def _push_state(self, trader_id: str, state: TradingState, ask: int = 0) -> None:
        if self._ingress is None:
            return
        supervisor = self.supervisors[trader_id]
        reason = supervisor.decisions[0].reason if supervisor.decisions else ""
        self._ingress.send_ack(
            trader_id,
            state,
            limits_version=supervisor.config.limits_version,
            reason=reason[:200],
            ask=ask,
        )

    def _ask(self, trader_id: str, question: int) -> None:
        """An ack that asks the trader's client to answer at once (key misuse's question)."""
        self._push_state(trader_id, self.supervisors[trader_id].state, question)

    def _save_mark(self, trader: str, mark: GuardMark) -> None:
        """Synchronous, before the datagram counts. A failed write halts every trader (the
        store is unhealthy) but the datagram is still taken: the guard works from memory."""
        if self._durable is not None:
            self._durable.write(lambda s: s.save_session_mark(trader, mark))

    def _on_invalid_burst(self, burst: InvalidBurst) -> None:
        detail = {"count": burst.count, "window_s": burst.window, "reasons": dict(burst.reasons)}
        log_event(_log, logging.WARNING, "invalid_input_burst", **detail)
        if self._durable is not None:
            self._durable.audit_soon(self.clock.wall(), "*", "invalid_input", detail)
        self.alerter.notify("invalid_input_burst", "*", **detail)

    def _group_kill(self, group: str, reason: str) -> None:
        for supervisor in self.supervisors.values():
            if supervisor.config.kill_group == group:
                supervisor.group_trip(reason)

    def _store_failed(self, error: str) -> None:
        self.metrics.store_healthy.set(0)
        self.alerter.notify("store_failed", "*", error=error)
        for supervisor in self.supervisors.values():
            self._push_state(supervisor.id, supervisor.state)  # now at least HALTED
        self.notifier.status(self._status_line())

    def _datagram_counts(self) -> dict[str, int]:
        if self._ingress is None:
            return {}
        return {"accepted": self._ingress.accepted_datagrams, **self._ingress.rejects}

    def _event_count(self) -> int:
        return 0 if self._ingress is None else self._ingress.accepted_events

    # -- health and status ---------------------------------------------------------------

    def healthy(self) -> bool:
        """For the systemd keepalive: the loop runs on time and the ingress is open."""
        if self._ingress is None or not self._ingress.healthy:
            return False
        return self.lag.healthy(self.config.loop_lag_bound_s)

    def _status_line(self) -> str:
        worst = max((s.state for s in self.supervisors.values()), default=TradingState.ACTIVE)
        return f"{worst.name}; traders={len(self.supervisors)}"

    def status(self, only: str | None = None) -> dict[str, Any]:
        daemon = self._daemon_facts()
        facts = {s.id: self._armed_facts(s) for s in self.supervisors.values()}
        missing = armed.judge(daemon, list(facts.values()), self.clock.wall())
        traders = []
        for supervisor in self.supervisors.values():
            if only is not None and supervisor.id != only:
                continue
            own = [m.as_dict() for m in missing if m.trader in (None, supervisor.id)]
            traders.append({**self._trader_status(supervisor), **facts[supervisor.id],
                            "armed": not own, "not_armed": own})  # fmt: skip
        return {
            "pid": os.getpid(),
            "armed": not missing,
            "not_armed": [m.as_dict() for m in missing],
            **daemon,
            "loop_lag_s": round(self.lag.last_lag_s, 6),
            "metrics_port": self.metrics_port,
            "ingress_udp": self._ingress.udp_address if self._ingress is not None else None,
            "traders": traders,
        }

    def not_armed(self) -> list[armed.Missing]:
        """The parts of the kill chain that do not work now; empty while armed."""
        facts = [self._armed_facts(s) for s in self.supervisors.values()]
        return armed.judge(self._daemon_facts(), facts, self.clock.wall())

    def _daemon_facts(self) -> dict[str, Any]:
        store_ok = self._durable is not None and self._durable.healthy
        return {
            "ingress_healthy": self._ingress is not None and self._ingress.healthy,
            "store_healthy": store_ok,
            "store_error": "" if store_ok or self._durable is None else self._durable.last_error,
        }

    def _armed_facts(self, supervisor: TraderSupervisor) -> dict[str, Any]:
        """The status fields `armed` judges a trader on (shown as they are judged)."""
        return {
            "id": supervisor.id,
            "pid": supervisor.process.pid,
            "identity": supervisor.process.identity.as_dict(),
            "process_watched": supervisor.config.process.configured,
            **self.venues.status(supervisor.id),
        }

    def _trader_status(self, supervisor: TraderSupervisor) -> dict[str, Any]:
        view = supervisor.view()
        latest = self._require_store().latest_kill(supervisor.id)
        kill = None
        if latest is not None:
            kill = {
                "kill_id": latest.kill_id,
                "reason": latest.reason,
                "finished": latest.finished_ts is not None,
                "steps": {s.step: s.status for s in latest.steps},
            }
        return {
            "id": supervisor.id,
            "state": supervisor.state.name,
            "latched": view.latched,
            "maintenance": _maintenance_status(supervisor.engine.maintenance),
            "session": supervisor.session_id,
            "reported_state": _reported_status(supervisor.reported),
            "holds": supervisor.holds,
            "telemetry": supervisor.config.telemetry,
            "heartbeat_age_s": None
            if view.heartbeat_age_s is None
            else round(view.heartbeat_age_s, 3),
            "decisions": [
                {
                    "rule": d.rule,
                    "state": d.state.name,
                    "value": d.value,
                    "limit": d.limit,
                    "reason": d.reason,
                }
                for d in supervisor.decisions
            ],
            "utilisation": view.utilisation,
            "report_lead": _report_lead(supervisor),
            "next_daily_reset": supervisor.next_daily_reset,
            "kill": kill,
            "kill_timing": self._kill_timing(supervisor.id),
            "last_heartbeat_monotonic": supervisor.last_heartbeat,
        }

    def _kill_timing(self, trader: str) -> dict[str, Any] | None:
        started = self._killer.last_started.get(trader) if self._killer else None
        return None if started is None else dataclasses.asdict(started)

    def _require_store(self) -> Store:
        if self._store is None:
            raise StartupError("the store is not open")
        return self._store

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)

    def _on_signal(self, signum: int) -> None:
        if self.should_exit.is_set():
            # Second signal: the operator insists. The latch is durable: exiting now is safe.
            log_event(_log, logging.WARNING, "forced_exit", signal=signal.Signals(signum).name)
            os._exit(1)
        log_event(_log, logging.INFO, "signal", signal=signal.Signals(signum).name)
        self.should_exit.set()


def _report_lead(supervisor: TraderSupervisor) -> dict[str, object] | None:
    """How far the trader's order reports lead the venue's ACKs (what `reorder_s` must
    cover); None where key misuse is off."""
    misuse = supervisor.engine.key_misuse
    return None if misuse is None else misuse.orders.lead.as_dict()


def _maintenance_status(window: Maintenance | None) -> dict[str, Any] | None:
    return None if window is None else {"until": window.until, "reason": window.reason}


def _reported_status(report: TraderState | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {"state": report.state.name, "reason": report.reason, "ts": report.ts}

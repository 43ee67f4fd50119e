"""Markdown and plots from a run_all results document (see docs/benchmarks.md for its shape)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.report import plots
from bench.report.goals import Judged, Verdict, format_value, judge_all, lookup

Runs = Mapping[str, Mapping[str, Any]]
_MARK = {Verdict.MET: "met", Verdict.MISSED: "**missed**", Verdict.MISSING: "missing"}


def write_report(results: Mapping[str, Any], out_dir: Path) -> Path:
    """Write `report.md` and its PNGs into `out_dir`; return the report's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runs: Runs = results["benchmarks"]
    figures, missing = _figures(runs, out_dir)
    lines = [
        "# Benchmark report",
        "",
        *_run_line(results),
        "",
        *_machine(results.get("machine", {})),
        "",
        *_goals(judge_all(runs)),
        "",
        *_baselines(runs),
        "",
        *_scale(runs),
        "",
        *_plots(figures, missing),
        "",
        *_benchmarks(runs),
    ]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


# -- sections ------------------------------------------------------------------------------------


def _run_line(results: Mapping[str, Any]) -> list[str]:
    mode = "quick (`--quick`: short runs, rough figures)" if results.get("quick") else "full"
    machine = results.get("machine", {})
    commit = str(machine.get("git_commit", "unknown"))[:12]
    dirty = " (uncommitted changes)" if machine.get("git_dirty") else ""
    return [
        f"Run {results.get('started_utc', '?')} UTC, {mode}, commit `{commit}`{dirty}, "
        f"{results.get('total_s', 0):.0f} s in all. Figures: `results.json` next to this file.",
    ]


def _machine(machine: Mapping[str, Any]) -> list[str]:
    def load(key: str) -> str:
        values = machine.get(key) or []
        return " / ".join(f"{v:.2f}" for v in values) or "?"

    return [
        "## Machine",
        "",
        "| CPUs | model | kernel | Python | load 1/5/15 min before | after |",
        "|---|---|---|---|---|---|",
        f"| {machine.get('cpu_count', '?')} | {machine.get('cpu_model', '?')} "
        f"| {machine.get('kernel', '?')} | {machine.get('python', '?')} "
        f"| {load('load_avg_before')} | {load('load_avg_after')} |",
        "",
        "A small machine shared with other work: compare figures within one run; medians are "
        "steadier than tails.",
    ]


def _goals(judged: list[Judged]) -> list[str]:
    counts = {v: sum(1 for j in judged if j.verdict is v) for v in Verdict}
    lines = [
        "## Goals",
        "",
        f"{counts[Verdict.MET]} met, {counts[Verdict.MISSED]} missed, "
        f"{counts[Verdict.MISSING]} missing (benchmark absent or failed).",
        "",
        "| issue | figure | measured | goal | verdict | from |",
        "|---|---|---|---|---|---|",
    ]
    for j in judged:
        measured = "—" if j.value is None else format_value(j.value, j.goal.unit)
        verdict = _MARK[j.verdict] + (f": {j.note}" if j.note else "")
        lines.append(
            f"| {j.goal.issue} | {j.goal.label} | {measured} | {j.goal.text} | {verdict} "
            f"| `{j.goal.bench}.{j.goal.key}` |"
        )
    return lines


def _result(runs: Runs, name: str) -> Mapping[str, Any] | None:
    record = runs.get(name)
    if record is None or not record.get("ok"):
        return None
    result = record.get("result")
    return result if isinstance(result, Mapping) else None


def _baselines(runs: Runs) -> list[str]:
    lines = ["## Baselines", ""]
    poll = _result(runs, "poll_baseline")
    if poll is None:
        lines.append("- Event-driven kill vs a 1 s polling kill switch: missing.")
    else:
        lines.append(
            "- Trader SIGKILL detected: watchdog (pidfd, event-driven) p50 "
            f"{_v(poll, 'watchdog_pidfd_p50_ms')} ms, p99 {_v(poll, 'watchdog_pidfd_p99_ms')} ms; "
            f"kill switch polling every second p50 {_v(poll, 'poll_1s_p50_ms')} ms, "
            f"p99 {_v(poll, 'poll_1s_p99_ms')} ms: **{_v(poll, 'p50_ratio')}x** faster at the "
            f"median ({_v(poll, 'runs_count')} kills each)."
        )
    decode = _result(runs, "json_decode")
    if decode is None:
        lines.append("- orjson vs json (bookTicker decode): missing.")
    else:
        lines.append(
            f"- bookTicker decode: json {_v(decode, 'json_ns_per_msg')} ns/msg, orjson "
            f"{_v(decode, 'orjson_ns_per_msg')} ns/msg: orjson **{_v(decode, 'ratio')}x** faster"
            + (
                f" (loads() alone: {_v(decode, 'loads_ratio')}x)."
                if "loads_ratio" in decode
                else "."
            )
        )
    tick = _result(runs, "tick_to_order")
    if tick is not None:
        for path, name in (("fast_path", "fast path"), ("aiohttp_path", "aiohttp path")):
            lines.append(
                f"- Tick-to-order ({name}) p50 without / with watchdog telemetry: "
                f"{_v(tick, path + '.without_telemetry.p50_us')} / "
                f"{_v(tick, path + '.with_telemetry.p50_us')} µs (p99 "
                f"{_v(tick, path + '.without_telemetry.p99_us')} / "
                f"{_v(tick, path + '.with_telemetry.p99_us')})."
            )
        lines.append(
            "- Tick-to-order as deployed (from the venue's send stamp) p50: "
            f"{_v(tick, 'deployed_p50_us')} µs (p99 {_v(tick, 'deployed_p99_us')}); of it, "
            "delivery (venue send -> socket read) "
            f"p50 {_v(tick, 'deployed.delivery_p50_us')} µs; ticks that waited behind another: "
            f"{_v(tick, 'deployed.waited_ticks_count')} of {_v(tick, 'deployed.ticks_count')}."
        )
    return lines


def _scale(runs: Runs) -> list[str]:
    scale = _result(runs, "scale")
    lines = ["## Scale: one watchdog, N clients", ""]
    if scale is None or not isinstance(scale.get("curve"), list):
        return [*lines, "Missing."]
    lines += [
        "| clients | watchdog CPU % | senders CPU % | events/s | datagrams/s | rejected "
        "| ack p50 µs | ack p99 µs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in scale["curve"]:
        lines.append(
            f"| {_v(p, 'clients_count')} | {_v(p, 'watchdog_cpu_pct')} "
            f"| {_v(p, 'senders_cpu_pct')} | {_v(p, 'events_per_s')} "
            f"| {_v(p, 'accepted_datagrams_per_s')} | {_v(p, 'rejected_datagrams_count')} "
            f"| {_v(p, 'ack_rtt_p50_us')} | {_v(p, 'ack_rtt_p99_us')} |"
        )
    return lines


def _plots(figures: list[plots.Plot], missing: list[str]) -> list[str]:
    lines = ["## Plots", ""]
    for figure in figures:
        lines += [
            f"### {figure.title}",
            "",
            f"![{figure.title}]({figure.file})",
            "",
            figure.caption,
        ]
        lines.append("")
    lines += [f"- {m}" for m in missing]
    return lines


def _benchmarks(runs: Runs) -> list[str]:
    lines = ["## Benchmarks run", "", "| benchmark | status | seconds |", "|---|---|---|"]
    for name, record in sorted(runs.items()):
        status = "ok" if record.get("ok") else f"**failed**: {record.get('error', '?')}"
        lines.append(f"| `{name}` | {status} | {record.get('seconds', 0):.1f} |")
    return lines


# -- figures -------------------------------------------------------------------------------------

_Maker = Callable[[Path], str]


def _figures(runs: Runs, out_dir: Path) -> tuple[list[plots.Plot], list[str]]:
    made: list[plots.Plot] = []
    missing: list[str] = []
    for bench, title, file, make in _specs(runs):
        result = _result(runs, bench)
        if result is None:
            missing.append(f"{title}: missing (`{bench}` absent from this build, or it failed).")
            continue
        try:
            caption = make(out_dir / file)
        except (ValueError, KeyError, TypeError) as exc:
            missing.append(f"{title}: cannot plot `{bench}`: {exc}")
            continue
        made.append(plots.Plot(title, file, caption))
    return made, missing


def _specs(runs: Runs) -> list[tuple[str, str, str, _Maker]]:
    def latency(bench: str, title: str) -> _Maker:
        def make(path: Path) -> str:
            result = _result(runs, bench) or {}
            how = plots.latency_plot(path, title, result)
            return _CAPTION[how]

        return make

    def scale(path: Path) -> str:
        plots.scale_plot(path, (_result(runs, "scale") or {})["curve"])
        return (
            "Each point is one window with every client ACTIVE; the ack round trip is timed by "
            "a 50 Hz probe in its own process."
        )

    def poll(path: Path) -> str:
        result = _result(runs, "poll_baseline") or {}
        title = f"SIGKILL detected: event-driven vs polling every 1 s ({_v(result, 'p50_ratio')}x)"
        plots.latency_plot(path, title, result)
        return "Same trigger, same host; log scale. " + _CAPTION["samples"]

    def decode(path: Path) -> str:
        result = _result(runs, "json_decode") or {}
        groups = {
            "bytes -> BookTicker": {
                "json": float(result["json_ns_per_msg"]),
                "orjson": float(result["orjson_ns_per_msg"]),
            }
        }
        if "json_loads_ns_per_msg" in result:
            groups["loads() alone"] = {
                "json": float(result["json_loads_ns_per_msg"]),
                "orjson": float(result["orjson_loads_ns_per_msg"]),
            }
        title = f"bookTicker decode: orjson {_v(result, 'ratio')}x faster"
        plots.grouped_bars(path, title, groups, "ns/msg")
        return "Best pass of each, interleaved in one run."

    return [
        ("kill_latency_local", "Kill latency on this host, per trigger", "kill_local.png",
         latency("kill_latency_local", "Trigger -> kill pipeline, per trigger")),
        ("kill_latency_venue", "Kill latency at the venue, per trigger", "kill_venue.png",
         latency("kill_latency_venue", "Trigger -> no open orders / key refused at the venue")),
        ("poll_baseline", "Event-driven kill vs polling kill switch", "poll_baseline.png", poll),
        ("json_decode", "orjson vs json", "json_decode.png", decode),
        ("scale", "Scale curve", "scale.png", scale),
        ("scale", "Ack round trip per N", "scale_ack_rtt.png",
         latency("scale", "Ack round trip under load, per number of clients")),
    ]  # fmt: skip


_CAPTION = {
    "samples": "ECDF of the raw samples: read p50 and p99 off the dotted lines.",
    "summary": "p50 / p99 / max per series (the benchmark gives no raw samples).",
}


def _v(result: Mapping[str, Any], key: str) -> str:
    value = lookup(result, key)
    if value is None:
        return "?"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"

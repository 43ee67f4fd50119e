"""PNG plots of benchmark results (matplotlib, Agg backend: no display needed).

Latency plots use raw samples (`samples_ms` / `samples_us`) when a benchmark gives them: an
ECDF per series, so p50 and p99 read off the y axis. Without samples they fall back to
p50 / p99 / max bars built from the `<series>_<p50|p99|max>_<unit>` keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a display

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from bench._stats import SAMPLE_KEYS, percentile

_TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
_SUMMARY_KEY = re.compile(r"^(?P<series>.+)_(?P<stat>p50|p99|max)_(?P<unit>ns|us|ms|s)$")
_DPI = 110
_UNIT_LABEL = {"us": "µs", "ns": "ns", "ms": "ms", "s": "s"}


@dataclass(frozen=True)
class Plot:
    title: str
    file: str  # relative to the report
    caption: str


def series_from_samples(result: Mapping[str, Any]) -> tuple[dict[str, list[float]], str] | None:
    """The raw samples a result carries, and their unit; None when it carries none."""
    for key, unit in SAMPLE_KEYS.items():
        samples = result.get(key)
        if isinstance(samples, Mapping):
            series = {name: [float(v) for v in values] for name, values in samples.items()}
            series = {name: values for name, values in series.items() if values}
            if series:
                return series, unit
    return None


def series_from_summaries(result: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """`{series: {p50, p99, max}}` in ms from the flat summary keys, complete series only."""
    found: dict[str, dict[str, float]] = {}
    for key, value in result.items():
        match = _SUMMARY_KEY.match(key)
        if match is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        stats = found.setdefault(match["series"], {})
        stats[match["stat"]] = float(value) * _TO_MS[match["unit"]]
    return {name: stats for name, stats in found.items() if len(stats) == 3}


def latency_plot(path: Path, title: str, result: Mapping[str, Any]) -> str:
    """An ECDF of the samples, or p50/p99/max bars; returns which ("samples" or "summary")."""
    chosen = series_from_samples(result)
    if chosen is not None:
        _ecdf(path, title, *chosen)
        return "samples"
    summaries = series_from_summaries(result)
    if not summaries:
        raise ValueError(f"{title}: neither samples nor p50/p99/max figures to plot")
    _bars(path, title, summaries)
    return "summary"


def _ecdf(path: Path, title: str, series: Mapping[str, list[float]], unit: str) -> None:
    fig, ax = plt.subplots(figsize=(8.0, 4.6 + 0.2 * len(series)), layout="constrained")
    lo = min(min(v) for v in series.values())
    hi = max(max(v) for v in series.values())
    for name, values in series.items():
        ordered = sorted(values)
        n = len(ordered)
        p50, p99 = percentile(ordered, 0.5), percentile(ordered, 0.99)
        label = f"{name} (n={n}, p50 {_fmt(p50)}, p99 {_fmt(p99)} {_UNIT_LABEL[unit]})"
        ax.step(ordered, [(i + 1) / n for i in range(n)], where="post", label=label)
    if lo > 0 and hi / lo > 30:
        _log(ax, "x")
    for q in (0.5, 0.99):
        ax.axhline(q, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xlabel(_UNIT_LABEL[unit])
    ax.set_ylabel("fraction of samples at or below")
    ax.set_ylim(0, 1.02)
    # Below the axes: a legend inside would hide the curves' tails, where the story is.
    fig.legend(loc="outside lower center", ncol=1, fontsize=8, frameon=False)
    _finish(fig, ax, path, title, legend=False)


def _bars(path: Path, title: str, summaries: Mapping[str, Mapping[str, float]]) -> None:
    names = list(summaries)
    height = max(2.6, 0.42 * len(names) + 1.4)
    fig, ax = plt.subplots(figsize=(8.0, height), layout="constrained")
    step = 0.27
    for offset, stat in enumerate(("p50", "p99", "max")):
        ys = [i + (offset - 1) * step for i in range(len(names))]
        ax.barh(ys, [summaries[n][stat] for n in names], height=step, label=stat)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    values = [v for s in summaries.values() for v in s.values() if v > 0]
    if values and max(values) / min(values) > 30:
        _log(ax, "x")
    ax.set_xlabel("ms (p50 / p99 / max; no raw samples in this benchmark's output)")
    _finish(fig, ax, path, title)


def scale_plot(path: Path, curve: Sequence[Mapping[str, Any]]) -> None:
    """CPU, ingest rate and ack round trip of one watchdog against the number of clients."""
    n = [p["clients_count"] for p in curve]
    fig, (cpu, rate, rtt) = plt.subplots(1, 3, figsize=(11.0, 3.8), layout="constrained")
    cpu.plot(n, [p["watchdog_cpu_pct"] for p in curve], marker="o")
    cpu.set_title("watchdog CPU (% of one core)", fontsize=10)
    cpu.set_ylim(bottom=0)
    rate.plot(n, [p["events_per_s"] for p in curve], marker="o", label="events/s")
    rate.plot(n, [p["accepted_datagrams_per_s"] for p in curve], marker="s", label="datagrams/s")
    rate.set_title("accepted ingest", fontsize=10)
    rate.set_ylim(bottom=0)
    rate.legend(fontsize=8)
    rtt.plot(n, [p["ack_rtt_p50_us"] / 1e3 for p in curve], marker="o", label="p50")
    rtt.plot(n, [p["ack_rtt_p99_us"] / 1e3 for p in curve], marker="s", label="p99")
    rtt.set_title("ack round trip (ms, log)", fontsize=10)
    _log(rtt, "y")  # p99 under load dwarfs p50
    rtt.legend(fontsize=8)
    for ax in (cpu, rate, rtt):
        ax.set_xlabel("supervised clients")
        ax.grid(alpha=0.3)
    fig.suptitle("One watchdog supervising N clients")
    _save(fig, path)


def grouped_bars(
    path: Path, title: str, groups: Mapping[str, Mapping[str, float]], unit: str
) -> None:
    """Like figures side by side, per group (orjson vs json, per way of measuring)."""
    names = list(groups)
    members = list(dict.fromkeys(m for g in groups.values() for m in g))
    fig, ax = plt.subplots(figsize=(7.0, 1.2 + 1.1 * len(names)), layout="constrained")
    step = 0.8 / len(members)
    for k, member in enumerate(members):
        ys = [i + (k - (len(members) - 1) / 2) * step for i in range(len(names))]
        values = [groups[n].get(member, 0.0) for n in names]
        bars = ax.barh(ys, values, height=step, label=member)
        ax.bar_label(bars, labels=[f"{_fmt(v)} {unit}" for v in values], padding=3, fontsize=8)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.margins(x=0.25)
    _finish(fig, ax, path, title)


def _log(ax: Axes, which: str) -> None:
    """A log axis labelled with plain numbers (0.1, 1, 10), not powers of ten."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    if which == "x":
        ax.set_xscale("log")
    else:
        ax.set_yscale("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _finish(fig: Figure, ax: Axes, path: Path, title: str, legend: bool = True) -> None:
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=8, loc="best")
    _save(fig, path)


def _save(fig: Figure, path: Path) -> None:
    try:
        fig.savefig(path, dpi=_DPI)
    finally:
        plt.close(fig)


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"
